"""One place that turns httpx's exceptions and statuses into ``mlclient.errors``."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import unquote, urlsplit, urlunsplit

import aiohttp
import httpx
import orjson

from mlclient.errors import (
    BadModelResponse,
    ModelError,
    ModelRejectedInput,
    ModelServerError,
    ModelTimeout,
    ModelUnreachable,
)
from mlclient.models import ModelAnswer

# Enough of an error body to explain a failure without copying a whole HTML page into an error.
_DETAIL_LIMIT = 300
_JSON = {"content-type": "application/json"}

# A protocol's rule for "this answer refuses the input" (see ``is_refusal`` in seldon.py, v2.py).
Refusal = Callable[[httpx.Response], bool]


async def exchange_json(
    http: httpx.AsyncClient,
    method: str,
    url: str | httpx.URL,
    *,
    body: Any = None,
    timeout: httpx.Timeout | None = None,
    headers: Mapping[str, str] | None = None,
    is_refusal: Refusal | None = None,
    detail: Callable[[httpx.Response], str] | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
) -> ModelAnswer:
    """Send one request and return its answer: the bytes beside their decoded JSON, or raise a
    ``ModelError``.

    ``headers`` are added to the client's own, e.g. ``Seldon-Model`` for a Seldon Core v2 mesh.
    An error status is ``ModelRejectedInput`` when ``is_refusal`` says so (default: 400, 413
    and 422), else ``ModelServerError``; ``detail`` picks the server's message out of its body.
    ``transport``, the one ``http`` was made with, sends the request past the client's own
    layers (see ``send_through``).
    """
    # orjson for the hot path: bodies are small, and the json module's encoder and httpx's
    # charset sniffing of every answer showed in classify's profile.
    content = None if body is None else orjson.dumps(body)
    if body is not None:
        headers = {**_JSON, **(headers or {})}
    try:
        if transport is None:
            response = await http.request(
                method,
                url,
                content=content,
                headers=headers,
                timeout=timeout if timeout is not None else httpx.USE_CLIENT_DEFAULT,
            )
        else:
            response = await send_through(
                transport, http, method, url, content=content, headers=headers, timeout=timeout
            )
    except httpx.TransportError as exc:
        raise transport_failure(exc) from exc
    if response.status_code >= 400:
        text = (detail or plain_detail)(response)
        if (is_refusal or refused_by_status)(response):
            raise ModelRejectedInput(response.status_code, text)
        raise ModelServerError(response.status_code, text)
    try:
        return ModelAnswer(response.content, orjson.loads(response.content))
    except orjson.JSONDecodeError as exc:
        raise BadModelResponse(
            f"model server answered with a body that is not JSON: {plain_detail(response)!r}"
        ) from exc


async def send_through(
    transport: httpx.AsyncBaseTransport,
    http: httpx.AsyncClient,
    method: str,
    url: str | httpx.URL,
    *,
    content: bytes | None,
    headers: Mapping[str, str] | None,
    timeout: httpx.Timeout | None,
) -> httpx.Response:
    """The request ``http.request`` would send, sent by ``transport`` itself, read and closed.

    The client's layers around its transport (auth and redirect flows, event hooks, cookie
    jar, the bound response stream) serve features mlgraph's model clients never turn on;
    skipping them took 7 % of a lone classify call's instructions and 3 % at 16 clients
    (bench/instructions.py, bench/RESULTS.md). The client's headers and timeout still apply.
    Tracing wraps the transport itself (graph/middleware/tracing.py): both ways are traced.
    """
    merged = http.headers.copy()
    if headers:
        merged.update(headers)
    request = httpx.Request(
        method,
        url,
        content=content,
        headers=merged,
        extensions={"timeout": (timeout or http.timeout).as_dict()},
    )
    response = await transport.handle_async_request(request)
    try:
        await response.aread()
    finally:
        await response.aclose()
    return response


def refused_by_status(response: httpx.Response) -> bool:
    """The statuses every HTTP server uses for "I read your request and refuse its content"."""
    return response.status_code in (400, 413, 422)


def plain_detail(response: httpx.Response) -> str:
    return response.text[:_DETAIL_LIMIT]


def json_field(response: httpx.Response, *path: str) -> Any:
    """The value at ``path`` in a JSON error body, or ``None`` (not JSON, or not there)."""
    try:
        value: Any = orjson.loads(response.content)
    except orjson.JSONDecodeError:
        return None
    for key in path:
        if not isinstance(value, dict):
            return None
        value = value.get(key)
    return value


def transport_failure(exc: httpx.TransportError) -> ModelError:
    """The real cause of a failed exchange, as the ``ModelError`` retries and the breaker use.

    httpx-aiohttp raises every aiohttp connection error as ``httpx.ConnectTimeout`` (a refused
    connection and a server that hung up included), so the cause is read from the aiohttp
    exception it chains; httpx's own transport (and mock transports) raise precise types.
    """
    cause = exc.__cause__
    if isinstance(cause, aiohttp.ClientError):
        return _aiohttp_failure(cause)
    if isinstance(exc, httpx.ConnectTimeout):
        # No connection was made, so nothing reached the model: as safe to retry as a refusal.
        return ModelUnreachable("timed out connecting to the model server")
    if isinstance(exc, httpx.TimeoutException):
        return ModelTimeout(f"model server did not answer in time ({type(exc).__name__})")
    if isinstance(exc, httpx.ConnectError):
        return ModelUnreachable(f"cannot connect to the model server: {_reason(exc)}")
    return ModelUnreachable(f"cannot reach the model server: {_reason(exc)}")


def _aiohttp_failure(cause: aiohttp.ClientError) -> ModelError:
    if isinstance(cause, aiohttp.ConnectionTimeoutError):
        return ModelUnreachable("timed out connecting to the model server")
    if isinstance(cause, aiohttp.ServerTimeoutError):  # the read timeout
        return ModelTimeout("model server did not answer in time")
    if isinstance(cause, aiohttp.ClientConnectorDNSError):
        return ModelUnreachable(f"cannot resolve the model server's host {cause.host!r}")
    if isinstance(cause, aiohttp.ClientConnectorError):
        if isinstance(cause.os_error, ConnectionRefusedError):
            reason = "connection refused"
        else:
            reason = cause.os_error.strerror or str(cause.os_error)
        return ModelUnreachable(f"cannot connect to the model server: {reason}")
    if isinstance(cause, aiohttp.ServerDisconnectedError):
        # Often a kept-alive connection the server had already closed: retried like a refusal.
        return ModelUnreachable("the model server closed the connection without answering")
    if isinstance(cause, aiohttp.ClientPayloadError):
        return ModelUnreachable("the model server's answer was cut off")
    return ModelUnreachable(f"cannot reach the model server: {_reason(cause)}")


def _reason(exc: BaseException) -> str:
    return str(exc) or type(exc).__name__


def split_credentials(url: str) -> tuple[str, dict[str, str]]:
    """``url`` without ``user:password@``, and the Basic ``Authorization`` header they mean.

    Sent as a header rather than left in the URL: the aiohttp transport refuses a URL holding
    credentials beside the header httpx makes of them ("Cannot combine AUTHORIZATION header
    with ... credentials encoded in URL").
    """
    parts = urlsplit(url)
    if parts.username is None:
        return url, {}
    auth = httpx.BasicAuth(unquote(parts.username), unquote(parts.password or ""))
    header = next(auth.auth_flow(httpx.Request("GET", "http://x"))).headers["authorization"]
    netloc = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=netloc)), {"authorization": header}


def safe_url(url: str) -> str:
    """``url`` for logs: no user, password, query or fragment (they may hold credentials)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:  # IPv6
        host = f"[{host}]"
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


async def probe(
    http: httpx.AsyncClient,
    url: str,
    *,
    timeout: float,
    headers: Mapping[str, str] | None = None,
) -> bool:
    """True when ``GET url`` answers 2xx within ``timeout`` seconds."""
    try:
        response = await http.get(url, headers=headers, timeout=timeout)
    except httpx.HTTPError:
        return False
    return response.is_success
