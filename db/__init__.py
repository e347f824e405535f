"""The database layer: tables, the engine and the queries mlgraph runs.

Nothing here knows about GraphQL or the model servers; functions take a session and plain values.
"""

from db import actuals, apikeys, export, notify, predictions, stats
from db.engine import STORAGE_ERRORS, Sessions, make_engine, make_sessionmaker, ping
from db.errors import DuplicateRequestId
from db.tables import Actual, ApiKey, Prediction

__all__ = [
    "STORAGE_ERRORS",
    "Actual",
    "ApiKey",
    "DuplicateRequestId",
    "Prediction",
    "Sessions",
    "actuals",
    "apikeys",
    "export",
    "make_engine",
    "make_sessionmaker",
    "notify",
    "ping",
    "predictions",
    "stats",
]
