from flask_wtf import FlaskForm
from wtforms import HiddenField, SelectField, StringField


class PhoneForm(FlaskForm):
    phone = StringField("手机号码", render_kw={"inputmode": "tel", "autocomplete": "tel", "maxlength": 20})
    #: the graphic captcha's answer, asked before a code is sent (LOGIN_CAPTCHA)
    captcha = StringField("图形验证码", render_kw={"autocomplete": "off", "autocapitalize": "characters",
                                              "spellcheck": "false", "maxlength": 8})


class LoginForm(PhoneForm):
    code = StringField("短信验证码", render_kw={"inputmode": "numeric", "autocomplete": "one-time-code",
                                           "maxlength": 6})
    next = HiddenField()


class RegisterForm(PhoneForm):
    name = StringField("企业名称", render_kw={"maxlength": 100})
    credit_code = StringField("统一社会信用代码", render_kw={"maxlength": 18, "autocapitalize": "characters"})
    contact_name = StringField("联系人", render_kw={"maxlength": 40})
    city_code = SelectField("注册地（地级市）", choices=[], validate_choice=False)
    code = StringField("短信验证码", render_kw={"inputmode": "numeric", "autocomplete": "one-time-code",
                                           "maxlength": 6})
