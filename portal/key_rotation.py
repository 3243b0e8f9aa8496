"""Key rotation for data at rest: re-encrypt every SM4 token and rehash every blind index under
the current key (the first of DATA_KEYS).

The operator puts a new key first in DATA_KEYS and keeps the old ones after it; the portal goes
on reading old tokens meanwhile (each names its key). `flask --app app rotate-keys` then walks
every encrypted column in batches, each its own transaction, so it can run while the portal
serves and be run again after an interruption: a value already under the current key is left.
Afterwards `remaining()` is zero for every column, and the old key can be removed once the
short-lived hashes made with it are gone (SMS codes: a day) and the recovery codes made before
the rotation have been used or issued anew (they are hashes: they cannot be re-made).
"""
from dataclasses import dataclass

from sqlalchemy import Table, Text, func, literal, select, type_coerce, update

from portal import audit, crypto, personal_data
from portal.accounts.second_factor import SECRET_CONTEXT
from portal.dbtypes import EncryptedText
from portal.extensions import db

BATCH = 500


@dataclass(frozen=True)
class EncryptedColumn:
    table: Table
    column: str
    context: str

    @property
    def label(self):
        return f"{self.table.name}.{self.column}"


def encrypted_columns():
    """Every column holding SM4 tokens: those of type EncryptedText, and the TOTP secrets that
    second_factor.py seals itself."""
    columns = [EncryptedColumn(table, column.name, column.type.context)
               for table in db.metadata.sorted_tables for column in table.columns
               if isinstance(column.type, EncryptedText)]
    columns.append(EncryptedColumn(db.metadata.tables["second_factor"], "secret", SECRET_CONTEXT))
    return columns


#: blind indexes, recomputed from their column's text: (table, index column, source column, hash)
BLIND_INDEXES = (
    ("account", "phone_key", "phone", personal_data.phone_key),
    ("account", "name_key", "name", personal_data.name_key),
)


def _raw(table, name):
    # The token as stored: no decryption on the way out.
    return type_coerce(table.c[name], Text())


def _rotate_table(table, columns, indexes, counts):
    key = table.primary_key.columns.values()[0]
    wanted = [_raw(table, column.column).label(column.column) for column in columns]
    wanted += [table.c[index].label(index) for _, index, _, _ in indexes]
    contexts = {column.column: column.context for column in columns}
    after = None
    while True:
        query = select(key.label("pk"), *wanted).order_by(key).limit(BATCH)
        if after is not None:
            query = query.where(key > after)
        rows = db.session.execute(query).mappings().all()
        if not rows:
            return
        for row in rows:
            values = {}
            for column in columns:
                token = row[column.column]
                if token is not None and crypto.needs_rotation(token):
                    values[column.column] = literal(crypto.reencrypt(token, context=column.context), Text())
                    counts[column.label] += 1
            for _, index, source, make in indexes:  # only these need the text (a sheet's JSON does not)
                fresh = make(crypto.decrypt(row[source], context=contexts[source]))
                if row[index] != fresh:
                    values[index] = fresh
                    counts[f"{table.name}.{index}"] += 1
            if values:
                # Only if the row still holds what was read: a change made meanwhile (a new number,
                # a job's payload emptied) wins, and the next run rotates it.
                unchanged = [_raw(table, column.column) == row[column.column] if row[column.column] is not None
                             else table.c[column.column].is_(None) for column in columns]
                db.session.execute(update(table).where(key == row["pk"], *unchanged).values(values))
        db.session.commit()
        after = rows[-1]["pk"]


def rotate():
    """Bring every token and blind index to the current key; {column: values changed}."""
    counts = {}
    by_table = {}
    for column in encrypted_columns():
        by_table.setdefault(column.table.name, []).append(column)
        counts[column.label] = 0
    for table_name, columns in by_table.items():
        indexes = [entry for entry in BLIND_INDEXES if entry[0] == table_name]
        for _, index, _, _ in indexes:
            counts[f"{table_name}.{index}"] = 0
        _rotate_table(columns[0].table, columns, indexes, counts)
    audit.record("keys_rotated", detail={"key": crypto.current_key_id(),
                                         "changed": {name: n for name, n in counts.items() if n}})
    db.session.commit()
    return counts


def remaining():
    """{column: tokens still under an older key}, to tell when an old key may go."""
    current = crypto.current_key_id()
    prefix = f"{crypto.SCHEME}.{current}."
    return {column.label: db.session.scalar(
                select(func.count()).select_from(column.table)
                .where(column.table.c[column.column].is_not(None),
                       ~_raw(column.table, column.column).startswith(prefix, autoescape=True)))
            for column in encrypted_columns()}
