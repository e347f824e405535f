"""An httpx transport in front of a real one: records what reaches the model, injects faults.

The model server behind it is real; this only watches the requests (the rows each one carried)
and, when a test asks, holds them (``gate``) or refuses some with a 422 (``refuse``), the faults
a live server cannot be made to produce on cue.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import httpx

__all__ = ["Recording", "Rows", "request_rows"]

Rows = list[list[float]]


def request_rows(request: httpx.Request) -> Rows:
    """The rows of one prediction request, Seldon v1 (``ndarray``) or V2 (a flat FP64 tensor)."""
    body: dict[str, Any] = json.loads(request.content)
    if "data" in body:
        return [list(map(float, row)) for row in body["data"]["ndarray"]]
    (tensor,) = body["inputs"]
    count, width = tensor["shape"]
    flat = [float(x) for x in tensor["data"]]
    return [flat[i * width : (i + 1) * width] for i in range(count)]


class Recording(httpx.AsyncBaseTransport):
    """Sends through ``httpx.AsyncHTTPTransport`` and keeps the rows of every prediction call.

    Parameters:
        gate: while it is not set, prediction calls wait (after being recorded).
        refuse: rows for which the "model" answers 422 instead of forwarding.
    """

    def __init__(
        self,
        *,
        gate: asyncio.Event | None = None,
        refuse: Callable[[Rows], bool] | None = None,
    ) -> None:
        self.inner = httpx.AsyncHTTPTransport()
        self.gate = gate
        self.refuse = refuse
        self.requests: list[Rows] = []
        self.names: list[list[str] | None] = []  # each Seldon request's data.names, if any
        self._arrived = asyncio.Event()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.method == "POST":
            await request.aread()
            rows = request_rows(request)
            self.requests.append(rows)
            self.names.append(json.loads(request.content).get("data", {}).get("names"))
            self._arrived.set()
            if self.gate is not None:
                await self.gate.wait()
            if self.refuse is not None and self.refuse(rows):
                return httpx.Response(422, text="refused by the test")
        return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self.inner.aclose()

    async def wait_for(self, count: int, *, seconds: float = 30.0) -> None:
        """Until ``count`` prediction calls have arrived (fails after ``seconds``)."""
        async with asyncio.timeout(seconds):
            while len(self.requests) < count:
                self._arrived.clear()
                await self._arrived.wait()
