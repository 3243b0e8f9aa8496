"""What /dashboard shows: for the province and city offices, purchases approved (by month, city,
channel, western province and key county) and records waiting at each level; for finance
departments, filing and confirmation progress by level, the year's purchases on 832 against the
reserved share by month, and completion by city and department.

Every monitoring figure comes from the summaries the records workflow keeps in its own
transactions (record_breakdown, queue_counter), never from the records, so a dashboard costs
the same at ten thousand records as at a million. Nothing here reads the request.
"""
import calendar
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from sqlalchemy import or_, select

from portal.accounts.kinds import UnitKind
from portal.accounts.models import Unit
from portal.clock import to_china, utcnow
from portal.extensions import db
from portal.oversight import completion
from portal.oversight.scope import OrgMap
from portal.records import breakdowns
from portal.records.models import WHOLE_PROVINCE, PurchaseRecord, QueueCounter
from portal.records.states import CHANNEL_LABELS, PROVINCE_SCOPE
from portal.reference.models import GuangdongCity, Region

ZERO = Decimal("0.00")


@dataclass
class Row:
    """One figure of a chart and its table: a label, the count and amount, and the filter of the
    list behind it (the arguments of its link)."""

    label: str
    count: int
    amount: Decimal
    link: dict


def monitoring(year, city_scope=None):
    """The offices' figures of approved purchases in `year` (one city's, or the province's)."""
    base = {"year": year, **({"city_scope": city_scope} if city_scope else {})}
    found = breakdowns.read(city_scope or WHOLE_PROVINCE, year)
    months = []
    for number in range(1, 13):
        count, amount = found["month"].get(f"{year}-{number:02d}", (0, ZERO))
        months.append(Row(f"{number}月", count, amount, {**base, "month": f"{year}-{number:02d}"}))

    cities = {c.code: c.name for c in db.session.scalars(select(GuangdongCity))}
    cities[PROVINCE_SCOPE] = "省级单列市场"
    by_city = [Row(cities.get(key, key), count, amount, {**base, "city_scope": key})
               for key, (count, amount) in sorted(found["city"].items())]
    by_channel = [Row(CHANNEL_LABELS.get(key, key), count, amount, {**base, "channel": key})
                  for key, (count, amount) in found["channel"].items()]

    regions = {r.code: r for r in db.session.scalars(select(Region))}
    provinces, key_counties = {}, []
    for code, (count, amount) in found["county"].items():
        province = code[:2] + "0000"
        total = provinces.get(province, (0, ZERO))
        provinces[province] = (total[0] + count, total[1] + amount)
        county = regions.get(code)
        if county is not None and county.key_county:
            city = regions.get(county.parent_code)
            key_counties.append(Row(f"{city.name if city else ''}{county.name}", count, amount,
                                    {**base, "region_code": code}))
    by_province = [Row(regions[code].name if code in regions else code, count, amount,
                       {**base, "region_code": code}) for code, (count, amount) in sorted(provinces.items())]
    return {
        "months": months,
        "by_city": by_city if not city_scope else [],
        "by_channel": sorted(by_channel, key=lambda r: -r.amount),
        "by_province": sorted(by_province, key=lambda r: -r.amount),
        "key_counties": sorted(key_counties, key=lambda r: -r.amount),
        "total": (sum(r.count for r in months), sum((r.amount for r in months), ZERO)),
    }


@dataclass
class Waiting:
    level: str
    where: str
    count: int
    #: when the longest-waiting record arrived (UTC), and the whole days since, in China
    oldest_since: object
    days: int | None


#: queues asked in one statement (a row of that many columns; SQLite allows 2,000)
QUEUES_PER_STATEMENT = 500


def _oldest_arrivals(queues):
    """{name: when the longest-waiting record of that queue arrived}, for queues given as
    name → (condition, arrival column): one statement per 500 queues, each queue's lowest id
    found by its index."""
    names, found = list(queues), {}
    for start in range(0, len(names), QUEUES_PER_STATEMENT):
        chunk = names[start:start + QUEUES_PER_STATEMENT]
        firsts = [select(queues[name][1]).where(*queues[name][0]).order_by(PurchaseRecord.id).limit(1)
                  .scalar_subquery().label(f"q{i}") for i, name in enumerate(chunk)]
        found.update(zip(chunk, db.session.execute(select(*firsts)).one()))
    return found


