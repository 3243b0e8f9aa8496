"""Staged uploads (portal/staged_uploads.py): a file kept between the preview and the commit, read
back only by the account that uploaded it, for the purpose it was staged for, before it expires;
consumed once; purged by `flask purge-expired`; served by any app server sharing FILES_DIR; its
migration goes up and down."""
import os
import time
from datetime import timedelta

import pytest
from flask_migrate import downgrade, upgrade
from sqlalchemy import func, inspect, select

from portal import create_app, staged_uploads
from portal.accounts.models import Account
from portal.clock import utcnow
from portal.extensions import db
from portal.staged_uploads import StagedUpload, StagedUploadMissing
from tests.test_migration_0010 import scratch_url  # noqa: F401  (fixture)

PURPOSE = "budget_units"
DATA = b"PK\x03\x04 a workbook"


def account(tree, role="province_finance"):
    return db.session.get(Account, getattr(tree, role).id)


def staged(tree, role="province_finance", purpose=PURPOSE, data=DATA, **kwargs):
    token = staged_uploads.stage(account(tree, role), purpose, "预算单位.xlsx", data, **kwargs)
    db.session.commit()
    return token


def stored_files():
    return staged_uploads._store().names()


def rows():
    return db.session.scalar(select(func.count(StagedUpload.id)))


def test_the_uploader_reads_its_file_back_for_its_purpose(ctx, tree):
    token = staged(tree)
    assert staged_uploads.read(account(tree), PURPOSE, token) == ("预算单位.xlsx", DATA)
    filename, data = staged_uploads.read(account(tree), PURPOSE, token)  # unpacks as a pair
    assert (filename, data) == ("预算单位.xlsx", DATA)
    upload = db.session.scalar(select(StagedUpload))
    assert upload.token_hash != token and token not in upload.token_hash  # the table holds no token
    assert upload.size == len(DATA) and upload.expires_at - upload.created_at == staged_uploads.TTL
    assert stored_files() == [upload.stored_name]


@pytest.mark.parametrize("role", ["gz_finance", "county_finance", "superior_budget", "province"])
def test_another_account_is_told_nothing_is_there(ctx, tree, role):
    token = staged(tree)
    with pytest.raises(StagedUploadMissing) as missing:
        staged_uploads.read(account(tree, role), PURPOSE, token)
    assert str(missing.value) == "上传的文件已过期或已处理，请重新上传"
    with pytest.raises(StagedUploadMissing):
        staged_uploads.consume(account(tree, role), PURPOSE, token)
    assert staged_uploads.read(account(tree), PURPOSE, token).data == DATA  # still the uploader's


def test_a_token_staged_for_one_purpose_is_no_other_purposes(ctx, tree):
    token = staged(tree)
    for purpose in ("fulfilment_832", "budget_units ", "", "BUDGET_UNITS"):
        with pytest.raises(StagedUploadMissing):
            staged_uploads.read(account(tree), purpose, token)
        with pytest.raises(StagedUploadMissing):
            staged_uploads.consume(account(tree), purpose, token)
    assert rows() == 1


def test_an_expired_upload_is_missing_and_purged_with_its_file(ctx, tree):
    now = utcnow()
    old = staged(tree, now=now - staged_uploads.TTL - timedelta(seconds=1))
    fresh = staged(tree, now=now)
    with pytest.raises(StagedUploadMissing):
        staged_uploads.read(account(tree), PURPOSE, old)
    with pytest.raises(StagedUploadMissing):
        staged_uploads.read(account(tree), PURPOSE, fresh, now=now + staged_uploads.TTL)  # at the second it ends
    assert len(stored_files()) == 2

    assert staged_uploads.purge_expired(now) == 1
    db.session.commit()
    assert rows() == 1 and len(stored_files()) == 1
    assert staged_uploads.read(account(tree), PURPOSE, fresh).data == DATA


def test_purge_expired_runs_with_the_daily_housekeeping(app, tree):
    with app.app_context():
        staged(tree, now=utcnow() - timedelta(hours=1))
        staged(tree)
        # a file whose request died before its commit, a day old: no row names it
        orphan = staged_uploads._store().save("2020/01", ".upload", b"orphan")
        day_ago = time.time() - staged_uploads.ORPHAN_AGE.total_seconds() - 60
        os.utime(staged_uploads._store().path_of(orphan), (day_ago, day_ago))
        assert len(stored_files()) == 3
    result = app.test_cli_runner().invoke(args=["purge-expired"])
    assert result.exit_code == 0, result.output
    assert "staged_upload 2" in result.output
    with app.app_context():
        assert rows() == 1 and len(stored_files()) == 1


