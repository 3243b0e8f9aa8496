from flask_wtf import FlaskForm
from wtforms import HiddenField, SelectChoice, SelectField, StringField

from portal.records.states import FILL_TYPES


class PeriodForm(FlaskForm):
    year = StringField("年度", render_kw={"inputmode": "numeric", "maxlength": 4, "placeholder": "如 2027"})
    fill_type = SelectField("填报类型", choices=[SelectChoice("", "请选择")] +
                            [SelectChoice(key, label) for key, label in FILL_TYPES.items()], validate_choice=False)
    name = StringField("名称（留空则按年度和类型自动命名）", render_kw={"maxlength": 40})


class EntryForm(FlaskForm):
    kind = HiddenField()
    name = StringField("名称", render_kw={"maxlength": 20})
