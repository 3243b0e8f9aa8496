"""Column types that behave the same on both databases."""
from decimal import ROUND_HALF_UP, Decimal

from sqlalchemy import BigInteger, Numeric
from sqlalchemy.types import TypeDecorator


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
