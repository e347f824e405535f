"""Seldon v1 messages as a Seldon client sends and expects them, for a server that answers in a
model's place (mlgraph's ``/api/v1.0/predictions``).

``parse_request`` reads what the Seldon Python wrapper reads for tabular data: ``data.ndarray``
(rows, optionally with ``data.names``), ``data.tensor`` (``shape`` ``[rows, features]`` and flat
``values``) or ``jsonData`` (a record keyed by feature name, or a list of them), and
``meta.puid``. ``reply`` gives the answer: the model's own bytes when nothing needs changing,
else its JSON with ``meta.puid`` set and, for a tensor request, ``data.tensor`` instead of
``data.ndarray``, as the wrapper answers a tensor request. ``feedback_truth`` reads a
``Feedback``'s ``truth`` the same way.

Everything here is plain data in, plain data out: no HTTP, nothing of mlgraph.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import orjson

from mlclient._rows import is_number
from mlclient.models import ModelAnswer, RowPrediction

__all__ = ["MessageError", "SeldonRequest", "feedback_truth", "parse_request", "reply"]

Form = Literal["ndarray", "tensor", "jsonData"]
_NOT_TABULAR = ("strData", "binData", "customData")


class MessageError(ValueError):
    """A message that cannot be read; ``field`` is where, e.g. ``data.ndarray``."""

    def __init__(self, message: str, *, field: str) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True, slots=True)
class SeldonRequest:
    """A prediction request's rows: positional ``rows`` (with their columns' ``names`` when
    ``data.names`` gave them) or ``records`` (``jsonData``), the form they came in, the field
    that held them, and the client's ``meta.puid`` (``None`` when it sent none)."""

    form: Form
    field: str
    puid: str | None
    rows: list[list[Any]] | None = None
    names: list[str] | None = None
    records: list[Mapping[str, Any]] | None = None


def parse_request(body: Any) -> SeldonRequest:
    """Read a ``SeldonMessage`` holding tabular data; ``MessageError`` says what is wrong."""
    if not isinstance(body, dict):
        raise MessageError(
            'the body must be a SeldonMessage object: {"data": {"ndarray": [[...]]}}', field="body"
        )
    puid = _puid(body.get("meta"))
    if "data" in body:
        data = body["data"]
        if not isinstance(data, dict):
            raise MessageError("data must be an object holding ndarray or tensor", field="data")
        names = _names(data.get("names"), "data.names")
        if "ndarray" in data:
            rows = _ndarray(data["ndarray"], "data.ndarray")
            return SeldonRequest("ndarray", "data.ndarray", puid, rows=rows, names=names)
        if "tensor" in data:
            rows = _tensor(data["tensor"], "data.tensor")
            return SeldonRequest("tensor", "data.tensor", puid, rows=rows, names=names)
        if "tftensor" in data:
            raise MessageError(
                "data.tftensor is not read here: send data.ndarray or data.tensor",
                field="data.tftensor",
            )
        raise MessageError("data holds neither ndarray nor tensor", field="data")
    if "jsonData" in body:
        return SeldonRequest(
            "jsonData", "jsonData", puid, records=_records(body["jsonData"], "jsonData")
        )
    for field in _NOT_TABULAR:
        if field in body:
            raise MessageError(
                f"{field} is not tabular data: send data.ndarray, data.tensor or jsonData "
                "(records keyed by feature name)",
                field=field,
            )
    raise MessageError('the body has no data: send {"data": {"ndarray": [[...]]}}', field="data")


def reply(
    answer: ModelAnswer | None,
    predictions: Sequence[RowPrediction],
    *,
    puid: str,
    form: Form,
) -> bytes:
    """The answer to a request of ``form``: the model's ``answer`` with ``meta.puid`` set to
    ``puid`` (its very bytes when it holds that puid already, as the wrapper answers a request
    that sent one), or, without one (a replay), an answer built from ``predictions``."""
    if answer is not None and isinstance(answer.body, dict):
        body: dict[str, Any] = answer.body
        meta = body.get("meta")
        if form != "tensor" and isinstance(meta, dict) and meta.get("puid") == puid:
            return answer.content
    else:
        body = _from_predictions(predictions)
    meta = body.get("meta")
    shaped = {**body, "meta": {**(meta if isinstance(meta, dict) else {}), "puid": puid}}
    if form == "tensor" and isinstance(body.get("data"), dict):
        shaped["data"] = _as_tensor(body["data"])
    return orjson.dumps(shaped)


