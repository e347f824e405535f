"""Exceptions raised by the model clients.

The tree, so callers can catch as broadly as they need::

    ModelError
    ├── ModelUnavailable          the server could not give an answer; retrying later may help
    │   ├── ModelUnreachable      connection refused or timed out, DNS failure, reset
    │   ├── ModelTimeout          no answer within the configured timeout or deadline
    │   ├── ModelServerError      an error status that is not about the input (502/503/504,
    │   │                         other 5xx, 404 no such model, 401/403, 429, ...)
    │   └── ModelCircuitOpen      recent calls failed: not calling until the cool-down ends
    ├── ModelRejectedInput        the server refused this input, whatever the status it used
    └── BadModelResponse          the server answered 2xx with a body we cannot read

Every ``httpx.HTTPError`` raised while talking to a model becomes one of these, so code above
``mlclient`` never has to know about httpx.

Only ``ModelUnavailable`` means the server is unwell, and only it counts for the circuit
breaker: a caller's bad input (``ModelRejectedInput``) must never take the model away from the
other callers. Which answers are refusals is each protocol's rule (``is_refusal`` in
mlclient/seldon.py and mlclient/v2.py), read from what the real servers answer.
"""

from __future__ import annotations

__all__ = [
    "BadModelResponse",
    "ModelCircuitOpen",
    "ModelError",
    "ModelRejectedInput",
    "ModelServerError",
    "ModelTimeout",
    "ModelUnavailable",
    "ModelUnreachable",
]


class ModelError(Exception):
    """Base class of every failure of a model call."""


class ModelUnavailable(ModelError):
    """The model server gave no usable answer (down, slow or failing)."""


class ModelUnreachable(ModelUnavailable):
    """The connection to the model server failed."""


class ModelTimeout(ModelUnavailable):
    """The model server did not answer in time."""


class ModelServerError(ModelUnavailable):
    """The model server answered an error status that says it (or its route) is unwell or
    misconfigured, not that the input is wrong: 5xx other than a refusal, 404, 401/403, 429."""

    def __init__(self, status_code: int, detail: str) -> None:
        super().__init__(f"model server answered {status_code}: {detail}")
        self.status_code = status_code
        self.detail = detail


class ModelCircuitOpen(ModelUnavailable):
    """Calls fail fast: the server failed repeatedly; it gets ``retry_after`` s to recover."""

    def __init__(self, retry_after: float) -> None:
        super().__init__(f"model server is failing; not calling it for {retry_after:.1f} s")
        self.retry_after = retry_after


class ModelRejectedInput(ModelError):
    """The model server refused this input: a 400/422, or a 500 that is the server's answer to
    an exception the model raised on it (a wrong width, a string, NaN). Other calls are fine."""

    def __init__(self, status_code: int, detail: str) -> None:
        super().__init__(f"the model refused this input (HTTP {status_code}): {detail}")
        self.status_code = status_code
        self.detail = detail


class BadModelResponse(ModelError):
    """The model server's answer could not be turned into one prediction per row."""
