"""A believable demo province, built through the same operations people use.

Phone numbers follow a pattern so that the README can list them: 138 0000 xxxx
for the monitoring side, 139 0000 xxxx for finance and budget units.
"""
import io
import struct
import zlib
from datetime import datetime, timedelta
from decimal import Decimal
from functools import partial

from sqlalchemy import select
from stdnum.cn import uscc

from portal.accounts import service
from portal.accounts.kinds import UnitKind
from portal.accounts.models import Account
from portal.clock import china_day_start, to_china, utcnow
from portal.extensions import db
from portal.records import service as record_service
from portal.records import vouchers, workflow
from portal.records.models import ReportingPeriod
from portal.reservations import sheets
from portal.reservations import workflow as reservation_workflow
from portal.reservations.policy import ensure_policy
from portal.reference.models import DictionaryEntry

DEMO_ADMIN_PHONE = "13800000000"


def _credit_code(base17):
    return base17 + uscc.calc_check_digit(base17)


def _open(actor, kind, name, contact, phone, city_code=None, credit_code=None, staff=()):
    unit = service.open_unit(actor, kind=kind, name=name, contact_name=contact, phone=phone,
                             city_code=city_code, credit_code=credit_code)
    for staff_name, staff_phone in staff:
        service.add_account(unit.accounts[0], unit, contact_name=staff_name, phone=staff_phone)
    return unit.accounts[0]


#: city, code, office contacts, market, merchants, supermarket, stores, e-commerce, enterprise
CITIES = [
    ("广州市", "440100", "1", ("林晓峰", "黄嘉敏"),
     ("广州江南果菜批发市场", ["江南市场·黔山农产品商行", "江南市场·桂品鲜果行"]),
     ("华润万家广州总店", ["华润万家天河城店", "华润万家番禺店"]),
     "穗农优选电商平台", ("广州粤膳餐饮管理有限公司", "91440101MA59XK8C1")),
    ("深圳市", "440300", "3", ("郑国强", "吴丽华"),
     ("深圳海吉星农产品批发市场", ["海吉星·河池优品商行"]),
     ("百果园深圳总店", ["百果园福田店"]),
     "深农鲜达电商平台", ("深圳鹏城食品供应链有限公司", "91440300MA5FTK1D2")),
    ("佛山市", "440600", "6", ("梁志明", "何少玲"),
     ("佛山中南农产品交易中心", ["中南中心·黔东南山货行"]),
     None, None, None),
    ("东莞市", "441900", "9", ("叶伟雄", "钟美玲"),
     None, ("百果园东莞总店", ["百果园南城店"]), None, ("东莞莞香食品有限公司", "91441900MA4WDG2E3")),
]


def build_demo():
    admin = service.create_system_admin(phone=DEMO_ADMIN_PHONE, name="系统管理员")

    province = _open(admin, UnitKind.PROVINCE_OFFICE, "广东省东西部协作办公室", "陈立新", "13800000001",
                     staff=[("刘芳", "13800000002")])
    listed_market = _open(province, UnitKind.MARKET, "广东东西部扶贫协作交易市场", "王建军", "13800000003")
    _open(listed_market, UnitKind.MERCHANT, "协作交易市场·黔货直供行", "赵海燕", "13800000004")

    for city_name, code, digit, contacts, market, supermarket, ecommerce, enterprise in CITIES:
        prefix = f"1380000{digit}"  # + 3 digits per unit
        office = _open(province, UnitKind.CITY_OFFICE, f"{city_name}东西部协作办公室", contacts[0],
                       prefix + "001", city_code=code, staff=[(contacts[1], prefix + "002")])
        if market:
            market_admin = _open(office, UnitKind.MARKET, market[0], "市场管理员", prefix + "011")
            for index, merchant in enumerate(market[1], start=12):
                _open(market_admin, UnitKind.MERCHANT, merchant, f"商户{index - 11}", f"{prefix}0{index}")
        if supermarket:
            chain_admin = _open(office, UnitKind.SUPERMARKET, supermarket[0], "商超管理员", prefix + "021")
            for index, store in enumerate(supermarket[1], start=22):
                _open(chain_admin, UnitKind.STORE, store, f"店长{index - 21}", f"{prefix}0{index}")
        if ecommerce:
            _open(office, UnitKind.ECOMMERCE, ecommerce, "平台运营", prefix + "031")
        if enterprise:
            service.register_enterprise(name=enterprise[0], credit_code=_credit_code(enterprise[1]),
                                        contact_name="采购经理", phone=prefix + "041", city_code=code)

    finance = _open(admin, UnitKind.FINANCE, "广东省财政厅", "孙慧", "13900000001")
    education = _open(finance, UnitKind.BUDGET_UNIT, "广东省教育厅", "许文博", "13900000011",
                      credit_code=_credit_code("11440000006939711"))
    _open(education, UnitKind.BUDGET_UNIT, "广东实验中学", "罗晓燕", "13900000012")
    _open(education, UnitKind.BUDGET_UNIT, "华南师范大学附属中学", "邓志强", "13900000013")
    _open(finance, UnitKind.BUDGET_UNIT, "广东省农业农村厅", "冯嘉欣", "13900000014")

    guangzhou_finance = _open(finance, UnitKind.FINANCE, "广州市财政局", "谢伟", "13900001001", city_code="440100")
    _open(guangzhou_finance, UnitKind.BUDGET_UNIT, "广州市农业农村局", "潘俊杰", "13900001011")
    tianhe = _open(guangzhou_finance, UnitKind.FINANCE, "广州市天河区财政局", "曾丽娟", "13900001101")
    tianhe_education = _open(tianhe, UnitKind.BUDGET_UNIT, "广州市天河区教育局", "蔡明", "13900001111")
    _open(tianhe_education, UnitKind.BUDGET_UNIT, "广州市天河区第一中学", "彭雪梅", "13900001112")
    shenzhen_finance = _open(finance, UnitKind.FINANCE, "深圳市财政局", "袁志华", "13900003001", city_code="440300")
    _open(shenzhen_finance, UnitKind.BUDGET_UNIT, "深圳市机关事务管理局", "蒋丽", "13900003011")


