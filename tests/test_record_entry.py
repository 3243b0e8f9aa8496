"""The fields of a purchase record as a person types them: what is refused, with which Chinese
message, and what a draft may still lack before it can be submitted."""
import io
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from portal.errors import PermissionDenied, ValidationFailed
from portal.extensions import db
from portal.records import service, vouchers, workflow
from portal.records.entry import missing_for_submit, parse_fields
from portal.records.models import PurchaseRecord, ReportingPeriod, ReviewEvent
from portal.reference.models import DictionaryEntry
from tests.factories import build_tree
from tests.records_helpers import PNG, record_form


@pytest.fixture
def t(app, ctx):
    made = build_tree()
    db.session.commit()
    return made


@pytest.fixture(scope="module")
def parsing_app(database_url, tmp_path_factory):
    """One app for the parsing tests: they read the reference data only and roll back what they add, so
    they need no emptied database and no unit tree."""
    from portal import create_app

    app = create_app({"SQLALCHEMY_DATABASE_URI": database_url, "TESTING": True,
                      "PORTAL_INSTANCE": str(tmp_path_factory.mktemp("parsing"))})
    yield app
    with app.app_context():
        db.engine.dispose()


@pytest.fixture
def parsing(parsing_app):
    with parsing_app.app_context():
        yield
        db.session.rollback()


def parse(**overrides):
    return parse_fields(record_form(**overrides))


def test_a_complete_form_parses(parsing):
    values, errors = parse()
    assert errors == {}
    assert values["quantity"] == Decimal("1.5") and values["amount"] == Decimal("12800.50")
    assert values["origin_county_code"] == "451225" and values["direct_from_origin"] is True
    assert parse(direct_from_origin="0")[0]["direct_from_origin"] is False
    # Thousands separators and surrounding blanks are what people type; they are accepted.
    assert parse(amount=" 12,800.50 ")[0]["amount"] == Decimal("12800.50")


BAD_NUMBERS = [
    ("-1", "必须大于0"),
    ("-0.5", "必须大于0"),
    ("0", "必须大于0"),
    ("0.00", "必须大于0"),
    ("abc", "只能输入数字和小数点"),
    ("12元", "只能输入数字和小数点"),
    ("1e5", "只能输入数字和小数点"),
    ("1.2.3", "只能输入数字和小数点"),
    ("100000000000000000", "超出允许范围"),
]


def test_bad_numbers_are_refused(parsing):
    for field, label in (("quantity", "采购数量"), ("amount", "采购金额")):
        for text, message in BAD_NUMBERS:
            values, errors = parse(**{field: text})
            assert errors == {field: label + message}, (field, text)
            assert values[field] is None


def test_decimal_places(parsing):
    values, errors = parse(amount="12.345")
    assert errors == {"amount": "采购金额最多保留2位小数"}
    assert values["amount"] is None
    assert parse(amount="12.34")[0]["amount"] == Decimal("12.34")
    values, errors = parse(quantity="1.234")
    assert errors == {} and values["quantity"] == Decimal("1.234")
    values, errors = parse(quantity="1.2345")
    assert errors == {"quantity": "采购数量最多保留3位小数"}


def test_origin_must_be_a_chain_from_the_list(parsing):
    # A county of another city (喀什市 under 喀什地区) with 河池市 chosen.
    values, errors = parse(origin_county_code="653101")
    assert errors == {"origin_county_code": "所选区县不属于所选城市"}
    # A city of another province (喀什地区 of 新疆) with 广西 chosen.
    _, errors = parse(origin_city_code="653100", origin_county_code="653101")
    assert errors["origin_city_code"] == "所选城市不属于所选省份"
    # Codes that are not in the reference list at all.
    _, errors = parse(origin_county_code="999999")
    assert errors == {"origin_county_code": "请从列表中选择产地区县"}
    _, errors = parse(origin_province_code="990000", origin_city_code="", origin_county_code="")
    assert errors == {"origin_province_code": "请从列表中选择产地省份"}
    # A city code in the province field.
    _, errors = parse(origin_province_code="451200", origin_city_code="", origin_county_code="")
    assert errors == {"origin_province_code": "请从列表中选择产地省份"}
    # A consistent chain in another province is fine.
    values, errors = parse(origin_province_code="650000", origin_city_code="653100", origin_county_code="653101")
    assert errors == {} and values["origin_county_code"] == "653101"


def test_an_unknown_city_code_is_refused_not_dropped(parsing):
    values, errors = parse(origin_city_code="999999", origin_county_code="")
    assert "origin_city_code" in errors
    assert values["origin_city_code"] is None


