"""个人信息保护 at rest: mobile numbers and contact names are SM4 tokens in the database, found by
their keyed SM3 blind index, and `flask rotate-keys` moves every token and index to a new key."""
import re
from decimal import Decimal

import pytest
from sqlalchemy import select, text

from portal import crypto, key_rotation, personal_data
from portal.accounts import security_admin, service
from portal.accounts.models import Account, Unit
from portal.crypto import DecryptionError
from portal.extensions import db
from portal.reservations.models import Reservation
from tests.factories import make_reservation

NEW_KEYS = "k2026:8f0e1d2c3b4a59687766554433221100," + crypto.DEVELOPMENT_DATA_KEYS
ONLY_NEW = "k2026:8f0e1d2c3b4a59687766554433221100"
TOKEN = re.compile(r"sm4gcm\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+")


def raw(sql, **params):
    return db.session.execute(text(sql), params).all()


def test_numbers_and_names_are_tokens_in_the_database(ctx, tree):
    market = db.session.get(Account, tree.gz_market.id)
    [(phone, name, key, masked)] = raw(
        "SELECT phone, name, phone_key, phone_masked FROM account WHERE id = :id", id=market.id)
    assert TOKEN.fullmatch(phone) and TOKEN.fullmatch(name)
    assert market.phone not in phone and "联系人" not in name
    assert key == personal_data.phone_key(market.phone) and re.fullmatch(r"[0-9a-f]{64}", key)
    assert masked == market.masked_phone == market.phone[:3] + "****" + market.phone[-4:]
    # The same number written twice gives two different tokens: nothing to compare or count by.
    [(other,)] = raw("SELECT phone FROM account WHERE id = :id", id=tree.gz_office.id)
    assert other != phone


def test_every_column_holding_numbers_or_names_holds_tokens(app, ctx, tree):
    reservation = make_reservation(tree, contact_name="王小明", union_contact_name="李工会")
    db.session.commit()
    [row] = raw("SELECT contact_name, contact_mobile, union_contact_name, union_contact_mobile "
                "FROM reservation WHERE id = :id", id=reservation.id)
    assert all(TOKEN.fullmatch(value) for value in row)
    db.session.expire_all()
    assert db.session.get(Reservation, reservation.id).contact_mobile == "13912345678"
    # No table keeps a number or a name in clear.
    for table in db.metadata.sorted_tables:
        for column in table.columns:
            if str(column.type).startswith(("VARCHAR", "TEXT")):
                values = [value for (value,) in raw(f'SELECT "{column.name}" FROM "{table.name}"') if value]
                leaked = [value for value in values if re.search(r"(?<![0-9A-Za-z])1[3-9][0-9]{9}(?![0-9A-Za-z])|王小明|李工会", value)]
                assert not leaked, f"{table.name}.{column.name}: {leaked[:1]}"


def test_a_token_copied_into_another_column_is_refused(ctx, tree):
    [(name_token,)] = raw("SELECT name FROM account WHERE id = :id", id=tree.gz_market.id)
    db.session.execute(text("UPDATE account SET phone = :token WHERE id = :id"),
                       {"token": name_token, "id": tree.gz_market.id})
    db.session.expire_all()
    with pytest.raises(DecryptionError):
        db.session.get(Account, tree.gz_market.id).phone
    db.session.rollback()


def test_sql_cannot_compare_an_encrypted_column_by_mistake(ctx, tree):
    with pytest.raises(TypeError, match="blind index"):
        select(Account).where(Account.phone == "13700001011")
    with pytest.raises(TypeError, match="blind index"):
        select(Account).order_by(Account.name.desc())
    assert db.session.scalar(select(Account.id).where(Account.with_phone(tree.gz_market.phone))) == tree.gz_market.id


def test_searches_find_a_person_by_blind_index_and_masked_digits(ctx, tree):
    market = db.session.get(Account, tree.gz_market.id)
    service.edit_contact(db.session.get(Account, tree.gz_office.id), market, contact_name="欧阳 晓燕",
                         phone=market.phone)
    db.session.commit()

    def units(text_typed):
        return set(db.session.scalars(select(Unit.id).where(service.search_units_clause(text_typed))))

    assert market.unit_id in units("欧阳晓燕")  # the full name, blanks aside
    assert market.unit_id not in units("晓燕")  # a part of a name cannot be matched any more
    assert market.unit_id in units(market.phone)
    assert market.unit_id in units(market.phone[-4:])
    assert market.unit_id in units(market.masked_phone)
    found = db.session.scalars(security_admin.search_accounts_query(market.masked_phone)).all()
    assert market.id in {account.id for account in found}


