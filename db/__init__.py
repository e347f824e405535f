"""The database layer: tables, the engine and the queries mlgraph runs.

Nothing here knows about GraphQL or the model servers; functions take a session and plain values.
"""

from db import (
    actuals,
    apikeys,
    export,
    features,
    notify,
    partitions,
    predictions,
    replicas,
    stats,
    urls,
    writer,
)
from db.engine import (
    STORAGE_ERRORS,
    Sessions,
    driver_options,
    make_engine,
    make_sessionmaker,
    ping,
)
from db.errors import DuplicateRequestId, UnknownPrediction
from db.predictions import PredictionRow, StoredPrediction
from db.tables import Actual, ApiKey, ClassifyRequest, FeatureSchemaRow, Prediction
from db.writer import PredictionWriter

__all__ = [
    "STORAGE_ERRORS",
    "Actual",
    "ApiKey",
    "ClassifyRequest",
    "DuplicateRequestId",
    "FeatureSchemaRow",
    "Prediction",
    "PredictionRow",
    "PredictionWriter",
    "Sessions",
    "StoredPrediction",
    "UnknownPrediction",
    "actuals",
    "apikeys",
    "driver_options",
    "export",
    "features",
    "make_engine",
    "make_sessionmaker",
    "notify",
    "partitions",
    "ping",
    "predictions",
    "replicas",
    "stats",
    "urls",
    "writer",
]
