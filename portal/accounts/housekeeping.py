"""剩余信息保护: what a login leaves behind is removed once nothing needs it any more.

SMS codes and wrong tries are counted for a day at most (the daily sending limit) and shown as
"failed attempts since your last login" (上次登录信息); they are kept KEEP_DAYS for that and then
removed. Sessions are removed once ended, or dead of old age, for as long; captchas already
used once they have expired; background jobs over (a failed one's payload, kept for its retry, too) after KEEP_DAYS; large exports' files after EXPORT_KEEP_DAYS; uploads staged for a preview once expired. The audit trail keeps what happened (logins, logouts, lockouts),
so nothing of the record is lost. Run daily (deploy/portal-daily.service).
"""
from datetime import timedelta, timezone

from sqlalchemy import delete, func, or_, select

from portal import staged_uploads
from portal.accounts.captcha import TTL as CAPTCHA_TTL
from portal.accounts.models import CaptchaUse, CodeFailure, LoginSession, SmsCode
from portal.clock import utcnow
from portal.extensions import db
from portal.jobs import exports
from portal.jobs.models import DONE, EXPIRED, FAILED, Job

KEEP_DAYS = 30
EXPORT_KEEP_DAYS = 7


def purge_expired(now=None):
    """Delete what has expired; returns {table: rows removed}. The caller commits."""
    now = now or utcnow()
    cutoff = now - timedelta(days=KEEP_DAYS)
    removed = {}

    def purge(table, statement):
        removed[table] = db.session.execute(statement.execution_options(synchronize_session=False)).rowcount

    # A code's own wrong tries go with it (ON DELETE CASCADE is not enforced on every SQLite).
    old_codes = select(SmsCode.id).where(SmsCode.created_at < cutoff)
    purge("code_failure", delete(CodeFailure).where(or_(CodeFailure.created_at < cutoff,
                                                        CodeFailure.code_id.in_(old_codes))))
    purge("sms_code", delete(SmsCode).where(SmsCode.created_at < cutoff))
    purge("login_session", delete(LoginSession).where(
        func.coalesce(LoginSession.ended_at, LoginSession.last_seen_at) < cutoff))
    purge("captcha_use", delete(CaptchaUse).where(CaptchaUse.used_at < now - CAPTCHA_TTL))
    purge("job", delete(Job).where(Job.status.in_((DONE, EXPIRED, FAILED)), Job.finished_at < cutoff))
    removed["export_files"] = _remove_old_exports(now)
    removed["staged_upload"] = staged_uploads.purge_expired(now)
    return removed


def _remove_old_exports(now):
    """Large exports' files are fetched the day they are made; after EXPORT_KEEP_DAYS they go
    (their page then says so), and a file half-written by a worker that died goes too."""
    cutoff = (now - timedelta(days=EXPORT_KEEP_DAYS)).replace(tzinfo=timezone.utc).timestamp()
    count = 0
    for path in exports.folder().iterdir():
        if path.suffix in (".xlsx", ".part") and path.stat().st_mtime < cutoff:
            path.unlink(missing_ok=True)
            count += 1
    return count
