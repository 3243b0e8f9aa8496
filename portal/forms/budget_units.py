from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import SelectField, StringField, TextAreaField


class ImportForm(FlaskForm):
    file = FileField("Excel 文件（.xlsx）", render_kw={"accept": ".xlsx"})


class RenameForm(FlaskForm):
    new_name = StringField("新单位名称", render_kw={"maxlength": 100})
    reason = StringField("更名原因或依据", render_kw={"maxlength": 200, "placeholder": "如：粤机编〔2024〕X号"})


class CloseForm(FlaskForm):
    reason = TextAreaField("撤销原因或依据", render_kw={"rows": 2, "maxlength": 200})


class MergeForm(FlaskForm):
    into = SelectField("并入单位", choices=[], validate_choice=False)
    reason = TextAreaField("合并原因或依据", render_kw={"rows": 2, "maxlength": 200})
