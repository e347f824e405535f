"""The drift statistics against scipy/numpy computed here, and detection on seeded samples."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats
from scipy.spatial import distance

from monitoring.drift import PSI_BINS, PSI_EPSILON, StatTest, default_test, is_categorical, run_test

RNG_SEED = 20261125


def _samples(n: int, shift: float) -> tuple[list[float], list[float], list[float]]:
    rng = np.random.default_rng(RNG_SEED)
    reference = rng.normal(0.0, 1.0, n)
    same = rng.normal(0.0, 1.0, n)
    shifted = rng.normal(shift, 1.0, n)
    return reference.tolist(), same.tolist(), shifted.tolist()


def test_default_test_follows_evidently() -> None:
    assert default_test(1000, categorical=False) is StatTest.KS
    assert default_test(1001, categorical=False) is StatTest.WASSERSTEIN
    assert default_test(1000, categorical=True) is StatTest.CHISQUARE
    assert default_test(1001, categorical=True) is StatTest.JENSENSHANNON
    assert is_categorical([1.0, 2.0, 3.0], [4.0, 5.0])
    assert not is_categorical([1.0, 2.0, 3.0], [4.0, 5.0, 6.0])


def test_ks_value_is_scipys_and_flags_only_the_shift() -> None:
    reference, same, shifted = _samples(500, shift=0.5)
    result = run_test(StatTest.KS, reference, shifted, threshold=0.05, categorical=False)
    assert result.value == stats.ks_2samp(reference, shifted).pvalue
    assert result.drifted
    assert not run_test(StatTest.KS, reference, same, threshold=0.05, categorical=False).drifted


def test_wasserstein_is_normed_by_the_reference_std() -> None:
    reference, same, shifted = _samples(3000, shift=0.5)
    result = run_test(StatTest.WASSERSTEIN, reference, shifted, threshold=0.1, categorical=False)
    expected = stats.wasserstein_distance(reference, shifted) / np.std(reference)
    assert result.value == pytest.approx(expected)
    assert result.drifted
    calm = run_test(StatTest.WASSERSTEIN, reference, same, threshold=0.1, categorical=False)
    assert not calm.drifted


def test_psi_equals_numpy_on_reference_bins() -> None:
    reference, same, shifted = _samples(2000, shift=0.5)
    result = run_test(StatTest.PSI, reference, shifted, threshold=0.1, categorical=False)

    ref = np.asarray(reference)
    edges = np.linspace(ref.min(), ref.max(), PSI_BINS + 1)
    cur = np.clip(shifted, ref.min(), ref.max())
    p = np.histogram(ref, edges)[0] / len(ref)
    q = np.histogram(cur, edges)[0] / len(cur)
    p, q = np.where(p == 0, PSI_EPSILON, p), np.where(q == 0, PSI_EPSILON, q)
    assert result.value == pytest.approx(np.sum((q - p) * np.log(q / p)))
    assert result.drifted
    assert not run_test(StatTest.PSI, reference, same, threshold=0.1, categorical=False).drifted


def test_label_tests_chisquare_and_jensen_shannon() -> None:
    rng = np.random.default_rng(RNG_SEED)
    classes = ["a", "b", "c"]
    reference = rng.choice(classes, 600, p=[0.5, 0.3, 0.2]).tolist()
    same = rng.choice(classes, 600, p=[0.5, 0.3, 0.2]).tolist()
    shifted = rng.choice(classes, 600, p=[0.2, 0.3, 0.5]).tolist()

    result = run_test(StatTest.CHISQUARE, reference, shifted, threshold=0.05, categorical=True)
    observed = [shifted.count(c) for c in classes]
    expected = [reference.count(c) * len(shifted) / len(reference) for c in classes]
    assert result.value == pytest.approx(stats.chisquare(observed, expected).pvalue)
    assert result.drifted
    calm = run_test(StatTest.CHISQUARE, reference, same, threshold=0.05, categorical=True)
    assert not calm.drifted

    js = run_test(StatTest.JENSENSHANNON, reference, shifted, threshold=0.1, categorical=True)
    p = [reference.count(c) / len(reference) for c in classes]
    q = [shifted.count(c) / len(shifted) for c in classes]
    assert js.value == pytest.approx(distance.jensenshannon(p, q))
    assert js.drifted


def test_a_class_the_reference_never_saw_is_drift() -> None:
    result = run_test(
        StatTest.CHISQUARE, ["a"] * 50, ["a"] * 40 + ["z"] * 10, threshold=0.05, categorical=True
    )
    assert (result.value, result.drifted) == (0.0, True)


def test_numeric_only_tests_refuse_categories() -> None:
    with pytest.raises(ValueError, match="needs numbers"):
        run_test(StatTest.KS, ["a"], ["b"], threshold=0.05, categorical=True)