def test_rotate_keys_moves_every_token_and_index_to_the_new_key(app, tree, login):
    with app.app_context():
        reservation = make_reservation(tree, contact_name="王小明")
        db.session.commit()
        reservation_id = reservation.id
        before = {row.id: (row.phone, row.name) for row in db.session.scalars(select(Account))}
    app.config["DATA_KEYS"] = NEW_KEYS
    try:
        with app.app_context():
            # Before the rotation the new key reads nothing yet, the old one everything.
            assert set(key_rotation.remaining().values()) != {0}
            assert db.session.scalar(select(Account.id).where(Account.with_phone(tree.gz_market.phone)))
        result = app.test_cli_runner().invoke(args=["rotate-keys"])
        assert result.exit_code == 0, result.output
        assert "account.phone: " in result.output and "account.phone_key: " in result.output
        with app.app_context():
            assert set(key_rotation.remaining().values()) == {0}
            tokens = [value for row in raw("SELECT phone, name FROM account") for value in row]
            assert all(token.startswith("sm4gcm.k2026.") for token in tokens)
            [(contact,)] = raw("SELECT contact_mobile FROM reservation WHERE id = :id", id=reservation_id)
            assert contact.startswith("sm4gcm.k2026.")
            assert db.session.scalar(select(Account.phone_key).where(Account.id == tree.gz_market.id)) == \
                crypto.keyed_sm3(tree.gz_market.phone, personal_data.PHONE_PURPOSE, keys=ONLY_NEW)
        again = app.test_cli_runner().invoke(args=["rotate-keys"])
        assert again.exit_code == 0 and "account.phone: 0" in again.output
        # Once the old key is gone the portal reads, finds and logs in as before.
        app.config["DATA_KEYS"] = ONLY_NEW
        with app.app_context():
            after = {row.id: (row.phone, row.name) for row in db.session.scalars(select(Account))}
            assert after == before
            assert db.session.get(Reservation, reservation_id).contact_name == "王小明"
        client = app.test_client()
        login(client, tree.gz_market.phone)
        assert "广州" in client.get("/").get_data(as_text=True)
    finally:
        app.config["DATA_KEYS"] = crypto.DEVELOPMENT_DATA_KEYS


def test_rotation_rewrites_the_second_factor_secret_and_keeps_it_working(app, tree, login):
    client = app.test_client()
    login(client, tree.system.phone)  # enrols the system administrator's authenticator
    app.config["DATA_KEYS"] = NEW_KEYS
    try:
        assert app.test_cli_runner().invoke(args=["rotate-keys"]).exit_code == 0
        app.config["DATA_KEYS"] = ONLY_NEW
        with app.app_context():
            [(secret,)] = raw("SELECT secret FROM second_factor")
            assert secret.startswith("sm4gcm.k2026.")
        again = app.test_client()
        login(again, tree.system.phone)
        assert again.get("/").status_code == 200
    finally:
        app.config["DATA_KEYS"] = crypto.DEVELOPMENT_DATA_KEYS


def test_rotation_is_in_the_audit_trail(app, tree):
    app.config["DATA_KEYS"] = NEW_KEYS
    try:
        assert app.test_cli_runner().invoke(args=["rotate-keys"]).exit_code == 0
        with app.app_context():
            from portal.audit import AuditEvent

            event = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "keys_rotated")).one()
            assert event.detail_data["key"] == "k2026" and event.detail_data["changed"]["account.phone"] > 0
    finally:
        app.config["DATA_KEYS"] = crypto.DEVELOPMENT_DATA_KEYS


def test_amounts_and_unit_names_stay_plain_and_summable(ctx, tree):
    # Only personal data is encrypted: figures keep their SQL (sums, sorting).
    reservation = make_reservation(tree)
    assert isinstance(reservation.reserved_amount, (Decimal, type(None)))
    assert raw("SELECT name FROM unit WHERE id = :id", id=reservation.unit_id)[0][0] == reservation.unit.name
