"""Drift between a reference window and a current window of one model's predictions."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

import strawberry
from strawberry.types import Info

import db
from db import stats as queries
from graph.auth import CanRead
from graph.context import Context
from graph.errors import BadUserInput
from graph.metrics import record_drift
from graph.settings import Settings
from graph.types.drift import ColumnDrift, DriftReport, DriftStatus, TimeWindow
from graph.validation import check_range
from monitoring import drift
from monitoring.drift import StatTest

__all__ = ["DriftQueries", "check_drift", "default_thresholds"]


def default_thresholds(settings: Settings) -> dict[drift.StatTest, float]:
    return {
        drift.StatTest.KS: settings.drift_ks_threshold,
        drift.StatTest.CHISQUARE: settings.drift_chisquare_threshold,
        drift.StatTest.WASSERSTEIN: settings.drift_wasserstein_threshold,
        drift.StatTest.JENSENSHANNON: settings.drift_jensenshannon_threshold,
        drift.StatTest.PSI: settings.drift_psi_threshold,
        drift.StatTest.ZTEST: settings.drift_ztest_threshold,
    }


@strawberry.type
class DriftQueries:
    @strawberry.field(
        description="Per feature and for the predicted label: a test (Evidently's default "
        "choice unless given), its value, threshold and verdict.",
        permission_classes=[CanRead],
    )
    async def drift(
        self,
        info: Info[Context, None],
        model_name: str,
        reference: TimeWindow,
        current: TimeWindow,
        test: StatTest | None = None,
        threshold: float | None = None,
        label_test: StatTest | None = None,
        label_threshold: float | None = None,
    ) -> DriftReport:
        ref_since, ref_until = check_range(
            reference.since, reference.until, model_name=model_name, argument="reference"
        )
        cur_since, cur_until = check_range(
            current.since, current.until, model_name=model_name, argument="current"
        )
        if threshold is not None and test is None:
            raise BadUserInput("threshold needs test", argument="threshold")
        if label_threshold is not None and label_test is None:
            raise BadUserInput("labelThreshold needs labelTest", argument="labelThreshold")
        if label_test is not None and label_test.numeric_only:
            raise BadUserInput(f"labelTest {label_test.name} needs numbers", argument="labelTest")
        settings = info.context.settings
        thresholds = default_thresholds(settings)
        if test is not None and threshold is not None:
            thresholds[test] = threshold
        if label_test is not None and label_threshold is not None:
            thresholds[label_test] = label_threshold
        return await check_drift(
            info.context.read_sessions,
            settings,
            model_name=model_name,
            reference=(ref_since, ref_until),
            current=(cur_since, cur_until),
            thresholds=thresholds,
            test=test,
            label_test=label_test,
        )


async def check_drift(
    sessions: db.Sessions,
    settings: Settings,
    *,
    model_name: str,
    reference: tuple[datetime, datetime],
    current: tuple[datetime, datetime],
    thresholds: Mapping[drift.StatTest, float],
    test: drift.StatTest | None = None,
    label_test: drift.StatTest | None = None,
) -> DriftReport:
    """Load both windows (each at most ``settings.drift_max_sample`` rows, sampled by the
    database) and test them; too few rows in either give ``INSUFFICIENT_DATA``."""
    limit = settings.drift_max_sample
    async with sessions() as session:
        ref = await queries.sample_window(
            session, model_name=model_name, since=reference[0], until=reference[1], limit=limit
        )
        cur = await queries.sample_window(
            session, model_name=model_name, since=current[0], until=current[1], limit=limit
        )
    report = DriftReport(
        status=DriftStatus.NO_DRIFT,
        message=None,
        reference_count=ref.total,
        current_count=cur.total,
        reference_sample=len(ref.labels),
        current_sample=len(cur.labels),
        sampled=ref.sampled or cur.sampled,
        features=[],
        label=None,
    )
    minimum = settings.drift_min_rows
    if ref.total < minimum or cur.total < minimum:
        report.status = DriftStatus.INSUFFICIENT_DATA
        report.message = (
            f"each window needs at least {minimum} predictions: the reference has "
            f"{ref.total}, the current {cur.total}"
        )
        return report
    # Features are matched by name and kind: a feature one window lacks is not tested.
    reference_columns = {(c.name, c.kind): c for c in ref.columns}
    pairs = [
        (reference_columns[(c.name, c.kind)], c)
        for c in cur.columns
        if (c.name, c.kind) in reference_columns
    ]
    columns = drift.compare_columns(
        [
            drift.Column(
                name=current_column.name,
                kind=drift.ColumnKind(current_column.kind),
                reference=reference_column.values,
                current=current_column.values,
            )
            for reference_column, current_column in pairs
        ],
        thresholds=thresholds,
        test=test,
    )
    label = drift.compare_labels(ref.labels, cur.labels, thresholds=thresholds, test=label_test)
    report.features = [
        ColumnDrift.from_result(column, position=current_column.position)
        for column, (_, current_column) in zip(columns, pairs, strict=True)
    ]
    report.label = ColumnDrift.from_result(label)
    record_drift(model_name, report.features, report.label)
    if report.label.drifted or any(column.drifted for column in report.features):
        report.status = DriftStatus.DRIFTED
    return report