def test_category_and_unit_must_come_from_their_lists(parsing):
    _, errors = parse(category_id="999999")
    assert errors == {"category_id": "请从列表中选择品类"}
    _, errors = parse(category_id="abc")
    assert errors == {"category_id": "请从列表中选择品类"}
    measure = db.session.scalar(select(DictionaryEntry).where(DictionaryEntry.kind == "measure_unit"))
    _, errors = parse(category_id=str(measure.id))
    assert errors == {"category_id": "请从列表中选择品类"}
    category = db.session.scalar(select(DictionaryEntry).where(DictionaryEntry.kind == "category"))
    _, errors = parse(measure_unit_id=str(category.id))
    assert errors == {"measure_unit_id": "请从列表中选择单位"}
    # A retired category takes no new records.
    category.active = False
    db.session.flush()
    _, errors = parse(category_id=str(category.id))
    assert errors == {"category_id": "请从列表中选择品类"}


def test_closed_or_unknown_period_is_refused(parsing):
    closed = ReportingPeriod(name="2019年购销信息登记", fill_type="current", year=2019, open=False)
    db.session.add(closed)
    db.session.flush()
    values, errors = parse(period_id=str(closed.id))
    assert errors == {"period_id": "所选填报类型不存在或已关闭"}
    assert values["period_id"] is None
    _, errors = parse(period_id="999999")
    assert errors == {"period_id": "所选填报类型不存在或已关闭"}


def test_product_name_length(parsing):
    assert parse(product_name="米" * 60)[1] == {}
    assert parse(product_name="米" * 61)[1] == {"product_name": "产品名称不能超过60个字"}


def test_every_mistake_is_reported_at_once(parsing):
    _, errors = parse(quantity="-1", amount="1.001", origin_county_code="653101", category_id="x")
    assert set(errors) == {"quantity", "amount", "origin_county_code", "category_id"}


def test_a_draft_may_be_incomplete_but_submit_lists_what_is_missing(app, t):
    record = service.create_draft(t.gz_enterprise, {"product_name": "百香果"})
    db.session.commit()
    assert record.status == "draft" and record.amount is None and record.origin_county_code is None
    missing = missing_for_submit(record)
    assert set(missing) == {"period_id", "direct_from_origin", "origin_province_code", "origin_city_code",
                            "origin_county_code", "category_id", "measure_unit_id", "quantity", "amount",
                            "vouchers"}
    assert missing["vouchers"].startswith("请至少上传一份采购凭证")
    assert missing["amount"] == "请填写采购金额" and missing["origin_county_code"] == "请选择产地区县"

    version = record.version
    with pytest.raises(ValidationFailed) as refused:
        workflow.submit(t.gz_enterprise, record, expected_version=version, amount_threshold=Decimal("500000"))
    assert refused.value.errors == missing
    db.session.rollback()
    assert (record.status, record.version) == ("draft", version)
    assert db.session.scalar(select(func.count()).select_from(ReviewEvent)) == 0

    # Complete fields but no voucher: only the voucher is missing.
    service.save_fields(t.gz_enterprise, record, record_form(), expected_version=record.version)
    assert missing_for_submit(record) == {"vouchers": "请至少上传一份采购凭证（发票、合同、运单或其他佐证材料）"}
    vouchers.add_voucher(t.gz_enterprise, record, io.BytesIO(PNG), "发票.png", "invoice",
                         root=vouchers.voucher_root(app.instance_path), max_bytes=1024 * 1024)
    assert missing_for_submit(record) == {}
    workflow.submit(t.gz_enterprise, record, expected_version=record.version, amount_threshold=Decimal("500000"))
    db.session.commit()
    assert record.status == "submitted"


def test_nothing_malformed_is_saved(t):
    with pytest.raises(ValidationFailed):
        service.create_draft(t.gz_merchant, record_form(amount="12.345"))
    db.session.rollback()
    assert db.session.scalar(select(func.count()).select_from(PurchaseRecord)) == 0

    record = service.create_draft(t.gz_merchant, record_form())
    db.session.commit()
    version = record.version
    with pytest.raises(ValidationFailed) as refused:
        service.save_fields(t.gz_merchant, record, record_form(product_name="香米", quantity="-2"),
                            expected_version=version)
    assert refused.value.errors == {"quantity": "采购数量必须大于0"}
    db.session.rollback()
    db.session.refresh(record)
    assert (record.product_name, record.quantity, record.version) == ("大米", Decimal("1.500"), version)


def test_only_filers_create_and_only_the_filer_edits(t):
    for account in (t.gz_office, t.province, t.gz_finance, t.system):
        with pytest.raises(PermissionDenied):
            service.create_draft(account, record_form())
    record = service.create_draft(t.gz_merchant, record_form())
    db.session.commit()
    for account in (t.sz_merchant, t.gz_market, t.gz_reviewer):
        with pytest.raises(PermissionDenied):
            service.save_fields(account, record, record_form(amount="1.00"))
    # A stale form is a conflict, not a silent overwrite.
    with pytest.raises(workflow.Conflict):
        service.save_fields(t.gz_merchant, record, record_form(amount="1.00"), expected_version=record.version - 1)
    db.session.rollback()
    assert db.session.get(PurchaseRecord, record.id).amount == Decimal("12800.50")
