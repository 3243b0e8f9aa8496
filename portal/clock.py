"""One source of the current time: naive UTC, as stored; Babel shows it in Asia/Shanghai."""
from datetime import datetime, timezone


def utcnow():
    return datetime.now(timezone.utc).replace(tzinfo=None)