def feedback_truth(truth: Any) -> list[Any]:
    """The rows of a ``Feedback``'s ``truth``: its ``data.ndarray``, or its ``data.tensor`` as
    rows (SeldonClient's default payload is a tensor)."""
    data = truth.get("data") if isinstance(truth, dict) else None
    if isinstance(data, dict) and "ndarray" in data:
        values = data["ndarray"]
        if not isinstance(values, list) or not values:
            raise MessageError(
                "truth.data.ndarray must be a non-empty list, one entry per row",
                field="truth.data.ndarray",
            )
        return values
    if isinstance(data, dict) and "tensor" in data:
        return _tensor(data["tensor"], "truth.data.tensor", columns_optional=True)
    raise MessageError(
        "truth must hold data.ndarray or data.tensor, one entry per predicted row", field="truth"
    )


def _puid(meta: Any) -> str | None:
    if meta is None:
        return None
    if not isinstance(meta, dict):
        raise MessageError("meta must be an object", field="meta")
    puid = meta.get("puid")
    if puid is None or puid == "":  # protobuf's JSON writes an empty puid as ""
        return None
    if not isinstance(puid, str):
        raise MessageError("meta.puid must be a string", field="meta.puid")
    return puid


def _names(names: Any, field: str) -> list[str] | None:
    if names is None or names == []:  # SeldonClient sends [] when it has no names
        return None
    if not isinstance(names, list) or not all(isinstance(n, str) and n for n in names):
        raise MessageError(f"{field} must be a list of feature names", field=field)
    return names


def _ndarray(values: Any, field: str) -> list[list[Any]]:
    if not isinstance(values, list) or not values:
        raise MessageError(f"{field} must be a non-empty list of rows", field=field)
    if not all(isinstance(row, list) for row in values):
        raise MessageError(
            f"{field} must be a list of rows, [[...], ...]: one list of features per row",
            field=field,
        )
    return values


def _tensor(tensor: Any, field: str, *, columns_optional: bool = False) -> list[Any]:
    if not isinstance(tensor, dict):
        raise MessageError(f"{field} must be an object with shape and values", field=field)
    shape, values = tensor.get("shape"), tensor.get("values")
    dims = len(shape) if isinstance(shape, list) else 0
    good_shape = (dims == 2 or (columns_optional and dims == 1)) and all(
        isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape or ()
    )
    if not good_shape:
        wanted = "[rows] or [rows, columns]" if columns_optional else "[rows, features]"
        raise MessageError(f"{field}.shape must be {wanted}, not {shape!r}", field=field)
    assert isinstance(shape, list)
    if not isinstance(values, list) or not all(is_number(v) for v in values):
        raise MessageError(f"{field}.values must be a list of finite numbers", field=field)
    if len(values) != math.prod(shape):
        raise MessageError(
            f"{field}.shape {shape} needs {math.prod(shape)} values, not {len(values)}",
            field=field,
        )
    if dims == 1:
        return list(values)
    width = shape[1]
    return [values[i * width : (i + 1) * width] for i in range(shape[0])]


def _records(value: Any, field: str) -> list[Mapping[str, Any]]:
    records = [value] if isinstance(value, dict) else value
    if (
        not isinstance(records, list)
        or not records
        or not all(isinstance(r, dict) for r in records)
    ):
        raise MessageError(
            f"{field} must be a record keyed by feature name, or a list of records", field=field
        )
    return records


def _from_predictions(predictions: Sequence[RowPrediction]) -> dict[str, Any]:
    # As the wrapper answers for a model with class names: a probability row per input row,
    # or, for plain labels, one label per row.
    first = predictions[0].probabilities if predictions else None
    if first is not None and all(
        p.probabilities is not None and list(p.probabilities) == list(first) for p in predictions
    ):
        ndarray: list[Any] = [list((p.probabilities or {}).values()) for p in predictions]
        return {"data": {"names": list(first), "ndarray": ndarray}, "meta": {}}
    return {"data": {"names": [], "ndarray": [p.label for p in predictions]}, "meta": {}}


def _as_tensor(data: dict[str, Any]) -> dict[str, Any]:
    """``data`` with a numeric ``ndarray`` as a ``tensor`` (shape and flat values), in its
    place; anything else (labels, ragged rows) stays an ndarray, as the wrapper leaves it."""
    ndarray = data.get("ndarray")
    if not isinstance(ndarray, list) or not ndarray:
        return data
    if all(is_number(v) for v in ndarray):
        tensor = {"shape": [len(ndarray)], "values": ndarray}
    elif all(isinstance(r, list) and r and all(is_number(v) for v in r) for r in ndarray) and (
        len({len(r) for r in ndarray}) == 1
    ):
        tensor = {
            "shape": [len(ndarray), len(ndarray[0])],
            "values": [v for r in ndarray for v in r],
        }
    else:
        return data
    # In the ndarray's place, so the keys keep the model's order.
    return {
        ("tensor" if key == "ndarray" else key): (tensor if key == "ndarray" else value)
        for key, value in data.items()
    }
