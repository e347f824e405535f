"""BatchingClient against the real seldon-core microservice and MLServer.

Each test compares what callers got through the batcher with what the same model answers to
each caller's rows sent alone, and checks from the requests that reached the server how rows
were grouped. ``max_wait`` is long unless a test is about it, so that only the end of the call
in flight releases a batch and the grouping is exact.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import math
import random
from collections.abc import AsyncIterator, Iterator, Sequence

import httpx
import pytest

from mlclient import (
    BadModelResponse,
    BatchingClient,
    CircuitBreaker,
    Feature,
    FeatureSchema,
    ModelError,
    ModelOutput,
    ModelRejectedInput,
    ModelUnavailable,
    ResilientClient,
    RetryPolicy,
    SeldonClient,
    V2Client,
)
from scripts.modelserver import ModelServer, free_port
from tests.utils.transports import Recording, Rows

pytestmark = pytest.mark.model_server

IRIS_CLASSES = ["setosa", "versicolor", "virginica"]
IRIS_FEATURES = ["sepal_length", "sepal_width", "petal_length", "petal_width"]
# Finite, so mlgraph accepts it, but the model's probabilities overflow to NaN: both servers
# answer 200 with a body mlclient must refuse (BadModelResponse).
OVERFLOW = [1e308, 1e308, 1e308, 1e308]
LONG = 30.0


def _calls(count: int, *, seed: int = 15, most: int = 5) -> list[Rows]:
    rng = random.Random(seed)
    return [
        [
            [round(rng.uniform(4.3, 7.9), 1), round(rng.uniform(2.0, 4.4), 1),
             round(rng.uniform(1.0, 6.9), 1), round(rng.uniform(0.1, 2.5), 1)]
            for _ in range(rng.randint(1, most))
        ]
        for _ in range(count)
    ]  # fmt: skip


@pytest.fixture(params=["seldon", "mlserver"])
def server(request: pytest.FixtureRequest) -> ModelServer:
    name = "model_server" if request.param == "seldon" else "mlserver"
    found: ModelServer = request.getfixturevalue(name)
    return found


def _protocol(http: httpx.AsyncClient, server: ModelServer) -> SeldonClient | V2Client:
    if server.kind == "mlserver":
        return V2Client(
            http, name="iris", base_url=server.url, class_names=IRIS_CLASSES, probabilities=True
        )
    return SeldonClient(http, name="iris", base_url=server.url)


def _same(got: ModelOutput, alone: ModelOutput) -> None:
    """The batched answer is the answer to the caller's rows alone (up to float rounding: the
    model multiplies a matrix of another shape)."""
    assert [r.label for r in got.rows] == [r.label for r in alone.rows]
    for mine, reference in zip(got.rows, alone.rows, strict=True):
        assert mine.probabilities is not None
        assert reference.probabilities is not None
        assert list(mine.probabilities) == list(reference.probabilities)
        for name, p in mine.probabilities.items():
            assert math.isclose(p, reference.probabilities[name], rel_tol=1e-9, abs_tol=1e-12)
    assert got.model_version == alone.model_version
    assert got.model_name == "iris"


@contextlib.asynccontextmanager
async def _http(transport: Recording) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=transport, timeout=30) as http:
        yield http


async def test_concurrent_callers_share_requests_and_get_their_own_rows(
    server: ModelServer,
) -> None:
    calls = _calls(40)
    recording = Recording()
    async with _http(recording) as http:
        protocol = _protocol(http, server)
        batcher = BatchingClient(ResilientClient(protocol), max_wait=LONG)
        outputs = await asyncio.gather(*(batcher.predict(rows) for rows in calls))
        sent = list(recording.requests)
        alone = [await protocol.predict(rows) for rows in calls]

    for got, reference in zip(outputs, alone, strict=True):
        _same(got, reference)
    # The first went at once; the 39 that arrived while it was in flight went as one request,
    # their rows concatenated in arrival order.
    assert batcher.calls == 2
    assert sent == [calls[0], [row for rows in calls[1:] for row in rows]]
    # Every caller of a batch reports the batch's model time.
    assert len({o.latency_ms for o in outputs[1:]}) == 1


async def test_one_bad_caller_fails_alone(server: ModelServer) -> None:
    calls = _calls(9, seed=7)
    calls[4] = [OVERFLOW]
    recording = Recording()
    async with _http(recording) as http:
        protocol = _protocol(http, server)
        batcher = BatchingClient(ResilientClient(protocol), max_wait=LONG)
        results = await asyncio.gather(
            *(batcher.predict(rows) for rows in calls), return_exceptions=True
        )
        sent = list(recording.requests)
        alone = [await protocol.predict(rows) for i, rows in enumerate(calls) if i != 4]

    assert isinstance(results[4], BadModelResponse)
    good = [r for i, r in enumerate(results) if i != 4]
    for got, reference in zip(good, alone, strict=True):
        assert isinstance(got, ModelOutput), got
        _same(got, reference)
    # The batch that held the bad row was answered unreadably, then retried caller by caller.
    batch = [row for rows in calls[1:] for row in rows]
    assert sent[:2] == [calls[0], batch]
    assert sorted(map(str, sent[2:])) == sorted(map(str, calls[1:]))


async def test_a_refused_batch_is_retried_call_by_call(model_server: ModelServer) -> None:
    calls = _calls(6, seed=3)
    calls[3] = [[9.5, 3.0, 5.0, 1.5]]
    # The model refuses any request holding that row (a 4xx: ModelRejectedInput).
    recording = Recording(refuse=lambda rows: [9.5, 3.0, 5.0, 1.5] in rows)
    async with _http(recording) as http:
        protocol = _protocol(http, model_server)
        breaker = CircuitBreaker(failure_threshold=1)
        batcher = BatchingClient(ResilientClient(protocol, breaker=breaker), max_wait=LONG)
        results = await asyncio.gather(
            *(batcher.predict(rows) for rows in calls), return_exceptions=True
        )
        alone = [await protocol.predict(rows) for i, rows in enumerate(calls) if i != 3]

    assert isinstance(results[3], ModelRejectedInput)
    for got, reference in zip([r for i, r in enumerate(results) if i != 3], alone, strict=True):
        assert isinstance(got, ModelOutput), got
        _same(got, reference)
    assert not breaker.is_open  # a refusal means the server is up


async def test_rows_of_another_width_are_never_sent_together(model_server: ModelServer) -> None:
    calls = _calls(10, seed=5)
    for i in (2, 5, 6):
        calls[i] = [row[:3] for row in calls[i]]
    recording = Recording()
    async with _http(recording) as http:
        protocol = _protocol(http, model_server)
        batcher = BatchingClient(ResilientClient(protocol), max_wait=LONG)
        results = await asyncio.gather(
            *(batcher.predict(rows) for rows in calls), return_exceptions=True
        )
    for request in recording.requests:
        assert len({len(row) for row in request}) == 1, request
    # The microservice refuses the 3-feature batch (a 500 that is a refusal of the input), so
    # it is retried call by call: each of those calls is sent once more, alone.
    assert sorted(len(r) for r in recording.requests) == sorted(
        [
            len(calls[0]),
            sum(len(calls[i]) for i in (2, 5, 6)),
            *(len(calls[i]) for i in (2, 5, 6)),
            sum(len(rows) for i, rows in enumerate(calls[1:], 1) if i not in (2, 5, 6)),
        ]
    )
    for i, result in enumerate(results):
        # The 4-feature model refuses the 3-feature calls (all of them, and only them).
        assert isinstance(result, ModelRejectedInput) == (i in (2, 5, 6)), (i, result)
        assert isinstance(result, ModelError) == (i in (2, 5, 6)), (i, result)


async def test_rows_of_another_feature_schema_are_never_sent_together(
    model_server: ModelServer,
) -> None:
    named = FeatureSchema(tuple(Feature(n) for n in IRIS_FEATURES))
    calls = _calls(10, seed=13)
    schemas = [named if i % 2 else None for i in range(len(calls))]
    recording = Recording()
    async with _http(recording) as http:
        protocol = _protocol(http, model_server)
        batcher = BatchingClient(ResilientClient(protocol), max_wait=LONG)
        outputs = await asyncio.gather(
            *(batcher.predict(rows, features=f) for rows, f in zip(calls, schemas, strict=True))
        )
        alone = [await protocol.predict(rows) for rows in calls]
    for got, reference in zip(outputs, alone, strict=True):
        _same(got, reference)
    # The first went alone; behind it, one request per schema, the oldest first; names go
    # only with the rows whose schema has them.
    assert recording.names[:3] == [None, IRIS_FEATURES, None]  # calls[1] is the oldest queued
    unnamed = [row for rows, f in zip(calls[1:], schemas[1:], strict=True) if f is None
               for row in rows]  # fmt: skip
    named_rows = [row for rows, f in zip(calls, schemas, strict=True) if f for row in rows]
    assert recording.requests[:3] == [calls[0], named_rows, unnamed]


async def test_max_batch_rows_bounds_a_request_and_never_splits_a_call(
    model_server: ModelServer,
) -> None:
    calls = [[row] for rows in _calls(13, seed=11) for row in rows[:1]]
    calls.append(_calls(1, seed=12, most=1)[0] * 8)  # one call of 8 rows
    recording = Recording()
    async with _http(recording) as http:
        protocol = _protocol(http, model_server)
        batcher = BatchingClient(ResilientClient(protocol), max_batch_rows=5, max_wait=LONG)
        outputs = await asyncio.gather(*(batcher.predict(rows) for rows in calls))
        alone = [await protocol.predict(rows) for rows in calls]

    for got, reference in zip(outputs, alone, strict=True):
        _same(got, reference)
    sizes = [len(request) for request in recording.requests[: batcher.calls]]
    assert 8 in sizes, sizes
    assert all(size <= 5 for size in sizes if size != 8), sizes
    assert sum(sizes) == sum(len(rows) for rows in calls)
    # Full batches went while the first call was still in flight, without waiting for it.
    assert batcher.calls > 3


async def test_a_queued_call_waits_for_the_call_in_flight_at_most_max_wait(
    model_server: ModelServer,
) -> None:
    gate = asyncio.Event()
    recording = Recording(gate=gate)
    calls = _calls(4, seed=2)
    async with _http(recording) as http:
        batcher = BatchingClient(ResilientClient(_protocol(http, model_server)), max_wait=0.05)
        tasks = [asyncio.create_task(batcher.predict(rows)) for rows in calls]
        # The first call is held at the model; the other three still go, together.
        await recording.wait_for(2)
        assert recording.requests[1] == [row for rows in calls[1:] for row in rows]
        gate.set()
        outputs = await asyncio.gather(*tasks)
    assert [len(o.rows) for o in outputs] == [len(rows) for rows in calls]


async def test_a_cancelled_caller_s_rows_are_not_sent(model_server: ModelServer) -> None:
    gate = asyncio.Event()
    recording = Recording(gate=gate)
    calls = _calls(4, seed=4)
    async with _http(recording) as http:
        batcher = BatchingClient(ResilientClient(_protocol(http, model_server)), max_wait=LONG)
        tasks = [asyncio.create_task(batcher.predict(rows)) for rows in calls]
        await recording.wait_for(1)
        await asyncio.sleep(0)  # let every task reach the queue
        tasks[2].cancel()
        gate.set()
        results = await asyncio.gather(*tasks, return_exceptions=True)
    assert isinstance(results[2], asyncio.CancelledError)
    assert recording.requests == [calls[0], calls[1] + calls[3]]
    assert all(isinstance(r, ModelOutput) for i, r in enumerate(results) if i != 2)


async def test_switched_off_every_call_goes_alone(model_server: ModelServer) -> None:
    calls = _calls(10, seed=8)
    recording = Recording()
    rows_per_call: list[int] = []
    async with _http(recording) as http:
        batcher = BatchingClient(
            ResilientClient(_protocol(http, model_server)),
            enabled=False,
            on_call=rows_per_call.append,
        )
        outputs = await asyncio.gather(*(batcher.predict(rows) for rows in calls))
    assert sorted(map(str, recording.requests)) == sorted(map(str, calls))
    assert rows_per_call == [len(rows) for rows in calls]
    assert [len(o.rows) for o in outputs] == rows_per_call


async def test_an_outage_fails_every_caller_and_counts_once_per_request() -> None:
    # Nothing listens on this port: every connection is refused.
    calls = _calls(10, seed=9)
    async with httpx.AsyncClient() as http:
        protocol = SeldonClient(http, name="iris", base_url=f"http://127.0.0.1:{free_port()}")
        breaker = CircuitBreaker(failure_threshold=3)
        resilient = ResilientClient(protocol, retry=RetryPolicy(retries=1), breaker=breaker)
        batcher = BatchingClient(resilient, max_wait=LONG)
        results = await asyncio.gather(
            *(batcher.predict(rows) for rows in calls), return_exceptions=True
        )
    assert all(isinstance(r, ModelUnavailable) for r in results), results
    # Ten callers, two model calls (the first alone, then the nine queued behind it): two
    # failures for the breaker, which a threshold of three leaves closed.
    assert batcher.calls == 2
    assert not breaker.is_open


async def test_hooks_see_every_call_its_wait_and_its_callers(model_server: ModelServer) -> None:
    caller: contextvars.ContextVar[int] = contextvars.ContextVar("caller")
    calls = _calls(6, seed=6)
    rows_per_call: list[int] = []
    waits: list[float] = []
    seen: list[tuple[list[int], int, int]] = []

    @contextlib.contextmanager
    def around(callers: Sequence[contextvars.Context], rows: int) -> Iterator[None]:
        # Which callers' contexts, how many rows, and whose context the call runs in.
        seen.append(([c[caller] for c in callers], rows, caller.get()))
        yield

    async def call(number: int, rows: Rows) -> ModelOutput:
        caller.set(number)
        return await batcher.predict(rows)

    async with httpx.AsyncClient() as http:
        batcher = BatchingClient(
            ResilientClient(_protocol(http, model_server)),
            max_wait=LONG,
            on_call=rows_per_call.append,
            on_wait=waits.append,
            around_call=around,
        )
        await asyncio.gather(*(call(i, rows) for i, rows in enumerate(calls)))

    assert rows_per_call == [len(calls[0]), sum(len(rows) for rows in calls[1:])]
    assert len(waits) == len(calls)
    assert waits[0] == 0.0
    assert all(w > 0 for w in waits[1:])
    assert seen == [([0], len(calls[0]), 0), ([1, 2, 3, 4, 5], rows_per_call[1], 1)]


async def test_a_call_alone_keeps_its_request_id_and_the_servers_answer(
    server: ModelServer,
) -> None:
    calls = _calls(3, seed=3)
    async with _http(Recording()) as http:
        batcher = BatchingClient(ResilientClient(_protocol(http, server)), max_wait=LONG)
        first, *shared = await asyncio.gather(
            *(batcher.predict(rows, request_id=f"r{i}") for i, rows in enumerate(calls))
        )
        queued_alone = await asyncio.gather(
            batcher.predict(calls[0], request_id="a"),
            batcher.predict(calls[1], request_id="b", outputs=["predict"]),
        )
    # Alone (at once): the request carried the caller's id and the answer is the server's.
    assert first.answer is not None
    id_field = "id" if server.kind == "mlserver" else "meta"
    echoed = first.answer.body[id_field]
    assert echoed == "r0" if server.kind == "mlserver" else echoed["puid"] == "r0"
    # Shared by two callers: one request, no id, each share without the server's answer.
    assert batcher.calls == 4
    assert all(output.answer is None for output in shared)
    # Other outputs asked for: never the same request, so each went alone with its answer.
    assert all(output.answer is not None for output in queued_alone)
