"""通报: on a chosen day, the budget units and departments whose completion (canteen or union) is
below a threshold, lowest first, with what they reserved and bought; for the finance department's
whole subtree. The same figures make the page, the Excel file and the printed annex. Nothing here
reads the request."""
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from portal.oversight import completion
from portal.oversight.scope import OrgMap

MEASURES = {"canteen": "食堂食材", "union": "工会采购"}


@dataclass
class Notice:
    finance_name: str
    year: int
    day: date
    threshold: Decimal
    measure: str
    units: list = field(default_factory=list)
    departments: list = field(default_factory=list)
    total: object = None
    #: unit id -> the name of its finance department, for the units listed
    finance_of: dict = field(default_factory=dict)

    @property
    def measure_label(self):
        return MEASURES[self.measure]

    @property
    def title(self):
        return f"{self.year}年度脱贫地区农副产品采购预留份额完成情况通报"

    def figures(self, item):
        """(reserved, bought, completion) of a unit's figures or a department's totals."""
        if self.measure == "canteen":
            return item.reserved_canteen, item.bought_canteen, item.canteen_completion
        return item.reserved_union, item.bought_union, item.union_completion


def build_notice(finance_id, *, year, day, threshold, measure="canteen"):
    org = OrgMap()
    nodes = org.units_of(org.finance_subtree(finance_id))
    figures = completion.unit_figures(nodes, year, day)
    notice = Notice(finance_name=org.nodes[finance_id].name, year=year, day=day, threshold=threshold,
                    measure=measure, total=completion.total(figures))

    def below(item):
        share = notice.figures(item)[2]
        return share is not None and share < threshold

    notice.units = sorted((f for f in figures if f.node.active and below(f)),
                          key=lambda f: (notice.figures(f)[2], f.node.name))
    departments = completion.group([f for f in figures if f.superior_id],
                                   key=lambda f: f.superior_id, label=lambda key: org.nodes[key].name)
    notice.departments = sorted((d for d in departments if below(d)), key=lambda d: (notice.figures(d)[2], d.label))
    notice.finance_of = {f.node.id: org.nodes[org.finance_of(f.node.id)].name for f in notice.units}
    return notice


def excel_sheets(notice):
    """(sheet title, columns, rows) for portal.excel: the units, then the departments."""
    money = "#,##0.00"
    label = notice.measure_label
    unit_columns = [("序号", 6, None), ("预算单位", 36, None), ("财政部门", 18, None),
                    (f"{label}预留份额（元）", 18, money), ("832已采购（元）", 18, money), ("完成率（%）", 12, "0.00")]
    unit_rows = ([index, f.node.name, notice.finance_of[f.node.id], *notice.figures(f)]
                 for index, f in enumerate(notice.units, start=1))
    department_columns = [("序号", 6, None), ("主管预算单位", 36, None), ("单位数", 8, None),
                          (f"{label}预留份额（元）", 18, money), ("832已采购（元）", 18, money), ("完成率（%）", 12, "0.00")]
    department_rows = ([index, d.label, d.units, *notice.figures(d)]
                       for index, d in enumerate(notice.departments, start=1))
    return [("完成率偏低的预算单位", unit_columns, unit_rows), ("完成率偏低的主管部门", department_columns, department_rows)]


def render_pdf(notice, *, printed_at):
    """The 通报 annex as a printable A4 PDF, with the sheets' embedded font."""
    from flask import render_template

    from portal import pdf

    html = render_template("oversight/notice_pdf.html", n=notice, printed_at=printed_at, font_url=pdf.font_url())
    return pdf.write_pdf(html)
