"""Authorization rows of the budget-unit list's export and the import's second step (确认导入, 取消).

The province finance department has two uploads staged (prepare): its own confirm and cancel
reach them (the confirm without the preview's plan is a 400, the cancel drops the file and sends
back to the list); another finance department's admin is told they do not exist (404); everyone
else is refused the import's pages (403), as for the upload itself."""
from portal import staged_uploads
from portal.accounts.models import Account
from portal.extensions import db
from tests.authz_rules import BAD_REQUEST, FINANCE, FORBIDDEN, HIDDEN, LOGIN, REDIRECT_SAME, finance_only

PURPOSE = "budget_units"


def own_staged_upload(outcome):
    """The uploader gets `outcome`; other finance admins a 404; other roles a 403."""

    def rule(role):
        if role == "anonymous":
            return LOGIN
        if role == "province_finance":
            return outcome
        return HIDDEN if role in FINANCE else FORBIDDEN

    return rule


ROWS = {
    "budget_units.export": ("GET", lambda t: "/budget-units/export?q=省&status=active", finance_only),
    "budget_units.confirm_import": ("POST", lambda t: f"/budget-units/import/{t.staged_to_confirm}/confirm",
                                    own_staged_upload(BAD_REQUEST)),
    "budget_units.cancel_import": ("POST", lambda t: f"/budget-units/import/{t.staged_to_cancel}/cancel",
                                   own_staged_upload(REDIRECT_SAME)),
}


def prepare(app, tree):
    finance = db.session.get(Account, tree.province_finance.id)
    tree.staged_to_confirm, tree.staged_to_cancel = (
        staged_uploads.stage(finance, PURPOSE, name, b"PK workbook") for name in ("确认.xlsx", "取消.xlsx"))
