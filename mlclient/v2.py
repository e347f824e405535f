"""A client for the Open Inference Protocol (the "V2" protocol of KServe, MLServer and Triton).

``POST {base}/v2/models/{model}[/versions/{version}]/infer``. Rows of numbers go as one FP64
input tensor holding the rows::

    {"inputs": [{"name": "input-0", "shape": [rows, width], "datatype": "FP64", "data": [...]}],
     "outputs": [{"name": "predict_proba"}]}

Rows with categorical features go one input per column, named by the feature, with MLServer's
pandas content type, which its runtimes decode into a DataFrame (strings as ``BYTES``)::

    {"parameters": {"content_type": "pd"},
     "inputs": [{"name": "income", "shape": [rows, 1], "datatype": "FP64", "data": [...]},
                {"name": "region", "shape": [rows, 1], "datatype": "BYTES", "data": [...],
                 "parameters": {"content_type": "str"}}]}

``outputs`` is sent only when probabilities are wanted: MLServer's scikit-learn runtime answers
with ``predict`` (one label per row) unless asked for ``predict_proba`` (one probability per class
per row). The same protocol is served by MLServer itself, by a Seldon Core v2 ``Model`` through
the ``seldon-mesh`` service (with a ``Seldon-Model: <model>`` header) and by a KServe
``InferenceService`` with ``protocolVersion: v2``.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeGuard
from urllib.parse import quote

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
from mlclient.errors import BadModelResponse
from mlclient.models import (
    FeatureKind,
    FeatureSchema,
    FeatureValue,
    ModelAnswer,
    ModelMetadata,
    ModelOutput,
    RowPrediction,
    TensorMetadata,
)

__all__ = ["V2Client", "flatten", "is_refusal", "parse_infer_response", "parse_metadata"]

UNKNOWN_VERSION = "unknown"
SERVER_READY_PATH = "/v2/health/ready"
LABELS_OUTPUT = "predict"
PROBABILITIES_OUTPUT = "predict_proba"

_FLOAT_TYPES = frozenset({"FP16", "FP32", "FP64"})
_INT_TYPES = frozenset({"INT8", "INT16", "INT32", "INT64", "UINT8", "UINT16", "UINT32", "UINT64"})
_DATATYPES = _FLOAT_TYPES | _INT_TYPES | {"BOOL", "BYTES"}


def is_refusal(response: httpx.Response) -> bool:
    """Did a V2 server refuse this request's input?

    What the real MLServer 1.7 answers (tests/mlclient/test_refusals.py asks it): a request it
    cannot decode or check is 400 ``{"error": ...}`` or 422 (FastAPI's validation); an input
    the model raises on (a wrong width, a value it cannot convert) is 500 with Starlette's plain
    ``Internal Server Error``, the answer to any exception from ``predict``. KServe's server
    answers the same case with 500 ``{"error": ...}``. Those are the server answering, not
    failing. But MLServer's "Model iris is not ready yet." is a 400 too, and means the model is
    loading; a 500 with any other body (a proxy's page), 404 (no such model) and every other
    status mean the server or its route is unwell.
    """
    if refused_by_status(response):
        error = json_field(response, "error")
        return not (isinstance(error, str) and error.endswith("is not ready yet."))
    if response.status_code != 500:
        return False
    return response.text.strip() == "Internal Server Error" or isinstance(
        json_field(response, "error"), str
    )


def error_detail(response: httpx.Response) -> str:
    """The server's message (``error``), else the start of the body."""
    error = json_field(response, "error")
    return error[:300] if isinstance(error, str) and error else plain_detail(response)


class V2Client:
    """Calls one model over the Open Inference Protocol through a shared ``httpx.AsyncClient``.

    Parameters:
        http: the process's client; its ``base_url`` is not used, ``base_url`` here is.
        name: the model's name in mlgraph, recorded with every prediction.
        base_url: the server's base, without ``/v2``: ``http://127.0.0.1:8080`` for MLServer,
            ``http://seldon-mesh.<ns>`` for Seldon Core v2, ``http://<isvc>.<ns>.svc.cluster.local``
            for KServe.
        model_name: the model's name on the server (in the ``/v2/models/...`` paths); default
            ``name``.
        version: asks the server for this version (``/versions/{version}`` in the paths) and is
            the version recorded when the response carries no ``model_version``.
        class_names: names for the columns of a probability output, in the model's class
            order; without them classes are named by index (``"0"``, ``"1"``, ...).
        probabilities: ask for ``predict_proba`` and return one probability per class.
        timeout: seconds allowed for one prediction or metadata call.
        headers: added to every request, e.g. ``{"Seldon-Model": "iris"}`` for a Seldon Core v2
            mesh.
        input_name: the input tensor's name; servers with several inputs (Triton) match on it.
        transport: the transport ``http`` was made with: inference and metadata requests go
            through it directly (``mlclient._http.send_through``); probes go through ``http``.

    The recorded version is the response's ``model_version``, else ``version``, else
    ``"unknown"``.
    """

    def __init__(
        self,
        http: httpx.AsyncClient,
        *,
        name: str,
        base_url: str,
        model_name: str | None = None,
        version: str | None = None,
        class_names: Sequence[str] | None = None,
        probabilities: bool = False,
        timeout: float = 10.0,
        headers: Mapping[str, str] | None = None,
        input_name: str = "input-0",
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.name = name
        self._http = http
        self._transport = transport
        base, credentials = split_credentials(base_url.rstrip("/"))
        self._base = base
        self._version = version
        self._class_names = list(class_names) if class_names else None
        self._probabilities = probabilities
        self._timeout = httpx.Timeout(timeout)
        self._headers = {**credentials, **(headers or {})} or None
        self._input_name = input_name
        self.url = safe_url(self._base)  # for logs: without credentials
        model_path = f"{self._base}/v2/models/{quote(model_name or name, safe='')}"
        if version:
            model_path += f"/versions/{quote(version, safe='')}"
        self._model_url = model_path
        # Parsed once: httpx parses a URL given as text on every request (see seldon.py).
        self._infer_url = httpx.URL(model_path + "/infer")

    async def predict(
        self,
        rows: Sequence[Sequence[FeatureValue]],
        *,
        features: FeatureSchema | None = None,
        request_id: str | None = None,
        outputs: Sequence[str] = (),
    ) -> ModelOutput:
        """One prediction per row. ``features`` is the rows' schema: with a categorical
        feature the rows go one input per column (pandas content type), otherwise as one FP64
        tensor; ``ValueError`` when the rows do not fit it. ``request_id`` is the request's
        ``id`` (servers answer with it); ``outputs`` are asked for before ``predict_proba``
        (when probabilities are wanted), so the answer holds them in that order."""
        width = check_rows(rows, features)
        request: dict[str, Any]
        if features is None or features.all_numerical:
            request = {
                "inputs": [
                    {
                        "name": self._input_name,
                        "shape": [len(rows), width],
                        "datatype": "FP64",
                        # Row-major and flat, as the protocol defines it; every server reads it.
                        "data": [float(value) for row in rows for value in row],
                    }
                ]
            }
        else:
            request = {"parameters": {"content_type": "pd"}, "inputs": _columns(rows, features)}
        wanted = list(dict.fromkeys(outputs))
        if self._probabilities and PROBABILITIES_OUTPUT not in wanted:
            wanted.append(PROBABILITIES_OUTPUT)
        if wanted:
            request["outputs"] = [{"name": name} for name in wanted]
        if request_id is not None:
            request["id"] = request_id
        started = time.perf_counter()
        answer = await exchange_json(
            self._http,
            "POST",
            self._infer_url,
            body=request,
            timeout=self._timeout,
            headers=self._headers,
            is_refusal=is_refusal,
            detail=error_detail,
            transport=self._transport,
        )
        latency_ms = (time.perf_counter() - started) * 1000
        body = answer.body
        predictions = parse_infer_response(body, len(rows), self._class_names)
        version = body.get("model_version")
        if not (isinstance(version, str) and version):
            version = self._version or UNKNOWN_VERSION
        return ModelOutput(predictions, self.name, version, latency_ms, answer=answer)

    async def ready(self) -> bool:
        """True when both the server and this model report ready."""
        server = await probe(
            self._http, self._base + SERVER_READY_PATH, timeout=2.0, headers=self._headers
        )
        return server and await probe(
            self._http, self._model_url + "/ready", timeout=2.0, headers=self._headers
        )

    async def metadata(self) -> ModelMetadata:
        """The model's metadata; its ``features`` are read from the declared inputs as
        ``mlclient._features.schema_from_tensors`` says (``None`` when they give none)."""
        return parse_metadata((await self.metadata_answer()).body)

    async def metadata_answer(self) -> ModelAnswer:
        """The model's metadata as the server answered it (``GET /v2/models/{model}``)."""
        return await exchange_json(
            self._http,
            "GET",
            self._model_url,
            timeout=self._timeout,
            headers=self._headers,
            transport=self._transport,
        )


def parse_infer_response(
    body: Any, expected_rows: int, class_names: Sequence[str] | None = None
) -> list[RowPrediction]:
    """Turn an inference response body into one ``RowPrediction`` per input row.

    Two kinds of output are understood, found by name and otherwise by shape:

    - probabilities: ``predict_proba``, else the first FP output of shape ``[rows, classes]``
      with more than one class;
    - labels: ``predict``, else the first output of shape ``[rows]`` or ``[rows, 1]``
      (numbers, BOOL or BYTES strings).

    With probabilities, each row's label is its most probable class, named by ``class_names``
    or else by class index, so the label is always one of the probabilities' keys; a labels
    output sent alongside is checked but not used for naming (MLServer's sklearn ``predict``
    gives class indexes, which ``class_names`` names better). Without probabilities, the labels
    output gives the label and ``probabilities`` is ``None``.
    """
    outputs = body.get("outputs") if isinstance(body, dict) else None
    if not isinstance(outputs, list) or not outputs:
        raise BadModelResponse("model response has no 'outputs'")
    tensors = [_tensor(output) for output in outputs]
    probabilities = _probabilities_tensor(tensors)
    labels = _labels_tensor(tensors, exclude=probabilities)
    if probabilities is None and labels is None:
        found = ", ".join(f"{t.name} {list(t.shape)}" for t in tensors)
        raise BadModelResponse(
            f"model response has no labels [rows] or probabilities [rows, classes] output: {found}"
        )
    for tensor in (probabilities, labels):
        if tensor is not None and tensor.shape[0] != expected_rows:
            raise BadModelResponse(
                f"model output {tensor.name!r} has {tensor.shape[0]} rows "
                f"for {expected_rows} inputs"
            )
    if probabilities is not None:
        width = probabilities.shape[1]
        flat = probabilities.data
        return [
            probability_row(flat[i * width : (i + 1) * width], class_names)
            for i in range(expected_rows)
        ]
    assert labels is not None
    return [RowPrediction(label=_label(value)) for value in labels.data]


def parse_metadata(body: Any) -> ModelMetadata:
    """Turn a model metadata response (``GET /v2/models/{model}``) into ``ModelMetadata``."""
    if not isinstance(body, dict) or not isinstance(body.get("name"), str):
        raise BadModelResponse("model metadata has no 'name'")
    versions = body.get("versions") or []
    platform = body.get("platform") or ""
    inputs = body.get("inputs") or []
    if not (isinstance(versions, list) and all(isinstance(v, str) for v in versions)):
        raise BadModelResponse("model metadata 'versions' is not a list of strings")
    if not isinstance(platform, str):
        raise BadModelResponse("model metadata 'platform' is not a string")
    if not isinstance(inputs, list):
        raise BadModelResponse("model metadata 'inputs' is not a list")
    tensors = tuple(_tensor_metadata(item) for item in inputs)
    return ModelMetadata(
        name=body["name"],
        versions=tuple(versions),
        platform=platform,
        inputs=tensors,
        features=schema_from_tensors(tensors),
    )


def _columns(rows: Sequence[Sequence[FeatureValue]], features: FeatureSchema) -> list[Any]:
    inputs: list[dict[str, Any]] = []
    for index, feature in enumerate(features.features):
        if feature.kind is FeatureKind.CATEGORICAL:
            # "str" makes MLServer hand the column to the model as text, not bytes.
            inputs.append(
                {
                    "name": feature.name,
                    "shape": [len(rows), 1],
                    "datatype": "BYTES",
                    "data": [row[index] for row in rows],
                    "parameters": {"content_type": "str"},
                }
            )
        else:
            inputs.append(
                {
                    "name": feature.name,
                    "shape": [len(rows), 1],
                    "datatype": "FP64",
                    "data": [float(row[index]) for row in rows],
                }
            )
    return inputs


@dataclass(frozen=True, slots=True)
class _Tensor:
    name: str
    datatype: str
    shape: tuple[int, ...]
    data: list[Any]  # flattened, row-major


def _tensor(output: Any) -> _Tensor:
    if not isinstance(output, dict):
        raise BadModelResponse(f"model output is not an object: {output!r}")
    name, datatype = output.get("name"), output.get("datatype")
    shape, data = output.get("shape"), output.get("data")
    if not isinstance(name, str):
        raise BadModelResponse("model output has no 'name'")
    if datatype not in _DATATYPES:
        raise BadModelResponse(f"model output {name!r} has an unknown datatype {datatype!r}")
    if not _is_shape(shape):
        raise BadModelResponse(f"model output {name!r} has a bad shape {shape!r}")
    if not isinstance(data, list):
        raise BadModelResponse(f"model output {name!r} has no 'data' list")
    flat = flatten(data)
    if len(flat) != math.prod(shape):
        raise BadModelResponse(f"model output {name!r} has shape {shape} but {len(flat)} values")
    if not all(_fits(value, datatype) for value in flat):
        raise BadModelResponse(f"model output {name!r} has values that are not {datatype}")
    return _Tensor(name, datatype, tuple(shape), flat)


def _probabilities_tensor(tensors: list[_Tensor]) -> _Tensor | None:
    named = next((t for t in tensors if t.name == PROBABILITIES_OUTPUT), None)
    if named is not None:
        if len(named.shape) != 2 or named.datatype not in _FLOAT_TYPES:
            raise BadModelResponse(
                f"model output {named.name!r} should be FP [rows, classes], "
                f"not {named.datatype} {list(named.shape)}"
            )
        return named
    return next(
        (t for t in tensors if len(t.shape) == 2 and t.shape[1] > 1 and t.datatype in _FLOAT_TYPES),
        None,
    )


def _labels_tensor(tensors: list[_Tensor], *, exclude: _Tensor | None) -> _Tensor | None:
    def is_labels(tensor: _Tensor) -> bool:
        return len(tensor.shape) == 1 or (len(tensor.shape) == 2 and tensor.shape[1] == 1)

    named = next((t for t in tensors if t.name == LABELS_OUTPUT), None)
    if named is not None:
        if not is_labels(named):
            raise BadModelResponse(
                f"model output {named.name!r} should have shape [rows] or [rows, 1], "
                f"not {list(named.shape)}"
            )
        return named
    return next((t for t in tensors if t is not exclude and is_labels(t)), None)


def _label(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return format_label(value)


def _tensor_metadata(item: Any) -> TensorMetadata:
    if not (
        isinstance(item, dict)
        and isinstance(item.get("name"), str)
        and isinstance(item.get("datatype"), str)
        and isinstance(item.get("shape"), list)
        and all(isinstance(d, int) and not isinstance(d, bool) for d in item["shape"])
    ):
        raise BadModelResponse(f"model metadata input is not a name, datatype and shape: {item!r}")
    return TensorMetadata(item["name"], item["datatype"], tuple(item["shape"]))


def _is_shape(shape: Any) -> TypeGuard[list[int]]:
    return (
        isinstance(shape, list)
        and len(shape) >= 1
        and all(isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape)
    )


def flatten(data: list[Any]) -> list[Any]:
    # JSON tensors may be flat or nested row-major; both mean the same values in the same order.
    if not any(isinstance(value, list) for value in data):
        return data
    flat: list[Any] = []
    for value in data:
        if isinstance(value, list):
            flat.extend(flatten(value))
        else:
            flat.append(value)
    return flat


def _fits(value: Any, datatype: str) -> bool:
    if datatype == "BYTES":
        return isinstance(value, str)
    if datatype == "BOOL":
        return isinstance(value, bool)
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    return datatype in _FLOAT_TYPES or isinstance(value, int) or float(value).is_integer()
