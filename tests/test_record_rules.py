"""Who sees which purchase records: the Python predicate (may_view) and the SQL clause
(visible_clause) agree for every role × record, and both say what DESIGN section 3 says."""
import io
from decimal import Decimal

import pytest
from sqlalchemy import select

from portal.extensions import db
from portal.records import queries, rules, service, vouchers, workflow
from portal.records.models import PurchaseRecord
from portal.records.queries import RecordFilters
from tests.factories import build_tree
from tests.records_helpers import PNG, record_form

THRESHOLD = Decimal("500000")
FILERS = ("gz_merchant", "gz_store", "gz_market", "gz_supermarket", "gz_ecommerce", "gz_enterprise",
          "sz_merchant", "sz_store", "sz_market", "sz_supermarket", "sz_ecommerce", "sz_enterprise",
          "listed_market", "listed_merchant")
FIRST = {"gz_merchant": "gz_market", "gz_store": "gz_supermarket", "sz_merchant": "sz_market",
         "sz_store": "sz_supermarket", "listed_merchant": "listed_market"}


def office_of(filer):
    return "province_reviewer" if filer.startswith("listed") else filer[:2] + "_reviewer"


#: how far each record goes: the steps after creating it
PATHS = {
    "draft": (),
    "filed": ("submit",),
    "returned_first": ("submit", "first_return"),
    "submitted": ("submit", "first_approve"),
    "returned_city": ("submit", "first_approve", "city_return"),
    "refiled_after_city": ("submit", "first_approve", "city_return", "submit"),
    "approved": ("submit", "first_approve", "city_approve"),
}


def build(t, root, filer, path):
    account = getattr(t, filer)
    record = service.create_draft(account, record_form(product_name=f"{filer}-{path}"))
    vouchers.add_voucher(account, record, io.BytesIO(PNG + f"{filer}{path}".encode()), "发票.png", "invoice",
                         root=root, max_bytes=1024 * 1024)
    for step in PATHS[path]:
        if step.startswith("first") and filer not in FIRST:
            continue
        actor = {"submit": account, "first": getattr(t, FIRST.get(filer, filer)),
                 "city": getattr(t, office_of(filer))}[step.split("_")[0]]
        if step == "submit":
            workflow.submit(actor, record, expected_version=record.version, amount_threshold=THRESHOLD)
        elif step.endswith("approve"):
            workflow.approve(actor, record, expected_version=record.version)
        else:
            workflow.return_for_changes(actor, record, expected_version=record.version, reason="退回")
    return record


@pytest.fixture
def world(app, ctx):
    t = build_tree()
    root = vouchers.voucher_root(app.instance_path)
    records = []
    for filer in FILERS:
        for path in PATHS:
            if path in ("filed", "returned_first", "refiled_after_city") and filer not in FIRST:
                continue
            record = build(t, root, filer, path)
            records.append((filer, path, record))
    db.session.commit()
    return t, records


def check_may_view_agrees_with_visible_clause_for_every_account(world):
    t, records = world
    by_id = {record.id: record for _, _, record in records}
    assert {r.status for r in by_id.values()} == {"draft", "filed", "submitted", "approved", "returned"}
    for role, account in vars(t).items():
        in_python = {record.id for record in by_id.values() if rules.may_view(account, record)}
        in_sql = set(db.session.scalars(select(PurchaseRecord.id).where(rules.visible_clause(account))))
        assert in_python == in_sql, role
        # The list query the pages use starts from the same clause.
        listed = {r.id for r in db.session.scalars(queries.visible_query(account, RecordFilters())).unique()}
        assert listed == in_sql, role


def expected_visible(t, role, filer, path, record):
    """The DESIGN's rule for one account and one record, written without rules.py."""
    if role == filer:
        return True
    if FIRST.get(filer) == role:
        return path != "draft"
    reached_city = path in ("submitted", "returned_city", "refiled_after_city", "approved") or (
        filer not in FIRST and path != "draft")
    if role in (office_of(filer), office_of(filer).replace("_reviewer", "_office"), "province") and reached_city:
        # an office sees its own city's records once they reached it; the province office is the
        # listed market's "city"
        if filer.startswith("listed"):
            return role in ("province", "province_reviewer")
        return role in (filer[:2] + "_office", filer[:2] + "_reviewer") or (
            role == "province" and path == "approved")
    if role in ("province", "province_reviewer"):
        return path == "approved"
    return False


