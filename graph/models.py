"""The models mlgraph fronts: one client per configured model, looked up by name.

Each model's client is, from the outside in: a ``BatchingClient`` (adaptive batching of
concurrent calls), its ``ResilientClient`` (retries, deadline, circuit breaker: one batch is one
call for them) and the protocol client (Seldon v1 or V2) doing the HTTP request.
"""

from __future__ import annotations

import contextvars
import enum
import functools
import logging
import time
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import TypeVar

import httpx

import mlclient
from graph import metrics
from graph.errors import BadUserInput
from graph.features import schema_from_settings
from graph.settings import ModelSettings, Settings
from mlclient import BatchingClient, CircuitBreaker, FeatureSchema, ResilientClient, RetryPolicy

__all__ = [
    "METADATA_RETRY_SECONDS",
    "FeatureSource",
    "ModelCallSpan",
    "ModelEntry",
    "ModelRegistry",
    "build_registry",
]

_T = TypeVar("_T")
# graph/middleware/tracing.py's Tracing.model_call: (model, callers' contexts, rows) -> a span.
ModelCallSpan = Callable[[str, Sequence[contextvars.Context], int], AbstractContextManager[None]]

METADATA_RETRY_SECONDS = 30.0

logger = logging.getLogger("mlgraph.models")


class FeatureSource(enum.Enum):
    """Where a model's feature schema came from, the first found winning."""

    SETTINGS = "settings"
    METADATA = "metadata"
    FIRST_ANSWER = "first_answer"


@dataclass
class ModelEntry:
    """A configured model, its client (batching, resilient), and what is known of its features."""

    config: ModelSettings
    client: BatchingClient
    protocol_client: mlclient.SeldonClient | mlclient.V2Client
    is_default: bool
    _metadata: mlclient.ModelMetadata | None = field(default=None, repr=False)
    _metadata_retry_at: float = field(default=0.0, repr=False)
    _configured: FeatureSchema | None = field(default=None, repr=False)
    _learned: FeatureSchema | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        self._configured = schema_from_settings(self.config.features)

    @property
    def name(self) -> str:
        return self.config.name

    async def metadata(self) -> mlclient.ModelMetadata | None:
        """The model's metadata (V2, or Seldon's ``/api/v1.0/metadata``), fetched once;
        ``None`` when it cannot be read.

        A failed fetch is tried again only after ``METADATA_RETRY_SECONDS``: classify asks for
        the schema on every call, and a server without a metadata endpoint must not cost a
        second request each time.
        """
        if self._metadata is not None or time.monotonic() < self._metadata_retry_at:
            return self._metadata
        try:
            self._metadata = await self.protocol_client.metadata()
        except mlclient.ModelError:
            self._metadata_retry_at = time.monotonic() + METADATA_RETRY_SECONDS
        except Exception:
            # Metadata only adds what is known of the model: whatever goes wrong reading it must
            # not fail the prediction that asked, so it is logged and tried again later.
            logger.warning("model %r: reading its metadata failed", self.name, exc_info=True)
            self._metadata_retry_at = time.monotonic() + METADATA_RETRY_SECONDS
        return self._metadata

    async def schema(self) -> tuple[FeatureSchema, FeatureSource] | None:
        """The model's features and where they came from, the first found winning: the
        settings, the server's metadata, the features of the model's first successful answer.
        ``None`` until one of them is known."""
        if self._configured is not None:
            return self._configured, FeatureSource.SETTINGS
        metadata = await self.metadata()
        if metadata is not None and metadata.features is not None:
            return metadata.features, FeatureSource.METADATA
        if self._learned is not None:
            return self._learned, FeatureSource.FIRST_ANSWER
        return None

    def learn(self, schema: FeatureSchema) -> None:
        """Remember the features of rows the model answered, when nothing else gave them:
        later rows that do not fit are then refused before they reach the model."""
        if self._learned is None:
            self._learned = schema

    async def feature_count(self) -> int | None:
        """Features per row, when the schema is known."""
        known = await self.schema()
        return known[0].width if known else None


