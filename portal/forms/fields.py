"""Fields shared by the forms."""
from wtforms import HiddenField, ValidationError

from portal.params import BadValue, parse_id


class VersionField(HiddenField):
    """The version of the row the page showed (optimistic locking): an int, or None for a form
    not saved yet. Anything else fails the form, as a forged request would."""

    malformed = False

    def process_formdata(self, valuelist):
        try:
            self.data = parse_id(valuelist[0] if valuelist else None)
        except BadValue:
            self.data, self.malformed = None, True

    def pre_validate(self, form):
        if self.malformed:
            raise ValidationError("页面已过期，请刷新后重试")
