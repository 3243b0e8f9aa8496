"""record_breakdown: approved totals one breakdown at a time, for the province and each city, by
year of approval. The approving transaction adds to its rows; the pages read them back."""
from collections import defaultdict
from decimal import Decimal

from sqlalchemy import Integer, String, cast, delete, func, insert, literal, select, text

from portal.clock import to_china
from portal.extensions import db
from portal.records.counting import add_to_many
from portal.records.models import BREAKDOWNS, WHOLE_PROVINCE, PurchaseRecord, RecordBreakdown

KEYS = ("scope", "year", "dimension", "key")
#: a dimension's key, read back with the type the pages look its labels up by
KEY_TYPES = {"category": int, "period": int}


def _keys(record):
    return {"city": record.city_scope, "channel": record.channel, "county": record.origin_county_code,
            "category": str(record.category_id), "period": str(record.period_id)}


def add_approved(record, approved_at):
    """Count an approved record into its breakdowns (one statement), in the approving transaction."""
    in_china = to_china(approved_at)
    keys = {"month": in_china.strftime("%Y-%m"), **_keys(record)}
    rows = [{"scope": scope, "year": in_china.year, "dimension": dimension, "key": key,
             "record_count": 1, "amount": record.amount}
            for scope in (WHOLE_PROVINCE, record.city_scope)
            for dimension, key in keys.items() if scope == WHOLE_PROVINCE or dimension != "city"]
    add_to_many(RecordBreakdown, rows, keys=KEYS, increments=("record_count", "amount"))


def read(scope=WHOLE_PROVINCE, year=None):
    """dimension → {key: (count, amount)} for the province ("") or one city, over every year or one."""
    row = RecordBreakdown
    query = (select(row.dimension, row.key, func.sum(row.record_count), func.sum(row.amount))
             .where(row.scope == scope).group_by(row.dimension, row.key))
    if year is not None:
        query = query.where(row.year == year)
    found = defaultdict(dict)
    for dimension, key, count, amount in db.session.execute(query):
        found[dimension][KEY_TYPES.get(dimension, str)(key)] = (count, amount or Decimal("0"))
    return found


def total(scope=WHOLE_PROVINCE):
    """(records, amount) approved in the province or a city: every record is in one channel."""
    row = RecordBreakdown
    count, amount = db.session.execute(select(func.sum(row.record_count), func.sum(row.amount)).where(
        row.scope == scope, row.dimension == "channel")).one()
    return count or 0, amount or Decimal("0")


def _approval_year_and_month():
    """SQL for the year and "YYYY-MM" of a record's approval in China (UTC+8)."""
    approved = PurchaseRecord.approved_at
    if db.session.get_bind().dialect.name == "postgresql":
        in_china = approved + text("interval '8 hours'")
        return cast(func.extract("year", in_china), Integer), func.to_char(in_china, "YYYY-MM")
    return (cast(func.strftime("%Y", approved, "+8 hours"), Integer),
            func.strftime("%Y-%m", approved, "+8 hours"))


def rebuild():
    """Count every approved record again, in bulk (the benchmark's database, built by INSERT);
    the workflow keeps the same rows one approval at a time."""
    record = PurchaseRecord
    year, month = _approval_year_and_month()
    columns = {"month": month, "city": record.city_scope, "channel": record.channel,
               "county": record.origin_county_code, "category": cast(record.category_id, String),
               "period": cast(record.period_id, String)}
    db.session.execute(delete(RecordBreakdown))
    for dimension in BREAKDOWNS:
        for per_city in (False, True):
            if dimension == "city" and per_city:
                continue
            scope = record.city_scope if per_city else literal(WHOLE_PROVINCE)
            groups = [record.city_scope] if per_city else []  # PostgreSQL refuses GROUP BY a constant
            db.session.execute(insert(RecordBreakdown).from_select(
                ["scope", "year", "dimension", "key", "record_count", "amount"],
                select(scope, year, literal(dimension), columns[dimension], func.count(), func.sum(record.amount))
                .where(record.status == "approved", record.approved_at.is_not(None))
                .group_by(*groups, year, columns[dimension])))