def _queue_counters():
    """The queues' counters above zero ("first:<unit>", "city:<scope>"), not the units' own."""
    key = QueueCounter.key
    return dict(db.session.execute(select(key, QueueCounter.count).where(
        QueueCounter.count > 0, or_(key.startswith("first:"), key.startswith("city:")))).all())


def waiting(city_scope=None, now=None):
    """Records waiting at each level, per reviewing unit or city, with how long the oldest waits."""
    today = to_china(now or utcnow()).date()
    counters = _queue_counters()
    reviewers = {int(key.split(":")[1]): count for key, count in counters.items() if key.startswith("first:")}
    units = db.session.scalars(select(Unit).where(Unit.id.in_(list(reviewers))).order_by(Unit.id)).all() \
        if reviewers else []
    units = [unit for unit in units if not city_scope or (unit.city_code or PROVINCE_SCOPE) == city_scope]
    scopes = sorted(key.split(":")[1] for key in counters if key.startswith("city:"))
    scopes = [scope for scope in scopes if not city_scope or scope == city_scope]
    record = PurchaseRecord
    since = _oldest_arrivals({
        **{("first", unit.id): ((record.first_reviewer_id == unit.id, record.status == "filed"), record.submitted_at)
           for unit in units},
        **{("city", scope): ((record.city_scope == scope, record.status == "submitted"), record.reached_city_at)
           for scope in scopes}})

    def days(arrived):
        return (today - to_china(arrived).date()).days if arrived else None

    rows = [Waiting("市场/商超初审", unit.name, reviewers[unit.id], since[("first", unit.id)],
                    days(since[("first", unit.id)])) for unit in units]
    cities = {c.code: c.name for c in db.session.scalars(select(GuangdongCity))}
    cities[PROVINCE_SCOPE] = "省级（单列市场）"
    for scope in scopes:
        arrived = since[("city", scope)]
        rows.append(Waiting("市级审核" if scope != PROVINCE_SCOPE else "省级审核", cities.get(scope, scope),
                            counters[f"city:{scope}"], arrived, days(arrived)))
    return rows


def reserved_share(finance_id, year, today):
    """A finance department's figures over its subtree."""
    org = OrgMap()
    subtree = org.finance_subtree(finance_id)
    figures = completion.unit_figures(org.units_of(subtree), year, today)
    total = completion.total(figures)
    months = []
    for number in range(1, 13):
        end = date(year, number, calendar.monthrange(year, number)[1])
        if end > today and (number == 1 or date(year, number, 1) > today):
            break
        bought = completion.purchases_on(year, min(end, today), {f.node.id for f in figures})
        months.append({"label": f"{number}月", "day": min(end, today),
                       "canteen": sum((b[1] for b in bought.values()), ZERO),
                       "union": sum((b[2] for b in bought.values()), ZERO)})
    finance_by_city = {n.city_code: n.id for n in org.nodes.values() if n.kind == UnitKind.FINANCE
                       and n.finance_level == "city" and n.city_code and n.id in subtree}
    names = {c.code: c.name for c in db.session.scalars(select(GuangdongCity))}
    by_city = sorted(completion.group(figures, key=lambda f: f.node.city_code or "",
                                      label=lambda code: names.get(code, "省级")), key=lambda t: t.key)
    departments = completion.group([f for f in figures if f.superior_id], key=lambda f: f.superior_id,
                                    label=lambda key: org.nodes[key].name)
    return {
        "total": total,
        "levels": completion.by_finance(org, finance_id, figures),
        "months": months,
        "by_city": by_city,
        "finance_by_city": finance_by_city,
        "departments": sorted(departments,
                              key=lambda t: (t.canteen_completion is None, t.canteen_completion or 0))[:15],
    }
