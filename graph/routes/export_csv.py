"""``GET /export.csv?since=…&until=…[&model=…]``: the export as CSV, streamed (graph/export.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime

from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse

import db
from db import export as queries
from graph.auth import Scope, authorize
from graph.errors import BadUserInput
from graph.export import csv_chunks
from graph.routes._errors import as_app_error
from graph.validation import utc

__all__ = ["export_csv"]


async def export_csv(request: Request) -> Response:
    try:
        await authorize(request, Scope.READ)
        since, until = (_date(request, name) for name in ("since", "until"))
    except Exception as exc:
        error = await as_app_error(request, exc)
        return JSONResponse(
            {"error": str(error), "code": error.code}, status_code=error.http_status
        )
    model = request.query_params.get("model")
    sessions: db.Sessions = request.state.read_sessions
    async with sessions() as session:
        try:
            plan = await queries.plan_export(session, since=since, until=until, model_name=model)
        except queries.ExportConflict as exc:
            return JSONResponse({"error": str(exc), "code": BadUserInput.code}, status_code=400)

    async def body() -> AsyncIterator[str]:
        async with sessions() as session:
            batches = queries.stream_export_rows(
                session, since=since, until=until, model_name=model
            )
            async for chunk in csv_chunks(plan, batches):
                yield chunk

    return StreamingResponse(body(), media_type="text/csv")


def _date(request: Request, name: str) -> datetime:
    value = request.query_params.get(name)
    if not value:
        raise BadUserInput(
            f"{name} is required: /export.csv?since=2026-03-01&until=2026-03-08 (ISO 8601; "
            "since inclusive, until exclusive)",
            argument=name,
        )
    try:
        parsed = utc(datetime.fromisoformat(value), argument=name)
    except ValueError as exc:
        raise BadUserInput(
            f"{name} must be an ISO 8601 date or time, e.g. 2026-03-01, not {value[:40]!r}",
            argument=name,
        ) from exc
    assert parsed is not None
    return parsed
