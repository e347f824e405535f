"""Feature schemas in the API: from the settings, to storage, and every input row checked.

A model's schema is its ordered features, each a name and a kind (numerical or categorical);
``graph.models.ModelEntry.schema`` finds it. ``read_batch`` (GraphQL's arguments) or
``check_batch`` (a protocol route's) and then ``fit_batch`` turn what a caller sent (positional
rows of numbers, positional rows of numbers and strings, positional rows with their columns'
names, or records keyed by feature name) into positional rows of typed values, refusing
anything that does not fit with a ``BAD_USER_INPUT`` that names the row and the feature.
Nothing reaches a model or the database without passing through both.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from db import features as stored
from graph.errors import BadUserInput
from graph.settings import Features
from mlclient import Feature, FeatureKind, FeatureSchema, FeatureValue

__all__ = [
    "Batch",
    "CheckedRows",
    "DuplicateKeys",
    "check_batch",
    "fit_batch",
    "json_object",
    "read_batch",
    "schema_from_settings",
    "to_columns",
]


class DuplicateKeys(dict[str, Any]):
    """A JSON object that named a key more than once (the request decoder keeps them here, as a
    plain dict would silently keep the last one)."""

    duplicates: tuple[str, ...] = ()


def json_object(pairs: list[tuple[str, object]]) -> dict[str, object]:
    """A JSON object from its pairs (``json.loads``' ``object_pairs_hook``), as ``DuplicateKeys``
    when it names a key more than once."""
    # A record naming a feature twice must be refused, not silently keep its last value as a
    # plain dict would: the duplicates travel with the object to the checks in fit_batch.
    value = dict(pairs)
    if len(value) == len(pairs):
        return value
    marked = DuplicateKeys(value)
    marked.duplicates = tuple(k for k, n in Counter(k for k, _ in pairs).items() if n > 1)
    return marked


def schema_from_settings(features: Features | None) -> FeatureSchema | None:
    """A model's ``features`` setting as a schema: a count is numerical ``f0`` … by position,
    a list names each feature (a bare name is numerical)."""
    if features is None:
        return None
    if isinstance(features, int):
        return FeatureSchema.positional(features)
    return FeatureSchema(
        tuple(
            Feature(item) if isinstance(item, str) else Feature(item.name, FeatureKind(item.kind))
            for item in features
        )
    )


def to_columns(schema: FeatureSchema) -> stored.Columns:
    return tuple(stored.Column(f.name, f.kind.value) for f in schema.features)


@dataclass(frozen=True, slots=True)
class CheckedRows:
    """Rows that fit ``schema``: numbers as floats, categories as strings, in its order.

    ``schema`` is the model's, or, while it is unknown, one inferred from the rows (``f0`` …,
    kinds from their values), which the model's first answer then confirms.
    """

    rows: list[list[FeatureValue]]
    schema: FeatureSchema


@dataclass(frozen=True, slots=True)
class Batch:
    """One call's input with its shape checked: the argument it came in, and either positional
    rows (all of one width) or records keyed by name.

    ``names`` names positional rows' columns, as Seldon's ``data.names`` or a V2 request's
    inputs do (``names_argument`` is where they came from): matched to the model's feature
    names, in any order; ``None`` means the rows are in the order of the model's features.
    """

    argument: str
    rows: list[list[object]] | None = None
    records: list[Mapping[str, object]] | None = None
    names: tuple[str, ...] | None = None
    names_argument: str = "names"


def read_batch(
    *,
    rows: Sequence[Sequence[float]] | None,
    mixed_rows: Sequence[Sequence[object]] | None,
    records: Sequence[Mapping[str, object]] | None,
    max_rows: int,
    max_features: int,
) -> Batch:
    """Exactly one of ``rows``, ``mixed_rows`` and ``records``, within the limits; positional
    rows all of one width. Needs nothing but the input, so nothing is asked of the model for a
    batch that could never fit."""
    given = [
        (name, value)
        for name, value in (("rows", rows), ("mixedRows", mixed_rows), ("records", records))
        if value is not None
    ]
    if len(given) != 1:
        raise BadUserInput("send exactly one of rows, mixedRows or records", argument="input")
    argument = given[0][0]
    return check_batch(
        argument,
        rows=rows if rows is not None else mixed_rows,
        records=records,
        max_rows=max_rows,
        max_features=max_features,
    )


def check_batch(
    argument: str,
    *,
    rows: Sequence[Sequence[object]] | None = None,
    records: Sequence[Mapping[str, object]] | None = None,
    names: Sequence[str] | None = None,
    names_argument: str = "names",
    max_rows: int,
    max_features: int,
) -> Batch:
    """Positional ``rows`` (with their columns' ``names``, if given) or ``records``, as
    ``argument`` of a request: within the limits, positional rows all of one width."""
    batch: Sequence[Sequence[object]] | Sequence[Mapping[str, object]]
    batch = records if records is not None else rows or []
    if not batch:
        raise BadUserInput(
            f"{argument} is empty: send at least one row of features", argument=argument
        )
    if len(batch) > max_rows:
        raise BadUserInput(
            f"too many rows: {len(batch)} > {max_rows}; split the batch", argument=argument
        )
    widths = [len(row) for row in batch]
    for index, width in enumerate(widths):
        if width == 0:
            raise BadUserInput(f"row {index} has no features", argument=argument, row=index)
        if width > max_features:
            raise BadUserInput(
                f"too many features per row: {width} > {max_features}",
                argument=argument,
                row=index,
            )
    if records is not None:
        return Batch(argument, records=list(records))
    assert rows is not None
    for index, width in enumerate(widths):
        if width != widths[0]:
            raise BadUserInput(
                f"ragged rows: row {index} has {width} features, row 0 has {widths[0]}",
                argument=argument,
                row=index,
            )
    if names is None:
        return Batch(argument, rows=[list(row) for row in rows])
    if len(names) != widths[0]:
        raise BadUserInput(
            f"{names_argument} holds {len(names)} names for rows of {widths[0]} values",
            argument=names_argument,
        )
    if len(set(names)) != len(names):
        repeated = next(name for name in names if names.count(name) > 1)
        raise BadUserInput(
            f"{names_argument}: feature {repeated[:200]!r} is given more than once",
            argument=names_argument,
            feature=repeated[:200],
        )
    return Batch(
        argument,
        rows=[list(row) for row in rows],
        names=tuple(names),
        names_argument=names_argument,
    )


def fit_batch(
    batch: Batch, schema: FeatureSchema | None, *, model_name: str, max_length: int
) -> CheckedRows:
    """Check ``batch`` against the model's ``schema`` (``None``: unknown yet) value by value.

    Records need a known schema: without one there is no order to put their names in. Without
    a schema, positional rows define one (``f0`` …, kinds from row 0) that every row must fit;
    rows whose columns are named define it with those names. Named columns are put in the
    order of a schema that has names; a schema known only by position (``f0`` …) keeps the
    rows' order and its own placeholder names.
    """
    argument = batch.argument
    if batch.names is not None and (schema is None or not schema.named):
        assert batch.rows is not None
        if schema is None:
            kinds = [
                FeatureKind.CATEGORICAL if isinstance(value, str) else FeatureKind.NUMERICAL
                for value in batch.rows[0]
            ]
            named = FeatureSchema(tuple(map(Feature, batch.names, kinds)))
            checked = _fits(batch.rows, named, max_length)
            if checked is None:
                checked = _check_values(batch.rows, named, argument, max_length, known=False)
            return CheckedRows(checked, named)
        batch = Batch(argument, rows=batch.rows)
    if batch.names is not None:
        assert schema is not None
        assert batch.rows is not None
        positional = _in_schema_order(batch, schema, model_name)
    elif batch.records is not None:
        if schema is None:
            raise BadUserInput(
                f"model {model_name!r} has no known feature names yet: send positional rows "
                "(rows or mixedRows), or configure its features (MLGRAPH_MODELS)",
                argument="records",
            )
        expected = set(schema.names)
        positional = [
            _from_record(i, record, schema, expected, model_name)
            for i, record in enumerate(batch.records)
        ]
    else:
        assert batch.rows is not None
        positional = batch.rows
    if schema is not None:
        for index, row in enumerate(positional):
            if len(row) != schema.width:
                raise BadUserInput(
                    f"model {model_name!r} expects {schema.width} features per row "
                    f"({_list(schema.names)}), got {len(row)} in row {index}",
                    argument=argument,
                    row=index,
                    expected=schema.width,
                )
        target = schema
    else:
        kinds = [
            FeatureKind.CATEGORICAL if isinstance(value, str) else FeatureKind.NUMERICAL
            for value in positional[0]
        ]
        target = FeatureSchema.positional(len(kinds), kinds)
    checked = _fits(positional, target, max_length)
    if checked is None:
        # Something may not fit: check value by value, to say which and why.
        checked = _check_values(positional, target, argument, max_length, known=schema is not None)
    return CheckedRows(checked, target)


def _check_values(
    rows: list[list[object]], schema: FeatureSchema, argument: str, max_length: int, *, known: bool
) -> list[list[FeatureValue]]:
    return [
        [
            _value(index, feature, value, argument, max_length, known=known)
            for feature, value in zip(schema.features, row, strict=True)
        ]
        for index, row in enumerate(rows)
    ]


def _fits(
    rows: list[list[object]], schema: FeatureSchema, max_length: int
) -> list[list[FeatureValue]] | None:
    """The rows, numbers as floats, when every value fits; ``None`` when one may not.

    The common case checked column by column with C-speed builtins (a value at a time cost
    about 2 µs, 8 ms for a batch of 1000 rows of 4); ``None`` sends the batch to the slow
    check, which names the row and the feature.
    """
    columns: list[list[Any]] = []
    converted = False
    for index, feature in enumerate(schema.features):
        column: list[Any] = [row[index] for row in rows]
        if feature.kind is FeatureKind.CATEGORICAL:
            if not all(type(v) is str for v in column):
                return None
            if max(map(len, column)) > max_length or any("\x00" in v for v in column):
                return None
            if not all(v.isascii() for v in column) and not _encodable(column):
                return None
        else:
            if not all(type(v) is float for v in column):
                if not all(type(v) is float or type(v) is int for v in column):
                    return None
                try:
                    column = list(map(float, column))
                except OverflowError:
                    return None
                converted = True
            # inf and nan make the sum non-finite; so can finite values that overflow it, which
            # the slow check then passes.
            if not math.isfinite(sum(column)):
                return None
        columns.append(column)
    if not converted:
        return rows  # type: ignore[return-value]  # every value checked above
    return [list(row) for row in zip(*columns, strict=True)]


def _in_schema_order(batch: Batch, schema: FeatureSchema, model_name: str) -> list[list[object]]:
    """Named columns as the schema orders them; every feature named once, nothing else."""
    assert batch.names is not None
    assert batch.rows is not None
    names, where = batch.names, batch.names_argument
    if list(names) == schema.names:
        return batch.rows
    _check_names(names, schema, model_name, where=where, argument=where)
    order = [names.index(name) for name in schema.names]
    return [[row[i] for i in order] for row in batch.rows]


def _encodable(texts: list[str]) -> bool:
    try:
        for text in texts:
            text.encode()
    except UnicodeEncodeError:
        return False
    return True


def _from_record(
    index: int,
    record: Mapping[str, object],
    schema: FeatureSchema,
    expected: set[str],
    model_name: str,
) -> list[object]:
    names = schema.names
    if record.keys() == expected and not getattr(record, "duplicates", ()):
        return [record[name] for name in names]
    for name in getattr(record, "duplicates", ()):
        raise BadUserInput(
            f"row {index}: feature {name!r} is given more than once",
            argument="records",
            row=index,
            feature=name,
        )
    _check_names(record, schema, model_name, where=f"row {index}", argument="records", row=index)
    return [record[name] for name in schema.names]


def _check_names(
    given: Collection[str],
    schema: FeatureSchema,
    model_name: str,
    *,
    where: str,
    argument: str,
    **place: int,
) -> None:
    """Refuse a name the schema does not have, then the first feature ``given`` lacks."""
    expected = set(schema.names)
    for name in given:
        if name not in expected:
            raise BadUserInput(
                f"{where}: model {model_name!r} has no feature {name[:200]!r}; "
                f"its features are {_list(schema.names)}",
                argument=argument,
                **place,
                feature=name[:200],
            )
    missing = [name for name in schema.names if name not in given]
    if missing:
        raise BadUserInput(
            f"{where}: feature {missing[0]!r} is missing"
            + (f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""),
            argument=argument,
            **place,
            feature=missing[0],
        )


def _value(
    index: int, feature: Feature, value: object, argument: str, max_length: int, *, known: bool
) -> FeatureValue:
    def refuse(problem: str) -> BadUserInput:
        return BadUserInput(
            f"row {index}: feature {feature.name!r} {problem}",
            argument=argument,
            row=index,
            feature=feature.name,
        )

    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise refuse(f"holds {type(value).__name__}: send a number or a string")
    if feature.kind is FeatureKind.NUMERICAL:
        if isinstance(value, str):
            if not known:
                raise refuse("holds a string, and row 0 a number there: a feature holds one kind")
            raise refuse(f"is numerical: send a number, not the string {value[:40]!r}")
        try:
            number = float(value)
        except OverflowError:
            number = math.inf
        if not math.isfinite(number):
            raise refuse("is not a finite number")
        return number
    if not isinstance(value, str):
        if not known:
            raise refuse("holds a number, and row 0 a string there: a feature holds one kind")
        if argument == "rows":
            raise refuse(
                "is categorical: send strings in mixedRows or records (rows holds numbers)"
            )
        raise refuse(f'is categorical: send a string, e.g. "{_number_text(value)}", not a number')
    if len(value) > max_length:
        raise refuse(f"is longer than {max_length} characters")
    if "\x00" in value:
        raise refuse("holds a NUL character")
    try:
        value.encode()
    except UnicodeEncodeError:
        raise refuse("holds text that is not valid Unicode (a lone surrogate)") from None
    return value


def _number_text(value: float) -> str:
    # Huge integers have no useful text (and past 4300 digits Python refuses to make one).
    if isinstance(value, int) and not -(10**18) < value < 10**18:
        return "…"
    return f"{value:g}" if isinstance(value, float) else str(value)


def _list(names: Sequence[str], limit: int = 20) -> str:
    shown = ", ".join(names[:limit])
    return shown + (f", … ({len(names)} in all)" if len(names) > limit else "")
