"""The append-only audit trail that every area writes to."""
import json
from datetime import datetime

from flask import has_request_context, request
from flask_login import current_user
from sqlalchemy import DateTime, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

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
    "unit_renamed": "预算单位更名",
    "unit_closed": "撤销预算单位",
    "unit_merged": "合并预算单位",
    "period_added": "开设填报期",
    "period_closed": "关闭填报期",
    "period_opened": "重新开放填报期",
    "entry_added": "新增品类或单位",
    "entry_disabled": "停用品类或单位",
    "entry_enabled": "启用品类或单位",
    "key_county_set": "标记重点帮扶县",
    "key_county_unset": "取消重点帮扶县",
}

RESULT_LABELS = {"ok": "成功", "failed": "失败", "denied": "拒绝"}


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
