"""SMS notifications that go out only once the transaction that caused them has committed."""
from flask import current_app
from sqlalchemy import event
from sqlalchemy.orm import Session

from portal.accounts.models import mask_phone
from portal.accounts.sms import SmsDeliveryError, send_sms

_KEY = "pending_sms"


def notify_after_commit(session, phone, text, kind):
    session.info.setdefault(_KEY, []).append((phone, text, kind))


@event.listens_for(Session, "after_commit")
def _send_pending(session):
    for phone, text, kind in session.info.pop(_KEY, []):
        try:
            send_sms(phone, text, kind)
        except SmsDeliveryError:
            # The change stands; a lost notice is logged for the operator, not shown as a failure.
            # Logs keep no personal data (剩余信息保护): the masked number says enough.
            current_app.logger.exception("SMS notification to %s failed", mask_phone(phone))


@event.listens_for(Session, "after_rollback")
def _drop_pending(session):
    session.info.pop(_KEY, None)
