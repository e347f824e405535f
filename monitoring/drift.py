"""Drift tests between a reference and a current sample, chosen and computed as Evidently 0.4.40.

Pure functions over plain numbers and strings; every statistic comes from numpy and scipy, and
each test follows its Evidently namesake (``evidently.calculations.stattests``) step by step, so
the figures agree with Evidently's to rounding (the test suite checks it against Evidently
itself). Values must be finite: mlgraph stores nothing else (Evidently drops NaN and inf first).

Default test (Evidently's ``_get_default_stattest``), by the reference's size ``n`` and the
number of distinct values ``k`` in both samples together:

===========================  ===================================  ==============================
column                       n <= 1000                            n > 1000
===========================  ===================================  ==============================
numerical, k > 5             Kolmogorov-Smirnov                   Wasserstein (normed)
numerical, k <= 5            chi-square (k > 2), Z-test (k <= 2)  Jensen-Shannon
categorical, and the label   chi-square (k > 2), Z-test (k <= 2)  Jensen-Shannon
===========================  ===================================  ==============================

KS flags nearly every feature on large samples (tiny differences become significant), hence
the switch to an effect size. PSI is available on request.

Which way is drift (as Evidently; :attr:`StatTest.relation`): KS at p <= threshold;
chi-square and the Z-test at p < threshold; Wasserstein, Jensen-Shannon and PSI at a distance
>= threshold.

Binning for Jensen-Shannon and PSI (Evidently's ``get_binned_data``): a numerical column with
more than 20 distinct values in the reference is cut into Sturges' number of equal-width bins
over the reference and the current sample together; any other column gets one bin per value
seen in either sample. For PSI only, an empty bin's share becomes 1e-4 (or, when a non-empty
bin of that sample holds 1e-4 or less, that smallest share / 1e6), so the logarithm stays
finite.

Where mlgraph differs from Evidently on purpose:

- A test that needs numbers (KS, Wasserstein) asked of a categorical column: Evidently refuses
  the whole report; :func:`compare_columns` runs the column's default test instead and says so
  in :attr:`ColumnDrift.note` (:func:`run_test` itself raises ``ValueError``).
- Chi-square or the Z-test asked of a numerical column: Evidently refuses it by name, though it
  picks them itself for few-valued numbers; here they run, each value a category, as Evidently's
  functions compute them.
- Chi-square over a single category on both sides: Evidently's p-value is NaN (no degree of
  freedom); here it is 1.0 (nothing can differ). Neither flags drift.
"""

from __future__ import annotations

import enum
import math
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats
from scipy.spatial import distance

__all__ = [
    "CATEGORICAL_MAX_VALUES",
    "DEFAULT_THRESHOLDS",
    "PSI_EPSILON",
    "SMALL_SAMPLE",
    "Column",
    "ColumnDrift",
    "ColumnKind",
    "StatTest",
    "TestResult",
    "compare_columns",
    "compare_labels",
    "default_test",
    "run_test",
]

# Evidently's constants (registry.py, utils.py).
SMALL_SAMPLE = 1000  # references up to this many rows get the p-value tests
CATEGORICAL_MAX_VALUES = 5  # numbers with this few distinct values are tested as categories
BINARY_MAX_VALUES = 2  # this few distinct values take the Z-test instead of chi-square
BIN_PER_VALUE_MAX = 20  # numbers with up to this many distinct reference values: a bin per value
PSI_EPSILON = 1e-4  # an empty bin's share in PSI, unless a non-empty bin is this small or less
PSI_TINY_FACTOR = 1e-6  # ... in which case that smallest share times this

Values = Sequence[float] | Sequence[str]


class ColumnKind(enum.StrEnum):
    """How a column's values are tested: as numbers, or as categories (strings)."""

    NUMERICAL = "numerical"
    CATEGORICAL = "categorical"


class StatTest(enum.Enum):
    """A drift test; ``value`` is its lower-case name (the Prometheus ``test`` label).

    KS, CHISQUARE and ZTEST give p-values (small is drift); WASSERSTEIN (in reference standard
    deviations), JENSENSHANNON and PSI give distances (large is drift).
    """

    KS = "ks"
    WASSERSTEIN = "wasserstein"
    CHISQUARE = "chisquare"
    JENSENSHANNON = "jensenshannon"
    PSI = "psi"
    ZTEST = "ztest"

    @property
    def is_p_value(self) -> bool:
        """True for a p-value: drift is at or below the threshold (see :attr:`relation`)."""
        return self in (StatTest.KS, StatTest.CHISQUARE, StatTest.ZTEST)

    @property
    def numeric_only(self) -> bool:
        """True when the test needs numbers (KS, Wasserstein)."""
        return self in (StatTest.KS, StatTest.WASSERSTEIN)

    @property
    def relation(self) -> str:
        """How the value compares with the threshold when the test flags drift.

        As Evidently 0.4.40: KS flags ``p <= threshold`` but chi-square and the Z-test flag
        ``p < threshold``; the distances flag ``value >= threshold``.
        """
        if self is StatTest.KS:
            return "<="
        return "<" if self.is_p_value else ">="

    def flags(self, value: float, threshold: float) -> bool:
        """Whether ``value`` of this test is drift at ``threshold``."""
        if self is StatTest.KS:
            return value <= threshold
        return value < threshold if self.is_p_value else value >= threshold


