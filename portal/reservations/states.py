"""The vocabulary of reserved-share forms."""

DRAFT, SUBMITTED, CONFIRMED, FINAL, RETURNED = "draft", "submitted", "confirmed", "final", "returned"

STATUS_LABELS = {
    DRAFT: "草稿",
    SUBMITTED: "待上级预算单位确认",
    CONFIRMED: "待财政部门确认",
    FINAL: "财政部门已确认",
    RETURNED: "已退回修改",
}

EDITABLE = (DRAFT, RETURNED)

CANTEEN_TYPES = {
    "own": "本单位自有的食堂",
    "outsourced": "食堂外包",
    "shared": "其他单位共用食堂",
    "none": "无食堂",
}
SHARED_FILLERS = {"self": "由本单位填写", "other": "由其他单位填写"}

ACTION_LABELS = {
    "submit": "提交",
    "confirm": "上级预算单位确认",
    "return": "上级预算单位退回",
    "batch": "汇总提交财政部门",
    "finance_confirm": "财政部门确认",
    "finance_return": "财政部门退回",
}

#: the stage a confirmation sheet records
SHEET_STAGES = {"submitted": "填报提交", "confirmed": "上级预算单位确认", "final": "财政部门确认"}

#: the attestation a unit makes when it submits (seed 001, 第六步)
ATTESTATION = "我单位本次填报的内容真实有效，无瞒报、漏报、错报情况"
