"""The vocabulary of purchase records: statuses, channels, voucher kinds, fill types."""

DRAFT, FILED, SUBMITTED, APPROVED, RETURNED = "draft", "filed", "submitted", "approved", "returned"

STATUS_LABELS = {
    DRAFT: "草稿",
    FILED: "已填报",
    SUBMITTED: "已提交",
    APPROVED: "审核通过",
    RETURNED: "退回修改",
}

ACTION_LABELS = {"submit": "提交", "approve": "审核通过", "return": "退回修改"}

#: statuses in which the filer may still change the record
EDITABLE = (DRAFT, RETURNED)

CHANNEL_LABELS = {
    "market": "批发市场",
    "supermarket": "连锁商超",
    "ecommerce": "本地电商平台",
    "enterprise": "企业",
}

VOUCHER_KINDS = {"invoice": "发票", "contract": "合同", "waybill": "运单", "other": "其他佐证材料"}

FILL_TYPES = {"backfill": "上半年购销信息补登", "current": "购销信息登记"}

#: the scope code of records the province office reviews itself (the separately listed market)
PROVINCE_SCOPE = "440000"
