"""Column types and SQL functions that behave the same on PostgreSQL and SQLite."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, DateTime
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement
from sqlalchemy.types import TypeDecorator

__all__ = ["FeatureValues", "UTCDateTime", "utcnow"]


class FeatureValues(TypeDecorator[list[float | str]]):
    """A row of feature values, numbers and strings: JSONB on PostgreSQL (compact), JSON text on
    SQLite. Names and kinds live in ``feature_schemas`` (``db.features``), once per schema.

    Numbers are always read back as floats: JSONB keeps a number, not its type, and hands
    ``6.18e16`` back as the int ``61804722460378810``, which GraphQL's Float refuses. Strings
    stay strings, so a category "1" never becomes the number 1.
    """

    impl = JSON
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> Any:
        return dialect.type_descriptor(JSONB() if dialect.name == "postgresql" else JSON())

    def process_result_value(self, value: Any, dialect: Dialect) -> list[float | str] | None:
        if value is None:
            return None
        return [x if isinstance(x, str) else float(x) for x in value]


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware timestamp, always returned in UTC.

    SQLite has no timezone type: values are stored as naive UTC text there, in SQLAlchemy's
    own ``YYYY-MM-DD HH:MM:SS.ffffff`` format so that text comparison is time comparison.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are ambiguous: give a timezone")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class utcnow(FunctionElement[datetime]):  # noqa: N801 - reads as the SQL function it renders
    """The database server's current time, as a column default."""

    type = UTCDateTime()
    inherit_cache = True


@compiles(utcnow, "postgresql")
def _utcnow_postgresql(element: utcnow, compiler: SQLCompiler, **kw: Any) -> str:
    return "now()"


@compiles(utcnow, "sqlite")
def _utcnow_sqlite(element: utcnow, compiler: SQLCompiler, **kw: Any) -> str:
    # CURRENT_TIMESTAMP has whole seconds only; %f gives milliseconds, padded to the six
    # digits SQLAlchemy writes, so stored and bound timestamps compare correctly as text.
    return "strftime('%Y-%m-%d %H:%M:%f000', 'now')"
