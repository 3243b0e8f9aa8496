"""The province office's reference data (portal/reference/admin.py): the category and unit
lists, key counties; who may change them, what each change refuses, and what a filer or the
totals see afterwards. (Reporting periods: tests/test_periods.py.)"""
import pytest
from sqlalchemy import select

from portal.accounts.models import Account
from portal.audit import AuditEvent
from portal.errors import PermissionDenied, ValidationFailed
from portal.extensions import db
from portal.records import entry
from portal.records.totals import TotalFilters, province_view
from portal.reference import admin
from portal.reference.models import Region
from tests.factories import file_record
from tests.records_helpers import record_form

pytestmark = pytest.mark.usefixtures("reference_edits")

@pytest.fixture
def province(app, tree, ctx):
    return db.session.get(Account, tree.province.id)


def _audit_actions():
    return [e.action for e in db.session.scalars(select(AuditEvent).order_by(AuditEvent.id))]


# -- who ------------------------------------------------------------------------------------

@pytest.mark.parametrize("role", ["province_reviewer", "gz_office", "system", "province_finance", "gz_merchant"])
def test_only_the_province_office_admin_edits(app, tree, ctx, role):
    actor = db.session.get(Account, getattr(tree, role).id)
    assert not admin.may_edit_reference(actor)
    county = db.session.get(Region, "451225")
    for change in (lambda: admin.add_entry(actor, kind="category", name="蜂产品"),
                   lambda: admin.set_key_county(actor, county, False)):
        with pytest.raises(PermissionDenied):
            change()
    assert county.key_county


# -- category and unit lists ----------------------------------------------------------------

def test_a_new_entry_goes_to_the_end_of_its_list_and_the_form(province):
    added = admin.add_entry(province, kind="category", name=" 蜂产品 ")
    categories = admin.dictionary_entries()["category"]
    assert added.name == "蜂产品" and categories[-1] is added
    assert entry._entry("category", str(added.id)) is added
    assert _audit_actions()[-1] == "entry_added"


@pytest.mark.parametrize("kind, name, field, message", [
    ("category", "", "name", "请填写品类名称"),
    ("measure_unit", "  ", "name", "请填写单位名称"),
    ("category", "很" * 21, "name", "品类名称不能超过20个字"),
    ("category", "粮食", "name", "品类“粮食”已存在"),
    ("colour", "红", "kind", "请选择要添加到哪个列表"),
])
def test_entry_refusals(province, kind, name, field, message):
    with pytest.raises(ValidationFailed) as refused:
        admin.add_entry(province, kind=kind, name=name)
    assert refused.value.errors[field] == message


def test_a_retired_entry_leaves_the_form_keeps_its_records_and_can_come_back(app, tree, province):
    record = file_record(db.session.get(Account, tree.gz_merchant.id), app.instance_path)
    rice = record.category
    admin.set_entry_active(province, rice, False)
    assert entry._entry("category", str(rice.id)) is None
    _, errors = entry.parse_fields(record_form())
    assert errors["category_id"] == "请从列表中选择品类"
    assert db.session.get(type(record), record.id).category.name == "粮食"  # the record keeps it
    with pytest.raises(ValidationFailed) as refused:
        admin.add_entry(province, kind="category", name="粮食")
    assert "目前已停用" in refused.value.errors["name"]
    admin.set_entry_active(province, rice, True)
    assert entry._entry("category", str(rice.id)) is rice


def test_the_last_entry_of_a_list_cannot_be_retired(province):
    units = admin.dictionary_entries()["measure_unit"]
    for unit in units[:-1]:
        admin.set_entry_active(province, unit, False)
    with pytest.raises(ValidationFailed) as refused:
        admin.set_entry_active(province, units[-1], False)
    assert refused.value.errors["entry"] == "至少要保留一个可选的单位"
    assert units[-1].active


# -- key counties ---------------------------------------------------------------------------

def test_the_key_county_flag_changes_the_totals_at_once(app, tree, province):
    from portal.records.workflow import approve

    record = file_record(db.session.get(Account, tree.gz_enterprise.id), app.instance_path)
    approve(db.session.get(Account, tree.gz_office.id), record, expected_version=record.version)
    luocheng = db.session.get(Region, "451225")
    assert luocheng.key_county
    assert [row[0] for row in province_view(TotalFilters())["key_counties"]] == ["广西壮族自治区 / 河池市 / 罗城仫佬族自治县"]
    admin.set_key_county(province, luocheng, False)
    assert province_view(TotalFilters())["key_counties"] == []
    assert _audit_actions()[-1] == "key_county_unset"


def test_only_a_county_is_a_key_county(province):
    with pytest.raises(ValidationFailed):
        admin.set_key_county(province, db.session.get(Region, "451200"), True)


def test_counties_of_one_province(province):
    guizhou = admin.counties_of("520000")
    assert guizhou and all(c.code.startswith("52") and c.level == "county" for c in guizhou)
    assert len(admin.counties_of()) > len(guizhou)
