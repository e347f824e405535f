"""Group commit's PostgreSQL path: one batch of classify calls in one transaction, lean.

``store_calls`` through an ORM session spent most of a lone call's database time in Python
(session, unit of work, statement compilation, parameter processing): about 1.15 ms of CPU
for one transaction against 0.47 ms for the same statements on the pooled connection's asyncpg
driver (bench/RESULTS.md). ``write_calls`` checks a connection out of the engine's pool, and
sends hand-written statements whose text does not depend on the batch's size (rows travel as
arrays, ``unnest`` makes them rows), so asyncpg prepares each once per connection and reuses it.
A batch whose feature schemas this process has stored before, nearly every one, is a single
statement (``STORE_CALLS``) and so its own transaction; one with a new schema stores it first,
in an explicit transaction with the rest.

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
from sqlalchemy.pool import PoolProxiedConnection
from sqlalchemy.util import greenlet_spawn

from db.engine import CONNECTION_LOST_SQLSTATES
from db.features import Columns, SchemaCollision, distinct_schemas
from db.notify import CHANNEL, notice_chunks
from db.predictions import NewCall, StoredPrediction

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
_ROWS = ", ".join(f"${i}::{t}[]" for i, t in enumerate(_TYPES, 1))
# The whole batch in one statement, so one round trip and, outside a transaction, one implicit
# commit: claim the request ids, insert the rows of the calls whose id was claimed (or that
# have none), announce them, and answer the stored rows' stamps and the ids claimed. Measured
# against BEGIN, claim, INSERT, NOTIFY and COMMIT sent one by one: each round trip waits its
# turn on a busy event loop, and the writer commits one batch at a time (bench/RESULTS.md).
STORE_CALLS = f"""
WITH claimed AS (
    INSERT INTO classify_requests (request_id) SELECT unnest(${len(_TYPES) + 1}::text[])
    ON CONFLICT DO NOTHING RETURNING request_id
), stored AS (
    INSERT INTO predictions ({", ".join(_COLUMNS)})
    SELECT * FROM unnest({_ROWS}) AS r({", ".join(_COLUMNS)})
    WHERE r.request_id IS NULL OR r.request_id IN (SELECT request_id FROM claimed)
    RETURNING id, model_name, label, created_at
), notices AS (
    SELECT pg_notify(${len(_TYPES) + 2}, payload) FROM (
        SELECT json_agg(
            json_build_array(s.id, s.model_name, s.label, s.created_at) ORDER BY c.position
        )::text AS payload
        FROM stored AS s
        JOIN unnest($1::uuid[], ${len(_TYPES) + 3}::int4[]) WITH ORDINALITY
            AS c(id, chunk, position) USING (id)
        -- Without notify no chunks are sent, and unnest pads the missing ones with NULL.
        WHERE c.chunk IS NOT NULL
        GROUP BY c.chunk ORDER BY c.chunk
    ) AS chunks
)
-- The count is what runs the notices: a CTE without data changes runs only when read.
SELECT id, created_at, NULL, (SELECT count(*) FROM notices) FROM stored
UNION ALL SELECT NULL, NULL, request_id, NULL FROM claimed
"""
INSERT_SCHEMAS = (
    "INSERT INTO feature_schemas (id, model_name, features) "
    "SELECT * FROM unnest($1::int8[], $2::text[], $3::json[]) "
    "ON CONFLICT DO NOTHING RETURNING id"
)
SELECT_SCHEMAS = "SELECT id, model_name, features FROM feature_schemas WHERE id = ANY($1::int8[])"

# What errors name as the failed statement.
_STATEMENTS = "INSERT INTO predictions ... (a batch of classify calls)"
_CONNECT = "connect (for a batch of classify calls)"


async def write_calls(
    engine: AsyncEngine,
    *,
    calls: Sequence[NewCall],
    known_schemas: Set[int] = frozenset(),
    notify: bool = False,
    through_sqlalchemy: bool = False,
) -> list[list[StoredPrediction] | None]:
    """Store the calls' rows in one transaction and return, per call, its rows in input order
    (``None`` for a call whose request id was taken), as ``db.predictions.store_calls`` does.

    ``notify`` announces the stored rows on ``db.notify.CHANNEL`` in the transaction.
    """
    schemas = distinct_schemas(
        (c.model_name, c.schema) for c in calls if c.schema and c.schema_id not in known_schemas
    )
    if through_sqlalchemy:
        async with engine.connect() as connection, connection.begin():
            return await _store(_Alchemy(connection), calls, schemas, notify)
    # The pool's connection itself, not an AsyncConnection around it: checking one out and in
    # took three greenlet switches and a shielded task per batch (78 µs of CPU, timeit), this
    # takes two switches.
    pooled = await _check_out(engine)
    driver: Any = pooled.driver_connection
    try:
        if not schemas:
            # One statement is its own transaction: no BEGIN and COMMIT to wait for.
            return await _store(_Driver(driver), calls, schemas, notify)
        async with driver.transaction():
            return await _store(_Driver(driver), calls, schemas, notify)
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
        await greenlet_spawn(pooled.invalidate, error)
        # The connections made before this one are as dead: replaced, rather than each
        # failing a batch in turn.
        await engine.dispose()
        raise exc.OperationalError(_STATEMENTS, None, error, connection_invalidated=True) from error
    except BaseException:
        # Cancelled, or failed in a way not read above: the connection's state is unknown,
        # and the pool must never hand out a connection mid-transaction or mid-statement
        # (its reset would not end either).
        if not driver.is_closed():
            await greenlet_spawn(pooled.invalidate)
        raise
    finally:
        if pooled.is_valid:  # not invalidated above: back to the pool, nothing to roll back
            await greenlet_spawn(pooled.close)


async def _check_out(engine: AsyncEngine) -> PoolProxiedConnection:
    try:
        return await engine.raw_connection()
    except engine.dialect.loaded_dbapi.Error as error:
        # A new connection refused: the pool raises the driver adapter's own error, which
        # SQLAlchemy's handle_error (db.engine) never sees. Read as db.engine reads it.
        if _is_connection_lost(error.__cause__ or error, None):
            raise exc.OperationalError(_CONNECT, None, error) from error
        raise exc.DBAPIError(_CONNECT, None, error) from error


async def _store(
    statements: _Statements,
    calls: Sequence[NewCall],
    schemas: dict[int, tuple[str, Columns]],
    notify: bool,
) -> list[list[StoredPrediction] | None]:
    if schemas:
        await _ensure_schemas(statements, schemas)
    # A request id used twice in one batch: its first call claims it, the second is refused
    # here, as a later batch's would be by the claim.
    claims: set[str] = set()
    # Per call, where its rows start in the columns, or None when its request id is refused.
    starts: list[int | None] = []
    columns: list[list[Any]] = [[] for _ in _COLUMNS]
    ids, model_names, versions, features, schema_ids, labels, probabilities = columns[:7]
    latencies, request_ids, indexes = columns[7:]
    values: list[list[float | str]] = []  # as features, not yet as JSON
    for call in calls:
        if call.request_id is not None:
            if call.request_id in claims:
                starts.append(None)
                continue
            claims.add(call.request_id)
        starts.append(len(ids))
        call_schema = call.schema_id
        for index, row in enumerate(call.rows):
            # Numbers as floats, strings as they are: the JSON keeps which is which.
            row_values = [x if isinstance(x, str) else float(x) for x in row.features]
            ids.append(uuid.uuid4())
            model_names.append(call.model_name)
            versions.append(call.model_version)
            values.append(row_values)
            features.append(json.dumps(row_values))
            schema_ids.append(call_schema)
            labels.append(row.label)
            probabilities.append(
                None if row.probabilities is None else json.dumps(row.probabilities)
            )
            latencies.append(call.latency_ms)
            request_ids.append(call.request_id)
            indexes.append(index)
    chunks = notice_chunks(model_names, labels) if notify else []
    answer = await statements.fetch(STORE_CALLS, *columns, list(claims), CHANNEL, chunks)
    stamps: dict[uuid.UUID, datetime] = {}
    claimed: set[str] = set()
    for row_id, stamp, request_id, _ in answer:
        if request_id is None:
            stamps[row_id] = stamp
        else:
            claimed.add(request_id)
    results: list[list[StoredPrediction] | None] = []
    for call, start in zip(calls, starts, strict=True):
        if start is None or (call.request_id is not None and call.request_id not in claimed):
            results.append(None)  # a duplicate in this batch, or stored by an earlier one
            continue
        results.append(
            [
                StoredPrediction(
                    id=ids[start + index],
                    created_at=stamps[ids[start + index]],
                    model_name=call.model_name,
                    model_version=call.model_version,
                    features=values[start + index],
                    schema_id=schema_ids[start + index],
                    label=row.label,
                    probabilities=row.probabilities,
                    latency_ms=call.latency_ms,
                    request_id=call.request_id,
                    row_index=index,
                )
                for index, row in enumerate(call.rows)
            ]
        )
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


def _is_connection_lost(error: BaseException, driver: Any | None) -> bool:
    # As SQLAlchemy's asyncpg dialect (a closed connection) and db.engine (SQLSTATE) decide.
    sqlstate = getattr(error, "sqlstate", None)
    if isinstance(sqlstate, str) and sqlstate.startswith(CONNECTION_LOST_SQLSTATES):
        return True
    if isinstance(error, asyncpg.InternalClientError):
        # The protocol is out of step with the server (a statement cut off while PostgreSQL
        # shuts down leaves it "in progress"): the connection is as good as lost.
        return True
    if isinstance(error, OSError | TimeoutError):
        return True
    return driver is not None and bool(driver.is_closed())
