"""The load bench's province on its deadline day (填报截止日): who is there, and the forms and
records they work on. Used by bench.load.

Built once per database (kept with --keep): the demo tree grown through the same operations
people use (service.open_unit, add_account): a city office with reviewers, a market, merchants
and an e-commerce platform in every Guangdong city, a city finance department with staff in
every city, department heads (主管预算单位) with their budget units below them, readers at the
province office; then the purchase records, in bulk, by bench.records' builder.

Laid out again before every run (lay_out_day): this year's policy with today as the filing
deadline, and this year's forms in the state a deadline morning finds them:
- in ACTIVE departments, DRAFTS units that have not filed yet (the budget-unit people file them,
  one after another) and WAITING units that submitted and wait for their head; the head's own
  form is confirmed, so the head sends the batch once the department is complete;
- in SENT departments every form is confirmed and sent to finance, waiting for finance.
Last year's forms are all final, so that pages show this year beside last year.
"""
from collections import Counter
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal

from sqlalchemy import delete, func, inspect, select, text, update
from sqlalchemy.orm import joinedload

from portal.accounts import service
from portal.accounts.kinds import FinanceLevel, UnitKind
from portal.accounts.models import Account, Unit
from portal.clock import utcnow
from portal.extensions import db
from portal.jobs.models import Job
from portal.records.models import ReviewEvent
from portal.reference.models import DictionaryEntry, GuangdongCity
from portal.reservations.models import (
    ConfirmationSheet, Reservation, ReservationBatch, ReservationEvent,
)
from portal.reservations.policy import china_today, ensure_policy

PROVINCE_ADMIN = "13800000001"        # 广东省东西部协作办公室 (demo)
PROVINCE_FINANCE_ADMIN = "13900000001"  # 广东省财政厅 (demo)
REVIEWERS_PER_CITY = 10               # each takes one category of the city's queue (13 categories)
FINANCE_STAFF_PER_CITY = 2
READERS = 60
ACTIVE_DEPARTMENTS, DRAFTS, WAITING = 100, 15, 4
SENT_DEPARTMENTS, SENT_UNITS = 40, 8
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何林罗郑梁谢宋唐许韩冯邓曹彭曾"
GIVEN = ["伟", "芳", "娜", "敏", "静", "丽", "强", "磊", "军", "洋", "勇", "艳", "杰", "涛", "明", "超", "秀英", "华"]


