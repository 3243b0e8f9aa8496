"""Who gets what from the routes: the outcomes and the rules of tests/test_authz_matrix.py, shared
with the area row modules (tests/authz_area_*.py) that add the rows of newer areas."""
OK, LOGIN, FORBIDDEN, HIDDEN, BAD_REQUEST = "ok", "login", "forbidden", "hidden", "bad request"
REDIRECT_SAME, REDIRECT_ELSEWHERE = "redirect within its area", "redirect elsewhere"

#: every account of tests/factories.py build_tree, and the anonymous visitor
ROLES = [
    "anonymous", "system", "security_admin", "audit_admin", "province", "province_reviewer", "listed_market",
    "listed_merchant",
    "gz_office", "gz_reviewer", "gz_market", "gz_merchant", "gz_supermarket", "gz_store",
    "gz_ecommerce", "gz_enterprise", "sz_office", "sz_reviewer", "sz_market", "sz_merchant", "sz_supermarket",
    "sz_store", "sz_ecommerce", "sz_enterprise", "province_finance", "gz_finance", "county_finance",
    "superior_budget", "budget_unit", "gz_budget",
]
#: a year whose filing is open (its deadline is far ahead) and in which nobody has a form
OPEN_YEAR = 2099
STAFF = {"province_reviewer", "gz_reviewer", "sz_reviewer"}
#: 三员分立: the three administrators of the system unit, refused every business page (403)
THREE_ADMINS = {"system", "security_admin", "audit_admin"}
#: the two that manage no units or accounts of the tree either (only the system administrator opens)
NOT_MANAGERS = STAFF | {"security_admin", "audit_admin"}
#: roles whose unit may open some kind of unit below it
OPENERS = {"system", "province", "listed_market", "gz_office", "gz_market", "gz_supermarket", "sz_office",
           "sz_market", "sz_supermarket", "province_finance", "gz_finance", "county_finance", "superior_budget",
           "budget_unit", "gz_budget"}


def answered(outcome, rule):
    """The rule, with what the role gets when allowed (OK) named exactly: a redirect or a 400."""

    def answered_rule(role):
        allowed = rule(role)
        return outcome if allowed == OK else allowed

    return answered_rule


def public(role):
    return OK


def logged_in(role):
    return LOGIN if role == "anonymous" else OK


def admins(role):
    if role == "anonymous":
        return LOGIN
    return FORBIDDEN if role in NOT_MANAGERS else OK


def business_logins(role):
    """Every login that does business work: the three administrators are refused."""
    if role == "anonymous":
        return LOGIN
    return FORBIDDEN if role in THREE_ADMINS else OK


def openers(role):
    if role == "anonymous":
        return LOGIN
    return OK if role in OPENERS else FORBIDDEN


def managers_of(*allowed):
    """Admins of the listed roles act; staff are refused; other admins do not see the object."""

    def rule(role):
        if role == "anonymous":
            return LOGIN
        if role in NOT_MANAGERS:
            return FORBIDDEN
        return OK if role in allowed else HIDDEN

    return rule


def business_managers_of(*allowed):
    """managers_of for pages of business units (budget units): the three administrators get 403."""
    return lambda role: FORBIDDEN if role in THREE_ADMINS else managers_of(*allowed)(role)


def merchant_account_rule(role):
    # The market manages its merchant's account; the merchant sees its own row but
    # may not edit or disable itself.
    return managers_of("gz_market")(role)


def own_row_rule(role):
    return OK if role == "gz_merchant" else merchant_account_rule(role)


def number_revealers(role):
    """The merchant's full number: the merchant itself and the market that manages it; to
    everyone else the account is not there."""
    if role == "anonymous":
        return LOGIN
    return OK if role in ("gz_merchant", "gz_market") else HIDDEN


def self_edit_forbidden(role):
    return FORBIDDEN if role == "gz_merchant" else merchant_account_rule(role)


def audit_readers(role):
    """三员分立: the audit administrator reads every row, the admin of a unit its subtree's; the
    system and security administrators and staff reviewers read nothing."""
    if role == "anonymous":
        return LOGIN
    return FORBIDDEN if role in STAFF or role in ("system", "security_admin") else OK


def audit_admin_only(role):
    if role == "anonymous":
        return LOGIN
    return OK if role == "audit_admin" else FORBIDDEN


FILERS = {"listed_market", "listed_merchant", "gz_market", "gz_merchant", "gz_supermarket", "gz_store",
          "gz_ecommerce", "gz_enterprise", "sz_market", "sz_merchant", "sz_supermarket", "sz_store",
          "sz_ecommerce", "sz_enterprise"}
REVIEWERS = {"province", "province_reviewer", "listed_market", "gz_office", "gz_reviewer", "gz_market",
             "gz_supermarket", "sz_office", "sz_reviewer", "sz_market", "sz_supermarket"}


def filers(role):
    if role == "anonymous":
        return LOGIN
    return OK if role in FILERS else FORBIDDEN


def reviewers(role):
    if role == "anonymous":
        return LOGIN
    return OK if role in REVIEWERS else FORBIDDEN


