from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import HiddenField, SelectField, StringField, ValidationError

from portal.params import BadValue, parse_date, parse_decimal, parse_year


def _date_of(field):
    try:
        return parse_date(field.data, label="统计截止日期")
    except BadValue as bad:
        raise ValidationError(bad.message) from None


class FulfilmentUploadForm(FlaskForm):
    year = SelectField("年度", choices=[], validate_choice=False)
    as_of = StringField("统计截止日期（文件中已有“统计截止日期”列时可不填）", render_kw={"type": "date"})
    file = FileField("832平台采购统计（.xlsx）", render_kw={"accept": ".xlsx"})

    def validate_year(self, field):
        if field.data not in {str(value) for value, _ in field.choices}:
            raise ValidationError("请选择年度")

    def validate_as_of(self, field):
        _date_of(field)

    @property
    def as_of_date(self):
        return parse_date(self.as_of.data)


class ConfirmImportForm(FlaskForm):
    """The preview's 确认导入: the staged file's token and what was previewed."""

    token = HiddenField()
    year = HiddenField()
    as_of = HiddenField()

    def validate_year(self, field):
        try:
            if parse_year(field.data) is None:
                raise ValidationError("年度缺失")
        except BadValue as bad:
            raise ValidationError(bad.message) from None

    def validate_as_of(self, field):
        if _date_of(field) is None:
            raise ValidationError("统计截止日期缺失")

    @property
    def year_value(self):
        return parse_year(self.year.data)

    @property
    def as_of_value(self):
        return parse_date(self.as_of.data)


class ReminderForm(FlaskForm):
    """Who to remind: the kind of reminder and, for 832 progress, the completion threshold."""

    kind = SelectField("提醒对象", choices=[], validate_choice=False)
    threshold = StringField("完成率低于（%）", default="50", render_kw={"inputmode": "decimal", "maxlength": 6})
    year = HiddenField()
    day = HiddenField()

    def validate_kind(self, field):
        if field.data not in {value for value, _ in field.choices}:
            raise ValidationError("请选择提醒对象")

    def validate_threshold(self, field):
        if self.kind.data != "behind":
            return
        try:
            value = parse_decimal(field.data, places=2, digits=5, label="完成率")
        except BadValue as bad:
            raise ValidationError(bad.message) from None
        if value is None or not 0 < value <= 100:
            raise ValidationError("完成率应在0到100之间")

    @property
    def threshold_value(self):
        return parse_decimal(self.threshold.data, places=2, digits=5) if self.kind.data == "behind" else None
