"""mlgraph's configuration: every setting, read once from ``MLGRAPH_*`` environment variables.

Every entry point (``create_app``, each ``mlgraph`` command, Alembic's ``env.py``) loads them
with ``load_settings()``, which turns whatever pydantic refuses into ``InvalidSettings``: one
line per bad setting, naming its variable. Lengths of time are read by graph/durations.py.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Annotated, Any, Literal, Self

from pydantic import (
    AfterValidator,
    AliasChoices,
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, SettingsConfigDict
from pydantic_settings import SettingsError as _SourceError

from db.urls import async_url
from graph.durations import Duration, Seconds

__all__ = [
    "DatabaseUrl",
    "FeatureSetting",
    "Features",
    "InvalidSettings",
    "ModelSettings",
    "Settings",
    "load_settings",
]

# A database URL, given the async driver mlgraph runs on (db/urls.py says which are taken).
DatabaseUrl = Annotated[str, AfterValidator(async_url)]


class FeatureSetting(BaseModel):
    """One feature of a model's input rows, as an item of a model's ``features`` list: an
    object ``{"name": ..., "kind": ...}``, or just the name of a numerical feature."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    kind: Literal["numerical", "categorical"] = "numerical"

    @model_validator(mode="before")
    @classmethod
    def _from_name(cls, value: Any) -> Any:
        return {"name": value} if isinstance(value, str) else value


# A model's features: a count (numerical f0, f1, ...), or the ordered features. The
# discriminator picks the form by the value's type, so a mistake is reported for that form
# alone rather than once per form tried.
Features = Annotated[
    Annotated[int, Tag("count")] | Annotated[list[FeatureSetting], Tag("features")],
    Discriminator(lambda value: "count" if isinstance(value, int) else "features"),
]


def _check_features(value: int | list[FeatureSetting] | None) -> int | list[FeatureSetting] | None:
    if value is None or isinstance(value, int):
        if value is not None and value < 1:
            raise ValueError("features: a count must be at least 1")
        return value
    if not value:
        raise ValueError("features: name at least one feature")
    names = [item.name for item in value]
    if any(not 1 <= len(name) <= 200 or "\x00" in name for name in names):
        raise ValueError("features: each name is 1 to 200 characters, without NUL")
    if len(set(names)) != len(names):
        raise ValueError(f"features: names must be unique, got {names}")
    return value


class ModelSettings(BaseModel):
    """One model mlgraph can call, as an item of ``MLGRAPH_MODELS`` (a JSON list)."""

    name: str = Field(min_length=1, max_length=200, description="the name callers use")
    protocol: Literal["seldon", "v2"] = "seldon"
    url: str = Field(description="base URL of the model server")
    v2_name: str | None = Field(default=None, description="name on a V2 server; default: name")
    version: str | None = Field(default=None, description="recorded version; default: server's")
    class_names: list[str] | None = None
    features: Features | None = Field(
        default=None, description="a count, or the features: names or {name, kind} objects"
    )
    probabilities: bool = Field(default=True, description="V2: ask for predict_proba")
    timeout: Seconds | None = Field(
        default=None, gt=0, description="default: MLGRAPH_MODEL_TIMEOUT"
    )
    health_path: str = Field(default="/health/ping", description="Seldon v1 readiness path")
    headers: dict[str, str] = Field(default_factory=dict, description="e.g. Seldon-Model")
    batching: bool | None = Field(default=None, description="default: MLGRAPH_MODEL_BATCHING")
    max_batch_rows: int | None = Field(
        default=None, ge=1, description="rows per model call; default: MLGRAPH_MODEL_MAX_BATCH_ROWS"
    )
    max_wait: Seconds | None = Field(
        default=None, ge=0, description="a duration; default: MLGRAPH_MODEL_MAX_WAIT"
    )

    @field_validator("features")
    @classmethod
    def _valid_features(cls, value: Features | None) -> Features | None:
        return _check_features(value)


