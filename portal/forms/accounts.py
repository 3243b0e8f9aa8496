from flask_wtf import FlaskForm
from wtforms import SelectField, StringField


class ContactForm(FlaskForm):
    contact_name = StringField("联系人", render_kw={"maxlength": 40})
    phone = StringField("手机号码", render_kw={"inputmode": "tel", "maxlength": 20})


class OpenUnitForm(ContactForm):
    kind = SelectField("单位类型", choices=[], validate_choice=False)
    name = StringField("单位名称", render_kw={"maxlength": 100})
    city_code = SelectField("所在地级市", choices=[], validate_choice=False)
    credit_code = StringField("统一社会信用代码（选填）", render_kw={"maxlength": 18})
