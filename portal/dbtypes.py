"""Column types that behave the same on both databases."""
from decimal import ROUND_HALF_UP, Decimal

from sqlalchemy import BigInteger, Numeric, String, Text
from sqlalchemy.sql import operators
from sqlalchemy.types import TypeDecorator

from portal import crypto


class ExactDecimal(TypeDecorator):
    """A decimal of fixed scale (money to the fen, ratios, quantities), exact everywhere.

    PostgreSQL stores it as NUMERIC(precision, scale). SQLite has no exact decimal: its NUMERIC
    keeps a double, and sums of doubles drift. There the value is stored as an integer count
    of the smallest unit (12800.50 元 as 1280050), so that SUM, comparisons and the atomic
    `amount = amount + :d` of the totals stay exact; Python code only ever sees Decimal."""

    impl = Numeric
    cache_ok = True

    def __init__(self, precision, scale):
        super().__init__(precision, scale)
        self.scale = scale

    def load_dialect_impl(self, dialect):
        if dialect.name == "sqlite":
            return dialect.type_descriptor(BigInteger())
        return dialect.type_descriptor(Numeric(self.impl.precision, self.scale))

    def process_bind_param(self, value, dialect):
        if value is None or dialect.name != "sqlite":
            return value
        return int(Decimal(value).scaleb(self.scale).to_integral_value(ROUND_HALF_UP))

    def process_result_value(self, value, dialect):
        if value is None or dialect.name != "sqlite":
            return value
        return Decimal(int(value)).scaleb(-self.scale)


class EncryptedText(TypeDecorator):
    """Personal data stored SM4-encrypted (portal/crypto.py); Python code sees the text.

    Each write draws a fresh nonce, so two tokens of one value differ and the database can
    neither compare nor sort them: SQL operators other than IS (NOT) NULL raise here instead of
    silently matching nothing. Look values up through their blind index (portal/personal_data.py).
    The context binds a token to its column: a token copied into another column is refused.
    """

    impl = String(255)
    cache_ok = True

    def __init__(self, context, length=255):
        """length: of the column, which holds the token (a 40-character name needs 224); None
        for TEXT."""
        super().__init__()
        self.context, self.length = context, length

    def load_dialect_impl(self, dialect):
        return dialect.type_descriptor(String(self.length) if self.length else Text())

    class Comparator(TypeDecorator.Comparator):
        def operate(self, op, *other, **kwargs):
            if op not in (operators.is_, operators.is_not):
                raise TypeError(f"{self.expr} is encrypted: compare its blind index instead")
            return super().operate(op, *other, **kwargs)

    comparator_factory = Comparator

    def process_bind_param(self, value, dialect):
        return None if value is None else crypto.encrypt(value, context=self.context)

    def process_result_value(self, value, dialect):
        return None if value is None else crypto.decrypt(value, context=self.context)