# Evidently's default thresholds (each test's ``default_threshold``).
DEFAULT_THRESHOLDS: Mapping[StatTest, float] = {
    StatTest.KS: 0.05,
    StatTest.WASSERSTEIN: 0.1,
    StatTest.CHISQUARE: 0.05,
    StatTest.JENSENSHANNON: 0.1,
    StatTest.PSI: 0.1,
    StatTest.ZTEST: 0.05,
}


@dataclass(frozen=True, slots=True)
class TestResult:
    """One test's outcome: its ``value`` (p-value or distance), the ``threshold`` it was judged
    against and whether that is ``drifted``."""

    __test__ = False  # not a pytest test class, whatever its name

    test: StatTest
    value: float
    threshold: float
    drifted: bool


@dataclass(frozen=True, slots=True)
class Column:
    """One column of both samples: numbers for a numerical column, strings for a categorical
    one. ``name`` is the feature's name (mlgraph's positional features are named by position)."""

    name: str
    kind: ColumnKind
    reference: Values
    current: Values


@dataclass(frozen=True, slots=True)
class ColumnDrift:
    """The test result for one column: a feature by name, or the label (``name`` is ``None``).

    ``note`` says why the test that ran is not the one asked for, if it is not.
    """

    name: str | None
    kind: ColumnKind
    result: TestResult
    note: str | None = None


def _values(reference: Values, current: Values) -> set[float | str]:
    """The distinct values of both samples together."""
    return {*reference, *current}


def default_test(reference: Values, current: Values, *, kind: ColumnKind) -> StatTest:
    """Evidently's choice for one column (``_get_default_stattest``): by the reference's size
    and the number of distinct values in both samples together (table in the module doc)."""
    values = len(_values(reference, current))
    few = kind is ColumnKind.CATEGORICAL or values <= CATEGORICAL_MAX_VALUES
    if len(reference) <= SMALL_SAMPLE:
        if not few:
            return StatTest.KS
        return StatTest.ZTEST if values <= BINARY_MAX_VALUES else StatTest.CHISQUARE
    return StatTest.JENSENSHANNON if few else StatTest.WASSERSTEIN


def run_test(
    test: StatTest,
    reference: Values,
    current: Values,
    *,
    threshold: float,
    kind: ColumnKind,
) -> TestResult:
    """Compare two non-empty samples of one column with ``test``, judged at ``threshold``.

    ``kind`` says how Jensen-Shannon and PSI bin the values. A ``ValueError`` says that a
    sample is empty or that a numeric-only test (KS, Wasserstein) was asked of categories.
    """
    if not reference or not current:
        raise ValueError("both samples need at least one value")
    if test.numeric_only and kind is ColumnKind.CATEGORICAL:
        raise ValueError(f"{test.value} needs numbers, not categories")
    value: float
    if test is StatTest.KS:
        value = float(stats.ks_2samp(reference, current).pvalue)
    elif test is StatTest.WASSERSTEIN:
        ref = np.asarray(reference, dtype=float)
        # Evidently's norm: the reference's (population) std, floored so that a constant
        # reference does not divide by zero.
        norm = max(float(np.std(ref)), 0.001)
        value = float(stats.wasserstein_distance(ref, np.asarray(current, dtype=float))) / norm
    elif test is StatTest.CHISQUARE:
        value = _chisquare_p(reference, current)
    elif test is StatTest.ZTEST:
        value = _ztest_p(reference, current)
    elif test is StatTest.JENSENSHANNON:
        ref_share, cur_share = _binned(reference, current, kind=kind, fill_empty=False)
        value = float(distance.jensenshannon(ref_share, cur_share))
    else:
        ref_share, cur_share = _binned(reference, current, kind=kind, fill_empty=True)
        value = float(np.sum((ref_share - cur_share) * np.log(ref_share / cur_share)))
    return TestResult(
        test=test, value=value, threshold=threshold, drifted=test.flags(value, threshold)
    )


def _chisquare_p(reference: Values, current: Values) -> float:
    """Pearson's chi-square p-value of the current counts against the reference's, scaled to
    the current sample's size (Evidently's ``_chi_stat_test``)."""
    ref_counts: Counter[float | str] = Counter(reference)
    cur_counts: Counter[float | str] = Counter(current)
    keys = list(_values(reference, current))
    if len(keys) == 1:
        return 1.0  # one category on both sides: nothing can differ (Evidently: NaN)
    if any(key not in ref_counts for key in cur_counts):
        # A value the reference never had: its expected count is 0, the statistic infinite
        # (scipy says so with a division warning; Evidently's p-value is 0 as well).
        return 0.0
    scale = len(current) / len(reference)
    expected = [ref_counts[key] * scale for key in keys]
    observed = [cur_counts[key] for key in keys]
    return float(stats.chisquare(observed, expected).pvalue)


