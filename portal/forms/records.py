from flask_wtf import FlaskForm
from wtforms import RadioField, SelectChoice, SelectField, StringField, TextAreaField

from portal.forms.fields import VersionField


class RecordForm(FlaskForm):
    period_id = SelectField("填报类型", choices=[], validate_choice=False)
    direct_from_origin = RadioField("是否直接向扶贫地区原产地采购", choices=[SelectChoice("1", "是"), SelectChoice("0", "否")],
                                    validate_choice=False)
    origin_province_code = SelectField("产地省份", choices=[], validate_choice=False)
    origin_city_code = SelectField("产地城市", choices=[], validate_choice=False)
    origin_county_code = SelectField("产地区县", choices=[], validate_choice=False)
    category_id = SelectField("品类", choices=[], validate_choice=False)
    measure_unit_id = SelectField("单位", choices=[], validate_choice=False)
    product_name = StringField("产品名称", render_kw={"maxlength": 60, "placeholder": "如：大米、百香果"})
    quantity = StringField("采购数量", render_kw={"inputmode": "decimal"})
    amount = StringField("采购金额（元）", render_kw={"inputmode": "decimal", "placeholder": "如：12800.50"})
    version = VersionField()


class ReviewForm(FlaskForm):
    version = VersionField()
    reason = TextAreaField("退回原因", render_kw={"rows": 2, "maxlength": 200,
                                              "placeholder": "请写明需要修改的内容，将通过短信通知填报单位"})
