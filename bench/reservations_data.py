"""The reserved-share benchmark's data: the demo tree grown in bulk, as bench.records grows records.

One department (广东省教育厅, the demo's department head) gets `units` budget units below it, and
about as many again are spread over other departments: half directly under the province finance
department, half under the city and district finance departments of the demo. Every new unit has
an admin account and, this year, a form in one of the workflow's states (or none), last year's
form confirmed by finance, and for most its current contacts; finance has imported two 832
statements for the units it confirmed. Rows are written with INSERT from lists, in chunks, with
explicit ids (so that subordinates can name their head before it is read back).
"""
import random
from datetime import timedelta
from decimal import Decimal

from sqlalchemy import func, insert, select, text

from portal.accounts import service
from portal.accounts.kinds import FinanceLevel, UnitKind
from portal.accounts.models import Account, Unit, mask_phone
from portal.clock import utcnow
from portal.extensions import db
from portal.oversight.models import FulfilmentImport, FulfilmentLine
from portal.personal_data import name_key, phone_key
from portal.reservations.models import Reservation, ReservationBatch, UnitContacts
from portal.reservations.policy import china_today
from portal.reservations import tallies
from portal.reservations.queries import current_year

HEAD_PHONE = "13900000011"        # 广东省教育厅: the department head whose department grows
PLAIN_UNIT_PHONE = "13900000012"  # 广东实验中学: a budget unit of that department
#: staff of 广东省财政厅, opened here: the department's admin owes a second factor at login
FINANCE_STAFF_PHONE = "13900000002"
CITY_FINANCE = "广州市财政局"
CHUNK = 5_000
#: this year's forms by state, mid-season; None is a unit that has not opened its form. Every list
#: fills its page of 50 on the small database too (60 forms wait for the superior, 60 for finance),
#: so that both sizes render the same rows
STATUS_WEIGHTS = [(None, 10), ("draft", 5), ("submitted", 30), ("confirmed", 30), ("final", 15), ("returned", 10)]
#: of the confirmed forms, those the department head has sent on to finance
SENT_SHARE = 0.67
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何林罗郑梁谢宋唐许韩冯邓曹彭曾"


def _one(query):
    return db.session.scalar(query)


def _finance_staff(finance):
    admin = _one(select(Account).where(Account.unit_id == finance.id).order_by(Account.id).limit(1))
    service.add_account(admin, finance, contact_name="刘明华", phone=FINANCE_STAFF_PHONE)


