"""Feature schemas: the names and kinds of stored feature values, one row per distinct schema.

A prediction stores its values as a JSON array (numbers and strings) and refers to its schema
by ``schema_id``; ``feature_schemas`` holds each model's schemas once. Rows stored before
schemas existed (migration 0006) have none: a ``Catalog`` names them after the model's first
stored schema of the same width when that schema is all numerical (old rows hold only numbers),
and ``f0``, ``f1``, ... otherwise.
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from db.tables import FeatureSchemaRow

__all__ = [
    "CATEGORICAL",
    "NUMERICAL",
    "Catalog",
    "Column",
    "Columns",
    "SchemaCollision",
    "distinct_schemas",
    "ensure_schemas",
    "load_catalog",
    "positional",
    "schema_id",
]

NUMERICAL = "numerical"
CATEGORICAL = "categorical"


@dataclass(frozen=True, slots=True)
class Column:
    """One feature: its name and kind (``NUMERICAL`` or ``CATEGORICAL``)."""

    name: str
    kind: str = NUMERICAL


Columns = tuple[Column, ...]


class SchemaCollision(RuntimeError):
    """Two different schemas hashed to one id (never seen; 64 bits make it unlikely)."""


def positional(width: int) -> Columns:
    """The names rows without a schema get: ``f0`` … ``f{width-1}``, numerical."""
    return tuple(Column(f"f{i}") for i in range(width))


@functools.lru_cache(maxsize=1024)
def schema_id(model_name: str, columns: tuple[Column, ...]) -> int:
    """The id of a model's schema: the first 8 bytes of a SHA-256 of both, as a signed BIGINT.

    Derived rather than allocated, so a process knows the id without a round trip and every
    process stores the same schema under the same id. Remembered: every call stores one.
    """
    canonical = json.dumps(
        [model_name, [[c.name, c.kind] for c in columns]], ensure_ascii=False, separators=(",", ":")
    )
    digest = hashlib.sha256(canonical.encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


_SELECT = select(
    col(FeatureSchemaRow.id), col(FeatureSchemaRow.model_name), col(FeatureSchemaRow.features)
)


def _as_json(columns: Sequence[Column]) -> list[dict[str, str]]:
    return [{"name": c.name, "kind": c.kind} for c in columns]


def _from_json(features: Sequence[Mapping[str, str]]) -> Columns:
    return tuple(Column(f["name"], f["kind"]) for f in features)


async def ensure_schemas(
    session: AsyncSession, *, schemas: Mapping[int, tuple[str, Columns]]
) -> None:
    """Store these schemas (id → model name and columns) unless stored already.

    In the caller's transaction, so a prediction never refers to a schema that is not
    committed with it. ``SchemaCollision`` if an id is stored with other contents.
    """
    if not schemas:
        return
    dialect = session.get_bind().dialect.name
    upsert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    values = [
        {"id": key, "model_name": model, "features": _as_json(columns)}
        for key, (model, columns) in schemas.items()
    ]
    statement = (
        upsert(FeatureSchemaRow)
        .values(values)
        .on_conflict_do_nothing()
        .returning(col(FeatureSchemaRow.id))
    )
    inserted = set((await session.scalars(statement)).all())
    existing = [key for key in schemas if key not in inserted]
    if not existing:
        return
    rows = await session.execute(_SELECT.where(col(FeatureSchemaRow.id).in_(existing)))
    for key, model, features in rows:
        if (model, _from_json(features)) != schemas[key]:
            raise SchemaCollision(f"schema id {key} is stored for another schema")


@dataclass(frozen=True, slots=True)
class Catalog:
    """Stored schemas, to name stored rows by.

    ``legacy`` maps (model, width) to the schema that names that model's rows without one.
    """

    by_id: dict[int, Columns] = field(default_factory=dict)
    legacy: dict[tuple[str, int], int] = field(default_factory=dict)

    def effective_id(self, model_name: str, stored: int | None, width: int) -> int | None:
        """The schema naming a row: its own, else its model's legacy one, else none."""
        if stored is not None:
            return stored
        return self.legacy.get((model_name, width))

    def columns(self, model_name: str, stored: int | None, width: int) -> Columns:
        """The names and kinds of a stored row's values."""
        key = self.effective_id(model_name, stored, width)
        found = self.by_id.get(key) if key is not None else None
        return found if found is not None and len(found) == width else positional(width)


async def load_catalog(
    session: AsyncSession, *, model_names: Collection[str] | None = None
) -> Catalog:
    """The schemas of these models (all models when ``None``). A few rows per model."""
    statement = _SELECT.order_by(col(FeatureSchemaRow.created_at), col(FeatureSchemaRow.id))
    if model_names is not None:
        statement = statement.where(col(FeatureSchemaRow.model_name).in_(list(model_names)))
    catalog = Catalog()
    for key, model, features in await session.execute(statement):
        columns = _from_json(features)
        catalog.by_id[key] = columns
        if all(c.kind == NUMERICAL for c in columns):
            catalog.legacy.setdefault((model, len(columns)), key)
    return catalog


def distinct_schemas(
    pairs: Iterable[tuple[str, Columns | None]],
) -> dict[int, tuple[str, Columns]]:
    """Id → (model, columns) for each distinct schema among (model, columns) pairs."""
    return {schema_id(model, columns): (model, columns) for model, columns in pairs if columns}
