"""Seeded samples for the drift tests: one column each, and whole frames.

Each column case covers one branch of Evidently's choice or binning (the ``id`` says which);
``tests`` lists the tests to compute on it: all six for numbers, those that take categories
for strings. The same cases feed the cross-check against Evidently
(tests/monitoring/test_drift_evidently.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from monitoring.drift import ColumnKind, StatTest

__all__ = ["ColumnCase", "DatasetCase", "column_cases", "dataset_cases"]

SEED = 20261213
CATEGORY_TESTS = (StatTest.CHISQUARE, StatTest.ZTEST, StatTest.JENSENSHANNON, StatTest.PSI)


@dataclass(frozen=True)
class ColumnCase:
    """One column of both samples; ``label`` tests it as the predicted label."""

    id: str
    kind: ColumnKind
    reference: list[float] | list[str]
    current: list[float] | list[str]
    label: bool = False
    tests: tuple[StatTest, ...] = field(default=())

    def __post_init__(self) -> None:
        if not self.tests:
            every = tuple(StatTest) if self.kind is ColumnKind.NUMERICAL else CATEGORY_TESTS
            object.__setattr__(self, "tests", every)

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind.value,
            "reference": self.reference,
            "current": self.current,
            "tests": [test.value for test in self.tests],
        }


@dataclass(frozen=True)
class DatasetCase:
    """Whole frames (column name -> values, ``label`` the predicted label) with their kinds."""

    id: str
    numerical: list[str]
    categorical: list[str]
    reference: dict[str, list[Any]]
    current: dict[str, list[Any]]

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "numerical": self.numerical,
            "categorical": self.categorical,
            "reference": self.reference,
            "current": self.current,
        }


def _floats(values: np.ndarray) -> list[float]:
    return [float(value) for value in values]


def _strings(values: np.ndarray) -> list[str]:
    return [str(value) for value in values]


def column_cases() -> list[ColumnCase]:
    rng = np.random.default_rng(SEED)
    num, cat = ColumnKind.NUMERICAL, ColumnKind.CATEGORICAL

    def normal(n: int, mean: float = 0.0, std: float = 1.0) -> list[float]:
        return _floats(rng.normal(mean, std, n))

    def choice(values: list[Any], n: int, p: list[float] | None = None) -> np.ndarray:
        return rng.choice(np.array(values, dtype=object), n, p=p)

    def floats(values: list[float], n: int, p: list[float] | None = None) -> list[float]:
        return _floats(choice(values, n, p))

    def strings(values: list[str], n: int, p: list[float] | None = None) -> list[str]:
        return _strings(choice(values, n, p))

    regions = ["north", "south", "east", "west"]
    rare = ["a"] * 7000 + ["b"] * 4999 + ["rare"]
    return [
        # The example: 200 rows against 200 of one distribution.
        ColumnCase("normal-200-same", num, normal(200), normal(200)),
        ColumnCase("normal-500-shifted", num, normal(500), normal(500, 0.3)),
        ColumnCase("normal-1000-same", num, normal(1000), normal(800)),  # 1000: still small
        ColumnCase("normal-1001-same", num, normal(1001), normal(1500)),
        ColumnCase("normal-3000-shifted", num, normal(3000), normal(2000, 0.2)),
        ColumnCase("normal-wider-current", num, normal(400), normal(400, 0.0, 3.0)),
        ColumnCase("constant-reference", num, [1.0] * 300, normal(300, 1.0)),
        # Up to 20 distinct reference values: a bin per value, even for numbers.
        ColumnCase(
            "integers-15-values",
            num,
            _floats(rng.integers(0, 15, 600)),
            _floats(rng.binomial(14, 0.55, 600)),
        ),
        ColumnCase(
            "integers-20-then-30-values",
            num,
            _floats(np.arange(600) % 20),
            _floats(rng.integers(0, 30, 500)),
        ),
        ColumnCase(
            "integers-21-values",
            num,
            _floats(np.arange(630) % 21),
            _floats(rng.integers(0, 21, 500)),
        ),
        # Few values: categories for Evidently, whatever their type.
        ColumnCase(
            "six-values-small", num, floats([1, 2, 3, 4, 5, 6], 400), floats([1, 2, 3], 300)
        ),
        ColumnCase(
            "three-values-small",
            num,
            floats([1, 2, 3], 300, [0.5, 0.3, 0.2]),
            floats([1, 2, 3], 300, [0.4, 0.3, 0.3]),
        ),
        ColumnCase(
            "five-values-large",
            num,
            floats([0, 1, 2, 3, 4], 2000),
            floats([0, 1, 2, 3, 4], 1200, [0.3, 0.2, 0.2, 0.2, 0.1]),
        ),
        ColumnCase(
            "binary-small", num, floats([0, 1], 800, [0.7, 0.3]), floats([0, 1], 600, [0.64, 0.36])
        ),
        ColumnCase("binary-large", num, floats([0, 1], 1200), floats([0, 1], 1000, [0.45, 0.55])),
        ColumnCase("constant-same", num, [2.5] * 100, [2.5] * 80),
        ColumnCase("constant-different", num, [1.0] * 100, [2.0] * 100),
        # Categories.
        ColumnCase(
            "category-binary-small",
            cat,
            strings(["yes", "no"], 500, [0.6, 0.4]),
            strings(["yes", "no"], 400, [0.5, 0.5]),
        ),
        ColumnCase(
            "category-binary-large", cat, strings(["yes", "no"], 1500), strings(["yes", "no"], 1500)
        ),
        ColumnCase(
            "category-4-small",
            cat,
            strings(regions, 700),
            strings(regions, 700, [0.3, 0.3, 0.2, 0.2]),
        ),
        ColumnCase(
            "category-5-large",
            cat,
            strings([*regions, "centre"], 2500),
            strings([*regions, "centre"], 2000, [0.1, 0.2, 0.2, 0.2, 0.3]),
        ),
        ColumnCase(
            "category-unseen-small",
            cat,
            strings(["a", "b", "c"], 300),
            [*strings(["a", "b", "c"], 280), *["d"] * 20],
        ),
        ColumnCase(
            "category-unseen-binary", cat, ["a"] * 200, strings(["a", "b"], 150, [0.9, 0.1])
        ),
        # A share of 1/12000 < 1e-4: PSI fills empty bins with that share / 1e6, not 1e-4.
        ColumnCase(
            "category-tiny-share",
            cat,
            _strings(rng.permutation(np.array(rare, dtype=object))),
            strings(["a", "b", "new"], 5000, [0.5, 0.45, 0.05]),
        ),
        ColumnCase("category-constant-same", cat, ["x"] * 50, ["x"] * 40),
        ColumnCase("category-constant-different", cat, ["x"] * 50, ["y"] * 40),
        # Predicted labels: the same choice as a categorical column.
        ColumnCase(
            "label-binary-small",
            cat,
            strings(["setosa", "versicolor"], 300, [0.5, 0.5]),
            strings(["setosa", "versicolor"], 120, [0.4, 0.6]),
            label=True,
        ),
        ColumnCase(
            "label-3-small",
            cat,
            strings(["setosa", "versicolor", "virginica"], 900),
            strings(["setosa", "versicolor", "virginica"], 300, [0.4, 0.3, 0.3]),
            label=True,
        ),
        ColumnCase(
            "label-3-large",
            cat,
            strings(["setosa", "versicolor", "virginica"], 1200),
            strings(["setosa", "versicolor", "virginica"], 1200),
            label=True,
        ),
    ]


def dataset_cases() -> list[DatasetCase]:
    """Two frames of mixed kinds: one drifted column in six (small), three in six (large:
    Evidently's share is exactly its 0.5); and one of numbers only, as mlgraph stores
    positional features today (``stored``)."""
    rng = np.random.default_rng(SEED + 1)
    regions = np.array(["north", "south", "east", "west"], dtype=object)
    classes = np.array(["setosa", "versicolor", "virginica"], dtype=object)

    def frame(n: int, *, y_shift: float, region_p: list[float], label_p: list[float]) -> Any:
        return {
            "x": _floats(rng.normal(0, 1, n)),
            "y": _floats(rng.normal(5 + y_shift, 2, n)),
            "z": _floats(rng.integers(0, 3, n)),
            "region": _strings(rng.choice(regions, n, p=region_p)),
            "member": _strings(rng.choice(np.array(["yes", "no"], dtype=object), n)),
            "label": _strings(rng.choice(classes, n, p=label_p)),
        }

    even, third = [0.25] * 4, [1 / 3] * 3
    skewed_regions, skewed_labels = [0.1, 0.2, 0.3, 0.4], [0.2, 0.3, 0.5]
    names = {"numerical": ["x", "y", "z"], "categorical": ["region", "member"]}
    return [
        DatasetCase(
            "one-of-six-drifted",
            **names,
            reference=frame(800, y_shift=0, region_p=even, label_p=third),
            current=frame(600, y_shift=1.5, region_p=even, label_p=third),
        ),
        DatasetCase(
            "three-of-six-drifted",
            **names,
            reference=frame(1500, y_shift=0, region_p=even, label_p=third),
            current=frame(1200, y_shift=1.5, region_p=skewed_regions, label_p=skewed_labels),
        ),
        stored_case(),
    ]


def stored_case() -> DatasetCase:
    """Three numerical features (``f0``..``f2``: normal, shifted, four values) and two labels:
    one column in four drifts."""
    rng = np.random.default_rng(SEED + 2)
    classes = np.array(["setosa", "versicolor"], dtype=object)

    def frame(n: int, shift: float, label_p: list[float]) -> dict[str, list[Any]]:
        return {
            "f0": _floats(rng.normal(0, 1, n)),
            "f1": _floats(rng.normal(3 + shift, 1, n)),
            "f2": _floats(np.arange(n) % 4),  # the same four shares in both windows
            "label": _strings(rng.choice(classes, n, p=label_p)),
        }

    return DatasetCase(
        "stored",
        numerical=["f0", "f1", "f2"],
        categorical=[],
        reference=frame(400, 0.0, [0.5, 0.5]),
        current=frame(300, 0.4, [0.5, 0.5]),
    )
