"""Clients for the model servers mlgraph stands in front of.

Nothing here knows about GraphQL or the database: a client takes a shared ``httpx.AsyncClient``
and plain arguments, and returns plain data or raises ``mlclient.errors.ModelError``.
"""

from mlclient.batching import BatchingClient
from mlclient.client import ModelClient
from mlclient.cookies import NoCookies
from mlclient.errors import (
    BadModelResponse,
    ModelCircuitOpen,
    ModelError,
    ModelRejectedInput,
    ModelServerError,
    ModelTimeout,
    ModelUnavailable,
    ModelUnreachable,
)
from mlclient.models import (
    Feature,
    FeatureKind,
    FeatureSchema,
    FeatureValue,
    ModelAnswer,
    ModelMetadata,
    ModelOutput,
    RowPrediction,
    TensorMetadata,
)
from mlclient.resilience import CircuitBreaker, ResilientClient, RetryPolicy
from mlclient.seldon import SeldonClient
from mlclient.v2 import V2Client

__all__ = [
    "BadModelResponse",
    "BatchingClient",
    "CircuitBreaker",
    "Feature",
    "FeatureKind",
    "FeatureSchema",
    "FeatureValue",
    "ModelAnswer",
    "ModelCircuitOpen",
    "ModelClient",
    "ModelError",
    "ModelMetadata",
    "ModelOutput",
    "ModelRejectedInput",
    "ModelServerError",
    "ModelTimeout",
    "ModelUnavailable",
    "ModelUnreachable",
    "NoCookies",
    "ResilientClient",
    "RetryPolicy",
    "RowPrediction",
    "SeldonClient",
    "TensorMetadata",
    "V2Client",
]
