"""Adaptive batching: concurrent ``predict`` calls to one model share one model request.

For a small tabular model the cost of a call is almost all per request (HTTP, JSON, the
serving framework), not per row: the seldon-core microservice answers about 990 requests/s with
one row each and 900 with 32 (/work/shared/PERF.md). ``BatchingClient`` gathers the calls that
arrive while a model call is in flight into the next request, the shape of the database writer's
group commit (db/writer.py):

- an idle model adds no wait: a lone call goes at once, in its caller's own task;
- while a call is in flight, new calls queue; when it returns, the queue goes as one request
  (rows concatenated in arrival order, answers split back per caller);
- a batch goes early when its rows reach ``max_batch_rows``, or when its oldest call has waited
  ``max_wait`` seconds for the call in flight (so a slow model call, or a deployment with many
  replicas, never holds the others back by more than that);
- calls are only batched with calls of the same row width, the same ``features`` (the
  schema that says how rows are encoded) and the same ``outputs``, and a call is never split:
  one larger than ``max_batch_rows`` goes alone.

A call that goes alone (at once, or queued and sent by itself) carries its ``request_id`` and
gets the server's own ``answer``; a request shared by several calls carries no request id, and
each caller's share has no ``answer`` (its rows' predictions only).

Failures keep each caller's own: a batch the model refuses (``ModelRejectedInput``) or answers
unreadably (``BadModelResponse``, e.g. one caller's extreme values turning probabilities into
NaN) is retried call by call, so one caller's bad rows fail that caller alone. A model that is
down or slow (``ModelUnavailable``) fails every caller of the batch with the one error of the one
call; wrapped around ``ResilientClient``, that is one retry sequence and one failure for the
circuit breaker, however many callers shared it.

Every caller gets the batch's ``model_version`` and ``latency_ms``: the time the model took to
answer the request that carried its rows. The time a call waited in the queue is not in it;
``on_wait`` reports it.
"""

from __future__ import annotations

import asyncio
import contextvars
import time
from collections.abc import Callable, Hashable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field

from mlclient.client import ModelClient
from mlclient.errors import BadModelResponse, ModelRejectedInput
from mlclient.models import FeatureSchema, FeatureValue, ModelOutput

__all__ = ["AroundCall", "BatchingClient"]

# Wraps each model call the batcher makes: given the contexts of the callers whose rows it
# carries (the first is the one the call runs in) and its row count. The graph layer uses it for
# a tracing span that links every caller's trace, which keeps OpenTelemetry out of mlclient.
AroundCall = Callable[[Sequence[contextvars.Context], int], AbstractContextManager[object]]

# What is retried call by call: the server answered, but not for every caller's rows.
_PER_CALLER = (ModelRejectedInput, BadModelResponse)


Rows = Sequence[Sequence[FeatureValue]]


@dataclass(slots=True, eq=False)
class _Queued:
    rows: Rows
    features: FeatureSchema | None
    key: Hashable
    future: asyncio.Future[ModelOutput]
    context: contextvars.Context
    queued_at: float = field(default_factory=time.monotonic)
    request_id: str | None = None
    outputs: Sequence[str] = ()