class Settings(BaseSettings):
    """All of mlgraph's settings. ``create_app()`` builds one and passes its values down.

    Each field is read from ``MLGRAPH_<FIELD NAME>``, e.g. ``MLGRAPH_DATABASE_URL``.
    """

    model_config = SettingsConfigDict(
        env_prefix="MLGRAPH_", env_ignore_empty=True, extra="ignore", protected_namespaces=()
    )

    environment: Literal["development", "production"] = "development"

    database_url: DatabaseUrl = Field(
        default="sqlite+aiosqlite:///./mlgraph.db",
        description="sqlite+aiosqlite:///path.db or postgresql+asyncpg://user:pass@host/db",
    )
    database_pool_size: int = Field(default=10, ge=1)
    database_max_overflow: int = Field(default=10, ge=0)
    database_statement_cache: bool = Field(
        default=True,
        description="false behind PgBouncer in transaction or statement mode (db.driver_options)",
    )
    database_read_url: DatabaseUrl | None = Field(
        default=None,
        description="a streaming replica for history, statistics, drift, performance, export",
    )
    listen_database_url: DatabaseUrl | None = Field(
        default=None,
        description="a direct PostgreSQL connection for LISTEN (not a transaction pooler); "
        "default: database_url",
    )

    model_url: str = Field(
        default="http://127.0.0.1:9000", description="base URL of the Seldon model server"
    )
    model_name: str = Field(default="iris", min_length=1, max_length=200)
    model_version: str | None = Field(
        default=None, description="version to record; read from the server when unset"
    )
    model_class_names: list[str] | None = Field(
        default=None, description="class names for a probability matrix returned without names"
    )
    model_timeout: Seconds = Field(default=10.0, gt=0, description="seconds per model call")
    model_connect_timeout: Seconds = Field(default=2.0, gt=0)
    model_max_connections: int = Field(default=100, ge=1)
    model_health_path: str = "/health/ping"
    model_protocol: Literal["seldon", "v2"] = "seldon"
    model_v2_name: str | None = None
    model_features: Features | None = Field(
        default=None, description="JSON: a count, or the features (see MLGRAPH_MODELS)"
    )
    model_probabilities: bool = True
    # Adaptive batching (mlclient/batching.py): concurrent classify calls to one model share
    # one model request. Per model in MLGRAPH_MODELS as batching / max_batch_rows / max_wait.
    model_batching: bool = Field(default=True, description="coalesce concurrent model calls")
    model_max_batch_rows: int = Field(
        default=256, ge=1, description="rows per model request (not MLGRAPH_MAX_BATCH_ROWS)"
    )
    model_max_wait: Seconds = Field(
        default=0.01, ge=0, description="seconds a call waits for the call in flight, at most"
    )
    models: list[ModelSettings] = Field(
        default_factory=list,
        description="several models as a JSON list; replaces the single MLGRAPH_MODEL_* model",
    )
    default_model: str | None = Field(default=None, description="default: the first model")
    model_retries: int = Field(
        default=2, ge=0, le=10, description="extra attempts, 502/503/504 and connection errors only"
    )
    model_backoff: Seconds = Field(
        default=0.05, ge=0, description="first retry waits up to this, doubling"
    )
    model_max_backoff: Seconds = Field(default=1.0, ge=0)
    model_deadline: Seconds = Field(
        default=15.0, gt=0, description="seconds for a call, retries included"
    )
    breaker_failures: int = Field(
        default=5, ge=1, description="consecutive failures that open the circuit"
    )
    breaker_reset_seconds: Seconds = Field(
        default=10.0, gt=0, description="the longest the circuit fails fast before a probe"
    )
    breaker_probe_seconds: Seconds = Field(
        default=1.0,
        gt=0,
        description="the first probe's wait; doubles after each failed probe up to the reset",
    )

    max_batch_rows: int = Field(default=1000, ge=1, description="rows per classify call")
    max_features: int = Field(default=1000, ge=1, description="features per row")
    max_category_length: int = Field(
        default=200, ge=1, le=10_000, description="characters in a categorical feature's value"
    )
    default_page_size: int = Field(default=50, ge=1)
    max_page_size: int = Field(default=500, ge=1)
    live_queue_size: int = Field(
        default=1000, ge=1, description="live predictions a subscriber may have waiting"
    )

    max_body_bytes: int = Field(default=16 * 1024 * 1024, ge=1024, description="request body")
    max_query_depth: int = Field(default=10, ge=2)
    max_aliases: int = Field(default=30, ge=0)
    max_tokens: int = Field(
        default=20_000, ge=100, description="tokens per document; send large rows as variables"
    )
    document_cache_size: int = Field(
        default=256, ge=1, description="parsed and validated GraphQL documents kept per process"
    )

    drift_min_rows: int = Field(
        default=30, ge=2, description="rows each drift window needs before it is judged"
    )
    drift_max_sample: int = Field(
        default=100_000, ge=100, description="rows per drift window, sampled by the database"
    )
    drift_ks_threshold: float = Field(default=0.05, gt=0, lt=1, description="p-value")
    drift_chisquare_threshold: float = Field(default=0.05, gt=0, lt=1, description="p-value")
    drift_ztest_threshold: float = Field(default=0.05, gt=0, lt=1, description="p-value")
    drift_wasserstein_threshold: float = Field(default=0.1, gt=0, description="in reference stds")
    drift_jensenshannon_threshold: float = Field(default=0.1, gt=0, le=1)
    drift_psi_threshold: float = Field(default=0.1, gt=0)
    # `mlgraph check-drift` (graph/cli/check_drift.py).
    drift_current_window: Duration = Field(
        default=timedelta(hours=24), gt=timedelta(0), description="ends now (or at --until)"
    )
    drift_reference_window: Duration = Field(
        default=timedelta(days=7), gt=timedelta(0), description="just before the current window"
    )
    drift_reference_since: datetime | None = Field(
        default=None, description="a fixed reference instead (with drift_reference_until)"
    )
    drift_reference_until: datetime | None = None
    drift_accuracy_threshold: float | None = Field(
        default=None, ge=0, le=1, description="alert below this accuracy (needs actuals)"
    )
    drift_webhook_url: str | None = Field(default=None, description="POSTed the report on alert")
    drift_webhook_timeout: Seconds = Field(default=10.0, gt=0, description="seconds per attempt")
    drift_webhook_retries: int = Field(default=2, ge=0, le=10, description="extra attempts")

    # `mlgraph maintain` (db/partitions.py), daily from a CronJob.
    retention_months: int = Field(
        default=13, ge=1, description="whole months of predictions kept before this month"
    )
    partitions_ahead: int = Field(
        default=3, ge=0, le=24, description="PostgreSQL: monthly partitions made in advance"
    )

    graphiql: bool = Field(default=True, description="serve the GraphiQL explorer at /graphql")
    introspection: bool = Field(default=True, description="answer __schema/__type queries")

    anonymous_read: bool = Field(
        default=False, description="callers without a key may read history once keys exist"
    )
    anonymous_feedback: bool = Field(
        default=False,
        description="callers without a key may send Seldon feedback once keys exist "
        "(seldon-core's SeldonClient.feedback cannot send headers)",
    )
    api_key_cache_seconds: Seconds = Field(
        default=10.0, ge=0, description="how long a key lookup (and a revocation) is remembered"
    )

    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    # `mlgraph serve` (graph/cli/serve.py): "auto" is one uvicorn worker per CPU the process may
    # use on PostgreSQL, and one on SQLite (a single process's database).
    workers: Annotated[int, Field(ge=1)] | Literal["auto"] = "auto"
    log_level: str = "info"
    shutdown_grace_seconds: Seconds = Field(default=20.0, gt=0)

    # OpenTelemetry's own variables (no MLGRAPH_ prefix): any of them turns tracing on
    # (graph/middleware/tracing.py); the SDK reads the rest of OTEL_* itself.
    otel_traces_exporter: str | None = Field(
        default=None, validation_alias=AliasChoices("OTEL_TRACES_EXPORTER", "otel_traces_exporter")
    )
    otel_exporter_otlp_endpoint: str | None = Field(
        default=None,
        validation_alias=AliasChoices("OTEL_EXPORTER_OTLP_ENDPOINT", "otel_exporter_otlp_endpoint"),
    )
    otel_exporter_otlp_traces_endpoint: str | None = Field(
        default=None,
        validation_alias=AliasChoices(
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "otel_exporter_otlp_traces_endpoint"
        ),
    )
    otel_sdk_disabled: bool = Field(
        default=False, validation_alias=AliasChoices("OTEL_SDK_DISABLED", "otel_sdk_disabled")
    )

    @field_validator("model_features")
    @classmethod
    def _valid_model_features(cls, value: Features | None) -> Features | None:
        return _check_features(value)

    @model_validator(mode="after")
    def _check_limits(self) -> Self:
        # Each message names the variables, as InvalidSettings shows it alone.
        if self.default_page_size > self.max_page_size:
            raise ValueError(
                f"MLGRAPH_DEFAULT_PAGE_SIZE ({self.default_page_size}) must not exceed "
                f"MLGRAPH_MAX_PAGE_SIZE ({self.max_page_size})"
            )
        names = [model.name for model in self.models]
        if len(set(names)) != len(names):
            raise ValueError(f"MLGRAPH_MODELS: each name must be unique, got {names}")
        if self.default_model is not None and self.models and self.default_model not in names:
            raise ValueError(
                f"MLGRAPH_DEFAULT_MODEL {self.default_model!r} is not among MLGRAPH_MODELS' {names}"
            )
        if (self.drift_reference_since is None) != (self.drift_reference_until is None):
            raise ValueError(
                "set both MLGRAPH_DRIFT_REFERENCE_SINCE and MLGRAPH_DRIFT_REFERENCE_UNTIL, "
                "or neither"
            )
        for name in ("database_read_url", "listen_database_url"):
            url = getattr(self, name)
            if url is not None and not (
                url.startswith("postgresql") and self.database_url.startswith("postgresql")
            ):
                raise ValueError(
                    f"{_variable(name)} is a PostgreSQL URL beside a PostgreSQL "
                    "MLGRAPH_DATABASE_URL (a replica or LISTEN connection of its primary)"
                )
        return self

    @property
    def read_url(self) -> str:
        """Where monitoring reads go: the read replica, else the primary."""
        return self.database_read_url or self.database_url

    @property
    def listen_url(self) -> str:
        """Where live predictions ``LISTEN``: its own URL, else the main one."""
        return self.listen_database_url or self.database_url

    def model_list(self) -> list[ModelSettings]:
        """The configured models, the default first."""
        models = self.models or [
            ModelSettings(
                name=self.model_name,
                protocol=self.model_protocol,
                url=self.model_url,
                v2_name=self.model_v2_name,
                version=self.model_version,
                class_names=self.model_class_names,
                features=self.model_features,
                probabilities=self.model_probabilities,
                health_path=self.model_health_path,
            )
        ]
        default = self.default_model or models[0].name
        return sorted(models, key=lambda model: model.name != default)


