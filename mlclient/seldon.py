"""A client for the Seldon Core v1 prediction protocol.

``POST {base}/api/v1.0/predictions`` with ``{"data": {"ndarray": [[...], ...]}}``, plus
``"names": [...]`` when the model's features have names (the Python wrapper hands them to the
model's ``predict`` as ``features_names``); a row may mix numbers and strings. The same
protocol is spoken by the ``seldon-core`` Python microservice and, behind an ingress, by a whole
``SeldonDeployment`` (base ``http://ingress/seldon/<namespace>/<deployment>``).
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
from collections.abc import Sequence
from typing import Any

import httpx

from mlclient._features import check_rows, schema_from_tensors
from mlclient._http import (
    exchange_json,
    json_field,
    plain_detail,
    probe,
    refused_by_status,
    safe_url,
    split_credentials,
)
from mlclient._rows import format_label, probability_row
from mlclient.errors import BadModelResponse, ModelError
from mlclient.models import (
    Feature,
    FeatureSchema,
    FeatureValue,
    ModelAnswer,
    ModelMetadata,
    ModelOutput,
    RowPrediction,
    TensorMetadata,
)

__all__ = ["SeldonClient", "is_refusal", "parse_metadata", "parse_predictions"]

PREDICTIONS_PATH = "/api/v1.0/predictions"
METADATA_PATH = "/api/v1.0/metadata"
UNKNOWN_VERSION = "unknown"

# The microservice wraps every exception in the same status body; an HTTP error of its own web
# framework (a wrong path or method: werkzeug's "404 Not Found: ...") is a configuration
# mistake, not the input's fault.
_MODEL_EXCEPTION_REASONS = frozenset({"MICROSERVICE_INTERNAL_ERROR", "MICROSERVICE_BAD_DATA"})
_FRAMEWORK_ERROR = re.compile(r"^\d{3} [A-Za-z ]+:")


def is_refusal(response: httpx.Response) -> bool:
    """Did the Seldon microservice refuse this request's input?

    What the real ``seldon-core`` 1.18 microservice answers (tests/mlclient/
    test_refusals.py asks it): a body it cannot read is 400 ``MICROSERVICE_BAD_DATA``; an input
    the model raises on (a wrong width, a string, NaN, an empty batch) is 500 with
    ``{"status": {"reason": "MICROSERVICE_INTERNAL_ERROR", "info": "<the exception>"}}``,
    because its error handler turns every exception from ``predict`` into that. Such a 500 is
    the server answering, not failing. A 500 without that body (a proxy's page, an empty
    answer) and every other status mean the server or its route is unwell.
    """
    if refused_by_status(response):
        return True
    if response.status_code != 500:
        return False
    reason, info = json_field(response, "status", "reason"), json_field(response, "status", "info")
    return (
        reason in _MODEL_EXCEPTION_REASONS
        and isinstance(info, str)
        and not _FRAMEWORK_ERROR.match(info)
    )


def error_detail(response: httpx.Response) -> str:
    """The microservice's message (``status.info``), else the start of the body."""
    info = json_field(response, "status", "info")
    return info[:300] if isinstance(info, str) and info else plain_detail(response)