class ModelRegistry:
    def __init__(self, entries: list[ModelEntry]) -> None:
        self.entries = entries
        self._by_name = {entry.name: entry for entry in entries}
        # V2 paths may name a model as its server does (v2_name): a client that called the
        # server directly keeps its path. The first configured wins a name two models share.
        self._by_v2_name: dict[str, ModelEntry] = {}
        for entry in entries:
            if entry.config.protocol == "v2":
                self._by_v2_name.setdefault(entry.config.v2_name or entry.name, entry)

    def find(self, name: str) -> ModelEntry | None:
        """The model named ``name`` in mlgraph, or ``None``."""
        return self._by_name.get(name)

    def find_v2(self, name: str) -> ModelEntry | None:
        """The V2 model named ``name`` in mlgraph, else the one its server calls ``name``."""
        entry = self._by_name.get(name)
        if entry is not None and entry.config.protocol == "v2":
            return entry
        return self._by_v2_name.get(name)

    @property
    def names(self) -> list[str]:
        return sorted(self._by_name)

    def get(self, name: str | None) -> ModelEntry:
        """The named model, or the default one; ``BAD_USER_INPUT`` for a name not configured."""
        if name is None:
            return self.entries[0]
        entry = self._by_name.get(name)
        if entry is None:
            known = ", ".join(self.names)
            raise BadUserInput(f"unknown model {name!r}; configured: {known}", argument="modelName")
        return entry


def build_registry(
    settings: Settings,
    http: httpx.AsyncClient,
    *,
    transport: httpx.AsyncBaseTransport | None = None,
    model_call_span: ModelCallSpan | None = None,
) -> ModelRegistry:
    """One client per model, all on the process's shared ``http`` pool.

    ``transport``, the one ``http`` was made with, carries the model requests past the
    client's per-request layers (``mlclient._http.send_through``). ``model_call_span``
    (tracing on) wraps every model request in a span linking its callers.
    """
    entries = []
    for index, config in enumerate(settings.model_list()):
        timeout = config.timeout or settings.model_timeout
        inner: mlclient.SeldonClient | mlclient.V2Client
        if config.protocol == "v2":
            inner = mlclient.V2Client(
                http,
                name=config.name,
                base_url=config.url,
                model_name=config.v2_name,
                version=config.version,
                class_names=config.class_names,
                probabilities=config.probabilities,
                timeout=timeout,
                headers=config.headers or None,
                transport=transport,
            )
        else:
            inner = mlclient.SeldonClient(
                http,
                name=config.name,
                base_url=config.url,
                version=config.version,
                class_names=config.class_names,
                timeout=timeout,
                health_path=config.health_path,
                transport=transport,
            )
        resilient = ResilientClient(
            inner,
            retry=RetryPolicy(
                retries=settings.model_retries,
                backoff=settings.model_backoff,
                max_backoff=settings.model_max_backoff,
            ),
            breaker=CircuitBreaker(
                failure_threshold=settings.breaker_failures,
                reset_after=settings.breaker_reset_seconds,
                first_probe_after=settings.breaker_probe_seconds,
            ),
            deadline=settings.model_deadline,
            url=inner.url,
        )
        client = BatchingClient(
            resilient,
            enabled=_pick(config.batching, settings.model_batching),
            max_batch_rows=_pick(config.max_batch_rows, settings.model_max_batch_rows),
            max_wait=_pick(config.max_wait, settings.model_max_wait),
            # Bound once per model: a label lookup per call showed in classify's profile.
            on_call=metrics.MODEL_ROWS_PER_CALL.labels(config.name).observe,
            on_wait=metrics.MODEL_BATCH_WAIT_SECONDS.labels(config.name).observe,
            around_call=(
                None if model_call_span is None else functools.partial(model_call_span, config.name)
            ),
        )
        entries.append(ModelEntry(config, client, inner, is_default=index == 0))
    return ModelRegistry(entries)


def _pick(own: _T | None, default: _T) -> _T:
    return default if own is None else own
