"""The append-only audit trail that every area writes to.

Each row is chained to the one before it by a keyed hash (portal/audit_chain.py), which is
stamped as the row is flushed; on PostgreSQL the database refuses UPDATE and DELETE of a row
(migration 0008a)."""
import json
from datetime import datetime

from flask import has_request_context, request
from flask_login import current_user
from sqlalchemy import BigInteger, DateTime, ForeignKey, Integer, String, Text, and_, or_, select, true
from sqlalchemy.orm import Mapped, aliased, mapped_column, relationship

from portal.clock import utcnow
from portal.extensions import db

ACTION_LABELS = {
    "login": "登录",
    "login_failed": "登录失败",
    "logout": "退出登录",
    "code_sent": "发送验证码",
    "code_refused": "验证码发送受限",
    "unit_opened": "开通单位",
    "account_added": "新增账号",
    "account_edited": "修改联系人",
    "account_disabled": "停用账号",
    "account_enabled": "启用账号",
    "enterprise_registered": "企业注册",
    "record_created": "新建购销记录",
    "record_submit": "提交购销记录",
    "record_approve": "审核通过",
    "record_return": "退回修改",
    "voucher_added": "上传凭证",
    "voucher_removed": "删除凭证",
    "reservation_submit": "提交预留份额",
    "reservation_confirm": "确认预留份额",
    "reservation_return": "退回预留份额",
    "reservation_batch": "汇总提交财政部门",
    "reservation_finance_confirm": "财政部门确认预留份额",
    "reservation_finance_return": "财政部门退回预留份额",
    "reservation_remind": "提醒未填报单位",
    "policy_saved": "设置年度政策",
    "units_imported": "导入预算单位",
    "fulfilment_imported": "导入832平台采购数据",
    "reminders_sent": "发送催报催办提醒",
    "unit_renamed": "预算单位更名",
    "unit_closed": "撤销预算单位",
    "unit_merged": "合并预算单位",
    "unit_contacts_changed": "修改单位联系人",
    "period_added": "开设填报期",
    "period_closed": "关闭填报期",
    "period_opened": "重新开放填报期",
    "entry_added": "新增品类或单位",
    "entry_disabled": "停用品类或单位",
    "entry_enabled": "启用品类或单位",
    "key_county_set": "标记重点帮扶县",
    "key_county_unset": "取消重点帮扶县",
    "session_ended": "强制下线",
    "lockout_cleared": "解除登录锁定",
    "security_settings_changed": "修改安全策略",
    "account_dormant": "长期未使用停用账号",
    "export": "导出数据",
    "download": "下载文件",
    "refused": "越权或无效访问",
    "audit_verified": "校验日志完整性",
    "audit_exported": "导出操作日志",
    "audit_archived": "归档操作日志",
    "keys_rotated": "轮换数据加密密钥",
    "personal_data_viewed": "查看完整个人信息",
    "session_expired": "会话超时结束",
    "job_retried": "重试后台任务",
}

RESULT_LABELS = {"ok": "成功", "failed": "失败", "denied": "拒绝"}

#: the reason recorded for a request refused on an object id
REFUSALS = {403: "无权访问", 404: "对象不存在或不在本单位范围"}


class AuditEvent(db.Model):
    __tablename__ = "audit_event"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, index=True)
    account_id: Mapped[int | None] = mapped_column(ForeignKey("account.id"), index=True)
    unit_id: Mapped[int | None] = mapped_column(ForeignKey("unit.id"))
    action: Mapped[str] = mapped_column(String(40), index=True)
    #: e.g. "account:12", "unit:3", "phone:138****8000"
    object_ref: Mapped[str | None] = mapped_column(String(60))
    #: ok, failed, denied
    result: Mapped[str] = mapped_column(String(10), default="ok")
    ip: Mapped[str | None] = mapped_column(String(45))
    #: JSON: old → new pairs or the reason of a failure; never a code or a secret
    detail: Mapped[str | None] = mapped_column(Text)
    #: position in the chain (1, 2, ...; no gaps, unlike ids) and the keyed hash of this row's
    #: content and the previous row's hash, both stamped at flush (audit_chain.stamp)
    seq: Mapped[int | None] = mapped_column(BigInteger, unique=True)
    chain_hash: Mapped[str | None] = mapped_column(String(64))

    account = relationship("Account")
    unit = relationship("Unit")

    @property
    def action_label(self):
        return ACTION_LABELS.get(self.action, self.action)

    @property
    def result_label(self):
        return RESULT_LABELS.get(self.result, self.result)

    @property
    def detail_data(self):
        return json.loads(self.detail) if self.detail else {}


def record(action, *, actor=None, object_ref=None, result="ok", detail=None, ip=None, at=None):
    """Add an audit row to the current transaction; the caller commits with its change."""
    if actor is None and has_request_context() and current_user and current_user.is_authenticated:
        actor = current_user
    if ip is None and has_request_context():
        ip = request.remote_addr
    event = AuditEvent(
        at=at or utcnow(),
        account_id=actor.id if actor is not None else None,
        unit_id=actor.unit_id if actor is not None else None,
        action=action,
        object_ref=object_ref,
        result=result,
        ip=ip,
        detail=json.dumps(detail, ensure_ascii=False, default=str) if detail else None,
    )
    db.session.add(event)
    return event


def reads_all_audit(account):
    """审计管理员: reads everyone's trail, the other two administrators' included."""
    return account.admin_role == "audit"


def reads_audit(account):
    """Who reads the trail at all (三员分立): the audit administrator, and the admin of any unit
    of the tree for its own subtree; not the system or security administrator, not staff."""
    if account.admin_role is not None:
        return reads_all_audit(account)
    return account.is_admin and account.unit.kind != "system"


def audit_scope_clause(account):
    """SQL condition on AuditEvent for the rows this account may read: every row for the audit
    administrator; otherwise the rows of its unit and the units below it (a city office's
    self-registered enterprises included)."""
    from portal.accounts.models import Unit

    if reads_all_audit(account):
        return true()
    subtree = select(Unit.id, Unit.kind, Unit.city_code).where(Unit.id == account.unit_id).cte(recursive=True)
    child = aliased(Unit)
    below = or_(child.parent_id == subtree.c.id,
                and_(subtree.c.kind == "city_office", child.kind == "enterprise",
                     child.city_code == subtree.c.city_code))
    subtree = subtree.union(select(child.id, child.kind, child.city_code).join(subtree, below))
    return AuditEvent.unit_id.in_(select(subtree.c.id))


class AuditAnchor(db.Model):
    """Where the chain now starts: written when older rows are archived and removed, holding the
    position and hash of the last archived row, itself under the audit key."""

    __tablename__ = "audit_anchor"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    seq: Mapped[int] = mapped_column(BigInteger)
    chain_hash: Mapped[str] = mapped_column(String(64))
    rows: Mapped[int] = mapped_column(Integer)
    #: the archive's file name and its HMAC-SM3 signature
    archive: Mapped[str] = mapped_column(String(200))
    signature: Mapped[str] = mapped_column(String(64))
    mac: Mapped[str] = mapped_column(String(64))


from portal import audit_chain  # noqa: E402,F401  (stamps every new row at flush)
