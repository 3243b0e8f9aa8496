"""Authorization matrix rows of the list exports and the printed record (issue 12, item 6): each
export answers to the rule of its list, the PDF to whoever may view the record."""
from tests.authz_rules import admins, filers, managers_of, record_viewers, reference_editors

#: endpoint -> (method, url builder over the tree, rule)
ROWS = {
    "records.export": ("GET", lambda t: "/records/export?status=filed&q=米", filers),
    "records.record_pdf": ("GET", lambda t: f"/records/{t.record_id}/pdf", record_viewers()),
    "accounts.export": ("GET", lambda t: "/accounts/export?q=市场", admins),
    "accounts.unit_export": ("GET", lambda t: f"/accounts/units/{t.gz_market.unit_id}/export",
                             managers_of("gz_office", "gz_market")),
    "periods.export": ("GET", lambda t: "/records/periods/export", reference_editors),
    "reference_data.lists_export": ("GET", lambda t: "/reference-data/lists/export", reference_editors),
    "reference_data.counties_export": ("GET", lambda t: "/reference-data/counties/export?province=520000",
                                       reference_editors),
}

#: the printed record in each state where who may see it differs
MORE_ROWS = [
    ("records.record_pdf", "GET", lambda t, state=state: f"/records/{t.records[state][0]}/pdf", record_viewers(state))
    for state in ("draft", "returned", "submitted", "approved")
]