class SeldonClient:
    """Calls one Seldon Core v1 model over a shared, pooled ``httpx.AsyncClient``.

    Parameters:
        http: the process's client; its ``base_url`` is not used, ``base_url`` here is.
        name: the model's name, recorded with every prediction.
        base_url: where the model answers, e.g. ``http://iris-default.models:8000``.
        version: the model version to record. When ``None``, the version is read from the
            response's ``meta.requestPath`` (set by a SeldonDeployment to the container image),
            else once from the model's metadata endpoint.
        class_names: class names for a probability matrix returned without ``names``.
        timeout: seconds allowed for one prediction call.
        health_path: the path polled by ``ready()``.
        transport: the transport ``http`` was made with: prediction and metadata requests go
            through it directly (``mlclient._http.send_through``); probes go through ``http``.
    """

    def __init__(
        self,
        http: httpx.AsyncClient,
        *,
        name: str,
        base_url: str,
        version: str | None = None,
        class_names: Sequence[str] | None = None,
        timeout: float = 10.0,
        health_path: str = "/health/ping",
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.name = name
        self._http = http
        self._transport = transport
        base, credentials = split_credentials(base_url.rstrip("/"))
        self._base = base
        self._headers = credentials or None
        self._version = version
        self._metadata: ModelMetadata | None = None
        self._metadata_asked = False
        self._metadata_lock = asyncio.Lock()
        self._class_names = list(class_names) if class_names else None
        self._timeout = httpx.Timeout(timeout)
        self._health_url = self._base + health_path
        # Parsed once: httpx parses a URL given as text on every request (19 µs by timeit on a
        # busy machine, 3 % of a lone call's instructions: bench/RESULTS.md), a URL not again.
        self._predictions_url = httpx.URL(self._base + PREDICTIONS_PATH)
        self.url = safe_url(self._base)  # for logs: without credentials

    async def predict(
        self,
        rows: Sequence[Sequence[FeatureValue]],
        *,
        features: FeatureSchema | None = None,
        request_id: str | None = None,
        outputs: Sequence[str] = (),
    ) -> ModelOutput:
        """One prediction per row; ``features`` (the rows' schema) names the columns when its
        names are the model's own. ``request_id`` is sent as ``meta.puid`` (the Python wrapper
        and a SeldonDeployment's executor answer with it); Seldon has no named outputs, so
        ``outputs`` is not used. ``ValueError`` when the rows do not fit ``features``."""
        check_rows(rows, features)
        data: dict[str, Any] = {"ndarray": [list(row) for row in rows]}
        if features is not None and features.named:
            data = {"names": features.names, **data}
        message: dict[str, Any] = {"data": data}
        if request_id is not None:
            message["meta"] = {"puid": request_id}
        started = time.perf_counter()
        answer = await exchange_json(
            self._http,
            "POST",
            self._predictions_url,
            body=message,
            timeout=self._timeout,
            headers=self._headers,
            is_refusal=is_refusal,
            detail=error_detail,
            transport=self._transport,
        )
        latency_ms = (time.perf_counter() - started) * 1000
        body = answer.body
        predictions = parse_predictions(body, len(rows), self._class_names)
        version = self._version or _version_from_meta(body) or await self._version_from_metadata()
        return ModelOutput(predictions, self.name, version, latency_ms, answer=answer)

    async def ready(self) -> bool:
        return await probe(self._http, self._health_url, timeout=2.0, headers=self._headers)

    async def metadata(self) -> ModelMetadata:
        """The model's ``/api/v1.0/metadata`` (see ``parse_metadata``); raises a ``ModelError``
        when it cannot be read. The last answer is kept for the version of predictions."""
        self._metadata = parse_metadata((await self.metadata_answer()).body)
        return self._metadata

    async def metadata_answer(self) -> ModelAnswer:
        """The model's metadata as the microservice answered it (``GET /api/v1.0/metadata``)."""
        return await exchange_json(
            self._http,
            "GET",
            self._base + METADATA_PATH,
            timeout=self._timeout,
            headers=self._headers,
            detail=error_detail,
            transport=self._transport,
        )

    async def _version_from_metadata(self) -> str:
        # Asked at most once per client unless metadata() was read: a model without a metadata
        # endpoint must not cost a second request on every prediction. Calls that answer while
        # that first ask is under way wait for it, rather than recording "unknown" for a
        # version about to be known.
        if self._metadata is None and not self._metadata_asked:
            async with self._metadata_lock:
                if self._metadata is None and not self._metadata_asked:
                    with contextlib.suppress(ModelError):
                        await self.metadata()
                    self._metadata_asked = True
        versions = self._metadata.versions if self._metadata is not None else ()
        return versions[0] if versions and versions[0] else UNKNOWN_VERSION


def parse_predictions(
    body: Any, expected_rows: int, class_names: Sequence[str] | None = None
) -> list[RowPrediction]:
    """Turn a Seldon v1 response body into one ``RowPrediction`` per input row.

    Understands ``data.ndarray`` and ``data.tensor``. A row of several numbers is a probability
    per class, named by ``data.names`` (or ``class_names``, or the class index); the label is
    then the most probable class. A scalar, or a row of one value, is a plain label.
    """
    data = body.get("data") if isinstance(body, dict) else None
    if not isinstance(data, dict):
        raise BadModelResponse("model response has no 'data' object")
    values = _values(data)
    if len(values) != expected_rows:
        raise BadModelResponse(f"model returned {len(values)} rows for {expected_rows} inputs")
    names = data.get("names") or class_names
    if names is not None and not (
        isinstance(names, list | tuple) and all(isinstance(n, str) for n in names)
    ):
        raise BadModelResponse("model response 'names' is not a list of strings")
    return [_row(value, names) for value in values]


def _values(data: dict[str, Any]) -> list[Any]:
    if "ndarray" in data:
        values = data["ndarray"]
        if not isinstance(values, list):
            raise BadModelResponse("model response 'ndarray' is not a list")
        return values
    tensor = data.get("tensor")
    if isinstance(tensor, dict):
        shape, flat = tensor.get("shape"), tensor.get("values")
        if not (isinstance(shape, list) and isinstance(flat, list) and 1 <= len(shape) <= 2):
            raise BadModelResponse("model response 'tensor' needs a 1-D or 2-D shape and values")
        if len(shape) == 1:
            return flat
        rows, width = shape
        if not (isinstance(rows, int) and isinstance(width, int)) or rows * width != len(flat):
            raise BadModelResponse(f"tensor shape {shape} does not match {len(flat)} values")
        return [flat[i * width : (i + 1) * width] for i in range(rows)]
    raise BadModelResponse("model response 'data' has neither 'ndarray' nor 'tensor'")


def _row(value: Any, names: Sequence[str] | None) -> RowPrediction:
    if isinstance(value, list) and len(value) == 1:
        value = value[0]
    if not isinstance(value, list):
        return RowPrediction(label=format_label(value))
    return probability_row(value, names)


def _version_from_meta(body: dict[str, Any]) -> str | None:
    # A SeldonDeployment's executor records each graph node's image in meta.requestPath,
    # e.g. {"classifier": "registry/iris:1.4"}: the tag is the version that answered.
    meta = body.get("meta")
    path = meta.get("requestPath") if isinstance(meta, dict) else None
    if isinstance(path, dict) and len(path) == 1:
        image = next(iter(path.values()))
        if isinstance(image, str) and ":" in image.rsplit("/", 1)[-1]:
            return image.rsplit(":", 1)[1]
    return None


def parse_metadata(body: Any) -> ModelMetadata:
    """Turn a Seldon v1 metadata body into ``ModelMetadata``.

    Seldon accepts two forms of ``inputs``. The V2 form (``name``, ``datatype``, ``shape`` per
    input) is read as the Open Inference Protocol's: one input per column gives named features,
    ``BYTES`` categorical. The v1 form, ``{"messagetype": "ndarray", "schema": {"names": [...],
    "shape": [4]}}``, gives numerical features named by ``names`` (it has no datatypes), or by
    position when it has only a ``shape``. Anything else gives no schema.
    """
    if not isinstance(body, dict):
        raise BadModelResponse("model metadata is not a JSON object")
    name = body.get("name")
    versions = body.get("versions") or []
    platform = body.get("platform")
    inputs = body.get("inputs") or []
    strings = isinstance(versions, list) and all(isinstance(v, str) for v in versions)
    tensors = tuple(_tensor(item) for item in inputs) if isinstance(inputs, list) else ()
    features: FeatureSchema | None = None
    if tensors and all(t is not None for t in tensors):
        declared = tuple(t for t in tensors if t is not None)
        features = schema_from_tensors(declared)
    elif isinstance(inputs, list) and len(inputs) == 1:
        features = _v1_schema(inputs[0])
    return ModelMetadata(
        name=name if isinstance(name, str) else "",
        versions=tuple(versions) if strings else (),
        platform=platform if isinstance(platform, str) else "",
        inputs=tuple(t for t in tensors if t is not None),
        features=features,
    )


def _tensor(item: Any) -> TensorMetadata | None:
    if not isinstance(item, dict):
        return None
    name, datatype, shape = item.get("name"), item.get("datatype"), item.get("shape")
    if not (isinstance(name, str) and isinstance(datatype, str) and isinstance(shape, list)):
        return None
    if not all(isinstance(d, int) and not isinstance(d, bool) for d in shape):
        return None
    return TensorMetadata(name, datatype, tuple(shape))


def _v1_schema(item: Any) -> FeatureSchema | None:
    schema = item.get("schema") if isinstance(item, dict) else None
    if not isinstance(schema, dict) or item.get("messagetype") not in ("ndarray", "tensor"):
        return None
    names, shape = schema.get("names"), schema.get("shape")
    width = shape[-1] if isinstance(shape, list) and shape and isinstance(shape[-1], int) else None
    if isinstance(names, list) and names and all(isinstance(n, str) and n for n in names):
        if len(set(names)) != len(names) or (width not in (None, -1) and width != len(names)):
            return None
        return FeatureSchema(tuple(Feature(n) for n in names))
    if isinstance(width, int) and not isinstance(width, bool) and width > 0:
        return FeatureSchema.positional(width)
    return None
