"""The home page: each role sees its own work."""
from flask import Blueprint, current_app, render_template, session
from flask_login import current_user, login_required
from sqlalchemy import func, select

from portal.accounts import rules, security_admin
from portal.accounts.kinds import AdminRole, UnitKind
from portal.accounts.lifecycle import previous_login_text
from portal.accounts.models import Account, Unit
from portal.blueprints.reservations import confirms_subordinates
from portal.extensions import db
from portal.records import rules as record_rules
from portal.records.periods import missing_current_period
from portal.records.queries import queue_counts, status_counts
from portal.records.states import STATUS_LABELS
from portal.records.totals import grand_total
from portal.reference import admin as reference_admin
from portal.reservations import queries as reservation_queries
from portal.reservations import scope as reservation_scope
from portal.reservations.models import Reservation

bp = Blueprint("home", __name__)

#: what each kind of unit will do here, shown on its home page
WORK_BY_KIND = {
    UnitKind.SYSTEM: [],
    UnitKind.PROVINCE_OFFICE: ["开通地级市帮扶部门及广东东西部扶贫协作交易市场（单列）",
                               "查看全省审核通过的购销记录与汇总", "查看操作日志"],
    UnitKind.CITY_OFFICE: ["开通本市批发市场、连锁商超、电商平台和市级审核员", "审核本市上报的购销记录"],
    UnitKind.MARKET: ["开通批发商账号", "审核批发商填报的购销记录", "填报本市场的购销记录"],
    UnitKind.SUPERMARKET: ["开通门店账号", "审核门店填报的购销记录", "填报本商超的购销记录"],
    UnitKind.MERCHANT: ["填报购销记录并上传采购凭证"],
    UnitKind.STORE: ["填报购销记录并上传采购凭证"],
    UnitKind.ECOMMERCE: ["填报并提交购销记录"],
    UnitKind.ENTERPRISE: ["填报本单位消费帮扶购销记录"],
    UnitKind.FINANCE: ["开通或导入本级预算单位", "确认预算单位预留份额", "查看填报进度"],
    UnitKind.BUDGET_UNIT: ["填报本单位年度预留份额", "确认下属单位的预留份额（主管预算单位）"],
}

#: 三员分立: what each of the three administrators of the system unit does, and nothing else
WORK_BY_ADMIN_ROLE = {
    AdminRole.SYSTEM: ["开通省级帮扶部门和省级财政部门及其首个管理员账号", "维护系统管理单位的设置"],
    AdminRole.SECURITY: ["查看在线会话，必要时强制下线", "解除登录锁定，停用或启用账号（含长期未使用而停用的账号）",
                         "重置动态口令（第二因素）", "设置会话超时和登录锁定策略"],
    AdminRole.AUDIT: ["查阅、筛选、核验和导出全部操作日志，包括系统管理员和安全管理员的操作"],
}

#: the workflow each kind takes part in
WORKFLOW_BY_KIND = {
    UnitKind.FINANCE: "reservations",
    UnitKind.BUDGET_UNIT: "reservations",
    UnitKind.SYSTEM: None,
}


def _reservation_work(account):
    """The reserved-share side of the home page: my form of the year, my queue."""
    if not (reservation_scope.is_budget_unit(account) or reservation_scope.is_finance(account)):
        return {}
    year = reservation_queries.current_year()
    if year is None:
        return {}
    work = {"year": year}
    if reservation_scope.is_budget_unit(account):
        work["mine"] = db.session.scalar(select(Reservation).where(Reservation.unit_id == account.unit_id,
                                                                   Reservation.year == year))
        if confirms_subordinates():
            work["to_confirm"] = reservation_queries.to_confirm_count(account, year)
    else:
        work["to_finalize"] = reservation_queries.to_finalize_count(account, year)
    return work


def _record_work(account):
    """What the monitoring side shows on the home page: my records by status, my queue, totals."""
    work = {}
    if record_rules.may_file(account):
        work["mine"] = status_counts(account.unit_id)
    if record_rules.is_reviewer(account):
        work["queue"] = queue_counts(account)
    if account.unit.kind == UnitKind.PROVINCE_OFFICE:
        work["province_total"] = grand_total()
        if reference_admin.may_edit_reference(account):
            work["missing_period_year"] = missing_current_period()
    return work


@bp.app_context_processor
def navigation():
    """What the menu of base.html offers the account: the rules of the pages it links to."""
    if not current_user.is_authenticated:
        return {"menu": {}}
    from portal.blueprints.audit_log import reads_audit

    return {"menu": {"accounts": rules.is_admin(current_user), "security": rules.is_security_admin(current_user),
                     "audit": reads_audit(current_user)}}


def _security_work():
    """The security administrator's home: live sessions and disabled accounts, counted."""
    live = security_admin.live_sessions_query(current_app.config).subquery()
    return {"live_sessions": db.session.scalar(select(func.count()).select_from(live)),
            "disabled": db.session.scalar(select(func.count(Account.id)).where(Account.active.is_(False)))}


@bp.get("/")
@login_required
def index():
    unit = current_user.unit
    kind = UnitKind(unit.kind)
    managed = {}
    admin_role = AdminRole(current_user.admin_role) if current_user.admin_role else None
    if rules.is_admin(current_user):
        managed = {
            UnitKind(k): n for k, n in db.session.execute(
                select(Unit.kind, func.count(Unit.id)).where(rules.managed_units_clause(current_user))
                .group_by(Unit.kind)
            ).all()
        }
    own_accounts = db.session.scalar(select(func.count(Account.id)).where(Account.unit_id == unit.id))
    return render_template(
        "home/index.html", reservation_work=_reservation_work(current_user), unit=unit, kind=kind,
        work=WORK_BY_ADMIN_ROLE[admin_role] if admin_role else WORK_BY_KIND[kind], admin_role=admin_role,
        security_work=_security_work() if admin_role == AdminRole.SECURITY else None,
        previous_login=previous_login_text(session.get("previous_login")),
        workflow=WORKFLOW_BY_KIND.get(kind, "records"), managed=managed, own_accounts=own_accounts,
        openable=rules.openable_kinds(current_user), record_work=_record_work(current_user),
        statuses=STATUS_LABELS,
    )
