"""Structured logs: one JSON line per request, carrying a request id the caller can quote.

The id comes from the caller's ``X-Request-ID`` (a load balancer or the client) or is made
here, and is sent back in the response's ``X-Request-ID``. GraphQL requests add their operation
and outcome, the Seldon and V2 routes their route, model and outcome. Bodies, feature values,
headers and keys are never logged.
"""

from __future__ import annotations

import json
import logging
import random
import re
import time
from typing import Any

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["JsonFormatter", "RequestLog", "lean_log_records", "logging_config"]

logger = logging.getLogger("mlgraph.request")

# Echoed into logs and headers, so only a safe, short alphabet is accepted from callers.
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


class JsonFormatter(logging.Formatter):
    """One JSON object per line; ``extra={"fields": {...}}`` adds keys to it.

    At the default level every classify call writes a line, so the line is cheap to make:
    orjson rather than the json module, and the time's text up to the second made once per
    second (together 8.0 -> 1.9 µs a line, bench/RESULTS.md).
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # (whole second, its text): one tuple, so that a reader never sees half an update.
        self._second: tuple[int, str] = (-1, "")

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": self._utc_time(record),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
            # With several uvicorn workers their lines interleave: the process tells them apart.
            "pid": record.process,
        }
        entry.update(getattr(record, "fields", {}))
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        try:
            return orjson.dumps(entry, default=str).decode()
        except orjson.JSONEncodeError:
            # What orjson refuses and json takes (an integer beyond 64 bits, a key that is
            # not a string): a log line must never fail.
            return json.dumps(entry, default=str)

    def _utc_time(self, record: logging.LogRecord) -> str:
        second = int(record.created)
        cached_second, text = self._second
        if cached_second != second:
            text = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
            self._second = (second, text)
        return f"{text}.{int(record.msecs):03d}Z"


def logging_config(level: str) -> dict[str, Any]:
    """A ``logging.config.dictConfig`` for uvicorn: JSON everywhere, one line per request.

    httpx's line per model call ("HTTP Request: POST ...") is held at warning: the model's
    outcome is in the request's line and the metrics, and httpx's line, written at info for
    every call to the model, cost 2.4 % of the instructions of a lone classify call
    (bench/RESULTS.md). uvicorn's access log is switched off where uvicorn is configured
    (``mlgraph serve``: ``access_log=False``), since ``RequestLog`` writes a better line: a level
    set here would not hold, as uvicorn sets its loggers to its own ``log_level`` afterwards.
    """
    handler = {"class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stdout"}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": JsonFormatter}},
        "handlers": {"default": handler},
        "root": {"handlers": ["default"], "level": level.upper()},
        "loggers": {
            "uvicorn": {"level": level.upper()},
            "httpx": {"level": "WARNING"},
        },
    }


def lean_log_records() -> None:
    """Stop the logging module from collecting what ``JsonFormatter`` never writes.

    Each record otherwise looks up the calling frame (``findCaller``), the thread and the
    multiprocessing process name: in the profile of classify at 32 clients, logging was 6 % of
    the worker's time, about a tenth of it these lookups. The switches are the ones the Logging
    HOWTO's "Optimization" section names. The process id stays: the JSON line carries it.
    """
    logging._srcfile = None  # the HOWTO's own switch for findCaller
    logging.logThreads = False
    logging.logMultiprocessing = False


class RequestLog:
    """Logs each HTTP request as one JSON line and returns its ``X-Request-ID``."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = dict(scope["headers"]).get(b"x-request-id", b"").decode("latin-1")
        # 128 random bits from the process's generator: uuid4's read of the system's random
        # source per request showed in classify's profile, and an id needs no secrecy.
        request_id = given if _REQUEST_ID.match(given) else f"{random.getrandbits(128):032x}"
        state = scope.setdefault("state", {})
        state["request_id"] = request_id
        status = 500
        started = time.perf_counter()

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = [*message.get("headers", []), (b"x-request-id", request_id.encode())]
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            fields: dict[str, Any] = {
                "request_id": request_id,
                "method": scope["method"],
                "path": scope["path"],
                "status": status,
                "duration_ms": round((time.perf_counter() - started) * 1000, 3),
                **state.get("graphql", {}),
                **state.get("route", {}),  # the Seldon and V2 routes (graph/routes/)
            }
            logger.info("request", extra={"fields": fields})
