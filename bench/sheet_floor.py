"""The confirmation sheet's floor: bare WeasyPrint drawing what a sheet prints, and nothing else.

Used by bench.sheets. The floor is one minimal HTML document: the sheet's font (an @font-face of
the same GB 2312 subset file), A4 with the sheet's margins, and the sheet's text in the same
tables with the same rows, cells and column widths (fixed layout), from the figures a sheet
printed, all in the font's one regular face (a bold heading would embed a second, emboldened
copy of the font). No portal code runs when it is drawn (no Flask, no Jinja, no QR code, no
database): `weasyprint.HTML(string=…).write_pdf()` with one FontConfiguration made beforehand,
as any program drawing many PDFs keeps one.
"""
from html import escape

ATTESTATION_MARK = "本单位承诺："
#: the sheet's column widths, table by table (the signature table's three share the width)
COLUMN_WIDTHS = (("22%", "40%", "17%", "21%"), ("34%", "22%", "44%"), ("34%", "22%", "22%", "22%"),
                 ("22%", "34%", "17%", "27%"), ("33%", "33%", "34%"), ("26mm", "auto"))


def _row(cells):
    """A table row of (tag, text, colspan) cells."""
    return "<tr>" + "".join(
        f"<{tag}{f' colspan={span}' if span > 1 else ''}>{escape(text or '—')}</{tag}>" for tag, text, span in cells
    ) + "</tr>"


def _table(widths, rows):
    """A table of fixed layout with the sheet's column widths: in WeasyPrint's automatic layout,
    measuring every cell's narrowest width (Chinese text breaks between any two characters)
    costs more than the rest of the page."""
    columns = "".join(f'<col style="width: {width}">' for width in widths)
    return f"<table><colgroup>{columns}</colgroup>" + "".join(_row(row) for row in rows) + "</table>"


def _figure_rows(p):
    year = p["year"]

    def amount(label, key):
        return [("th", f"{year}年度{label}", 1), ("td", p[key], 1), ("td", p[f"{key}_upper"], 1)]

    return [
        [("th", "食堂类型", 1), ("td", p["canteen_label"], 2)],
        [("th", "备注", 1), ("td", p["remark"], 2)],
        [("th", "项目", 1), ("th", "金额（元）/ 比例", 1), ("th", "人民币大写", 1)],
        amount("食堂食材采购总额", "canteen_total"),
        [("th", f"{year}年度预留比例", 1), ("td", p["ratio"], 1), ("td", "—", 1)],
        amount("预留份额", "reserved_amount"),
        [("th", "是否有工会采购需求", 1), ("td", p["union_need"], 2)],
        amount("工会采购总额", "union_total"),
        [("th", f"{year}年度工会采购预留比例", 1), ("td", p["union_ratio"], 1), ("td", "—", 1)],
        [("th", "通过832平台预计采购金额", 1), ("td", p["union_expected"], 1), ("td", p["union_expected_upper"], 1)],
        [("th", "工会采购备注", 1), ("td", p["union_remark"], 2)],
    ]


def floor_html(p, code_display, font_url):
    """The floor document for the printed values `p` of one sheet (its verification code shown as
    `code_display`)."""
    confirmed = "　".join((p["superior_unit"], p["confirmed_by"], p["confirmed_at"]))
    finalized = "　".join((p["finance_unit"], p["finalized_by"], p["finalized_at"]))
    tables = [
        [[("th", "预算单位名称", 1), ("td", p["unit_name"], 3)],
         [("th", "统一社会信用代码", 1), ("td", p["credit_code"], 1), ("th", "填报年度", 1), ("td", f"{p['year']}年度", 1)]],
        _figure_rows(p),
        [[("th", "类别", 1), ("th", "姓名", 1), ("th", "手机号码", 1), ("th", "固定电话", 1)],
         [("th", "填报预留份额联系人", 1), ("td", p["contact_name"], 1), ("td", p["contact_mobile"], 1),
          ("td", p["contact_landline"], 1)],
         [("th", "工会采购预留份额联系人", 1), ("td", p["union_contact_name"], 1), ("td", p["union_contact_mobile"], 1),
          ("td", p["union_contact_landline"], 1)]],
        [[("th", "提交时间", 1), ("td", p["submitted_at"], 1), ("th", "填报状态", 1), ("td", p["status"], 1)],
         [("th", "上级预算单位确认", 1), ("td", confirmed, 3)],
         [("th", "财政部门确认", 1), ("td", finalized, 3)]],
        [[("td", "经办人（签字）：年 月 日", 1), ("td", "负责人（签字）：年 月 日", 1), ("td", "单位盖章：年 月 日", 1)]],
        [[("td", "", 1), ("td", f"验证码：{code_display} 核验方式：扫描左侧二维码或访问 {p['verify_url']} "
                                f"生成时间：{p['generated_at']}（北京时间）　确认单类型：{p['stage']} "
                                "本确认单由系统生成，每次提交或确认均另行生成新的确认单，内容以核验页面显示的最新版本为准。", 1)]],
    ]
    headings = ["", "一、预留份额信息", "二、联系人信息", "三、承诺及确认情况", "", ""]
    body = []
    for heading, widths, rows in zip(headings, COLUMN_WIDTHS, tables):
        if heading:
            body.append(f"<h2>{heading}</h2>")
        if heading.startswith("三"):
            body.append(f"<p>{ATTESTATION_MARK}{escape(p['attestation'])}。</p>")
        body.append(_table(widths, rows))
    return f"""<!doctype html><html lang="zh-CN"><head><meta charset="utf-8"><style>
@font-face {{ font-family: "Sheet"; src: url("{font_url}"); }}
@page {{ size: A4; margin: 13mm 16mm 12mm 16mm; }}
html {{ font-family: "Sheet"; font-size: 9.5pt; }}
h1, h2, th {{ font-weight: normal; }}
table {{ width: 100%; border-collapse: collapse; table-layout: fixed; }}
td, th {{ border: 0.5pt solid #444; text-align: left; }}
</style></head><body>
<p>广东省东西部协作消费帮扶门户 · 预留份额填报 确认单类型：{escape(p['stage'])}</p>
<h1>{escape(p['title'])}</h1><p>（{escape(p['stage'])}）</p>
{''.join(body)}
</body></html>"""


def floor_renderer():
    """A function drawing one floor PDF from its HTML, with WeasyPrint imported and its
    FontConfiguration made here, outside any timing."""
    from weasyprint import HTML
    from weasyprint.text.fonts import FontConfiguration

    font_config = FontConfiguration()
    return lambda html: HTML(string=html).write_pdf(font_config=font_config)