def person_name(serial):
    return SURNAMES[serial % len(SURNAMES)] + GIVEN[serial // len(SURNAMES) % len(GIVEN)]


def _account(phone):
    return db.session.scalar(select(Account).where(Account.with_phone(phone)))


def _open(actor, kind, name, phone, serial, city_code=None):
    unit = service.open_unit(actor, kind=kind, name=name, contact_name=person_name(serial), phone=phone,
                             city_code=city_code)
    return unit.accounts[0]


def _staff(admin, phones):
    for serial, phone in enumerate(phones):
        service.add_account(admin, admin.unit, contact_name=person_name(serial + 7), phone=phone)


def _offices_and_filers(cities):
    """A city office with reviewers in every city, and filers where the demo has none."""
    province = _account(PROVINCE_ADMIN)
    offices = {u.city_code: u for u in db.session.scalars(select(Unit).where(Unit.kind == UnitKind.CITY_OFFICE))}
    for index, city in enumerate(cities):
        if city.code not in offices:
            admin = _open(province, UnitKind.CITY_OFFICE, f"{city.name}东西部协作办公室", f"1370{index:02d}00001", index,
                          city_code=city.code)
            market = _open(admin, UnitKind.MARKET, f"{city.name}农产品批发市场", f"1370{index:02d}00011", index + 1)
            for n in (2, 3):
                _open(market, UnitKind.MERCHANT, f"{city.name}农产品批发市场·第{n - 1}商行",
                      f"1370{index:02d}0001{n}", index + n)
            _open(admin, UnitKind.ECOMMERCE, f"{city.name}消费帮扶电商平台", f"1370{index:02d}00031", index + 4)
            offices[city.code] = admin.unit
        office_admin = db.session.scalar(select(Account).where(Account.unit_id == offices[city.code].id)
                                         .order_by(Account.id).limit(1))
        _staff(office_admin, [reviewer_phone(index, n) for n in range(REVIEWERS_PER_CITY)])
    _staff(province, [f"13510000{n:03d}" for n in range(READERS)])


def _finance_and_departments(cities):
    """A city finance department with staff in every city, and the departments below them."""
    province = _account(PROVINCE_FINANCE_ADMIN)
    finances = {u.city_code: u for u in db.session.scalars(select(Unit).where(
        Unit.kind == UnitKind.FINANCE, Unit.finance_level == FinanceLevel.CITY.value))}
    admins = []
    for index, city in enumerate(cities):
        if city.code not in finances:
            finances[city.code] = _open(province, UnitKind.FINANCE, f"{city.name}财政局", f"1353{index:02d}00000",
                                        index, city_code=city.code).unit
        admin = db.session.scalar(select(Account).where(Account.unit_id == finances[city.code].id)
                                  .order_by(Account.id).limit(1))
        _staff(admin, [f"1352{index:02d}{n:05d}" for n in range(FINANCE_STAFF_PER_CITY)])
        admins.append(admin)
    for number in range(ACTIVE_DEPARTMENTS + SENT_DEPARTMENTS):
        finance = admins[number % len(admins)]
        city = finance.unit.city_code and db.session.get(GuangdongCity, finance.unit.city_code).name
        head = _open(finance, UnitKind.BUDGET_UNIT, f"{city}第{number + 1}主管部门", head_phone(number), number)
        units = DRAFTS + WAITING if number < ACTIVE_DEPARTMENTS else SENT_UNITS
        for serial in range(1, units + 1):
            _open(head, UnitKind.BUDGET_UNIT, f"{city}第{number + 1}主管部门下属第{serial}单位",
                  unit_phone(number, serial), number + serial)
        db.session.commit()


def reviewer_phone(city_index, n):
    return f"1350{city_index:02d}{n:05d}"


def head_phone(department):
    return f"136{department:04d}0000"


def unit_phone(department, serial):
    return f"136{department:04d}{serial:04d}"


def build(records, rng):
    """In an app context, on an empty database: the tree and the records; the caller lays out the day."""
    from bench.common import reset_to_demo
    from bench.records import _context, add_records

    reset_to_demo()
    db.session.commit()
    cities = db.session.scalars(select(GuangdongCity).order_by(GuangdongCity.code)).all()
    _offices_and_filers(cities)
    db.session.commit()
    _finance_and_departments(cities)
    db.session.commit()
    add_records(records, rng, _context())
    # A database that has lived is vacuumed; left to autovacuum, a fresh bulk load is vacuumed
    # during the timed phase, and its CPU counted as the portal's.
    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.execute(text("VACUUM (ANALYZE)"))


# -- the day ---------------------------------------------------------------------------------------

FIGURES = dict(canteen_type="own", canteen_total=Decimal("1200000"), ratio=Decimal("30"),
               reserved_amount=Decimal("360000.00"), union_need=False, union_remark="本单位工会无采购需求")


def _form(unit, year, status, head, finance_id, now, **extra):
    contacts = dict(contact_name=person_name(unit.id), contact_mobile="13912345678", contact_landline="020-83133000")
    return Reservation(unit_id=unit.id, year=year, status=status, flags="", superior_id=head.id,
                       finance_id=finance_id, attested_at=now, submitted_at=now, updated_at=now, created_at=now,
                       **FIGURES, **contacts, **extra)


#: the events that brought a pre-laid form to its state: (action, state after, who acted)
SUBMIT, CONFIRM = ("submit", "submitted", "unit"), ("confirm", "confirmed", "head")
BATCH, FINALIZE = ("batch", "confirmed", "head"), ("finance_confirm", "final", "finance")
HISTORY = {"submitted": [SUBMIT], "confirmed": [SUBMIT, CONFIRM], "sent": [SUBMIT, CONFIRM, BATCH],
           "final": [SUBMIT, CONFIRM, BATCH, FINALIZE]}


def _events(form, actors, now):
    before = "draft"
    for action, after, who in HISTORY["sent" if form.batch is not None and form.status == "confirmed" else form.status]:
        actor = actors[who]
        db.session.add(ReservationEvent(reservation=form, actor_id=actor.id, actor_unit_id=actor.unit_id, at=now,
                                        action=action, from_status=before, to_status=after))
        before = after


@dataclass
class Department:
    head_phone: str
    unit_phones: list = field(default_factory=list)


def departments():
    """Every department of the bench, by number: (head account, its budget units' accounts)."""
    heads = {}
    for number in range(ACTIVE_DEPARTMENTS + SENT_DEPARTMENTS):
        units = DRAFTS + WAITING if number < ACTIVE_DEPARTMENTS else SENT_UNITS
        heads[number] = Department(head_phone(number), [unit_phone(number, s) for s in range(1, units + 1)])
    return heads


def clear_day(year):
    """This year's forms of the bench's units gone (with their events, sheets, batches and jobs)."""
    forms = db.session.scalars(select(Reservation).where(Reservation.year == year)).all()
    ids = [f.id for f in forms]
    for start in range(0, len(ids), 1000):
        chunk = ids[start:start + 1000]
        db.session.execute(delete(ReservationEvent).where(ReservationEvent.reservation_id.in_(chunk)))
        db.session.execute(delete(ConfirmationSheet).where(ConfirmationSheet.reservation_id.in_(chunk)))
    db.session.execute(update(Reservation).where(Reservation.year == year).values(batch_id=None))
    for form in forms:
        db.session.delete(form)  # through the ORM: the page counters follow every deleted form
    db.session.flush()
    db.session.execute(delete(ReservationBatch).where(ReservationBatch.year == year))
    db.session.execute(delete(Job).where(Job.status != "done"))
    db.session.commit()


def lay_out_day():
    """This year's policy with today as the deadline, last year's forms final, this year's laid out."""
    today = china_today()
    year = today.year
    last = ensure_policy(year - 1)
    policy = ensure_policy(year)
    policy.filing_deadline, policy.extended_until = today, None
    policy.superior_deadline, policy.finance_deadline = today + timedelta(days=8), today + timedelta(days=23)
    db.session.commit()
    clear_day(year)
    now = utcnow()
    accounts = {a.phone: a for a in db.session.scalars(
        select(Account).join(Unit, Unit.id == Account.unit_id).options(joinedload(Account.unit))
        .where(Unit.kind.in_([UnitKind.BUDGET_UNIT, UnitKind.FINANCE])).order_by(Account.id))}
    finance_admins = {}
    for account in accounts.values():
        finance_admins.setdefault(account.unit_id, account)
    has_last_year = db.session.scalar(select(Reservation.id).where(Reservation.year == last.year).limit(1))
    with db.session.no_autoflush:  # one flush per department, not one per lazy load
        for number, department in departments().items():
            _lay_out_department(number, department, accounts, finance_admins, year, now, has_last_year)
            db.session.flush()
    db.session.commit()
    return year


def _lay_out_department(number, department, accounts, finance_admins, year, now, has_last_year):
    head = accounts[department.head_phone]
    finance_id = head.unit.parent_id
    actors = {"head": head, "finance": finance_admins[finance_id]}
    active = number < ACTIVE_DEPARTMENTS
    batch = None if active else ReservationBatch(year=year, head_unit_id=head.unit_id, finance_id=finance_id,
                                                 submitted_at=now, submitted_by_id=head.id)
    for index, phone in enumerate([department.head_phone] + department.unit_phones):
        account = accounts[phone]
        actors["unit"] = account
        if not has_last_year:
            old = _form(account.unit, year - 1, "final", head.unit, finance_id, now - timedelta(days=365),
                        confirmed_at=now, finalized_at=now)
            db.session.add(old)
            _events(old, actors, now - timedelta(days=365))
        if active and 0 < index <= DRAFTS:
            continue  # files today
        form = _form(account.unit, year, "submitted" if active and index else "confirmed", head.unit, finance_id,
                     now, batch=batch)
        if form.status == "confirmed":
            form.confirmed_at, form.confirmed_by_id = now, head.id
        db.session.add(form)
        _events(form, actors, now)


def people():
    """Who can be simulated, each list in the order bench.load hands them out: drafts department
    by department (so that departments complete and their heads send batches), finance staff and
    reviewers one city after another (the first ones cover every city)."""
    cities = db.session.scalar(select(func.count()).select_from(GuangdongCity))
    categories = db.session.scalars(select(DictionaryEntry.id).where(DictionaryEntry.kind == "category")
                                    .order_by(DictionaryEntry.position)).all()
    return {
        "drafts": [unit_phone(d, s) for d in range(ACTIVE_DEPARTMENTS) for s in range(1, DRAFTS + 1)],
        "superiors": [head_phone(d) for d in range(ACTIVE_DEPARTMENTS)],
        "finance": [f"1352{c:02d}{n:05d}" for n in range(FINANCE_STAFF_PER_CITY) for c in range(cities)],
        "reviewers": [[reviewer_phone(c, n), categories[n]] for n in range(REVIEWERS_PER_CITY) for c in range(cities)],
        "readers": [f"13510000{n:03d}" for n in range(READERS)],
    }


def has_schema():
    return inspect(db.engine).has_table("unit")


def is_built():
    """Whether this database holds the bench's province (its last department head)."""
    return _account(head_phone(ACTIVE_DEPARTMENTS + SENT_DEPARTMENTS - 1)) is not None


def lost_writes(acks, year):
    """The acknowledged writes (bench/load_scenario.py's acks) that the database does not hold."""
    phones = {ack[1] for ack in acks}
    accounts = {a.phone: a for a in db.session.scalars(select(Account)) if a.phone in phones}
    forms = {f.unit_id: f for f in db.session.scalars(select(Reservation).where(Reservation.year == year))}
    events = set(db.session.execute(select(ReservationEvent.reservation_id, ReservationEvent.action,
                                           ReservationEvent.actor_id).join(Reservation).where(
        Reservation.year == year)).all())
    batches = set(db.session.scalars(select(ReservationBatch.head_unit_id).where(ReservationBatch.year == year)))
    records = [ack[2] for ack in acks if ack[0] == "approve"]
    approvals = set()
    for start in range(0, len(records), 1000):
        approvals.update(db.session.execute(select(ReviewEvent.record_id, ReviewEvent.actor_id).where(
            ReviewEvent.record_id.in_(records[start:start + 1000]), ReviewEvent.action == "approve")).all())
    lost = Counter()
    for kind, phone, *detail in acks:
        account = accounts[phone]
        form = forms.get(account.unit_id)
        held = {
            "figures": lambda: form is not None and form.canteen_total == Decimal(detail[0]),
            "contacts": lambda: form is not None and form.contact_landline == detail[0],
            "submit": lambda: form is not None and (form.id, "submit", account.id) in events,
            "confirm": lambda: (detail[0], "confirm", account.id) in events,
            "finalize": lambda: (detail[0], "finance_confirm", account.id) in events,
            "batch": lambda: account.unit_id in batches,
            "approve": lambda: (detail[0], account.id) in approvals,
        }[kind]()
        if not held:
            lost[kind] += 1
    return dict(lost)
