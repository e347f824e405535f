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
    """200 when the database and the model server both answer, else 503 with which one failed."""
    database_ok, model_ok = await asyncio.gather(
        db.ping(request.state.engine), request.state.model.ready()
    )
    checks = {"database": _word(database_ok), "model": _word(model_ok)}
    ready = database_ok and model_ok
    return JSONResponse(
        {"status": "ok" if ready else "unavailable", "checks": checks},
        status_code=200 if ready else 503,
    )


def _word(ok: bool) -> str:
    return "ok" if ok else "unavailable"
