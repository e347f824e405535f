"""Kubernetes probes: ``/healthz`` (the process is up) and ``/readyz`` (it can do its job)."""

from __future__ import annotations

import asyncio
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse

from graph.migrations import DATABASE_ERRORS, SchemaGuard

__all__ = ["healthz", "readyz"]


async def healthz(request: Request) -> JSONResponse:
    return JSONResponse({"status": "ok"})


async def readyz(request: Request) -> JSONResponse:
    """200 when the database (migrated to this release) and every model answer, else 503
    saying which one failed; a schema that is behind gets a message saying what to do."""
    entries = request.state.models.entries
    (database, problem), *models_ok = await asyncio.gather(
        _database(request.state.schema), *(entry.client.ready() for entry in entries)
    )
    checks = {
        "database": database,
        "models": {entry.name: _word(ok) for entry, ok in zip(entries, models_ok, strict=True)},
    }
    ready = database == "ok" and all(models_ok)
    body: dict[str, Any] = {"status": "ok" if ready else "unavailable", "checks": checks}
    if problem is not None:
        body["message"] = problem
    return JSONResponse(body, status_code=200 if ready else 503)


async def _database(schema: SchemaGuard) -> tuple[str, str | None]:
    """``ok``, ``unavailable`` or ``not_migrated`` (with what to do)."""
    try:
        state = await schema.check()
    except DATABASE_ERRORS:
        return "unavailable", None
    problem = state.problem(say_where=False)
    return ("ok", None) if problem is None else ("not_migrated", problem)


def _word(ok: bool) -> str:
    return "ok" if ok else "unavailable"