class BatchingClient:
    """A ``ModelClient`` that coalesces concurrent calls into one call of ``inner``.

    Parameters:
        inner: the model's client, normally its ``ResilientClient``, so that retries and the
            breaker see one call per batch.
        enabled: ``False`` sends every call at once and alone, as if there were no batcher
            (the per-model switch); ``on_call`` still reports each.
        max_batch_rows: rows per model call at most (a larger call still goes, alone).
        max_wait: seconds a queued call waits for the call in flight before its batch goes
            anyway; 0 batches only what arrives in the same event-loop turn.
        on_call: told the row count of every model call made (a histogram in graph/).
        on_wait: told, for every call, the seconds it waited before its model call began
            (0 for a call that went at once).
        around_call: see ``AroundCall``; ``None`` when tracing is off.
    """

    def __init__(
        self,
        inner: ModelClient,
        *,
        enabled: bool = True,
        max_batch_rows: int = 256,
        max_wait: float = 0.01,
        on_call: Callable[[int], None] | None = None,
        on_wait: Callable[[float], None] | None = None,
        around_call: AroundCall | None = None,
    ) -> None:
        if max_batch_rows < 1 or max_wait < 0:
            raise ValueError("max_batch_rows must be at least 1 and max_wait at least 0")
        self.inner = inner
        self.name = inner.name
        self.enabled = enabled
        self.max_batch_rows = max_batch_rows
        self.max_wait = max_wait
        self.on_call = on_call
        self.on_wait = on_wait
        self.around_call = around_call
        self.calls = 0  # model calls made (tests read it)
        self._in_flight = 0
        self._queue: list[_Queued] = []  # arrival order, every key mixed
        self._queued_rows: dict[Hashable, int] = {}
        self._timer: asyncio.TimerHandle | None = None
        self._sending: set[asyncio.Task[None]] = set()  # the loop keeps only weak references

    async def predict(
        self,
        rows: Rows,
        *,
        features: FeatureSchema | None = None,
        request_id: str | None = None,
        outputs: Sequence[str] = (),
    ) -> ModelOutput:
        """The model's answer for ``rows``, sent alone or with other callers' rows of the same
        width, ``features`` and ``outputs``."""
        if not self.enabled:
            self.calls += 1
            if self.on_call is not None:
                self.on_call(len(rows))
            return await self.inner.predict(
                rows, features=features, request_id=request_id, outputs=outputs
            )
        if self._in_flight == 0:
            # Idle (so nothing is queued): no wait, no task, no batch to split.
            if self.on_wait is not None:
                self.on_wait(0.0)
            self._in_flight += 1
            try:
                return await self._call(rows, features, None, request_id, outputs)
            finally:
                self._in_flight -= 1
                self._dispatch_idle()
        loop = asyncio.get_running_loop()
        queued = _Queued(
            rows,
            features,
            _key(rows, features, outputs),
            loop.create_future(),
            contextvars.copy_context(),
            request_id=request_id,
            outputs=outputs,
        )
        self._queue.append(queued)
        rows_queued = self._queued_rows.get(queued.key, 0) + len(rows)
        self._queued_rows[queued.key] = rows_queued
        if rows_queued >= self.max_batch_rows:
            self._dispatch(queued.key)
        if self._queue and self._timer is None:
            self._arm_timer()
        try:
            return await queued.future
        except asyncio.CancelledError:
            # Still queued: its rows must not reach the model for nobody. Already sent: the
            # batch goes on for the others.
            if queued in self._queue:
                self._queue.remove(queued)
                left = self._queued_rows.pop(queued.key) - len(rows)
                if left:
                    self._queued_rows[queued.key] = left
            raise

    async def ready(self) -> bool:
        return await self.inner.ready()

    @property
    def in_flight(self) -> int:
        """Model calls under way now."""
        return self._in_flight

    @property
    def queued(self) -> int:
        """Calls waiting for a model call to carry them."""
        return len(self._queue)

    # --- when batches go ------------------------------------------------------------------

    def _dispatch_idle(self) -> None:
        # A model call just ended: the oldest waiting batch goes now.
        if self._queue and self._in_flight == 0:
            self._dispatch(self._queue[0].key)

    def _arm_timer(self) -> None:
        delay = self._queue[0].queued_at + self.max_wait - time.monotonic()
        self._timer = asyncio.get_running_loop().call_later(max(delay, 0.0), self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        deadline = time.monotonic() - self.max_wait
        while self._queue and self._queue[0].queued_at <= deadline:
            self._dispatch(self._queue[0].key)
        if self._queue:
            self._arm_timer()

    def _dispatch(self, key: Hashable) -> None:
        """Send the oldest calls of ``key``: whole calls, up to ``max_batch_rows``, at least one."""
        batch: list[_Queued] = []
        rest: list[_Queued] = []
        rows = 0
        full = False
        for queued in self._queue:
            if queued.key == key and not full:
                full = bool(batch) and rows + len(queued.rows) > self.max_batch_rows
            if queued.key != key or full:
                rest.append(queued)
            else:
                batch.append(queued)
                rows += len(queued.rows)
        self._queue = rest
        left = self._queued_rows.pop(key) - rows
        if left:
            self._queued_rows[key] = left
        if left >= self.max_batch_rows:
            # The calls left behind fill another batch: it goes too.
            self._dispatch(key)
        self._in_flight += 1
        # In (a copy of) the first caller's context: its trace and request id are the batch's,
        # as a lone call's are its own; the callers' own contexts stay free for around_call.
        context = batch[0].context.copy()
        task = asyncio.get_running_loop().create_task(self._send(batch), context=context)
        self._sending.add(task)
        task.add_done_callback(self._sending.discard)

    # --- one model call -------------------------------------------------------------------

    async def _send(self, batch: list[_Queued]) -> None:
        try:
            now = time.monotonic()
            if self.on_wait is not None:
                for queued in batch:
                    self.on_wait(now - queued.queued_at)
            rows = [row for queued in batch for row in queued.rows]
            first = batch[0]
            alone = len(batch) == 1
            try:
                output = await self._call(
                    rows,
                    first.features,
                    [q.context for q in batch],
                    first.request_id if alone else None,
                    first.outputs,
                )
                if len(output.rows) != len(rows):
                    raise BadModelResponse(
                        f"model returned {len(output.rows)} rows for {len(rows)} inputs"
                    )
            except _PER_CALLER as exc:
                if len(batch) == 1:
                    _settle(batch[0].future, exc)
                else:
                    await asyncio.gather(*(self._send_alone(queued) for queued in batch))
                return
            except BaseException as exc:  # down, slow, cancelled: every caller of it alike
                for queued in batch:
                    _settle(queued.future, exc)
                if not isinstance(exc, Exception):
                    raise
                return
            if alone:  # the whole answer is this caller's
                if not first.future.done():
                    first.future.set_result(output)
                return
            start = 0
            for queued in batch:
                end = start + len(queued.rows)
                part = ModelOutput(
                    output.rows[start:end],
                    output.model_name,
                    output.model_version,
                    output.latency_ms,
                )
                if not queued.future.done():
                    queued.future.set_result(part)
                start = end
        finally:
            self._in_flight -= 1
            self._dispatch_idle()

    async def _send_alone(self, queued: _Queued) -> None:
        if queued.future.done():  # its caller is gone: nobody waits for these rows
            return
        try:
            output = await self._call(
                queued.rows, queued.features, [queued.context], queued.request_id, queued.outputs
            )
        except Exception as exc:
            _settle(queued.future, exc)
        else:
            if not queued.future.done():
                queued.future.set_result(output)

    async def _call(
        self,
        rows: Rows,
        features: FeatureSchema | None,
        callers: list[contextvars.Context] | None,
        request_id: str | None = None,
        outputs: Sequence[str] = (),
    ) -> ModelOutput:
        self.calls += 1
        if self.on_call is not None:
            self.on_call(len(rows))
        if self.around_call is None:
            return await self.inner.predict(
                rows, features=features, request_id=request_id, outputs=outputs
            )
        with self.around_call(callers or [contextvars.copy_context()], len(rows)):
            return await self.inner.predict(
                rows, features=features, request_id=request_id, outputs=outputs
            )


def _key(rows: Rows, features: FeatureSchema | None, outputs: Sequence[str]) -> Hashable:
    # Rows go together only if the model reads them alike: the same width and the same feature
    # schema (names and kinds, which decide how a request encodes them), and if the answer they
    # need holds the same outputs.
    return (len(rows[0]) if rows else 0, features, tuple(outputs))


def _settle(future: asyncio.Future[ModelOutput], exc: BaseException) -> None:
    if future.done():
        return
    if isinstance(exc, asyncio.CancelledError):
        future.cancel()
    else:
        future.set_exception(exc)
