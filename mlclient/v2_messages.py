"""Open Inference Protocol (V2) messages as a V2 client sends and expects them, for a server
that answers in a model's place (mlgraph's ``/v2/models/{name}/infer``).

``parse_infer_request`` reads an inference request's JSON tensors into rows: one input of shape
``[rows, features]`` is positional rows (what MLServer's scikit-learn runtime reads, and what
tritonclient sends for a NumPy array); several inputs of shape ``[rows]`` or ``[rows, 1]`` are
one column each, named by the input (MLServer's pandas codec: ``BYTES`` for strings). The
request's ``id`` and the outputs it names are kept. ``outputs_to_ask`` says which outputs to ask
the model for, and ``reply`` gives the answer: the model's own bytes when nothing needs
changing, else its JSON with the request's ``id`` and only the outputs the client named.

Binary tensor data (the binary-data extension, tritonclient's ``binary_data=True``) is refused,
as MLServer refuses it; so is ``BOOL``, which is no feature kind here.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from mlclient._rows import is_number
from mlclient.models import ModelAnswer, RowPrediction
from mlclient.seldon_messages import MessageError
from mlclient.v2 import LABELS_OUTPUT, PROBABILITIES_OUTPUT, flatten

__all__ = [
    "BINARY_ADVICE",
    "BINARY_HEADER",
    "InferenceRequest",
    "MessageError",
    "outputs_to_ask",
    "parse_infer_request",
    "reply",
]

# Sent by clients of the binary-data extension: the length of the JSON part of the body.
BINARY_HEADER = "inference-header-content-length"
_NUMERIC = frozenset(
    {"FP16", "FP32", "FP64", "INT8", "INT16", "INT32", "INT64"}
    | {"UINT8", "UINT16", "UINT32", "UINT64"}
)
BINARY_ADVICE = (
    "binary tensor data is not supported: send the data in the JSON body "
    "(tritonclient: set_data_from_numpy(array, binary_data=False))"
)


@dataclass(frozen=True, slots=True)
class InferenceRequest:
    """An inference request's rows, their columns' ``names`` when each input was one column
    (``None`` for one positional tensor), its ``id`` and the outputs it named, in order."""

    rows: list[list[Any]]
    names: list[str] | None
    id: str | None
    outputs: tuple[str, ...]


def parse_infer_request(body: Any) -> InferenceRequest:
    """Read an inference request; ``MessageError`` says what is wrong and where."""
    if not isinstance(body, dict):
        raise MessageError(
            'the body must be an inference request object: {"inputs": [...]}', field="body"
        )
    request_id = body.get("id")
    if request_id == "":
        request_id = None
    if request_id is not None and not isinstance(request_id, str):
        raise MessageError("id must be a string", field="id")
    inputs = body.get("inputs")
    if not isinstance(inputs, list) or not inputs:
        raise MessageError("inputs must be a non-empty list of tensors", field="inputs")
    tensors = [_input(item, index) for index, item in enumerate(inputs)]
    return InferenceRequest(*_rows(tensors), request_id, _outputs(body.get("outputs")))


def outputs_to_ask(requested: Sequence[str], *, probabilities: bool) -> tuple[str, ...]:
    """The outputs to name in the request to the model, beside ``predict_proba`` (which the
    model client adds when probabilities are stored).

    A request that names no outputs gets the model's default ones; with ``predict_proba``
    named as well, the model would send that alone, so ``predict`` (the default output of
    MLServer's scikit-learn and XGBoost runtimes) is named too and the client still finds it.
    """
    if requested or not probabilities:
        return tuple(requested)
    return (LABELS_OUTPUT,)


def reply(
    answer: ModelAnswer | None,
    predictions: Sequence[RowPrediction],
    *,
    request_id: str,
    requested: Sequence[str],
    model_name: str,
    model_version: str,
) -> bytes:
    """The answer to the client: the model's ``answer`` (its very bytes when it carries
    ``request_id`` and no output the client did not name), else its JSON with that id and
    the outputs named in ``requested`` (all when none are). Without an ``answer`` (a replay)
    it is built from ``predictions``: ``predict`` as the labels (``BYTES``) and
    ``predict_proba`` when they have probabilities."""
    if answer is not None and isinstance(answer.body, dict):
        body: dict[str, Any] = answer.body
    else:
        body = _from_predictions(predictions, model_name, model_version)
    outputs = body.get("outputs")
    extra = (
        isinstance(outputs, list)
        and bool(requested)
        and any(not isinstance(o, dict) or o.get("name") not in requested for o in outputs)
    )
    if answer is not None and body is answer.body and body.get("id") == request_id and not extra:
        return answer.content
    shaped = {**body, "id": request_id}
    if extra and isinstance(outputs, list):
        shaped["outputs"] = [
            o for o in outputs if isinstance(o, dict) and o.get("name") in requested
        ]
    return orjson.dumps(shaped)


@dataclass(frozen=True, slots=True)
class _Input:
    name: str
    shape: list[int]
    values: list[Any]
    field: str


def _input(item: Any, index: int) -> _Input:
    field = f"inputs[{index}]"
    if not isinstance(item, dict):
        raise MessageError(f"{field} must be a tensor object", field=field)
    name, shape, datatype, data = (item.get(k) for k in ("name", "shape", "datatype", "data"))
    parameters = item.get("parameters")
    if isinstance(parameters, dict) and "binary_data_size" in parameters:
        raise MessageError(BINARY_ADVICE, field=field)
    if not isinstance(name, str) or not name:
        raise MessageError(f"{field}.name must be a non-empty string", field=field)
    field = f"inputs[{index}] ({name})"
    if not (
        isinstance(shape, list)
        and shape
        and all(isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape)
    ):
        raise MessageError(f"{field}.shape must be a list of sizes, not {shape!r}", field=field)
    if datatype == "BOOL":
        raise MessageError(
            f"{field} is BOOL, which is not a feature kind: send 0/1 as a number, or "
            '"true"/"false" as BYTES for a categorical feature',
            field=field,
        )
    if datatype != "BYTES" and datatype not in _NUMERIC:
        raise MessageError(f"{field}.datatype {datatype!r} is not a V2 datatype", field=field)
    if not isinstance(data, list):
        raise MessageError(f"{field}.data must be a list of values", field=field)
    values = flatten(data)
    if len(values) != math.prod(shape):
        raise MessageError(
            f"{field}.shape {shape} needs {math.prod(shape)} values, not {len(values)}",
            field=field,
        )
    if datatype == "BYTES":
        if not all(isinstance(v, str) for v in values):
            raise MessageError(f"{field} is BYTES: its data must be strings", field=field)
    elif not all(is_number(v) for v in values):
        raise MessageError(f"{field} is {datatype}: its data must be finite numbers", field=field)
    return _Input(name, shape, values, field)


def _rows(tensors: list[_Input]) -> tuple[list[list[Any]], list[str] | None]:
    if len(tensors) == 1:
        only = tensors[0]
        if len(only.shape) == 1:
            return [[value] for value in only.values], None
        if len(only.shape) != 2:
            raise MessageError(
                f"{only.field} must have shape [rows, features], not {only.shape}",
                field=only.field,
            )
        width = only.shape[1]
        return [only.values[i * width : (i + 1) * width] for i in range(only.shape[0])], None
    for tensor in tensors:
        if not (len(tensor.shape) == 1 or (len(tensor.shape) == 2 and tensor.shape[1] == 1)):
            raise MessageError(
                f"{tensor.field} must be one column, [rows] or [rows, 1], when a request has "
                f"several inputs (one per feature); it has shape {tensor.shape}",
                field=tensor.field,
            )
    counts = {tensor.shape[0] for tensor in tensors}
    if len(counts) != 1:
        raise MessageError(
            "inputs must all have the same number of rows, one value per row each",
            field="inputs",
        )
    columns = [tensor.values for tensor in tensors]
    return [list(row) for row in zip(*columns, strict=True)], [t.name for t in tensors]


def _outputs(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(
        isinstance(o, dict) and isinstance(o.get("name"), str) for o in value
    ):
        raise MessageError('outputs must be a list of {"name": ...} objects', field="outputs")
    return tuple(dict.fromkeys(o["name"] for o in value))


def _from_predictions(
    predictions: Sequence[RowPrediction], model_name: str, model_version: str
) -> dict[str, Any]:
    rows = len(predictions)
    outputs: list[dict[str, Any]] = [
        {
            "name": LABELS_OUTPUT,
            "shape": [rows, 1],
            "datatype": "BYTES",
            "data": [p.label for p in predictions],
        }
    ]
    first = predictions[0].probabilities if predictions else None
    if first is not None and all(
        p.probabilities is not None and list(p.probabilities) == list(first) for p in predictions
    ):
        outputs.append(
            {
                "name": PROBABILITIES_OUTPUT,
                "shape": [rows, len(first)],
                "datatype": "FP64",
                "data": [v for p in predictions for v in (p.probabilities or {}).values()],
            }
        )
    return {"model_name": model_name, "model_version": model_version, "outputs": outputs}
