"""SMS notifications as jobs: written in the transaction of the change that causes them, so a
message exists if and only if its change committed, and sent by the worker with retries. A gateway
that is down delays a message, never loses it; the administrators' page shows one that gave up."""
from datetime import timedelta

from portal.accounts.models import mask_phone
from portal.accounts.sms import SmsDeliveryError, send_sms
from portal.jobs import JobError, enqueue, handler

KIND = "sms"


def notify(phone, text, kind, *, deliver=True, expires_at=None, created_by=None):
    """Queue one message to a number; the caller commits it with its change. deliver=False
    queues one that is never sent (a login code asked for a number without an account), so
    that the request does the same work either way."""
    return enqueue(KIND, {"phone": phone, "text": text, "kind": kind, "deliver": deliver},
                   summary=f"短信（{kind}）至 {mask_phone(phone)}", expires_at=expires_at, created_by=created_by)


@handler(KIND, lease=timedelta(minutes=1), max_attempts=8)
def _send(payload, job):
    if not payload.get("deliver", True):
        return None
    try:
        # The job's id names the message: a gateway adapter can drop a repeat of the same id.
        send_sms(payload["phone"], payload["text"], payload["kind"], message_id=f"portal-job-{job.id}")
    except SmsDeliveryError as error:
        raise JobError(f"短信网关发送失败：{error}") from error
