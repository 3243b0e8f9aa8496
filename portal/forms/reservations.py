from flask_wtf import FlaskForm
from wtforms import BooleanField, RadioField, SelectChoice, StringField, TextAreaField

from portal.forms.fields import VersionField
from portal.reservations.states import CANTEEN_TYPES, SHARED_FILLERS

YES_NO = [SelectChoice("1", "是"), SelectChoice("0", "否")]


class FiguresForm(FlaskForm):
    canteen_type = RadioField("食堂类型", choices=[SelectChoice(k, v) for k, v in CANTEEN_TYPES.items()],
                              validate_choice=False)
    shared_filler = RadioField("共用食堂的填报", choices=[SelectChoice(k, v) for k, v in SHARED_FILLERS.items()],
                               validate_choice=False)
    remark = StringField("备注", render_kw={"maxlength": 60})
    canteen_total = StringField("年度食堂食材采购总额（元）", render_kw={"inputmode": "decimal"})
    ratio = StringField("年度预留比例（%）", render_kw={"inputmode": "decimal"})
    union_need = RadioField("是否有工会采购需求", choices=YES_NO, validate_choice=False)
    union_total = StringField("年度工会采购总额（元）", render_kw={"inputmode": "decimal"})
    union_ratio = StringField("年度工会采购预留比例（%）", render_kw={"inputmode": "decimal"})
    union_remark = StringField("备注", render_kw={"maxlength": 60, "placeholder": "最多输入50个文字"})
    version = VersionField()


class ContactsForm(FlaskForm):
    contact_name = StringField("填报预留份额联系人", render_kw={"maxlength": 40})
    contact_mobile = StringField("手机号码", render_kw={"inputmode": "numeric", "maxlength": 13})
    contact_landline = StringField("固定电话（区号-号码，选填）", render_kw={"placeholder": "如 020-83133000"})
    union_contact_name = StringField("工会采购预留份额联系人（选填）", render_kw={"maxlength": 40})
    union_contact_mobile = StringField("手机号码（选填）", render_kw={"inputmode": "numeric", "maxlength": 13})
    union_contact_landline = StringField("固定电话（选填）", render_kw={"placeholder": "如 020-83133000"})
    version = VersionField()


class SubmitForm(FlaskForm):
    attested = BooleanField("我单位本次填报的内容真实有效，无瞒报、漏报、错报情况")
    version = VersionField()


class DecisionForm(FlaskForm):
    version = VersionField()
    reason = TextAreaField("退回原因（退回时必填）", render_kw={"rows": 2, "maxlength": 200})


class PolicyForm(FlaskForm):
    year = StringField("年度", render_kw={"inputmode": "numeric", "maxlength": 4})
    min_ratio = StringField("最低预留比例（%）", render_kw={"inputmode": "decimal"})
    encouraged_ratio = StringField("鼓励预留比例（%）", render_kw={"inputmode": "decimal"})
    national_floor = StringField("全国最低比例（%）", render_kw={"inputmode": "decimal"})
    filing_deadline = StringField("填报截止日期", render_kw={"type": "date"})
    extended_until = StringField("延期至（选填）", render_kw={"type": "date"})
    superior_deadline = StringField("主管预算单位确认截止日期（选填）", render_kw={"type": "date"})
    finance_deadline = StringField("财政部门确认截止日期（选填）", render_kw={"type": "date"})
    flag_below_last_year = BooleanField("比例或金额低于上年时提示")