def _ztest_p(reference: Values, current: Values) -> float:
    """Two-sided p-value of the two-sample Z-test for proportions (pooled variance), the share
    being that of every value but the smallest (Evidently's ``_z_stat_test``)."""
    # One kind of value per column, so they sort (numbers as numbers, strings as strings).
    keys = sorted(_values(reference, current))
    if len(keys) == 1:
        return 1.0  # one value on both sides (Evidently's own special case)
    first = keys[0]
    n1, n2 = len(reference), len(current)
    p1 = sum(1 for value in reference if value != first) / n1
    p2 = sum(1 for value in current if value != first) / n2
    pooled = (p1 * n1 + p2 * n2) / (n1 + n2)
    z = (p1 - p2) / math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
    return float(2 * stats.norm.sf(abs(z)))


def _binned(
    reference: Values, current: Values, *, kind: ColumnKind, fill_empty: bool
) -> tuple[np.ndarray, np.ndarray]:
    """Each sample's share per bin (Evidently's ``get_binned_data``, binning in the module
    doc); ``fill_empty`` gives empty bins PSI's small share."""
    if kind is ColumnKind.NUMERICAL and len(set(reference)) > BIN_PER_VALUE_MAX:
        ref = np.asarray(reference, dtype=float)
        cur = np.asarray(current, dtype=float)
        edges = np.histogram_bin_edges(np.concatenate([ref, cur]), bins="sturges")
        ref_share = np.histogram(ref, edges)[0] / len(ref)
        cur_share = np.histogram(cur, edges)[0] / len(cur)
    else:
        ref_counts: Counter[float | str] = Counter(reference)
        cur_counts: Counter[float | str] = Counter(current)
        keys = list(_values(reference, current))
        ref_share = np.array([ref_counts[key] for key in keys]) / len(reference)
        cur_share = np.array([cur_counts[key] for key in keys]) / len(current)
    if fill_empty:
        ref_share, cur_share = _fill_empty(ref_share), _fill_empty(cur_share)
    return ref_share, cur_share


def _fill_empty(shares: np.ndarray) -> np.ndarray:
    smallest = float(shares[shares > 0].min())
    fill = smallest * PSI_TINY_FACTOR if smallest <= PSI_EPSILON else PSI_EPSILON
    return np.where(shares == 0, fill, shares)


def _threshold(thresholds: Mapping[StatTest, float], test: StatTest) -> float:
    return thresholds.get(test, DEFAULT_THRESHOLDS[test])


def compare_columns(
    columns: Sequence[Column],
    *,
    thresholds: Mapping[StatTest, float],
    test: StatTest | None = None,
) -> list[ColumnDrift]:
    """Test every column of two windows, in order.

    ``test`` overrides the default choice (:func:`default_test`) for every column; a categorical
    column asked for a numeric-only test (KS, Wasserstein) gets its default test instead, with a
    ``note`` saying so. ``thresholds`` gives each test's threshold; a test missing from it uses
    Evidently's (:data:`DEFAULT_THRESHOLDS`). A ``ValueError`` says that a sample is empty.
    """
    results = []
    for column in columns:
        chosen, note = test, None
        if chosen is None or (chosen.numeric_only and column.kind is ColumnKind.CATEGORICAL):
            chosen = default_test(column.reference, column.current, kind=column.kind)
            if test is not None:
                note = (
                    f"{test.value} needs numbers and {column.name} is categorical: its default "
                    f"test, {chosen.value}, ran instead"
                )
        result = run_test(
            chosen,
            column.reference,
            column.current,
            threshold=_threshold(thresholds, chosen),
            kind=column.kind,
        )
        results.append(ColumnDrift(name=column.name, kind=column.kind, result=result, note=note))
    return results


def compare_labels(
    reference: Sequence[str],
    current: Sequence[str],
    *,
    thresholds: Mapping[StatTest, float],
    test: StatTest | None = None,
) -> ColumnDrift:
    """Test the predicted labels of two windows as a categorical column (``name`` ``None``).

    ``test`` overrides the default choice; a numeric-only one (KS, Wasserstein) is a
    ``ValueError``, as is an empty sample. ``thresholds`` as for :func:`compare_columns`.
    """
    if test is not None and test.numeric_only:
        raise ValueError(f"{test.value} needs numbers; the label is a category")
    kind = ColumnKind.CATEGORICAL
    chosen = test or default_test(reference, current, kind=kind)
    result = run_test(
        chosen, reference, current, threshold=_threshold(thresholds, chosen), kind=kind
    )
    return ColumnDrift(name=None, kind=kind, result=result)
