"""Kubernetes probes: ``/healthz`` (the process is up) and ``/readyz`` (it can do its job)."""

from __future__ import annotations

import asyncio

from starlette.requests import Request
from starlette.responses import JSONResponse

import db

__all__ = ["healthz", "readyz"]


async def healthz(request: Request) -> JSONResponse:
    return JSONResponse({"status": "ok"})


async def readyz(request: Request) -> JSONResponse:
    """200 when the database and every model answer, else 503 saying which one failed."""
    entries = request.state.models.entries
    database_ok, *models_ok = await asyncio.gather(
        db.ping(request.state.engine), *(entry.client.ready() for entry in entries)
    )
    checks = {
        "database": _word(database_ok),
        "models": {entry.name: _word(ok) for entry, ok in zip(entries, models_ok, strict=True)},
    }
    ready = database_ok and all(models_ok)
    return JSONResponse(
        {"status": "ok" if ready else "unavailable", "checks": checks},
        status_code=200 if ready else 503,
    )


def _word(ok: bool) -> str:
    return "ok" if ok else "unavailable"
