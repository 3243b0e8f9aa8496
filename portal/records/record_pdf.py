"""A purchase record printed as a PDF (打印): its fields, its vouchers (name, kind, size, SHA-256,
upload time, so that a file on paper can be matched to the one kept) and its whole history (every
review event: the unit and the person, masked, who acted, when, what and why).

Drawn inside the request with the machinery the confirmation sheets use (portal/pdf.py): a record
prints on a page or two. Nothing is stored: the PDF is the record as it stands when printed.
"""
from dataclasses import dataclass

from flask import current_app

from portal import pdf
from portal.clock import utcnow
from portal.personal_data import mask_name
from portal.records.flags import FLAG_LABELS

TEMPLATE = "records/record_pdf.html"


@dataclass(frozen=True)
class Event:
    """A review event as printed."""

    at: object
    unit: str
    person: str
    action: str
    from_label: str
    to_label: str
    comment: str
    #: {field label: [before, after]} of a resubmission after a return
    changes: dict


def size_text(size):
    """1,234 bytes as 1.2 KB, a large one as 3.4 MB."""
    if size < 1024:
        return f"{size} B"
    if size < 1024 * 1024:
        return f"{size / 1024:.1f} KB"
    return f"{size / 1024 / 1024:.1f} MB"


def events_of(record):
    """The record's history, oldest first, the person's name masked: a paper outlives the account."""
    return [Event(at=event.at, unit=event.actor_unit.name, person=mask_name(event.actor.name),
                  action=event.action_label, from_label=event.from_label, to_label=event.to_label,
                  comment=event.comment or "", changes=event.change_map)
            for event in record.events]


def render(record, printed_by, now=None):
    """The PDF of the record, as bytes; printed_by is the unit that asked for it."""
    template = current_app.jinja_env.get_template(TEMPLATE)
    html = template.render(record=record, events=events_of(record), size_text=size_text,
                           flags=[FLAG_LABELS.get(code, code) for code in record.flag_codes],
                           printed_by=printed_by.name, printed_at=now or utcnow(), font_url=pdf.font_url())
    return pdf.write_pdf(html)


def download_name(record):
    return f"购销记录-{record.id}.pdf"