class Builder:
    """Rows for one database, with ids handed out ahead of the inserts."""

    def __init__(self, rng):
        self.rng = rng
        self.now = utcnow()
        self.next_id = {table: (_one(select(func.max(model.id))) or 0) + 1
                        for table, model in (("unit", Unit), ("account", Account), ("reservation", Reservation),
                                             ("batch", ReservationBatch))}
        self.units, self.accounts, self.forms, self.contacts, self.batches = [], [], [], [], []
        self.phone_serial = 0

    def _id(self, table):
        value = self.next_id[table]
        self.next_id[table] += 1
        return value

    def _name(self):
        return self.rng.choice(SURNAMES) + self.rng.choice("晓志建丽海文明华嘉俊") + self.rng.choice("军芳红强燕涛敏静杰磊")

    def unit(self, name, parent, city_code):
        unit_id = self._id("unit")
        self.units.append({"id": unit_id, "name": name, "kind": UnitKind.BUDGET_UNIT.value, "parent_id": parent,
                           "city_code": city_code, "active": True, "created_at": self.now})
        self.phone_serial += 1
        phone, contact = f"17{self.phone_serial:09d}", self._name()
        account_id = self._id("account")
        self.accounts.append({
            "id": account_id, "unit_id": unit_id, "phone": phone, "phone_key": phone_key(phone),
            "phone_masked": mask_phone(phone), "name": contact, "name_key": name_key(contact), "role": "admin",
            "active": True, "created_at": self.now,
            "last_login_at": self.now - timedelta(days=self.rng.randrange(1, 90)) if self.rng.random() < 0.7 else None,
        })
        if self.rng.random() < 0.7:
            self.contacts.append({"unit_id": unit_id, "contact_name": contact, "contact_mobile": phone,
                                  "contact_landline": "020-83133000", "updated_at": self.now})
        return unit_id, account_id, (phone, contact)

    def department(self, head_name, finance_id, city_code, size, year):
        """A department head directly under `finance_id` with `size` units in all (itself included)."""
        head_id, head_account, who = self.unit(head_name, finance_id, city_code)
        members = [(head_id, who)]
        for number in range(1, size):
            unit_id, _, who = self.unit(f"{head_name}下属单位{number:05d}", head_id, city_code)
            members.append((unit_id, who))
        batch_id = self._id("batch")
        self.batches.append({"id": batch_id, "year": year, "head_unit_id": head_id, "finance_id": finance_id,
                             "submitted_at": self.now - timedelta(days=3), "submitted_by_id": head_account})
        for unit_id, who in members:
            self.add_forms(unit_id, who, head_id, finance_id, year, batch_id)
        return head_id

    def members_of(self, head_id, finance_id, year, members):
        """Forms for units made outside `department` (the demo's own head gets new subordinates)."""
        batch_id = self._id("batch")
        self.batches.append({"id": batch_id, "year": year, "head_unit_id": head_id, "finance_id": finance_id,
                             "submitted_at": self.now - timedelta(days=3),
                             "submitted_by_id": _one(select(Account.id).where(Account.unit_id == head_id).limit(1))})
        for unit_id, who in members:
            self.add_forms(unit_id, who, head_id, finance_id, year, batch_id)

    def _figures(self, scale=Decimal(1)):
        total = Decimal(self.rng.randrange(100_000, 5_000_000)) * scale
        ratio = Decimal(self.rng.choice([30, 30, 31, 32, 35, 40]))
        return {"canteen_type": "own", "canteen_total": total.quantize(Decimal("0.01")), "ratio": ratio,
                "reserved_amount": (total * ratio / 100).quantize(Decimal("0.01")),
                "union_need": False, "union_remark": "本年度工会暂无采购计划"}

    def add_forms(self, unit_id, who, superior_id, finance_id, year, batch_id):
        phone, contact = who
        base = {"unit_id": unit_id, "superior_id": superior_id, "finance_id": finance_id, "flags": "",
                "contact_name": contact, "contact_mobile": phone, "contact_landline": "020-83133000"}
        last = self.now - timedelta(days=300)
        if self.rng.random() < 0.85:
            self.forms.append({**base, **self._figures(Decimal("0.9")), "id": self._id("reservation"),
                               "year": year - 1, "status": "final", "version": 5, "attested_at": last,
                               "submitted_at": last, "confirmed_at": last, "finalized_at": last,
                               "created_at": last, "updated_at": last})
        status = self.rng.choices([s for s, _ in STATUS_WEIGHTS], [w for _, w in STATUS_WEIGHTS])[0]
        if status is None:
            return
        submitted = self.now - timedelta(minutes=self.rng.randrange(10, 60 * 24 * 30))
        form = {**base, **self._figures(), "id": self._id("reservation"), "year": year, "status": status,
                "version": 3, "created_at": submitted, "updated_at": submitted,
                "flags": "below_last_year" if self.rng.random() < 0.1 else ""}
        if status != "draft":
            form.update(attested_at=submitted, submitted_at=submitted)
        if status in ("confirmed", "final"):
            form["confirmed_at"] = submitted + timedelta(hours=2)
            form["batch_id"] = batch_id if status == "final" or self.rng.random() < SENT_SHARE else None
        if status == "final":
            form["finalized_at"] = submitted + timedelta(days=1)
        if status == "returned":
            form["return_reason"] = "工会采购总额与预算批复不一致，请核实后修改"
        self.forms.append(form)

    def write(self):
        for model, rows in ((Unit, self.units), (Account, self.accounts), (ReservationBatch, self.batches),
                            (Reservation, self.forms), (UnitContacts, self.contacts)):
            for start in range(0, len(rows), CHUNK):
                chunk = rows[start:start + CHUNK]
                keys = set().union(*(row.keys() for row in chunk))
                db.session.execute(insert(model.__table__), [{key: row.get(key) for key in keys} for row in chunk])
            db.session.commit()


