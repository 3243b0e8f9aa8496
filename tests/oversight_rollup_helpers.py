"""A province for the oversight roll-up tests: on the tree of tests/factories.py, a city and a
closed district finance department, departments three levels deep at every finance level, units
closed and open, accounts used, unused and closed, 2024 forms in every state, and 832 imports on
several days (two on one day, one of 2023 dated in 2024, one after the days asked about)."""
import random
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import select

from portal.accounts.kinds import FinanceLevel, UnitKind
from portal.accounts.models import Account, Unit, mask_phone
from portal.extensions import db
from portal.oversight.models import FulfilmentImport, FulfilmentLine
from portal.personal_data import name_key, phone_key
from portal.reservations.models import Reservation
from portal.reservations.policy import ensure_policy

YEAR = 2024
STATES = [None, "draft", "submitted", "returned", "confirmed", "final", "final", "final"]
#: days a roll-up is read on: before the 2024 lines (but after the 2023 line dated 2024), past the
#: filing deadline; past every deadline, between imports; the year's end
DAYS = (date(2024, 2, 25), date(2024, 7, 1), date(2024, 12, 31))


class Province:
    """Units, accounts, forms and lines added in bulk; call in an app context, commit after."""

    def __init__(self, tree, seed=832):
        """A second Province on the same tree (another seed) adds to the first one's."""
        self.rng = random.Random(seed)
        self.seed = seed
        self.phones = seed * 1000
        ensure_policy(YEAR)
        ensure_policy(YEAR - 1)
        self.province = db.session.get(Unit, tree.province_finance.unit_id)
        self.gz = db.session.get(Unit, tree.gz_finance.unit_id)
        self.county = db.session.get(Unit, tree.county_finance.unit_id)
        self.sz = self.finance(self.province, "深圳市财政局", "440300", FinanceLevel.CITY)
        self.closed = self.finance(self.gz, "越秀区财政局（已撤销）", "440100", FinanceLevel.COUNTY, active=False)
        self.staff = db.session.get(Account, tree.province_finance.id)
        self.budget_units = [db.session.get(Unit, getattr(tree, role).unit_id)
                             for role in ("superior_budget", "budget_unit", "gz_budget")]

    def unit(self, parent, name, kind=UnitKind.BUDGET_UNIT, city_code=None, *, level=None, active=True):
        made = Unit(kind=kind, name=name, parent_id=parent.id, city_code=city_code, finance_level=level,
                    active=active)
        db.session.add(made)
        db.session.flush()  # budget_unit_ancestor is written as the unit is opened, parents first
        return made

    def finance(self, parent, name, city_code, level, *, active=True):
        found = db.session.scalar(select(Unit).where(Unit.kind == UnitKind.FINANCE, Unit.name == name))
        return found or self.unit(parent, name, UnitKind.FINANCE, city_code, level=level, active=active)

    def account(self, unit, *, active=True, logged_in=None):
        self.phones += 1
        phone = f"1360{self.phones:07d}"
        db.session.add(Account(unit_id=unit.id, phone=phone, phone_key=phone_key(phone), phone_masked=mask_phone(phone),
                               name="联系人", name_key=name_key("联系人"), active=active, last_login_at=logged_in))

    def form(self, unit, status, reserved, union, finance, year=YEAR):
        if status is None:
            return
        db.session.add(Reservation(unit_id=unit.id, year=year, status=status, reserved_amount=reserved,
                                   union_expected=union, finance_id=finance.id, superior_id=unit.parent_id,
                                   canteen_type="own"))

    def department(self, finance, name, size, city_code):
        """A department head with `size` units below it, some of them a level further down."""
        head = self.unit(finance, name, city_code=city_code)
        members = [head]
        for number in range(size):
            parent = members[self.rng.randrange(len(members))] if number > 1 else head
            members.append(self.unit(parent, f"{name}下属{number:02d}", city_code=self.rng.choice(
                (city_code, None, "440300")), active=self.rng.random() > 0.1))
        return members

    def fill(self, units):
        """Accounts and forms at random for these units (with their finance departments)."""
        for unit, finance in units:
            draw = self.rng.random()
            if draw > 0.15:
                self.account(unit, logged_in=datetime(2024, 3, 1) if draw > 0.5 else None)
            if draw > 0.8:
                self.account(unit, active=False, logged_in=datetime(2024, 4, 1))
            if 0.1 < draw < 0.15:
                self.account(unit, active=False)
            reserved = Decimal(self.rng.randrange(0, 5_000_000)) / 100
            union = Decimal(self.rng.randrange(0, 500_000)) / 100 if self.rng.random() > 0.3 else None
            self.form(unit, self.rng.choice(STATES), reserved if self.rng.random() > 0.05 else None, union, finance)
            if self.rng.random() > 0.5:
                self.form(unit, "final", Decimal("99999.00"), None, finance, year=YEAR - 1)

    def imports(self, units):
        """832 lines: each import over a random part of the units; on 30 June a second import after
        the first, which wins for the units in both."""
        for year, as_of in ((YEAR - 1, date(2024, 2, 10)), (YEAR, date(2024, 3, 31)), (YEAR, date(2024, 6, 30)),
                            (YEAR, date(2024, 6, 30)), (YEAR, date(2024, 12, 31)), (YEAR, date(2025, 1, 10))):
            made = FulfilmentImport(finance_id=self.province.id, year=year, as_of=as_of, filename="832.xlsx",
                                    sha256="0" * 64, line_count=0, canteen_total=0, union_total=0,
                                    created_by_id=self.staff.id)
            db.session.add(made)
            db.session.flush()
            for unit in units:
                if self.rng.random() < 0.6:
                    db.session.add(FulfilmentLine(
                        import_id=made.id, unit_id=unit.id, year=year, as_of=as_of,
                        canteen_amount=Decimal(self.rng.randrange(0, 6_000_000)) / 100,
                        union_amount=Decimal(self.rng.randrange(0, 600_000)) / 100))
        db.session.flush()

    def build(self, departments=2, size=6, *, tree_units=True):
        """Departments at every finance level (the closed one's too), filled, with 832 lines; with
        `tree_units`, the tree's own budget units filled too (once)."""
        units = [(self.budget_units[0], self.province), (self.budget_units[1], self.province),
                 (self.budget_units[2], self.gz)] if tree_units else []
        for finance, city_code in ((self.province, None), (self.gz, "440100"), (self.county, "440100"),
                                   (self.sz, "440300"), (self.closed, "440100")):
            for number in range(departments):
                name = f"{finance.name}第{self.seed}-{number}部门"
                units += [(unit, finance) for unit in self.department(finance, name, size, city_code)]
        self.fill(units)
        self.imports([unit for unit, _ in units])
        return [unit for unit, _ in units]
