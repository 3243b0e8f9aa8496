"""Authorization matrix rows of 个人中心 (portal/blueprints/profile.py) and of the reveal button of
a budget unit's current contacts.

The school (省实验中学) and its superior 省教育厅 have current contacts (prepare). The school's
are seen by the school, 省教育厅 and 省财政厅; 省教育厅's by itself and 省财政厅, never by the
school below it. Any other budget unit or finance department gets a 404, as if they did not exist.
"""
from tests.authz_rules import BUDGET_UNITS, FINANCE, FORBIDDEN, HIDDEN, LOGIN, OK, budget_units, business_logins

#: contacts of the two units, as their accounts keep them on 个人中心
SCHOOL_CONTACTS = {"contact_name": "李晓明", "contact_mobile": "13912345678", "contact_landline": "020-83133000",
                   "union_contact_name": "王芳", "union_contact_mobile": "13987654321"}
HEAD_CONTACTS = {"contact_name": "许文博", "contact_mobile": "13912340011"}


def sees_contacts_of(*allowed):
    """Budget units and finance departments reach the reveal route; those listed see the unit."""

    def rule(role):
        if role == "anonymous":
            return LOGIN
        if role not in BUDGET_UNITS | FINANCE:
            return FORBIDDEN
        return OK if role in allowed else HIDDEN

    return rule


def prepare(app, tree):
    from portal.accounts.models import Account
    from portal.extensions import db
    from portal.reservations import contacts

    contacts.change(db.session.get(Account, tree.budget_unit.id), SCHOOL_CONTACTS)
    contacts.change(db.session.get(Account, tree.superior_budget.id), HEAD_CONTACTS)
    # plain ids for MORE_ROWS, whose URLs are also built over a stand-in tree of ones
    tree.head_unit_id, tree.gz_budget_unit_id = tree.superior_budget.unit_id, tree.gz_budget.unit_id
    tree.school_unit_id, tree.gz_market_unit_id = tree.budget_unit.unit_id, tree.gz_market.unit_id


#: endpoint -> (method, url builder over the tree, rule)
ROWS = {
    # Every business login has its personal page; the three administrators do no business (403).
    "profile.index": ("GET", lambda t: "/profile", business_logins),
    # Only a budget unit keeps contacts; it changes its own (no unit in the URL to change another's).
    # The empty form is answered with its field errors (422).
    "profile.edit_contacts": ("GET", lambda t: "/profile/contacts", budget_units),
    "profile.save_contacts": ("POST", lambda t: "/profile/contacts", budget_units),
    "reveal.unit_contact_mobile": ("POST", lambda t: f"/reveal/unit/{t.budget_unit.unit_id}/contacts/union_contact",
                                   sees_contacts_of("budget_unit", "superior_budget", "province_finance")),
}

#: (endpoint, method, url builder, rule)
MORE_ROWS = [
    # The department head's contacts: the school below it does not see them.
    ("reveal.unit_contact_mobile", "POST", lambda t: f"/reveal/unit/{t.head_unit_id}/contacts/contact",
     sees_contacts_of("superior_budget", "province_finance")),
    # 广州市农业农村局 has no current contacts: nothing to reveal, even to itself.
    ("reveal.unit_contact_mobile", "POST", lambda t: f"/reveal/unit/{t.gz_budget_unit_id}/contacts/contact",
     sees_contacts_of()),
    # A unit that is no budget unit has no contacts of this kind.
    ("reveal.unit_contact_mobile", "POST", lambda t: f"/reveal/unit/{t.gz_market_unit_id}/contacts/contact",
     sees_contacts_of()),
    # A field that is not one.
    ("reveal.unit_contact_mobile", "POST", lambda t: f"/reveal/unit/{t.school_unit_id}/contacts/landline",
     sees_contacts_of()),
]
