"""The plain-HTTP routes' errors: what ``with_code`` does for GraphQL, for one exception, and
the error bodies of the protocols mlgraph speaks (Seldon v1, Open Inference Protocol V2)."""

from __future__ import annotations

import functools
import logging
import math
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

from graph.errors import AppError, BadUserInput, storage_error
from graph.metrics import record_route
from mlclient.seldon_messages import MessageError

__all__ = [
    "RouteCall",
    "as_app_error",
    "coded_error",
    "protocol_error_body",
    "protocol_route",
    "seldon_error",
    "seldon_error_body",
    "v2_error",
    "v2_error_body",
]

logger = logging.getLogger("mlgraph.routes")


async def as_app_error(request: Request, error: Exception) -> AppError:
    """``error`` as the ``AppError`` to answer with; anything else is re-raised (a bug)."""
    stored = storage_error(error, await request.state.schema.problem())
    if stored is not None:
        return stored
    if isinstance(error, AppError):
        return error
    raise error


async def coded_error(request: Request, error: Exception) -> AppError:
    """``as_app_error`` for a protocol route, which must answer in its protocol's shape
    whatever happened: a message it cannot read is ``BAD_USER_INPUT``, and anything unexpected
    is logged and answered as ``INTERNAL``."""
    if isinstance(error, MessageError):
        return BadUserInput(str(error), argument=error.field)
    try:
        return await as_app_error(request, error)
    except Exception:
        logger.error("unexpected error", exc_info=error)
        return AppError("internal server error")


@dataclass(slots=True)
class RouteCall:
    """What a protocol route's handler learned of its call, for the count and the log line."""

    model: str | None = None


Endpoint = Callable[[Request], Awaitable[Response]]
Handler = Callable[[Request, RouteCall], Awaitable[Response]]


def protocol_route(
    route: str, failure: Callable[[AppError], Response]
) -> Callable[[Handler], Endpoint]:
    """Make ``handler`` a protocol route named ``route``: whatever it raises is answered as
    ``failure`` shapes that protocol's errors (``coded_error``), and every call is counted and
    logged with its model and outcome (``graph.metrics.record_route``)."""

    def wrap(handler: Handler) -> Endpoint:
        @functools.wraps(handler)
        async def endpoint(request: Request) -> Response:
            call = RouteCall()
            try:
                response = await handler(request, call)
            except Exception as exc:
                error = await coded_error(request, exc)
                record_route(request, route, error.code, model=call.model)
                return failure(error)
            record_route(request, route, "ok", model=call.model)
            return response

        return endpoint

    return wrap


def seldon_error_body(message: str, code: str, status: int) -> bytes:
    """Seldon's ``Status`` as its executor and Python wrapper answer a failure; the code is the
    ``reason``. Nothing else beside it: SeldonClient reads error answers as a ``SeldonMessage``
    proto, which refuses unknown fields."""
    failure = {"code": status, "info": message, "reason": code, "status": "FAILURE"}
    return orjson.dumps({"status": failure})


def v2_error_body(message: str, code: str, **details: Any) -> bytes:
    """The Open Inference Protocol's ``{"error": message}``, with the code and the error's other
    details (``argument``, ``row``, ``feature``, …) beside it."""
    return orjson.dumps({"error": message, "code": code, **details})


def seldon_error(error: AppError) -> Response:
    body = seldon_error_body(str(error), error.code, error.http_status)
    return _response(body, error)


def v2_error(error: AppError) -> Response:
    details = {k: v for k, v in error.extensions.items() if k != "code"}
    return _response(v2_error_body(str(error), error.code, **details), error)


def _response(body: bytes, error: AppError) -> Response:
    headers = {}
    retry_after = error.extensions.get("retryAfter")
    if isinstance(retry_after, int | float):
        headers["retry-after"] = str(max(1, math.ceil(retry_after)))
    return Response(
        body, status_code=error.http_status, media_type="application/json", headers=headers
    )


def protocol_error_body(path: str, message: str, code: str, status: int) -> bytes | None:
    """The error body a request to ``path`` gets from a middleware (an oversized body), in its
    protocol's shape; ``None`` for the GraphQL paths, which have their own."""
    if path.startswith("/v2/") or path == "/v2":
        return v2_error_body(message, code)
    if path.startswith(("/api/v1.0/", "/seldon/")):
        return seldon_error_body(message, code, status)
    return None
