"""Creating and changing a record's fields while it is the filer's to change."""
from portal import audit
from portal.clock import utcnow
from portal.concurrency import check_version
from portal.errors import PermissionDenied, ValidationFailed
from portal.extensions import db
from portal.records import rules
from portal.records.entry import FIELDS, parse_fields
from portal.records.models import PurchaseRecord
from portal.records.workflow import Conflict, count_new_draft, flush_or_conflict


def create_draft(actor, data):
    if not rules.may_file(actor):
        raise PermissionDenied("您的单位不填报购销记录")
    values, errors = parse_fields(data)
    if errors:
        raise ValidationFailed(errors)
    unit = actor.unit
    record = PurchaseRecord(unit_id=unit.id, created_by_id=actor.id, channel=rules.channel_of(unit),
                            first_reviewer_id=rules.first_reviewer_of(unit), city_scope=rules.city_scope_of(unit),
                            status="draft", flags="", **values)
    db.session.add(record)
    db.session.flush()
    count_new_draft(record)
    audit.record("record_created", actor=actor, object_ref=f"record:{record.id}")
    return record


def save_fields(actor, record, data, *, expected_version=None):
    """Save the fields of a draft or returned record; nothing malformed is saved."""
    if not rules.may_edit(actor, record):
        raise PermissionDenied("该记录已提交，不能修改")
    check_version(record, expected_version, Conflict)
    values, errors = parse_fields(data)
    if errors:
        raise ValidationFailed(errors)
    for field in FIELDS:
        setattr(record, field, values[field])
    record.updated_at = utcnow()
    flush_or_conflict(record)
    return record
