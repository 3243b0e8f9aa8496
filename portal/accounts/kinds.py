"""Unit kinds and account roles: the vocabulary of the organisation tree."""
from enum import StrEnum


class UnitKind(StrEnum):
    SYSTEM = "system"
    PROVINCE_OFFICE = "province_office"
    CITY_OFFICE = "city_office"
    MARKET = "market"
    MERCHANT = "merchant"
    SUPERMARKET = "supermarket"
    STORE = "store"
    ECOMMERCE = "ecommerce"
    ENTERPRISE = "enterprise"
    FINANCE = "finance"
    BUDGET_UNIT = "budget_unit"

    @property
    def label(self):
        return UNIT_KIND_LABELS[self]


UNIT_KIND_LABELS = {
    UnitKind.SYSTEM: "系统管理",
    UnitKind.PROVINCE_OFFICE: "省级帮扶部门",
    UnitKind.CITY_OFFICE: "地级市帮扶部门",
    UnitKind.MARKET: "批发市场",
    UnitKind.MERCHANT: "批发商",
    UnitKind.SUPERMARKET: "连锁商超",
    UnitKind.STORE: "门店",
    UnitKind.ECOMMERCE: "本地电商平台",
    UnitKind.ENTERPRISE: "企业",
    UnitKind.FINANCE: "财政部门",
    UnitKind.BUDGET_UNIT: "预算单位",
}


class FinanceLevel(StrEnum):
    PROVINCE = "province"
    CITY = "city"
    COUNTY = "county"

    @property
    def label(self):
        return {"province": "省级", "city": "市级", "county": "县级"}[self.value]

    @property
    def below(self):
        return {"province": FinanceLevel.CITY, "city": FinanceLevel.COUNTY}.get(self.value)


class AccountRole(StrEnum):
    #: the unit's first account: opens sub-units and further accounts of the unit
    ADMIN = "admin"
    #: a further account of the unit: does the unit's work, manages no accounts
    STAFF = "staff"


class AdminRole(StrEnum):
    """三员分立: the three administrators of the system unit; no account holds two."""

    #: opens the province office and the province finance department; system settings
    SYSTEM = "system"
    #: security policy, lockouts, live sessions, second-factor resets
    SECURITY = "security"
    #: reads, verifies and exports the audit trail of everyone; changes nothing
    AUDIT = "audit"


ADMIN_ROLE_LABELS = {AdminRole.SYSTEM: "系统管理员", AdminRole.SECURITY: "安全管理员", AdminRole.AUDIT: "审计管理员"}


def role_label(role, unit_kind):
    if role == AccountRole.ADMIN:
        return "系统管理员" if unit_kind == UnitKind.SYSTEM else "管理员"
    return "审核员" if unit_kind in (UnitKind.CITY_OFFICE, UnitKind.PROVINCE_OFFICE) else "经办人"
