"""Retries, an overall deadline and a circuit breaker around any ``ModelClient``.

Only failures that cannot have reached the model, or that the server marks as passing
(connection errors, 502/503/504), are retried: a read timeout or a 500 may mean the model did
work, and retrying it would double the load on a server that is already struggling.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable, Sequence

from mlclient.client import ModelClient
from mlclient.errors import (
    ModelCircuitOpen,
    ModelError,
    ModelServerError,
    ModelTimeout,
    ModelUnavailable,
    ModelUnreachable,
)
from mlclient.models import FeatureSchema, FeatureValue, ModelOutput

__all__ = ["CircuitBreaker", "ResilientClient", "RetryPolicy"]

RETRYABLE_STATUSES = frozenset({502, 503, 504})


class RetryPolicy:
    """At most ``retries`` more attempts, waiting a random time up to an exponential cap.

    "Full jitter" (AWS Architecture Blog, "Exponential Backoff And Jitter"): spreading retries
    at random keeps many clients from hitting a recovering server in lockstep.
    """

    def __init__(
        self, *, retries: int = 2, backoff: float = 0.05, max_backoff: float = 1.0
    ) -> None:
        self.retries = retries
        self.backoff = backoff
        self.max_backoff = max_backoff

    def delay(self, attempt: int) -> float:
        return random.uniform(0, min(self.max_backoff, self.backoff * 2**attempt))

    @staticmethod
    def should_retry(error: ModelError) -> bool:
        if isinstance(error, ModelServerError):
            return error.status_code in RETRYABLE_STATUSES
        return isinstance(error, ModelUnreachable)


class CircuitBreaker:
    """Opens after ``failure_threshold`` consecutive failed calls; lets one probe through
    after ``reset_after`` seconds; closes again when that probe succeeds.

    State is per process: each pod learns on its own that the model is down, which costs a
    few failed calls per pod and needs nothing shared.
    """

    def __init__(
        self,
        *,
        failure_threshold: int = 5,
        reset_after: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.failure_threshold = failure_threshold
        self.reset_after = reset_after
        self._clock = clock
        self._failures = 0
        self._opened_at: float | None = None
        self._probing = False

    @property
    def is_open(self) -> bool:
        return self._opened_at is not None

    def before_call(self) -> None:
        """Raise ``ModelCircuitOpen`` unless a call may go to the server now."""
        if self._opened_at is None:
            return
        waited = self._clock() - self._opened_at
        if waited < self.reset_after or self._probing:
            raise ModelCircuitOpen(max(self.reset_after - waited, 0.0))
        self._probing = True

    def record_success(self) -> None:
        self._failures = 0
        self._opened_at = None
        self._probing = False

    def record_failure(self) -> None:
        self._failures += 1
        if self._probing or self._failures >= self.failure_threshold:
            self._opened_at = self._clock()
        self._probing = False


class ResilientClient:
    """Wraps ``inner`` with retries, a deadline for all attempts, and a circuit breaker.

    Parameters:
        inner: the protocol client doing one HTTP call per attempt.
        retry: which failures to retry and how long to wait between attempts.
        breaker: shared by every call to this model in the process.
        deadline: seconds for the whole call, retries and waits included.
    """

    def __init__(
        self,
        inner: ModelClient,
        *,
        retry: RetryPolicy | None = None,
        breaker: CircuitBreaker | None = None,
        deadline: float = 15.0,
    ) -> None:
        self.inner = inner
        self.name = inner.name
        self.retry = retry or RetryPolicy()
        self.breaker = breaker or CircuitBreaker()
        self.deadline = deadline

    async def predict(
        self, rows: Sequence[Sequence[FeatureValue]], *, features: FeatureSchema | None = None
    ) -> ModelOutput:
        self.breaker.before_call()
        try:
            async with asyncio.timeout(self.deadline):
                output = await self._attempts(rows, features)
        except TimeoutError as exc:
            self.breaker.record_failure()
            raise ModelTimeout(f"no answer within the {self.deadline} s deadline") from exc
        except ModelUnavailable:
            self.breaker.record_failure()
            raise
        except ModelError:
            # The server answered (4xx, unreadable body): it is up, whatever it said.
            self.breaker.record_success()
            raise
        self.breaker.record_success()
        return output

    async def ready(self) -> bool:
        # Readiness asks the server itself, breaker or not.
        return await self.inner.ready()

    async def _attempts(
        self, rows: Sequence[Sequence[FeatureValue]], features: FeatureSchema | None
    ) -> ModelOutput:
        attempt = 0
        while True:
            try:
                return await self.inner.predict(rows, features=features)
            except ModelError as error:
                if attempt >= self.retry.retries or not self.retry.should_retry(error):
                    raise
            await asyncio.sleep(self.retry.delay(attempt))
            attempt += 1