class InvalidSettings(ValueError):
    """Settings that cannot be used; ``problems`` holds one line per bad setting."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


def load_settings(**values: Any) -> Settings:
    """``Settings`` from the environment (``values`` win); ``InvalidSettings`` if any is bad.

    Use this rather than ``Settings()`` at an entry point: pydantic's own message spans several
    lines per error and shows the field, not the variable an operator sets.
    """
    try:
        return Settings(**values)
    except ValidationError as exc:
        raise InvalidSettings([_problem(error) for error in exc.errors()]) from None
    except _SourceError as exc:
        # pydantic-settings decodes list and object values as JSON before validating them.
        field = re.search(r'field "([^"]+)"', str(exc))
        name = _variable(field[1]) if field else "a setting"
        raise InvalidSettings([f"{name}: not valid JSON ({exc.__cause__ or exc})"]) from None


# Values that may hold passwords or tokens are never repeated (URLs, a model's headers).
_SECRET = frozenset(
    {
        "database_url",
        "database_read_url",
        "listen_database_url",
        "drift_webhook_url",
        "url",
        "headers",
    }
)


def _variable(field: str) -> str:
    if field.isupper():  # a validation alias: OpenTelemetry's own variable names
        return field
    return f"MLGRAPH_{field.upper()}"


def _problem(error: Any) -> str:
    location = [str(part) for part in error["loc"]]
    if not location:  # a check across settings (Settings._check_limits) names them itself
        return str(error.get("ctx", {}).get("error", error["msg"]))
    name = _variable(location[0])
    if len(location) > 1:  # an item of MLGRAPH_MODELS: "MLGRAPH_MODELS item 0, url"
        name += f" item {location[1]}" + "".join(f", {part}" for part in location[2:])
    shown = ""
    value = error.get("input")
    # A value_error is one of mlgraph's own messages, which quote the value where it helps.
    secret = not _SECRET.isdisjoint(location) or error["type"] == "value_error"
    if not secret and isinstance(value, str | int | float):
        shown = f" (got {str(value)[:60]!r})"
    return f"{name}: {_reason(error)}{shown}"


def _reason(error: Any) -> str:
    kind, ctx = error["type"], error.get("ctx", {})
    reasons = {
        "missing": "is required",
        "int_parsing": "must be a whole number",
        "int_from_float": "must be a whole number",
        "int_type": "must be a whole number",
        "float_parsing": "must be a number",
        "float_type": "must be a number",
        "bool_parsing": "must be true or false",
        "bool_type": "must be true or false",
        "list_type": 'must be a JSON list, e.g. ["a", "b"]',
        "dict_type": 'must be a JSON object, e.g. {"key": "value"}',
        "model_type": "must be a JSON object",
        "model_attributes_type": "must be a JSON object",
        "json_invalid": "is not valid JSON",
        "datetime_parsing": "must be an ISO 8601 time, e.g. 2026-03-01T00:00:00Z",
        "datetime_from_date_parsing": "must be an ISO 8601 time, e.g. 2026-03-01T00:00:00Z",
        "greater_than": f"must be more than {ctx.get('gt')}",
        "greater_than_equal": f"must be at least {ctx.get('ge')}",
        "less_than": f"must be less than {ctx.get('lt')}",
        "less_than_equal": f"must be at most {ctx.get('le')}",
        "literal_error": f"must be {ctx.get('expected')}",
        "string_too_short": f"must have at least {ctx.get('min_length')} character(s)",
        "string_too_long": f"must have at most {ctx.get('max_length')} characters",
    }
    if kind in reasons:
        return reasons[kind]
    if kind == "value_error":
        return str(ctx.get("error", error["msg"]))
    message: str = error["msg"]
    return message[0].lower() + message[1:]
