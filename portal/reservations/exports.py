"""Excel export of a progress list: every unit, this year against last year. A file travels
further than a page: its mobile numbers are masked (the detail page reveals one on request)."""
from portal.accounts.models import mask_phone
from portal.clock import format_datetime
from portal.jobs.exports import Export, exporter
from portal.reservations import queries, scope

TEXT, MONEY, PERCENT = "@", "#,##0.00", "0.00"
COLUMNS = [("序号", 6, None), ("预算单位", 30, None), ("统一社会信用代码", 22, TEXT), ("状态", 16, None),
           ("食堂类型", 18, None), ("年度食堂食材采购总额（元）", 18, MONEY), ("预留比例（%）", 12, PERCENT),
           ("预留份额（元）", 16, MONEY), ("工会预计采购金额（元）", 18, MONEY), ("上年预留比例（%）", 14, PERCENT),
           ("上年预留份额（元）", 16, MONEY), ("联系人", 10, None), ("手机号码", 14, TEXT), ("提交时间", 18, None)]


@exporter("reservations.progress", may=lambda account: scope.is_finance(account) or scope.is_budget_unit(account))
def progress_export(account, args):
    """A finance department's units, or a department's, with this year's form against last year's."""
    year = int(args["year"])
    units = queries.finance_units(account.unit) if scope.is_finance(account) else scope.department_units(account.unit)
    title = f"{year}年度预留份额填报情况"

    def values():  # read only when written: a queued export's request loads no form
        rows, _ = queries.progress(units, year)
        last_year = queries.last_year_by_unit([unit.id for unit, _ in rows], year)
        for index, (unit, form) in enumerate(rows, start=1):
            previous = last_year.get(unit.id)
            yield [index, unit.name, unit.credit_code or "", form.status_label if form else "未填报",
                   form.canteen_label if form else "", form.canteen_total if form else None,
                   form.ratio if form else None, form.reserved_amount if form else None,
                   form.union_expected if form else None, previous.ratio if previous else None,
                   previous.reserved_amount if previous else None, form.contact_name if form else "",
                   mask_phone(form.contact_mobile) if form else "", format_datetime(form.submitted_at) if form else ""]

    return Export(title, [(title, COLUMNS, values())], len(units))
