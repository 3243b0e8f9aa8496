"""Excel exports of the oversight lists: the reminders a unit sent, and the 832 imports a finance
department may see. Numbers are masked as the pages show them."""
from sqlalchemy import func, select

from portal.clock import format_datetime
from portal.extensions import db
from portal.jobs.exports import Export, exporter
from portal.oversight.models import FulfilmentImport
from portal.oversight.reminding import may_remind
from portal.oversight.scope import OrgMap, is_overseer
from portal.reminders import Reminder

MONEY = "#,##0.00"
REMINDER_COLUMNS = [("序号", 6, None), ("发送时间", 18, None), ("发送人", 14, None), ("接收单位", 32, None),
                    ("原因", 20, None), ("短信内容", 60, None), ("接收账号数", 10, "0")]
IMPORT_COLUMNS = [("序号", 6, None), ("统计截止日期", 14, None), ("年度", 8, None), ("导入单位", 24, None),
                  ("文件", 30, None), ("单位数", 8, "0"), ("食堂食材（元）", 18, MONEY), ("工会采购（元）", 18, MONEY),
                  ("导入时间", 18, None), ("SHA-256", 66, None)]


def reminders_sent_query(account):
    return select(Reminder).where(Reminder.sender_unit_id == account.unit_id).order_by(Reminder.id.desc())


@exporter("oversight.reminders", may=may_remind)
def reminders_export(account, args):
    query = reminders_sent_query(account)
    total = db.session.scalar(select(func.count()).select_from(query.order_by(None).subquery()))

    def rows():  # read only when written
        for index, r in enumerate(db.session.scalars(query.execution_options(yield_per=500)), start=1):
            yield [index, format_datetime(r.sent_at), r.sender.phone_masked if r.sender else "系统",
                   r.unit.name, r.reason_label, r.text, r.recipients]

    return Export(f"{account.unit.name}发出的提醒", [("提醒", REMINDER_COLUMNS, rows())], total)


def visible_imports_query(account):
    mine = OrgMap().finance_subtree(account.unit_id)
    return (select(FulfilmentImport).where(FulfilmentImport.finance_id.in_(mine))
            .order_by(FulfilmentImport.as_of.desc(), FulfilmentImport.id.desc()))


@exporter("oversight.imports", may=is_overseer)
def imports_export(account, args):
    query = visible_imports_query(account)
    made = db.session.scalars(query).all()
    names = {i.finance_id: i.finance.name for i in made}
    rows = [[index, i.as_of.isoformat(), i.year, names[i.finance_id], i.filename, i.line_count, i.canteen_total,
             i.union_total, format_datetime(i.created_at), i.sha256] for index, i in enumerate(made, start=1)]
    return Export("832平台采购数据导入记录", [("导入记录", IMPORT_COLUMNS, rows)], len(rows))