def test_consumed_once_and_its_file_goes_with_the_commit(ctx, tree):
    token = staged(tree)
    (name,) = stored_files()
    staged_uploads.consume(account(tree), PURPOSE, token)
    assert stored_files() == [name]  # not before the commit: the caller's transaction may fail
    db.session.commit()
    assert stored_files() == [] and rows() == 0
    for operation in (staged_uploads.read, staged_uploads.consume):
        with pytest.raises(StagedUploadMissing):
            operation(account(tree), PURPOSE, token)


def test_a_consume_rolled_back_leaves_the_upload_as_it_was(ctx, tree):
    token = staged(tree)
    staged_uploads.consume(account(tree), PURPOSE, token)
    with pytest.raises(StagedUploadMissing):
        staged_uploads.consume(account(tree), PURPOSE, token)  # the same transaction: already taken
    db.session.rollback()
    assert staged_uploads.read(account(tree), PURPOSE, token).data == DATA
    assert len(stored_files()) == 1


def test_a_stage_never_committed_leaves_no_file(ctx, tree):
    staged_uploads.stage(account(tree), PURPOSE, "a.xlsx", DATA)
    assert len(stored_files()) == 1
    db.session.rollback()
    assert stored_files() == [] and rows() == 0


@pytest.mark.parametrize("token", [
    None, "", 12345, b"bytes", ["list"], "x" * 10_000, "../../../etc/passwd", "a\x00b", "１２３",
    "<script>alert(1)</script>", "A" * 43, "A" * 42, "A" * 44, "%2e%2e%2f" * 5,
], ids=lambda value: repr(value)[:20])
def test_hostile_tokens_are_missing_uploads(ctx, tree, token):
    staged(tree)
    for operation in (staged_uploads.read, staged_uploads.consume):
        with pytest.raises(StagedUploadMissing):
            operation(account(tree), PURPOSE, token)
    assert rows() == 1


def test_the_stored_hash_is_not_a_token(ctx, tree):
    staged(tree)
    stored = db.session.scalar(select(StagedUpload.token_hash))
    for token in (stored, stored[:43]):
        with pytest.raises(StagedUploadMissing):
            staged_uploads.read(account(tree), PURPOSE, token)


@pytest.mark.parametrize("purpose, data", [
    ("", DATA), ("../x", DATA), ("Budget", DATA), ("x" * 41, DATA), (PURPOSE, "text"),
    (PURPOSE, b"x" * (staged_uploads.MAX_BYTES + 1)),
])
def test_stage_refuses_what_no_caller_should_give(ctx, tree, purpose, data):
    with pytest.raises(ValueError):
        staged_uploads.stage(account(tree), purpose, "a.xlsx", data)
    assert stored_files() == []


def test_a_long_or_empty_file_name_is_kept_bounded(ctx, tree):
    long_token = staged_uploads.stage(account(tree), PURPOSE, "长" * 500 + ".xlsx", DATA)
    empty_token = staged_uploads.stage(account(tree), PURPOSE, "  ", DATA)
    db.session.commit()
    assert staged_uploads.read(account(tree), PURPOSE, long_token).filename == "长" * staged_uploads.FILENAME_MAX
    assert staged_uploads.read(account(tree), PURPOSE, empty_token).filename == "upload"


def test_another_app_server_sharing_files_dir_reads_it(app_factory, app, tree, tmp_path):
    shared = tmp_path / "shared"
    shared.mkdir()
    first = app_factory(FILES_DIR=str(shared), PORTAL_INSTANCE=str(tmp_path / "one"))
    second = app_factory(FILES_DIR=str(shared), PORTAL_INSTANCE=str(tmp_path / "two"))
    with first.app_context():
        token = staged(tree)
    with second.app_context():
        assert staged_uploads.read(account(tree), PURPOSE, token).data == DATA
        staged_uploads.consume(account(tree), PURPOSE, token)
        db.session.commit()
    assert not any(path.is_file() for path in (shared / "staged").rglob("*"))


def test_the_migration_adds_the_table_and_takes_it_away(scratch_url, tmp_path):
    app = create_app({"SQLALCHEMY_DATABASE_URI": scratch_url, "PORTAL_INSTANCE": str(tmp_path / "instance")})
    directory = app.extensions["migrate"].directory
    with app.app_context():
        upgrade(directory=directory, revision="0012s_staged_uploads")
        columns = {column["name"] for column in inspect(db.engine).get_columns("staged_upload")}
        assert columns == {"id", "token_hash", "account_id", "purpose", "filename", "stored_name", "size",
                           "created_at", "expires_at"}
        downgrade(directory=directory, revision="0011")
        assert "staged_upload" not in inspect(db.engine).get_table_names()
        db.session.remove()
        db.engine.dispose()
