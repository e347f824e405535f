"""One place that turns httpx's exceptions and statuses into ``mlclient.errors``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpx
import orjson

from mlclient.errors import (
    BadModelResponse,
    ModelRejectedInput,
    ModelServerError,
    ModelTimeout,
    ModelUnreachable,
)

# Enough of an error body to explain a failure without copying a whole HTML page into an error.
_DETAIL_LIMIT = 300
_JSON = {"content-type": "application/json"}


async def send_json(
    http: httpx.AsyncClient,
    method: str,
    url: str,
    *,
    body: Any = None,
    timeout: httpx.Timeout | None = None,
    headers: Mapping[str, str] | None = None,
) -> Any:
    """Send one request and return its decoded JSON body, or raise a ``ModelError``.

    ``headers`` are added to the client's own, e.g. ``Seldon-Model`` for a Seldon Core v2 mesh.
    """
    try:
        response = await http.request(
            method,
            url,
            # orjson for the hot path: bodies are small, and the json module's encoder and
            # httpx's charset sniffing of every answer showed in classify's profile.
            content=None if body is None else orjson.dumps(body),
            headers=headers if body is None else {**_JSON, **(headers or {})},
            timeout=timeout if timeout is not None else httpx.USE_CLIENT_DEFAULT,
        )
    except httpx.ConnectTimeout as exc:
        # No connection was made, so nothing reached the model: as safe to retry as a refusal.
        raise ModelUnreachable("timed out connecting to the model server") from exc
    except httpx.TimeoutException as exc:
        raise ModelTimeout(f"model server did not answer in time ({type(exc).__name__})") from exc
    except httpx.TransportError as exc:
        raise ModelUnreachable(
            f"cannot reach the model server: {exc or type(exc).__name__}"
        ) from exc
    if response.status_code >= 500:
        raise ModelServerError(response.status_code, _detail(response))
    if response.status_code >= 400:
        raise ModelRejectedInput(response.status_code, _detail(response))
    try:
        return orjson.loads(response.content)
    except orjson.JSONDecodeError as exc:
        raise BadModelResponse(
            f"model server answered with a body that is not JSON: {_detail(response)!r}"
        ) from exc


def _detail(response: httpx.Response) -> str:
    return response.text[:_DETAIL_LIMIT]


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
