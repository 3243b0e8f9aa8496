"""Excel exports of account management: the units below an admin (the /accounts/ list under its
filters, with their accounts on a second sheet) and the accounts of one unit it manages.

A file travels further than a page: mobile numbers are masked as the lists show them (a full
number is revealed on the page, one at a time and logged, never in a file); contact names
appear as the lists show them."""
from sqlalchemy import func, select
from sqlalchemy.orm import selectinload

from portal.accounts import rules, service
from portal.accounts.models import Account, Unit
from portal.clock import format_datetime
from portal.extensions import db
from portal.jobs.exports import Export, exporter
from portal.jobs.queue import JobError
from portal.params import BadValue, Reader, parse_id

TEXT = "@"
UNIT_COLUMNS = [("序号", 6, None), ("单位名称", 32, None), ("类型", 14, None), ("所在地", 12, None),
                ("统一社会信用代码", 22, TEXT), ("管理员", 30, None), ("账号数", 8, "0"), ("状态", 8, None)]
ACCOUNT_COLUMNS = [("序号", 6, None), ("单位名称", 32, None), ("联系人", 12, None), ("手机号码", 14, TEXT),
                   ("角色", 14, None), ("状态", 8, None), ("最近登录", 18, None)]


def list_filters(args):
    """The filters of the /accounts/ list: a unit kind and a search (name, contact, number)."""
    reader = Reader(args)
    return {"kind": reader.text("kind", max_length=20), "q": reader.text("q", max_length=100)}


def listed_units_query(account, filters):
    """The units the account manages under the list's filters: the page pages through it by id,
    its export writes all of it in the same order."""
    query = rules.managed_units_query(account)
    if filters["kind"]:
        query = query.where(Unit.kind == filters["kind"])
    if filters["q"]:
        query = query.where(service.search_units_clause(filters["q"]))
    return query


def _status(active):
    return "正常" if active else "已停用"


def _account_values(index, account):
    return [index, account.unit.name, account.name, account.masked_phone, account.role_label,
            _status(account.active), format_datetime(account.last_login_at) or "从未登录"]


def _count(query):
    return db.session.scalar(select(func.count()).select_from(query.order_by(None).subquery()))


@exporter("accounts.units", may=rules.is_admin)
def units_export(account, args):
    """The list of units as it shows them (admins by name with the masked number), then every
    account of those units."""
    units = listed_units_query(account, list_filters(args)).order_by(None).order_by(Unit.id)
    accounts = (select(Account).where(Account.unit_id.in_(units.order_by(None).with_only_columns(Unit.id)))
                .options(selectinload(Account.unit)).order_by(Account.unit_id, Account.id))
    title = "下级单位及账号"

    def unit_rows():  # read only when written: a queued export's request reads no unit
        listed = db.session.scalars(units.options(selectinload(Unit.accounts)).execution_options(yield_per=500))
        for index, unit in enumerate(listed, start=1):
            admins = "；".join(f"{a.name} {a.masked_phone}" for a in unit.accounts if a.is_admin)
            yield [index, unit.name, unit.kind_label, unit.city_label, unit.credit_code or "", admins,
                   len(unit.accounts), _status(unit.active)]

    def account_rows():
        listed = db.session.scalars(accounts.execution_options(yield_per=500))
        for index, one in enumerate(listed, start=1):
            yield _account_values(index, one)

    return Export(title, [("单位", UNIT_COLUMNS, unit_rows()), ("账号", ACCOUNT_COLUMNS, account_rows())],
                  _count(units) + _count(accounts))


def _managed_unit(account, args):
    try:
        unit = db.session.get(Unit, parse_id(args.get("unit")) or 0)
    except BadValue:
        unit = None
    if unit is None or not rules.may_manage_unit(account, unit):
        raise JobError("导出已不可用（单位已不在管理范围内）")
    return unit


@exporter("accounts.unit", may=rules.is_admin)
def unit_accounts_export(account, args):
    """The accounts of one unit the account manages, as its page lists them."""
    unit = _managed_unit(account, args)
    title = "".join(ch for ch in unit.name if ch not in '\\/:*?"<>|') + "账号"  # a file name
    rows = [_account_values(index, one) for index, one in enumerate(unit.accounts, start=1)]
    return Export(title, [("账号", ACCOUNT_COLUMNS, rows)], len(rows))
