"""one phone, one account: mobile numbers stored as their 11 ASCII digits

The old check let full-width digits through (`1３８００００１０１２` beside `13800001012`), so two
accounts could hold one number. This rewrites every account's number to its 11 ASCII digits
and adds a CHECK that the database refuses anything else; the unique constraint on
account.phone (uq_account_phone, since 0001) then means one number, one account.

When two accounts come to the same number, or a stored number cannot be read as a mainland
mobile at all, the upgrade stops and lists them (account ids, units) for a person to settle
in the portal first: which of two accounts is the real one is not a migration's guess.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01 09:00:00

"""
import re
import unicodedata

import sqlalchemy as sa
from alembic import op

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None

CHECK_NAME = "ck_account_phone_digits"
_MOBILE = re.compile(r"1[0-9]{10}")


class PhoneCollision(RuntimeError):
    """Stored numbers that cannot be normalised without a person's decision."""


def canonical_mobile(value):
    """The 11 ASCII digits of a stored number, or None.

    A frozen copy of the shape rules of portal.accounts.validators.mobile_digits (NFKC,
    separators, +86/0086/86 prefix), so that this migration means the same thing whatever
    the application code becomes. The number plan (phonenumbers) is not consulted: a number
    the portal accepted once is not refused now because the plan's data changed.
    """
    if not isinstance(value, str):
        return None
    text = unicodedata.normalize("NFKC", value)
    digits = "".join(char for char in text if not (char.isspace() or char in ".()[]\u2212"
                                                   or unicodedata.category(char) in ("Pd", "Cf")))
    for prefix in ("+86", "0086"):
        if digits.startswith(prefix):
            digits = digits[len(prefix):]
            break
    else:
        if len(digits) == 13 and digits.startswith("86"):
            digits = digits[2:]
    return digits if _MOBILE.fullmatch(digits) else None


def _masked(phone):
    return f"{phone[:3]}****{phone[-4:]}" if len(phone) >= 7 else phone


def planned_account_phones(rows):
    """From (account_id, unit_id, unit_name, phone) rows, the new number of each account whose
    stored number is not normalised yet: {account_id: phone}.

    Raises PhoneCollision listing every group of accounts that normalise to one number, and
    every number that cannot be read, so that one run shows all that needs settling.
    """
    by_phone, unreadable, changes = {}, [], {}
    for account_id, unit_id, unit_name, phone in rows:
        normalised = canonical_mobile(phone)
        if normalised is None:
            unreadable.append(f"  account {account_id} (unit {unit_id} {unit_name}): "
                              f"{phone!r} is not a mainland mobile")
            continue
        by_phone.setdefault(normalised, []).append((account_id, unit_id, unit_name))
        if normalised != phone:
            changes[account_id] = normalised
    collisions = [
        f"  {_masked(phone)}: " + "; ".join(f"account {a} (unit {u} {name})" for a, u, name in holders)
        for phone, holders in sorted(by_phone.items()) if len(holders) > 1
    ]
    if collisions or unreadable:
        lines = ["Mobile numbers cannot be normalised without a decision (one number, one account)."]
        if collisions:
            lines += ["These accounts hold the same number once full-width digits, spaces and +86 are "
                      "removed; disable or renumber all but one in the portal:"] + collisions
        if unreadable:
            lines += ["These accounts hold a number that is not a mainland mobile; correct it in the portal:"] \
                + unreadable
        lines.append("Then run the upgrade again. Nothing was changed.")
        raise PhoneCollision("\n".join(lines))
    return changes


def _check_condition(dialect):
    # The digits are listed rather than ranged, so that no collation can widen the class.
    if dialect == "postgresql":
        return "phone ~ '^1[0123456789]{10}$'"
    return "phone GLOB '1" + "[0123456789]" * 10 + "'"


def upgrade():
    bind = op.get_bind()
    rows = bind.execute(sa.text(
        "SELECT account.id, account.unit_id, unit.name, account.phone FROM account "
        "JOIN unit ON unit.id = account.unit_id ORDER BY account.id")).all()
    for account_id, phone in planned_account_phones(rows).items():
        bind.execute(sa.text("UPDATE account SET phone = :phone WHERE id = :id"),
                     {"phone": phone, "id": account_id})
    # Codes are counted per number for the sending limits: count the old spellings as theirs.
    for code_id, phone in bind.execute(sa.text("SELECT id, phone FROM sms_code")).all():
        normalised = canonical_mobile(phone)
        if normalised is not None and normalised != phone:
            bind.execute(sa.text("UPDATE sms_code SET phone = :phone WHERE id = :id"),
                         {"phone": normalised, "id": code_id})
    with op.batch_alter_table('account', schema=None) as batch_op:
        batch_op.create_check_constraint(op.f(CHECK_NAME), sa.text(_check_condition(bind.dialect.name)))


def downgrade():
    # The numbers stay normalised: the old spellings are not worth keeping, nor recoverable.
    with op.batch_alter_table('account', schema=None) as batch_op:
        batch_op.drop_constraint(op.f(CHECK_NAME), type_='check')