#: who sees the Guangzhou merchant's record in each state: the filer always; its market once it
#: is filed; the city office and its reviewer once the market passed it on; the province office
#: once it is approved
SEES_RECORD = {
    "draft": {"gz_merchant"},
    "filed": {"gz_merchant", "gz_market"},
    "returned": {"gz_merchant", "gz_market"},
    "submitted": {"gz_merchant", "gz_market", "gz_office", "gz_reviewer"},
    "approved": {"gz_merchant", "gz_market", "gz_office", "gz_reviewer", "province", "province_reviewer"},
}
#: who may approve or return it now
DECIDES_RECORD = {"filed": {"gz_market"}, "submitted": {"gz_office", "gz_reviewer"}}
EDITABLE_STATES = ("draft", "returned")


def record_viewers(state="filed"):
    def rule(role):
        if role == "anonymous":
            return LOGIN
        if role in THREE_ADMINS:
            return FORBIDDEN
        return OK if role in SEES_RECORD[state] else HIDDEN

    return rule


def record_editors(state="filed", method="GET"):
    """Filers who see the record: its filer edits it while editable (an empty POST saves and
    sends back to the form); otherwise they are sent to its detail page."""

    def rule(role):
        if role == "anonymous":
            return LOGIN
        if role not in FILERS:
            return FORBIDDEN
        if role not in SEES_RECORD[state]:
            return HIDDEN
        if role == "gz_merchant" and state in EDITABLE_STATES:
            return OK if method == "GET" else REDIRECT_SAME  # a draft may be saved empty
        return REDIRECT_SAME

    return rule


def voucher_changers(state="filed"):
    """Vouchers change only while the record is editable, and only by its filer; an upload
    without a file is a 422 (OK)."""

    def rule(role):
        if role == "anonymous":
            return LOGIN
        if role not in FILERS:
            return FORBIDDEN
        if role not in SEES_RECORD[state]:
            return HIDDEN
        return OK if role == "gz_merchant" and state in EDITABLE_STATES else FORBIDDEN

    return rule


def record_reviewers(state="filed", method="GET"):
    """Reviewers who see the record open its panel; an action without a version is a 400."""

    def rule(role):
        if role == "anonymous":
            return LOGIN
        if role not in REVIEWERS:
            return FORBIDDEN
        if role not in SEES_RECORD[state]:
            return HIDDEN
        return OK if method == "GET" else BAD_REQUEST

    return rule


def totals_readers(role):
    if role == "anonymous":
        return LOGIN
    return OK if role in ("province", "province_reviewer", "gz_office", "gz_reviewer", "sz_office", "sz_reviewer") \
        else FORBIDDEN


BUDGET_UNITS = {"superior_budget", "budget_unit", "gz_budget"}
FINANCE = {"province_finance", "gz_finance", "county_finance"}


def budget_units(role):
    if role == "anonymous":
        return LOGIN
    return OK if role in BUDGET_UNITS else FORBIDDEN


def budget_or_finance(role):
    if role == "anonymous":
        return LOGIN
    return OK if role in BUDGET_UNITS | FINANCE else FORBIDDEN


def finance_only(role):
    if role == "anonymous":
        return LOGIN
    return OK if role in FINANCE else FORBIDDEN


def superiors(role):
    if role == "anonymous":
        return LOGIN
    return OK if role == "superior_budget" else FORBIDDEN


def form_viewers(role):
    """The school's form: the school, its superior 教育厅 and the province finance see it."""
    if role == "anonymous":
        return LOGIN
    if role not in BUDGET_UNITS | FINANCE:
        return FORBIDDEN
    return OK if role in ("budget_unit", "superior_budget", "province_finance") else HIDDEN


def sheet_viewers(role):
    if role == "anonymous":
        return LOGIN
    if role in THREE_ADMINS:
        return FORBIDDEN
    return OK if role in ("budget_unit", "superior_budget", "province_finance") else HIDDEN


def policy_setters(role):
    if role == "anonymous":
        return LOGIN
    return OK if role == "province_finance" else FORBIDDEN


def finance_sent_on(role):
    # The list of forms is the budget units' page; finance is sent to its own list.
    return REDIRECT_SAME if role in FINANCE else budget_or_finance(role)


def finance_without_a_failed_file(role):
    """The annotated file of a failed import: finance admins get a 404 while they have none."""
    if role == "anonymous":
        return LOGIN
    return HIDDEN if role in FINANCE else FORBIDDEN


def reference_editors(role):
    if role == "anonymous":
        return LOGIN
    return OK if role == "province" else FORBIDDEN


def after_login_redirect(role):
    return OK if role == "anonymous" else REDIRECT_ELSEWHERE  # logged in: sent home


#: roles whose logins need a second factor (accounts/second_factor.py requires_second_factor)
SECOND_FACTOR_ROLES = {"system", "security_admin", "audit_admin", "province", "province_finance", "gz_finance",
                       "county_finance"}


def enrolled_elsewhere(role):
    """Enrolment pages: open to a login without a second factor, sent back to the second-factor
    page for one that has it."""
    return LOGIN if role == "anonymous" else REDIRECT_SAME if role in SECOND_FACTOR_ROLES else OK


def own_batch(role):
    """The Guangzhou office's 全部审核通过 job: its page is the office's; another reviewer's is a 404."""
    allowed = reviewers(role)
    return OK if role == "gz_office" else HIDDEN if allowed == OK else allowed


def own_export(role):
    return LOGIN if role == "anonymous" else OK if role == "gz_office" else HIDDEN


def security_admins(outcome):
    """The security administrator's actions (安全管理员): 403 for every other login."""
    return lambda role: LOGIN if role == "anonymous" else outcome if role == "security_admin" else FORBIDDEN
