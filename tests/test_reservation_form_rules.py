"""The seed's rules for the reserved-share form (附件1), on the domain functions."""
from decimal import Decimal
from types import SimpleNamespace

import pytest

from portal.reservations.form_rules import check_contacts, check_figures, share

GUANGDONG_2024 = SimpleNamespace(min_ratio=Decimal("30"))
ALLOWS_20 = SimpleNamespace(min_ratio=Decimal("20"))


def figures(**overrides):
    data = {"canteen_type": "own", "canteen_total": "1000000", "ratio": "30", "union_need": "0",
            "union_remark": "本单位工会本年度暂无采购计划"}
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


def test_seed_worked_examples_under_a_policy_that_allows_20_percent():
    values, errors = check_figures(figures(canteen_type="shared", shared_filler="self", ratio="20", union_need="1",
                                           union_total="200000", union_ratio="20", union_remark=None), ALLOWS_20)
    assert errors == {}
    assert values["reserved_amount"] == Decimal("200000.00")
    assert values["union_expected"] == Decimal("40000.00")
    assert share(Decimal("200000"), Decimal("20")) == Decimal("40000.00")


def test_twenty_percent_is_refused_under_guangdong_2024():
    _, errors = check_figures(figures(ratio="20"), GUANGDONG_2024)
    assert errors == {"ratio": "预留比例不能低于本年度最低比例30%"}


def test_amount_is_rounded_half_up_to_the_fen():
    assert share(Decimal("10000.05"), Decimal("30.5")) == Decimal("3050.02")  # 3050.01525
    assert share(Decimal("0.05"), Decimal("50")) == Decimal("0.03")  # 0.025 rounds up, not to even


@pytest.mark.parametrize("text, message", [
    ("12a", "年度食堂食材采购总额仅可输入数字与小数点"),
    ("1,000", "年度食堂食材采购总额仅可输入数字与小数点"),
    ("-5", "年度食堂食材采购总额仅可输入数字与小数点"),
    ("100.123", "年度食堂食材采购总额最多保留小数点后两位"),
])
def test_numbers_only_digits_and_two_decimals(text, message):
    _, errors = check_figures(figures(canteen_total=text), GUANGDONG_2024)
    assert errors["canteen_total"] == message


def test_no_canteen_needs_the_exact_remark():
    _, errors = check_figures(figures(canteen_type="none", canteen_total=None, ratio=None, remark="无饭堂"),
                              GUANGDONG_2024)
    assert "不可注明为“无饭堂”" in errors["remark"]
    values, errors = check_figures(figures(canteen_type="none", canteen_total=None, ratio=None, remark="无食堂"),
                                   GUANGDONG_2024)
    assert errors == {} and values["reserved_amount"] is None


def test_shared_canteen_filed_by_another_unit_names_it():
    _, errors = check_figures(figures(canteen_type="shared", shared_filler="other", canteen_total=None, ratio=None,
                                      remark="共用食堂"), GUANGDONG_2024)
    assert "共用XX单位食堂" in errors["remark"]
    for remark in ("共用广东省教育厅食堂", "由广东省教育厅填报预留份额"):
        _, errors = check_figures(figures(canteen_type="shared", shared_filler="other", canteen_total=None,
                                          ratio=None, remark=remark), GUANGDONG_2024)
        assert errors == {}, remark


def test_union_no_needs_a_remark_and_remarks_stop_at_50_characters():
    _, errors = check_figures(figures(union_remark=""), GUANGDONG_2024)
    assert errors["union_remark"] == "没有工会采购需求的，请在备注中说明有关情况"
    _, errors = check_figures(figures(remark="字" * 51), GUANGDONG_2024)
    assert errors["remark"].startswith("备注最多输入50个文字")
    _, errors = check_figures(figures(remark="字" * 50), GUANGDONG_2024)
    assert "remark" not in errors


def test_contacts_need_name_and_mobile_and_a_landline_in_area_code_form():
    _, errors = check_contacts({"contact_name": "", "contact_mobile": ""})
    assert set(errors) == {"contact_name", "contact_mobile"}
    _, errors = check_contacts({"contact_name": "张三", "contact_mobile": "13800138000", "contact_landline": "83133000"})
    assert errors == {"contact_landline": "固定电话请按“区号-号码”填写，如020-83133000"}
    values, errors = check_contacts({"contact_name": "张三", "contact_mobile": "13800138000",
                                     "contact_landline": "020-83133000"})
    assert errors == {} and values["contact_landline"] == "020-83133000"


def test_contact_names_hold_40_characters_and_every_refusal_says_why():
    """What `make mutate` found unchecked in step 2: the 40-character limits at their boundary,
    the union contact's name, and the words of each message."""
    values, errors = check_contacts({"contact_name": "李" * 40, "contact_mobile": "13800138000",
                                     "union_contact_name": " 王" + "芳" * 39 + " "})
    assert errors == {}
    assert values["contact_name"] == "李" * 40 and values["union_contact_name"] == "王" + "芳" * 39
    _, errors = check_contacts({"contact_name": "李" * 41, "contact_mobile": "1380013800",
                                "union_contact_name": "王" * 41, "union_contact_mobile": "123"})
    assert errors == {
        "contact_name": "联系人姓名不能超过40个字",
        "contact_mobile": "手机号码格式不正确，请输入11位大陆手机号",
        "union_contact_name": "联系人姓名不能超过40个字",
        "union_contact_mobile": "手机号码格式不正确，请输入11位大陆手机号",
    }
    values, errors = check_contacts({})
    assert errors == {"contact_name": "请填写填报预留份额联系人", "contact_mobile": "请填写联系人手机号码"}
    assert values["union_contact_name"] is None and values["contact_name"] is None