def check_visibility_follows_the_organisation_tree(world):
    t, records = world
    for role, account in vars(t).items():
        for filer, path, record in records:
            assert rules.may_view(account, record) == expected_visible(t, role, filer, path, record), \
                (role, filer, path)


def check_named_guarantees(world):
    t, records = world

    def visible(account):
        return [r for r in db.session.scalars(select(PurchaseRecord).where(rules.visible_clause(account)))]

    # A merchant never sees another merchant's records, in its own market or elsewhere.
    for merchant in (t.gz_merchant, t.sz_merchant, t.listed_merchant, t.gz_store):
        assert {r.unit_id for r in visible(merchant)} == {merchant.unit_id}
    # A city never sees another city's records, nor the listed market's.
    for office, code in ((t.gz_office, "440100"), (t.gz_reviewer, "440100"), (t.sz_office, "440300")):
        rows = visible(office)
        assert rows and {r.city_scope for r in rows} == {code}
    # A market sees its own and its own merchants' records, and not their drafts.
    rows = visible(t.gz_market)
    assert {r.unit_id for r in rows} == {t.gz_market.unit_id, t.gz_merchant.unit_id}
    assert all(r.status != "draft" for r in rows if r.unit_id == t.gz_merchant.unit_id)
    assert any(r.status == "draft" for r in rows if r.unit_id == t.gz_market.unit_id)
    # A supermarket likewise with its stores; an e-commerce platform and an enterprise see only their own.
    assert {r.unit_id for r in visible(t.sz_supermarket)} == {t.sz_supermarket.unit_id, t.sz_store.unit_id}
    for own in (t.gz_ecommerce, t.gz_enterprise):
        assert {r.unit_id for r in visible(own)} == {own.unit_id}
    # The province sees only approved records of the cities (and the listed market's, which it reviews).
    province_rows = visible(t.province)
    assert {r.status for r in province_rows if r.city_scope != "440000"} == {"approved"}
    approved = {r.id for _, _, r in records if r.status == "approved"}
    assert approved <= {r.id for r in province_rows}
    # A city sees a merchant's record only once it reached the city.
    for filer, path, record in records:
        if filer == "gz_merchant":
            assert rules.may_view(t.gz_reviewer, record) == (
                path in ("submitted", "returned_city", "refiled_after_city", "approved")), path
    # Units that are not part of monitoring see nothing at all.
    for outsider in (t.system, t.province_finance, t.gz_finance, t.county_finance, t.superior_budget,
                     t.budget_unit, t.gz_budget):
        assert visible(outsider) == []
        assert not rules.is_reviewer(outsider) and not rules.may_file(outsider)


def check_review_level_only_for_the_unit_whose_turn_it_is(world):
    t, records = world
    for role, account in vars(t).items():
        for filer, path, record in records:
            level = rules.review_level(account, record)
            if record.status == "filed" and role == FIRST.get(filer):
                assert level == "first"
            elif record.status == "submitted" and role in (office_of(filer),
                                                           office_of(filer).replace("_reviewer", "_office")
                                                           if not filer.startswith("listed") else "province"):
                assert level == "city"
            else:
                assert level is None, (role, filer, path)
            # Whoever may act may also see the record.
            if level is not None:
                assert rules.may_view(account, record)


def test_visibility_rules(world):
    """One world of ~80 records (every filer kind of two cities and the listed market, in every
    state), built once; four checks on it."""
    check_may_view_agrees_with_visible_clause_for_every_account(world)
    check_visibility_follows_the_organisation_tree(world)
    check_named_guarantees(world)
    check_review_level_only_for_the_unit_whose_turn_it_is(world)
