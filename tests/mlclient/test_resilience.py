"""Retries, the deadline and the circuit breaker, with faults injected through a mock transport."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import httpx
import pytest

from mlclient import (
    CircuitBreaker,
    ModelCircuitOpen,
    ModelError,
    ModelRejectedInput,
    ModelServerError,
    ModelTimeout,
    ModelUnreachable,
    ResilientClient,
    RetryPolicy,
    SeldonClient,
)

OK = httpx.Response(200, json={"data": {"ndarray": ["a"]}})
Step = Callable[[], httpx.Response]


def _status(code: int) -> Step:
    return lambda: httpx.Response(code, text="failing")


def _refuse() -> httpx.Response:
    raise httpx.ConnectError("refused")


def _read_timeout() -> httpx.Response:
    raise httpx.ReadTimeout("slow")


def _ok() -> httpx.Response:
    return OK


class Script:
    """A transport answering each call with the next step; counts calls."""

    def __init__(self, *steps: Step) -> None:
        self.steps = list(steps)
        self.calls = 0

    def __call__(self, request: httpx.Request) -> httpx.Response:
        step = self.steps[min(self.calls, len(self.steps) - 1)]
        self.calls += 1
        return step()


def _client(
    http: httpx.AsyncClient, *, retries: int = 2, breaker: CircuitBreaker | None = None
) -> ResilientClient:
    inner = SeldonClient(http, name="m", base_url="http://model", version="1")
    retry = RetryPolicy(retries=retries, backoff=0.001, max_backoff=0.002)
    return ResilientClient(inner, retry=retry, breaker=breaker or CircuitBreaker(), deadline=5)


@pytest.mark.parametrize(
    "failure",
    [_refuse, _status(502), _status(503), _status(504)],
    ids=["refused", "502", "503", "504"],
)
async def test_passing_failures_are_retried_until_success(failure: Step) -> None:
    script = Script(failure, failure, _ok)
    async with httpx.AsyncClient(transport=httpx.MockTransport(script)) as http:
        output = await _client(http).predict([[1.0]])
    assert [r.label for r in output.rows] == ["a"]
    assert script.calls == 3


@pytest.mark.parametrize(
    ("failure", "error"),
    [
        (_status(500), ModelServerError),
        (_status(400), ModelRejectedInput),
        (_read_timeout, ModelTimeout),
    ],
    ids=["500", "400", "read-timeout"],
)
async def test_other_failures_are_not_retried(failure: Step, error: type[ModelError]) -> None:
    script = Script(failure, _ok)
    async with httpx.AsyncClient(transport=httpx.MockTransport(script)) as http:
        with pytest.raises(error):
            await _client(http).predict([[1.0]])
    assert script.calls == 1


async def test_retries_are_bounded() -> None:
    script = Script(_refuse)
    async with httpx.AsyncClient(transport=httpx.MockTransport(script)) as http:
        with pytest.raises(ModelUnreachable):
            await _client(http, retries=3).predict([[1.0]])
    assert script.calls == 4


async def test_deadline_covers_all_attempts() -> None:
    class Slow:
        name = "slow"

        async def predict(self, rows: object, **options: object) -> object:
            await asyncio.sleep(10)
            raise AssertionError("unreachable")

        async def ready(self) -> bool:
            return True

    client = ResilientClient(Slow(), deadline=0.05)  # type: ignore[arg-type]
    with pytest.raises(ModelTimeout, match="deadline"):
        await client.predict([[1.0]])


def test_breaker_opens_probes_once_and_closes() -> None:
    now = [0.0]
    breaker = CircuitBreaker(
        failure_threshold=2, reset_after=10, first_probe_after=10, clock=lambda: now[0]
    )
    breaker.before_call()
    breaker.record_failure()
    assert not breaker.is_open
    breaker.record_failure()
    assert breaker.is_open
    now[0] = 4.0
    with pytest.raises(ModelCircuitOpen) as caught:
        breaker.before_call()
    assert caught.value.retry_after == pytest.approx(6.0)
    now[0] = 10.5
    breaker.before_call()  # the probe
    with pytest.raises(ModelCircuitOpen):
        breaker.before_call()  # only one probe at a time
    breaker.record_success()
    assert not breaker.is_open
    breaker.before_call()


def test_the_first_probe_comes_soon_and_each_failed_one_doubles_the_wait() -> None:
    """A restarting model is back for callers about a second after it answers; one that stays
    down is asked at most every reset_after seconds."""
    now = [0.0]
    breaker = CircuitBreaker(
        failure_threshold=1, reset_after=5, first_probe_after=1, clock=lambda: now[0]
    )
    assert breaker.record_failure()  # opened
    probes = []
    for _ in range(6):
        with pytest.raises(ModelCircuitOpen) as caught:
            breaker.before_call()
        now[0] += caught.value.retry_after
        breaker.before_call()  # the probe goes through
        probes.append(caught.value.retry_after)
        assert breaker.record_failure()  # ...fails: opened again, for twice as long
    assert probes == [1, 2, 4, 5, 5, 5]
    with pytest.raises(ModelCircuitOpen):
        breaker.before_call()
    now[0] += 5
    breaker.before_call()
    assert breaker.record_success()  # closed
    assert not breaker.record_success()
    assert breaker.record_failure()  # threshold 1: open again, and the first wait is short
    with pytest.raises(ModelCircuitOpen) as caught:
        breaker.before_call()
    assert caught.value.retry_after == 1


async def test_open_breaker_fails_fast_without_calling_the_server() -> None:
    script = Script(_refuse)
    breaker = CircuitBreaker(failure_threshold=2, reset_after=60)
    async with httpx.AsyncClient(transport=httpx.MockTransport(script)) as http:
        client = _client(http, retries=0, breaker=breaker)
        for _ in range(2):
            with pytest.raises(ModelUnreachable):
                await client.predict([[1.0]])
        with pytest.raises(ModelCircuitOpen):
            await client.predict([[1.0]])
    assert script.calls == 2


async def test_answers_that_are_not_outages_keep_the_breaker_closed() -> None:
    script = Script(_status(400))
    breaker = CircuitBreaker(failure_threshold=1)
    async with httpx.AsyncClient(transport=httpx.MockTransport(script)) as http:
        client = _client(http, breaker=breaker)
        for _ in range(3):
            with pytest.raises(ModelRejectedInput):
                await client.predict([[1.0]])
    assert not breaker.is_open
