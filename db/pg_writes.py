"""Group commit's PostgreSQL path: one batch of classify calls in one transaction, lean.

``store_calls`` through an ORM session spent most of a lone call's database time in Python
(session, unit of work, statement compilation, parameter processing): about 1.15 ms of CPU
for one transaction against 0.47 ms for the same statements on the pooled connection's asyncpg
driver (bench/RESULTS.md). ``write_calls`` checks a connection out of the engine's pool, and
sends hand-written statements whose text does not depend on the batch's size (rows travel as
arrays, ``unnest`` makes them rows), so asyncpg prepares each once per connection and reuses it.

It keeps every guarantee of ``db.predictions.store_calls``: the same rows, schemas stored first
in the same transaction, request ids claimed by ``classify_requests`` (a concurrent claim of
the same id is waited for), ``created_at`` stamped by the server, ``pg_notify`` of the rows in
the transaction (delivered on commit), and nothing stored when any statement fails.

Errors: a lost or refused connection (SQLSTATE classes 08 and 57P, asyncpg's interface errors,
``OSError``, a timeout) is raised as SQLAlchemy's ``OperationalError``, one of
``db.STORAGE_ERRORS``, after the connection is invalidated and the pool's other connections,
made before the loss, are replaced, as SQLAlchemy does for its own statements
(``db.engine``). Anything else the database refuses (a NUL in a label, say) is raised as it
is, so that the writer retries the batch call by call.

``through_sqlalchemy=True`` sends the same statements through SQLAlchemy's connection instead,
so that its events see them (tracing gives each statement a span), at some cost in CPU.

PgBouncer: with the statement caches off (``db.driver_options``) asyncpg uses unnamed
statements for ``fetch`` and ``execute``; nothing here prepares a named statement.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence, Set
from datetime import datetime
from typing import Any

import asyncpg  # type: ignore[import-untyped]  # no stubs upstream
from sqlalchemy import exc
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from db.features import Columns, SchemaCollision, distinct_schemas
from db.notify import CHANNEL, encode_notices, notices_of
from db.predictions import NewCall
from db.tables import Prediction

__all__ = ["write_calls"]

_COLUMNS = (
    "id",
    "model_name",
    "model_version",
    "features",
    "schema_id",
    "label",
    "probabilities",
    "latency_ms",
    "request_id",
    "row_index",
)
_TYPES = ("uuid", "text", "text", "jsonb", "int8", "text", "json", "float8", "text", "int4")
INSERT_PREDICTIONS = (
    f"INSERT INTO predictions ({', '.join(_COLUMNS)}) "
    f"SELECT * FROM unnest({', '.join(f'${i}::{t}[]' for i, t in enumerate(_TYPES, 1))}) "
    "RETURNING id, created_at"
)
CLAIM_REQUEST_IDS = (
    "INSERT INTO classify_requests (request_id) SELECT unnest($1::text[]) "
    "ON CONFLICT DO NOTHING RETURNING request_id"
)
INSERT_SCHEMAS = (
    "INSERT INTO feature_schemas (id, model_name, features) "
    "SELECT * FROM unnest($1::int8[], $2::text[], $3::json[]) "
    "ON CONFLICT DO NOTHING RETURNING id"
)
SELECT_SCHEMAS = "SELECT id, model_name, features FROM feature_schemas WHERE id = ANY($1::int8[])"
NOTIFY = "SELECT pg_notify($1, payload) FROM unnest($2::text[]) AS payload"

# SQLSTATE classes of a connection the server ended or refused (as in db.engine).
_CONNECTION_LOST = ("08", "57P")
# What errors name as the failed statement.
_STATEMENTS = "INSERT INTO predictions ... (a batch of classify calls)"


async def write_calls(
    engine: AsyncEngine,
    *,
    calls: Sequence[NewCall],
    known_schemas: Set[int] = frozenset(),
    notify: bool = False,
    through_sqlalchemy: bool = False,
) -> list[list[Prediction] | None]:
    """Store the calls' rows in one transaction and return, per call, its rows in input order
    (``None`` for a call whose request id was taken), as ``db.predictions.store_calls`` does.

    ``notify`` announces the stored rows on ``db.notify.CHANNEL`` in the transaction.
    """
    lost: BaseException | None = None
    async with engine.connect() as connection:
        if through_sqlalchemy:
            async with connection.begin():
                return await _store(_Alchemy(connection), calls, known_schemas, notify)
        driver: Any = (await connection.get_raw_connection()).driver_connection
        try:
            async with driver.transaction():
                return await _store(_Driver(driver), calls, known_schemas, notify)
        except (
            asyncpg.PostgresError,
            asyncpg.InterfaceError,
            asyncpg.InternalClientError,
            OSError,
            TimeoutError,
        ) as error:
            if not _is_connection_lost(error, driver):
                # Refused by the database: raised as SQLAlchemy would (graph/errors.py reads a
                # DBAPIError on a schema behind head as "run mlgraph migrate").
                raise exc.DBAPIError(_STATEMENTS, None, error) from error
            await connection.invalidate(error)
            lost = error
        except BaseException:
            # Cancelled, or failed in a way not read above: the connection's state is unknown,
            # and the pool must never hand out a connection mid-transaction or mid-statement
            # (its reset would not end either).
            if not driver.is_closed():
                await connection.invalidate()
            raise
    # The connections made before this one are as dead: replaced, rather than each failing a
    # batch in turn.
    assert lost is not None
    await engine.dispose()
    raise exc.OperationalError(_STATEMENTS, None, lost, connection_invalidated=True) from lost


async def _store(
    statements: _Statements, calls: Sequence[NewCall], known: Set[int], notify: bool
) -> list[list[Prediction] | None]:
    schemas = distinct_schemas(
        (c.model_name, c.schema) for c in calls if c.schema and c.schema_id not in known
    )
    if schemas:
        await _ensure_schemas(statements, schemas)
    wanted = [c.request_id for c in calls if c.request_id is not None]
    taken: set[str] = set()
    if wanted:
        claimed = await statements.fetch(CLAIM_REQUEST_IDS, list(dict.fromkeys(wanted)))
        taken = {row[0] for row in claimed}

    results: list[list[Prediction] | None] = []
    columns: list[list[Any]] = [[] for _ in _COLUMNS]
    ids, model_names, versions, features, schema_ids, labels, probabilities = columns[:7]
    latencies, request_ids, indexes = columns[7:]
    for call in calls:
        if call.request_id is not None:
            if call.request_id not in taken:
                results.append(None)
                continue
            taken.discard(call.request_id)  # a second call with the same id is a duplicate
        stored: list[Prediction] = []
        call_schema = call.schema_id
        for index, row in enumerate(call.rows):
            row_id = uuid.uuid4()
            # Numbers as floats, strings as they are: the JSON keeps which is which.
            values = [x if isinstance(x, str) else float(x) for x in row.features]
            ids.append(row_id)
            model_names.append(call.model_name)
            versions.append(call.model_version)
            features.append(json.dumps(values))
            schema_ids.append(call_schema)
            labels.append(row.label)
            probabilities.append(
                None if row.probabilities is None else json.dumps(row.probabilities)
            )
            latencies.append(call.latency_ms)
            request_ids.append(call.request_id)
            indexes.append(index)
            stored.append(
                Prediction(  # type: ignore[call-arg]  # created_at: the stamp, set below
                    id=row_id,
                    model_name=call.model_name,
                    model_version=call.model_version,
                    features=values,
                    schema_id=call_schema,
                    label=row.label,
                    probabilities=row.probabilities,
                    latency_ms=call.latency_ms,
                    request_id=call.request_id,
                    row_index=index,
                )
            )
        results.append(stored)
    if not ids:
        return results
    stamps: dict[uuid.UUID, datetime] = {
        row_id: stamp for row_id, stamp in await statements.fetch(INSERT_PREDICTIONS, *columns)
    }
    written = [row for stored_rows in results for row in stored_rows or ()]
    for prediction in written:
        prediction.created_at = stamps[prediction.id]
    if notify:
        await statements.fetch(NOTIFY, CHANNEL, encode_notices(notices_of(written)))
    return results


async def _ensure_schemas(statements: _Statements, schemas: dict[int, tuple[str, Columns]]) -> None:
    # As db.features.ensure_schemas: stored once, and an id stored for another schema refused.
    keys = list(schemas)
    models = [model for model, _ in schemas.values()]
    features = [
        json.dumps([{"name": c.name, "kind": c.kind} for c in columns])
        for _, columns in schemas.values()
    ]
    inserted = {row[0] for row in await statements.fetch(INSERT_SCHEMAS, keys, models, features)}
    existing = [key for key in keys if key not in inserted]
    if not existing:
        return
    for key, model, stored in await statements.fetch(SELECT_SCHEMAS, existing):
        # The pool's connections decode JSON themselves (SQLAlchemy's asyncpg codec).
        found = json.loads(stored) if isinstance(stored, str) else stored
        columns = [(c["name"], c["kind"]) for c in found]
        expected_model, expected = schemas[key]
        if (model, columns) != (expected_model, [(c.name, c.kind) for c in expected]):
            raise SchemaCollision(f"schema id {key} is stored for another schema")


class _Statements:
    async def fetch(self, sql: str, *args: Any) -> Sequence[Sequence[Any]]:
        raise NotImplementedError


class _Driver(_Statements):
    """Straight to asyncpg: its statement cache keeps each statement prepared."""

    def __init__(self, driver: Any) -> None:
        self.driver = driver

    async def fetch(self, sql: str, *args: Any) -> Sequence[Sequence[Any]]:
        rows: Sequence[Sequence[Any]] = await self.driver.fetch(sql, *args)
        return rows


class _Alchemy(_Statements):
    """Through SQLAlchemy's connection, so that its events (tracing spans) see each statement."""

    def __init__(self, connection: AsyncConnection) -> None:
        self.connection = connection

    async def fetch(self, sql: str, *args: Any) -> Sequence[Sequence[Any]]:
        result = await self.connection.exec_driver_sql(sql, args)
        return list(result.all()) if result.returns_rows else []


def _is_connection_lost(error: BaseException, driver: Any) -> bool:
    # As SQLAlchemy's asyncpg dialect (a closed connection) and db.engine (SQLSTATE) decide.
    sqlstate = getattr(error, "sqlstate", None)
    if isinstance(sqlstate, str) and sqlstate.startswith(_CONNECTION_LOST):
        return True
    if isinstance(error, asyncpg.InternalClientError):
        # The protocol is out of step with the server (a statement cut off while PostgreSQL
        # shuts down leaves it "in progress"): the connection is as good as lost.
        return True
    return isinstance(error, OSError | TimeoutError) or bool(driver.is_closed())