def _png(width, height, rgb):
    """A small solid-colour PNG, standing in for a photographed invoice."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    rows = b"".join(b"\x00" + bytes(rgb) * width for _ in range(height))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))


#: phone of the filer, product, category, unit, quantity, amount, county (province, city, county codes)
DEMO_RECORDS = [
    ("13800001012", "大米", "粮食", "吨", "12", "68400.00", ("520000", "520500", "520525")),
    ("13800001012", "刺梨原汁", "其他", "箱", "300", "25500.00", ("520000", "522700", "522732")),
    ("13800001013", "百香果", "水果", "公斤", "2000", "36000.00", ("450000", "451000", "451029")),
    ("13800001011", "黑毛猪肉", "畜禽肉类", "公斤", "1500", "82500.00", ("520000", "520500", "520527")),
    ("13800001022", "茶叶", "茶叶", "公斤", "80", "24000.00", ("520000", "522600", "522633")),
    ("13800001021", "山茶油", "食用油", "瓶", "600", "48000.00", ("450000", "451100", "451123")),
    ("13800001031", "香菇", "食用菌", "公斤", "900", "40500.00", ("520000", "520500", "520526")),
    ("13800001041", "土鸡蛋", "禽蛋", "箱", "400", "32000.00", ("520000", "522700", "522728")),
    ("13800003012", "沃柑", "水果", "吨", "8", "56000.00", ("450000", "451200", "451225")),
    ("13800003031", "螺蛳粉原料米", "粮食", "吨", "5", "31000.00", ("450000", "451200", "451226")),
    ("13800006012", "竹笋", "蔬菜", "公斤", "3000", "27000.00", ("520000", "522600", "522631")),
    ("13800000004", "黔南高山茶", "茶叶", "公斤", "120", "42000.00", ("520000", "522700", "522722")),
]


def build_demo_records(instance_path):
    """Records at every stage of review, so that queues, lists and totals have something to show."""
    period = db.session.scalar(select(ReportingPeriod).where(ReportingPeriod.fill_type == "current"))
    names = {(e.kind, e.name): e.id for e in db.session.scalars(select(DictionaryEntry))}
    account = {a.phone: a for a in db.session.scalars(select(Account))}
    root = vouchers.voucher_root(instance_path)

    def file(index, phone, product, category, measure, quantity, amount, region, now=None):
        filer = account[phone]
        record = record_service.create_draft(filer, {
            "period_id": str(period.id), "direct_from_origin": "1" if index % 3 else "0",
            "origin_province_code": region[0], "origin_city_code": region[1], "origin_county_code": region[2],
            "category_id": str(names[("category", category)]), "measure_unit_id": str(names[("measure_unit", measure)]),
            "product_name": product, "quantity": quantity, "amount": amount})
        vouchers.add_voucher(filer, record, io.BytesIO(_png(48, 32, (230, 200 - index % 12 * 9, 150))),
                             f"{product}发票.png", "invoice", root=root, max_bytes=10 * 1024 * 1024)
        workflow.submit(filer, record, amount_threshold=Decimal("500000"), now=now)
        return record

    records = [file(index, *entry) for index, entry in enumerate(DEMO_RECORDS)]

    def reviewer(phone):
        return account[phone]

    # Markets and supermarkets pass most of their merchants' and stores' records on.
    for record in records:
        if record.status == "filed" and record.product_name != "刺梨原汁":
            first = db.session.scalar(select(Account).where(Account.unit_id == record.first_reviewer_id))
            workflow.approve(first, record, expected_version=record.version)
    # Cities approve some, return one, and leave the rest waiting.
    by_product = {r.product_name: r for r in records}
    for product, phone in (("大米", "13800001002"), ("黑毛猪肉", "13800001001"), ("沃柑", "13800003002"),
                           ("黔南高山茶", "13800000002")):
        record = by_product[product]
        workflow.approve(reviewer(phone), record, expected_version=record.version)
    record = by_product["香菇"]
    workflow.return_for_changes(reviewer("13800001002"), record, expected_version=record.version,
                                reason="发票金额与填报金额不一致，请核对后重新提交")

    # Earlier months of the year: two records a month through both levels, for the dashboard's trend.
    today = to_china(utcnow()).date()
    for month in range(1, today.month):
        for offset in range(2):
            index = (month * 2 + offset) % len(DEMO_RECORDS)
            when = china_day_start(today.replace(month=month, day=10 + offset * 8)) + timedelta(hours=3)
            record = file(index, *DEMO_RECORDS[index], now=when)
            for level in range(2):
                if record.status == "approved":
                    break
                approver = (db.session.scalar(select(Account).where(Account.unit_id == record.first_reviewer_id))
                            if record.status == "filed" else _city_reviewer(account, record))
                workflow.approve(approver, record, expected_version=record.version, now=when + timedelta(days=2))


def _city_reviewer(account, record):
    """The office that approves a record at the second level: its city's, or the province's."""
    office_kind = UnitKind.PROVINCE_OFFICE if record.city_scope == "440000" else UnitKind.CITY_OFFICE
    return next(a for a in account.values() if a.unit.kind == office_kind and a.is_admin
                and (office_kind == UnitKind.PROVINCE_OFFICE or a.unit.city_code == record.city_scope))


#: last year's and this year's figures of the demo budget units: phone, canteen total, ratio, union total
DEMO_RESERVATIONS = [
    ("13900000011", "3200000", "30", "600000"),   # 广东省教育厅 (department head)
    ("13900000012", "1800000", "32", None),       # 广东实验中学
    ("13900000013", "1500000", "30", "200000"),   # 华南师范大学附属中学
    ("13900000014", "900000", "35", None),        # 广东省农业农村厅 (no subordinates)
    ("13900001111", "1100000", "30", None),       # 广州市天河区教育局
    ("13900001112", "700000", "30", None),        # 广州市天河区第一中学
]


def _filing_year(today):
    """The year being filed now: this year until its 20 February deadline, then the next."""
    return today.year if (today.month, today.day) <= (2, 20) else today.year + 1


def build_demo_reservations(instance_path, base_url):
    """Last year's forms confirmed all the way, this year's at several stages."""
    year = _filing_year(to_china(utcnow()).date())
    last_policy, policy = ensure_policy(year - 1), ensure_policy(year)
    account = {a.phone: a for a in db.session.scalars(select(Account))}
    make_sheet = partial(sheets.make_sheet, instance_path=instance_path, base_url=base_url)

    def file(phone, chosen_policy, total, ratio, union_total, now):
        actor = account[phone]
        form = reservation_workflow.form_for(actor, chosen_policy, now=now)
        figures = {"canteen_type": "own", "canteen_total": total, "ratio": ratio,
                   "union_need": "1" if union_total else "0", "union_total": union_total or "",
                   "union_ratio": "20" if union_total else "", "union_remark": "" if union_total else "本年度工会暂无采购计划"}
        reservation_workflow.save_figures(actor, form, figures, chosen_policy)
        reservation_workflow.save_contacts(actor, form, {"contact_name": actor.name, "contact_mobile": actor.phone,
                                                         "contact_landline": "020-83133000"})
        reservation_workflow.submit(actor, form, chosen_policy, attested=True, expected_version=form.version,
                                    make_sheet=make_sheet, now=now)
        return form

    # Last year: filed in January, confirmed by the superiors, batched, confirmed by finance.
    january = china_day_start(datetime(year - 1, 1, 15).date()) + timedelta(hours=2)
    last_year = [file(phone, last_policy, str(int(total) * 9 // 10), ratio, union, january)
                 for phone, total, ratio, union in DEMO_RESERVATIONS]
    for form in last_year:
        if form.status == "submitted":
            superior = db.session.scalar(select(Account).where(Account.unit_id == form.superior_id))
            reservation_workflow.confirm(superior, form, expected_version=form.version, make_sheet=make_sheet)
    for head_phone in ("13900000011", "13900001111"):
        reservation_workflow.submit_batch(account[head_phone], year - 1)
    for form in last_year:
        finance = db.session.scalar(select(Account).where(Account.unit_id == form.finance_id))
        reservation_workflow.finalize(finance, form, expected_version=form.version, make_sheet=make_sheet)

    # This year: the school waits for its bureau, the department (standing alone) waits for
    # finance, the affiliated school was returned; the others have not filed yet.
    now = utcnow() if policy.last_filing_day >= to_china(utcnow()).date() else january
    waiting = file("13900000012", policy, "2000000", "32", None, now)
    returned = file("13900000013", policy, "1500000", "30", "200000", now)
    file("13900000014", policy, "1000000", "35", None, now)
    bureau = account["13900000011"]
    reservation_workflow.return_to_unit(bureau, returned, expected_version=returned.version,
                                        reason="工会采购总额与预算批复不一致，请核实后修改")
    return waiting
