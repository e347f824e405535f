"""Exceptions raised by the model clients.

The tree, so callers can catch as broadly as they need::

    ModelError
    ├── ModelUnavailable          the server could not give an answer; retrying later may help
    │   ├── ModelUnreachable      connection refused or timed out, DNS failure, reset
    │   ├── ModelTimeout          no answer within the configured timeout or deadline
    │   ├── ModelServerError      the server answered 5xx
    │   └── ModelCircuitOpen      recent calls failed: not calling until the cool-down ends
    ├── ModelRejectedInput        the server answered 4xx: it refused these features
    └── BadModelResponse          the server answered 2xx with a body we cannot read

Every ``httpx.HTTPError`` raised while talking to a model becomes one of these, so code above
``mlclient`` never has to know about httpx.
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
    """The model server answered with a 5xx status."""

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
    """The model server answered with a 4xx status: the request itself was refused."""

    def __init__(self, status_code: int, detail: str) -> None:
        super().__init__(f"model server refused the input ({status_code}): {detail}")
        self.status_code = status_code
        self.detail = detail


class BadModelResponse(ModelError):
    """The model server's answer could not be turned into one prediction per row."""
