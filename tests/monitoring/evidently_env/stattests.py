"""Evidently 0.4.40's own drift figures for the cases in a JSON file.

Runs in the Evidently environment (``scripts/modelserver.py evidently --prepare``), never in
mlgraph's: ``python stattests.py cases.json`` prints one JSON object. The tests in
``tests/monitoring/test_drift_evidently.py`` write the cases and compare mlgraph's figures.

``columns``: for each case (one column, as ``{"id", "kind", "reference", "current", "tests"}``)
the test Evidently chooses (``get_stattest`` without a test) and, for each named test, its value
and verdict at Evidently's default threshold and at a threshold equal to that value (which shows
which way each test compares). ``datasets``: whole frames through Evidently's ``Report`` with
``DataDriftTable`` and ``DatasetDriftMetric``, per column and for the dataset.
"""

from __future__ import annotations

import json
import sys
import warnings
from typing import Any

import pandas as pd
from evidently import ColumnMapping
from evidently.calculations.stattests import (
    chi_stat_test,
    jensenshannon_stat_test,
    ks_stat_test,
    psi_stat_test,
    wasserstein_stat_test,
    z_stat_test,
)
from evidently.calculations.stattests.registry import get_stattest
from evidently.core import ColumnType
from evidently.metrics import DataDriftTable, DatasetDriftMetric
from evidently.report import Report

# mlgraph's names (monitoring.drift.StatTest values) for Evidently's tests.
TESTS = {
    "ks": ks_stat_test,
    "wasserstein": wasserstein_stat_test,
    "chisquare": chi_stat_test,
    "jensenshannon": jensenshannon_stat_test,
    "psi": psi_stat_test,
    "ztest": z_stat_test,
}
BY_EVIDENTLY_NAME = {test.name: name for name, test in TESTS.items()}
BY_DISPLAY_NAME = {test.display_name: name for name, test in TESTS.items()}
KINDS = {"numerical": ColumnType.Numerical, "categorical": ColumnType.Categorical}


def column(case: dict[str, Any]) -> dict[str, Any]:
    reference, current = pd.Series(case["reference"]), pd.Series(case["current"])
    kind = KINDS[case["kind"]]
    chosen = get_stattest(reference, current, kind, None)
    tests = {}
    for name in case["tests"]:
        test = TESTS[name]
        result = test(reference, current, kind, None)
        at_value = test(reference, current, kind, float(result.drift_score))
        tests[name] = {
            "value": float(result.drift_score),
            "threshold": float(result.actual_threshold),
            "drifted": bool(result.drifted),
            "drifted_at_value": bool(at_value.drifted),
        }
    return {"default": BY_EVIDENTLY_NAME[chosen.name], "tests": tests}


def dataset(case: dict[str, Any]) -> dict[str, Any]:
    reference, current = pd.DataFrame(case["reference"]), pd.DataFrame(case["current"])
    mapping = ColumnMapping(
        target=None,
        prediction="label",
        datetime=None,
        numerical_features=case["numerical"],
        categorical_features=case["categorical"],
        task="classification",
    )
    report = Report(metrics=[DataDriftTable(), DatasetDriftMetric()])
    report.run(reference_data=reference, current_data=current, column_mapping=mapping)
    table, summary = (metric["result"] for metric in report.as_dict()["metrics"])
    return {
        "columns": {
            name: {
                "kind": drift["column_type"],
                "test": BY_DISPLAY_NAME[drift["stattest_name"]],
                "value": float(drift["drift_score"]),
                "threshold": float(drift["stattest_threshold"]),
                "drifted": bool(drift["drift_detected"]),
            }
            for name, drift in table["drift_by_columns"].items()
        },
        "number_of_columns": summary["number_of_columns"],
        "number_of_drifted_columns": summary["number_of_drifted_columns"],
        "share_of_drifted_columns": summary["share_of_drifted_columns"],
        "dataset_drift": bool(summary["dataset_drift"]),
    }


def main() -> None:
    # Evidently's chi-square divides by a zero expected count for a value the reference never
    # had (scipy warns, the p-value is 0); the figures, not the warnings, are what we compare.
    warnings.simplefilter("ignore")
    with open(sys.argv[1]) as file:
        cases = json.load(file)
    print(
        json.dumps(
            {
                "columns": {case["id"]: column(case) for case in cases["columns"]},
                "datasets": {case["id"]: dataset(case) for case in cases["datasets"]},
            }
        )
    )


if __name__ == "__main__":
    main()
