"""Test data built through the domain operations: a unit tree in one call."""
from datetime import datetime
from types import SimpleNamespace

from stdnum.cn import uscc

from portal.accounts import service
from portal.accounts.kinds import AdminRole, UnitKind


def credit_code(base17):
    return base17 + uscc.calc_check_digit(base17)


def open_unit(actor, kind, name, phone, city_code=None, contact="联系人"):
    unit = service.open_unit(actor, kind=kind, name=name, contact_name=contact, phone=phone, city_code=city_code)
    return unit.accounts[0]


def build_tree():
    """Every role of DESIGN section 2, in two cities, keyed by a short role name.

    Phones: 1370000xxxx, so they never meet the demo's numbers.
    """
    t = SimpleNamespace()
    t.system = service.create_system_admin(phone="13700000000", name="系统管理员")
    # 三员分立: the other two administrators of the system unit
    t.security_admin = service.create_system_admin(phone="13700000005", name="安全管理员",
                                                   admin_role=AdminRole.SECURITY)
    t.audit_admin = service.create_system_admin(phone="13700000006", name="审计管理员", admin_role=AdminRole.AUDIT)
    t.province = open_unit(t.system, UnitKind.PROVINCE_OFFICE, "省协作办", "13700000001")
    t.province_reviewer = service.add_account(t.province, t.province.unit, contact_name="省审核员",
                                              phone="13700000002")
    t.listed_market = open_unit(t.province, UnitKind.MARKET, "省协作交易市场", "13700000003")
    t.listed_merchant = open_unit(t.listed_market, UnitKind.MERCHANT, "省市场商户", "13700000004")

    for prefix, city, code in (("gz", "广州", "440100"), ("sz", "深圳", "440300")):
        digit = "1" if prefix == "gz" else "3"
        base = f"1370000{digit}"
        office = open_unit(t.province, UnitKind.CITY_OFFICE, f"{city}协作办", base + "001", city_code=code)
        setattr(t, f"{prefix}_office", office)
        setattr(t, f"{prefix}_reviewer", service.add_account(office, office.unit, contact_name=f"{city}审核员",
                                                             phone=base + "002"))
        market = open_unit(office, UnitKind.MARKET, f"{city}批发市场", base + "011")
        setattr(t, f"{prefix}_market", market)
        setattr(t, f"{prefix}_merchant", open_unit(market, UnitKind.MERCHANT, f"{city}批发商", base + "012"))
        chain = open_unit(office, UnitKind.SUPERMARKET, f"{city}连锁商超", base + "021")
        setattr(t, f"{prefix}_supermarket", chain)
        setattr(t, f"{prefix}_store", open_unit(chain, UnitKind.STORE, f"{city}门店", base + "022"))
        setattr(t, f"{prefix}_ecommerce", open_unit(office, UnitKind.ECOMMERCE, f"{city}电商平台", base + "031"))
        setattr(t, f"{prefix}_enterprise", service.register_enterprise(
            name=f"{city}测试企业有限公司", credit_code=credit_code(f"9144{code[2:4]}00MA5FTK1D{digit}"),
            contact_name="企业联系人", phone=base + "041", city_code=code))

    t.province_finance = open_unit(t.system, UnitKind.FINANCE, "省财政厅", "13700000101")
    t.gz_finance = open_unit(t.province_finance, UnitKind.FINANCE, "广州市财政局", "13700001101", city_code="440100")
    t.county_finance = open_unit(t.gz_finance, UnitKind.FINANCE, "天河区财政局", "13700001102")
    t.superior_budget = open_unit(t.province_finance, UnitKind.BUDGET_UNIT, "省教育厅", "13700000111")
    t.budget_unit = open_unit(t.superior_budget, UnitKind.BUDGET_UNIT, "省实验中学", "13700000112")
    t.gz_budget = open_unit(t.gz_finance, UnitKind.BUDGET_UNIT, "广州市农业农村局", "13700001111")
    return t


def file_record(account, instance_path, *, submit=True, **overrides):
    """A complete record by this account with one PNG invoice, submitted unless told not to."""
    import io
    from decimal import Decimal

    from portal.records import service as record_service
    from portal.records import vouchers, workflow
    from tests.records_helpers import PNG, record_form

    record = record_service.create_draft(account, record_form(**overrides))
    vouchers.add_voucher(account, record, io.BytesIO(PNG), "发票.png", "invoice",
                         root=vouchers.voucher_root(instance_path), max_bytes=10 * 1024 * 1024)
    if submit:
        workflow.submit(account, record, amount_threshold=Decimal("500000"))
    return record


#: 2024-01-30 14:05 in China: when the factories' reserved-share form was submitted
SUBMITTED_AT = datetime(2024, 1, 30, 6, 5)


def make_reservation(tree, **overrides):
    """The school's (tree.budget_unit) 2024 form, submitted with every figure filled, in the
    current session; its superior is 省教育厅 and its finance department 省财政厅."""
    from decimal import Decimal

    from portal.accounts.models import Account
    from portal.extensions import db
    from portal.reservations import scope
    from portal.reservations.models import Reservation
    from portal.reservations.policy import ensure_policy

    ensure_policy(2024)
    unit = db.session.get(Account, tree.budget_unit.id).unit
    values = dict(
        unit_id=unit.id, year=2024, canteen_type="own", remark="本单位自有食堂",
        canteen_total=Decimal("1000000.00"), ratio=Decimal("30.00"), reserved_amount=Decimal("300000.00"),
        union_need=True, union_total=Decimal("200000.00"), union_ratio=Decimal("20.00"),
        union_expected=Decimal("40000.00"),
        contact_name="李晓明", contact_mobile="13912345678", contact_landline="020-83133000",
        union_contact_name="王芳", union_contact_mobile="13987654321",
        status="submitted", superior_id=scope.superior_of(unit).id, finance_id=scope.finance_of(unit).id,
        attested_at=SUBMITTED_AT, submitted_at=SUBMITTED_AT)
    values.update(overrides)
    reservation = Reservation(**values)
    db.session.add(reservation)
    db.session.flush()
    return reservation
