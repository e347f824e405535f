"""Retries, an overall deadline and a circuit breaker around any ``ModelClient``.

Only failures that cannot have reached the model, or that the server marks as passing
(connection errors, 502/503/504), are retried: a read timeout or a 500 may mean the model did
work, and retrying it would double the load on a server that is already struggling.
"""

from __future__ import annotations

import asyncio
import logging
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

logger = logging.getLogger("mlclient")

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
    """Opens after ``failure_threshold`` consecutive failed calls; then lets one probe through
    after ``first_probe_after`` seconds, and after each failed probe waits twice as long, up to
    ``reset_after``; closes again when a probe succeeds.

    The short first probe is for the common outage, a model restarting: callers get it back
    about a second after it answers, not a whole ``reset_after`` later; a model that stays down
    is still asked only every ``reset_after`` seconds.

    State is per process: each pod learns on its own that the model is down, which costs a
    few failed calls per pod and needs nothing shared.
    """

    def __init__(
        self,
        *,
        failure_threshold: int = 5,
        reset_after: float = 10.0,
        first_probe_after: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.failure_threshold = failure_threshold
        self.reset_after = reset_after
        self.first_probe_after = min(first_probe_after, reset_after)
        self._clock = clock
        self._failures = 0
        self._opened_at: float | None = None
        self._wait = self.first_probe_after
        self._probing = False

    @property
    def is_open(self) -> bool:
        return self._opened_at is not None

    @property
    def failures(self) -> int:
        """Consecutive failed calls so far."""
        return self._failures

    @property
    def wait(self) -> float:
        """How long the circuit stays open before the next probe."""
        return self._wait

    def before_call(self) -> None:
        """Raise ``ModelCircuitOpen`` unless a call may go to the server now."""
        if self._opened_at is None:
            return
        waited = self._clock() - self._opened_at
        if waited < self._wait or self._probing:
            raise ModelCircuitOpen(max(self._wait - waited, 0.0))
        self._probing = True

    def record_success(self) -> bool:
        """A call got an answer; True when that closed the circuit."""
        closed = self._opened_at is not None
        self._failures = 0
        self._opened_at = None
        self._wait = self.first_probe_after
        self._probing = False
        return closed

    def record_failure(self) -> bool:
        """A call failed; True when that opened the circuit (again, for a failed probe)."""
        self._failures += 1
        opened = False
        if self._probing:
            self._wait = min(self._wait * 2, self.reset_after)
            opened = True
        elif self._opened_at is None and self._failures >= self.failure_threshold:
            opened = True
        if opened:
            self._opened_at = self._clock()
        self._probing = False
        return opened


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
        url: str = "",
    ) -> None:
        self.inner = inner
        self.name = inner.name
        self.url = url
        self.retry = retry or RetryPolicy()
        self.breaker = breaker or CircuitBreaker()
        self.deadline = deadline

    async def predict(
        self,
        rows: Sequence[Sequence[FeatureValue]],
        *,
        features: FeatureSchema | None = None,
        request_id: str | None = None,
        outputs: Sequence[str] = (),
    ) -> ModelOutput:
        self.breaker.before_call()
        try:
            async with asyncio.timeout(self.deadline):
                output = await self._attempts(rows, features, request_id, outputs)
        except TimeoutError as exc:
            error = ModelTimeout(f"no answer within the {self.deadline} s deadline")
            self._failed(error)
            raise error from exc
        except ModelUnavailable as error:
            self._failed(error)
            raise
        except ModelError:
            # The server answered (it refused this input, or sent an unreadable body): it is
            # up, whatever it said, and other callers' rows may well be fine.
            self._answered()
            raise
        self._answered()
        return output

    def _failed(self, error: ModelError) -> None:
        # Logged: the first failure of a run and each opening of the circuit, not every call,
        # so an outage under load is a few lines, not one per request.
        first = self.breaker.failures == 0
        probing = self.breaker.is_open
        opened = self.breaker.record_failure()
        fields = {"model": self.name, "url": self.url, "error": type(error).__name__}
        if first and not probing:
            logger.warning(
                "model %s at %s failed: %s", self.name, self.url, error, extra={"fields": fields}
            )
        if opened:
            logger.warning(
                "circuit breaker opened for model %s at %s after %d failed call(s) (last: %s): "
                "failing fast for %.1f s, then one probe",
                self.name,
                self.url,
                self.breaker.failures,
                error,
                self.breaker.wait,
                extra={"fields": {**fields, "failures": self.breaker.failures}},
            )

    def _answered(self) -> None:
        if self.breaker.record_success():
            logger.info(
                "circuit breaker closed for model %s at %s: it answers again",
                self.name,
                self.url,
                extra={"fields": {"model": self.name, "url": self.url}},
            )

    async def ready(self) -> bool:
        # Readiness asks the server itself, breaker or not.
        return await self.inner.ready()

    async def _attempts(
        self,
        rows: Sequence[Sequence[FeatureValue]],
        features: FeatureSchema | None,
        request_id: str | None,
        outputs: Sequence[str],
    ) -> ModelOutput:
        attempt = 0
        while True:
            try:
                return await self.inner.predict(
                    rows, features=features, request_id=request_id, outputs=outputs
                )
            except ModelError as error:
                if attempt >= self.retry.retries or not self.retry.should_retry(error):
                    raise
            await asyncio.sleep(self.retry.delay(attempt))
            attempt += 1