def _fulfilment(finance, staff, year, rng):
    """Two 832 statements of the year by the province finance, for most units finance confirmed."""
    finals = db.session.scalars(select(Reservation.unit_id).where(Reservation.year == year,
                                                                  Reservation.status == "final")).all()
    today = china_today()
    for days_ago in (8, 1):
        made = FulfilmentImport(finance_id=finance.id, year=year, as_of=today - timedelta(days=days_ago),
                                filename="832统计.xlsx", sha256="0" * 64, line_count=0, canteen_total=Decimal(0),
                                union_total=Decimal(0), created_by_id=staff.id)
        db.session.add(made)
        db.session.flush()
        lines = [{"import_id": made.id, "unit_id": unit_id, "year": year, "as_of": made.as_of,
                  "canteen_amount": Decimal(rng.randrange(0, 2_000_000)), "union_amount": Decimal(0)}
                 for unit_id in finals if rng.random() < 0.8]
        for start in range(0, len(lines), CHUNK):
            db.session.execute(insert(FulfilmentLine.__table__), lines[start:start + CHUNK])
        made.line_count = len(lines)
        db.session.commit()


def _advance_sequences():
    """Rows were inserted with explicit ids: PostgreSQL's sequences must move past them."""
    if db.engine.dialect.name != "postgresql":
        return
    for table in ("unit", "account", "reservation", "reservation_batch", "unit_contacts", "fulfilment_line"):
        db.session.execute(text(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                                f"(SELECT coalesce(max(id), 1) FROM {table}))"))
    db.session.commit()


def grow(units, seed=20241):
    """In an app context, on the demo tree: `units` budget units under the department head and about
    as many over other departments. Returns the ids the benchmark's pages need."""
    rng = random.Random(seed)
    finance = _one(select(Unit).where(Unit.kind == UnitKind.FINANCE, Unit.finance_level == FinanceLevel.PROVINCE))
    _finance_staff(finance)
    db.session.commit()
    year = current_year()
    head = _one(select(Unit).join(Account, Account.unit_id == Unit.id).where(Account.with_phone(HEAD_PHONE)))
    lower = db.session.scalars(select(Unit).where(Unit.kind == UnitKind.FINANCE, Unit.id != finance.id)
                               .order_by(Unit.id)).all()
    builder = Builder(rng)
    members = []
    for number in range(1, units + 1):
        unit_id, _, who = builder.unit(f"{head.name}直属单位{number:05d}", head.id, head.city_code)
        members.append((unit_id, who))
    builder.members_of(head.id, finance.id, year, members)
    heads = max(4, units // 100)
    for number in range(heads):
        owner = finance if number % 2 == 0 else lower[(number // 2) % len(lower)]
        builder.department(f"{owner.name}基准部门{number:03d}", owner.id, owner.city_code, units // heads, year)
    builder.write()
    tallies.rebuild()  # what the flush listener keeps, for rows written with Core
    db.session.commit()
    staff = _one(select(Account).where(Account.with_phone(FINANCE_STAFF_PHONE)))
    _fulfilment(finance, staff, year, rng)
    _advance_sequences()
    db.session.execute(text("ANALYZE"))
    db.session.commit()
    plain = _one(select(Account.unit_id).where(Account.with_phone(PLAIN_UNIT_PHONE)))
    waiting = db.session.scalars(select(Reservation.id).where(Reservation.superior_id == head.id,
                                                              Reservation.year == year,
                                                              Reservation.status == "submitted")
                                 .order_by(Reservation.id)).all()
    return {
        "year": year, "head_id": head.id, "plain_unit_id": plain, "finance_id": finance.id,
        "city_finance_id": _one(select(Unit.id).where(Unit.name == CITY_FINANCE)),
        "detail_id": waiting[len(waiting) // 2],
        "finance_subtree_units": _one(select(func.count()).select_from(Unit).where(
            Unit.kind == UnitKind.BUDGET_UNIT)),
    }
