"""Drift tests between a reference and a current sample, chosen as Evidently chooses them.

Pure functions over plain numbers and labels; every statistic comes from scipy.

Default test (Evidently's ``_get_default_stattest``), by the reference's size ``n``:

==============================  ==============================  ==============================
column                          n <= 1000                       n > 1000
==============================  ==============================  ==============================
numeric, > 5 distinct values    Kolmogorov-Smirnov, p < 0.05    Wasserstein / std(ref) >= 0.1
numeric with <= 5 values,       chi-square, p < 0.05            Jensen-Shannon distance >= 0.1
and the predicted label
==============================  ==============================  ==============================

KS flags nearly every feature on large samples (tiny differences become significant), hence
the switch to an effect size. PSI is available on request.
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
    "PSI_BINS",
    "PSI_EPSILON",
    "SMALL_SAMPLE",
    "ColumnDrift",
    "StatTest",
    "TestResult",
    "compare_windows",
    "default_test",
    "run_test",
]

SMALL_SAMPLE = 1000  # Evidently: references up to this size use the p-value tests.
CATEGORICAL_MAX_VALUES = 5  # numeric columns with this few distinct values count as categories.
PSI_BINS = 30
# Empty bins get this share (instead of 0) so the log in PSI stays finite: 1e-4, i.e. 0.01 %.
PSI_EPSILON = 1e-4


class StatTest(enum.Enum):
    KS = "ks"
    WASSERSTEIN = "wasserstein"
    CHISQUARE = "chisquare"
    JENSENSHANNON = "jensenshannon"
    PSI = "psi"

    @property
    def is_p_value(self) -> bool:
        """True when the statistic is a p-value: drift is *below* the threshold."""
        return self in (StatTest.KS, StatTest.CHISQUARE)

    @property
    def numeric_only(self) -> bool:
        return self in (StatTest.KS, StatTest.WASSERSTEIN)


@dataclass(frozen=True, slots=True)
class TestResult:
    test: StatTest
    value: float
    threshold: float
    drifted: bool


def is_categorical(reference: Sequence[float], current: Sequence[float]) -> bool:
    """Evidently treats a numeric column with few distinct values as categorical."""
    return len(set(reference) | set(current)) <= CATEGORICAL_MAX_VALUES


def default_test(n_reference: int, *, categorical: bool) -> StatTest:
    small = n_reference <= SMALL_SAMPLE
    if categorical:
        return StatTest.CHISQUARE if small else StatTest.JENSENSHANNON
    return StatTest.KS if small else StatTest.WASSERSTEIN


def run_test(
    test: StatTest,
    reference: Sequence[float] | Sequence[str],
    current: Sequence[float] | Sequence[str],
    *,
    threshold: float,
    categorical: bool,
) -> TestResult:
    """Compare two non-empty samples with ``test``; ``categorical`` says how to bin them."""
    if test.numeric_only and categorical:
        raise ValueError(f"{test.value} needs numbers, not categories")
    value: float
    if test is StatTest.KS:
        value = float(stats.ks_2samp(reference, current).pvalue)
    elif test is StatTest.WASSERSTEIN:
        ref = np.asarray(reference, dtype=float)
        # Evidently's norm: the reference's (population) std, floored so constants don't divide
        # by zero.
        value = float(stats.wasserstein_distance(ref, current)) / max(float(np.std(ref)), 0.001)
    elif test is StatTest.CHISQUARE:
        value = _chisquare_p(reference, current)
    elif test is StatTest.JENSENSHANNON:
        ref_share, cur_share = _shares(reference, current, categorical=categorical)
        value = float(distance.jensenshannon(ref_share, cur_share))
    else:
        ref_share, cur_share = _shares(reference, current, categorical=categorical)
        ref_share = np.maximum(ref_share, PSI_EPSILON)
        cur_share = np.maximum(cur_share, PSI_EPSILON)
        value = float(np.sum((cur_share - ref_share) * np.log(cur_share / ref_share)))
    drifted = value < threshold if test.is_p_value else value >= threshold
    return TestResult(test=test, value=value, threshold=threshold, drifted=drifted)


def _chisquare_p(reference: Sequence[float] | Sequence[str], current: Sequence[object]) -> float:
    # As Evidently: expected counts are the reference's, scaled to the current sample's size.
    ref_counts, cur_counts = Counter(reference), Counter(current)
    if any(key not in ref_counts for key in cur_counts):
        # A category the reference never saw: the expected count is 0, the statistic infinite.
        return 0.0
    keys = list(ref_counts)
    scale = len(current) / len(reference)
    expected = [ref_counts[key] * scale for key in keys]
    observed = [cur_counts.get(key, 0) for key in keys]
    if len(keys) == 1:
        return 1.0  # one category on both sides: nothing can differ
    p_value = float(stats.chisquare(observed, expected).pvalue)
    return p_value if not math.isnan(p_value) else 1.0


def _shares(
    reference: Sequence[float] | Sequence[str],
    current: Sequence[float] | Sequence[str],
    *,
    categorical: bool,
) -> tuple[np.ndarray, np.ndarray]:
    """Share of each sample per bin: per category, or per one of ``PSI_BINS`` equal-width bins
    over the reference's range (values outside it count in the outermost bins)."""
    if categorical:
        keys = sorted(set(reference) | set(current), key=str)
        ref_counts, cur_counts = Counter(reference), Counter(current)
        ref = np.array([ref_counts[k] for k in keys], dtype=float)
        cur = np.array([cur_counts[k] for k in keys], dtype=float)
    else:
        ref_values = np.asarray(reference, dtype=float)
        edges = np.histogram_bin_edges(ref_values, bins=PSI_BINS)
        cur_values = np.clip(np.asarray(current, dtype=float), edges[0], edges[-1])
        ref = np.histogram(ref_values, bins=edges)[0].astype(float)
        cur = np.histogram(cur_values, bins=edges)[0].astype(float)
    return ref / ref.sum(), cur / cur.sum()


@dataclass(frozen=True, slots=True)
class ColumnDrift:
    """The test result for one column: a feature by position, or the label (``None``)."""

    feature: int | None
    result: TestResult


def compare_windows(
    reference_features: Sequence[Sequence[float]],
    reference_labels: Sequence[str],
    current_features: Sequence[Sequence[float]],
    current_labels: Sequence[str],
    *,
    thresholds: Mapping[StatTest, float],
    test: StatTest | None = None,
    label_test: StatTest | None = None,
) -> tuple[list[ColumnDrift], ColumnDrift]:
    """Test every feature and the predicted label of two non-empty windows.

    ``test`` (features) and ``label_test`` override the default choice; ``thresholds`` gives
    each test's threshold. Features are the positions every row of both windows has.
    """
    if label_test is not None and label_test.numeric_only:
        raise ValueError(f"{label_test.value} needs numbers; the label is a category")
    width = min(len(row) for row in (*reference_features, *current_features))
    columns = []
    for index in range(width):
        ref = [row[index] for row in reference_features]
        cur = [row[index] for row in current_features]
        categorical = is_categorical(ref, cur) and (test is None or not test.numeric_only)
        chosen = test or default_test(len(ref), categorical=categorical)
        result = run_test(chosen, ref, cur, threshold=thresholds[chosen], categorical=categorical)
        columns.append(ColumnDrift(feature=index, result=result))
    chosen = label_test or default_test(len(reference_labels), categorical=True)
    label = run_test(
        chosen, reference_labels, current_labels, threshold=thresholds[chosen], categorical=True
    )
    return columns, ColumnDrift(feature=None, result=label)
