"""Kubernetes probes: ``/healthz`` (the process is up) and ``/readyz`` (it can do its job)."""

from __future__ import annotations

import asyncio
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse

import db
from graph.migrations import DATABASE_ERRORS, SchemaGuard

__all__ = ["database_status", "healthz", "readyz"]


async def healthz(request: Request) -> JSONResponse:
    return JSONResponse({"status": "ok"})


async def readyz(request: Request) -> JSONResponse:
    """200 when the database (migrated to this release) and every model answer, else 503
    saying which one failed; a schema that is behind gets a message saying what to do.

    With a read replica (``MLGRAPH_DATABASE_READ_URL``) it is reported as ``readDatabase``.
    A replica that does not answer makes the status ``degraded`` but keeps the 200: classify
    needs only the primary, and taking every pod out of its Service would turn a monitoring
    outage into a classify outage. History and statistics fail with STORAGE_UNAVAILABLE
    meanwhile.
    """
    state = request.state
    entries = state.models.entries
    read_engine = state.read_engine
    (database, problem), read_ok, *models_ok = await asyncio.gather(
        database_status(state.schema),
        db.ping(read_engine) if read_engine is not None else _true(),
        *(entry.client.ready() for entry in entries),
    )
    checks: dict[str, object] = {"database": database}
    if read_engine is not None:
        checks["readDatabase"] = _word(read_ok)
    checks["models"] = {entry.name: _word(ok) for entry, ok in zip(entries, models_ok, strict=True)}
    ready = database == "ok" and all(models_ok)
    status = "unavailable" if not ready else "ok" if read_ok else "degraded"
    body: dict[str, Any] = {"status": status, "checks": checks}
    if problem is not None:
        body["message"] = problem
    return JSONResponse(body, status_code=200 if ready else 503)


async def database_status(schema: SchemaGuard) -> tuple[str, str | None]:
    """``ok``, ``unavailable`` or ``not_migrated`` (with what to do)."""
    try:
        state = await schema.check()
    except DATABASE_ERRORS:
        return "unavailable", None
    problem = state.problem(say_where=False)
    return ("ok", None) if problem is None else ("not_migrated", problem)


async def _true() -> bool:
    return True


def _word(ok: bool) -> str:
    return "ok" if ok else "unavailable"
