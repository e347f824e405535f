"""``mlgraph check-drift``: the retraining signal, one run per call (a Kubernetes CronJob).

It runs the drift computation of the ``drift`` query (``graph.resolvers.drift.check_drift``)
on the last window (``--current``, default ``MLGRAPH_DRIFT_CURRENT_WINDOW``) against a
reference window: fixed dates (``MLGRAPH_DRIFT_REFERENCE_SINCE``/``_UNTIL``) or the
``MLGRAPH_DRIFT_REFERENCE_WINDOW`` just before the current one. With an accuracy threshold it
also measures accuracy over the current window's predictions that have actuals, with the code
of the ``performance`` query. On an alert it POSTs the report to the webhook, if one is set.
The report is printed as one JSON object; the exit status says what happened:

==  ==========================================================================
0   no drift (and accuracy, if measured, at or above the threshold)
1   alert: a feature or the label drifted, or accuracy fell below the threshold
2   insufficient data: too few predictions (``MLGRAPH_DRIFT_MIN_ROWS``) to judge
3   alert, but the webhook could not be reached or refused the report
4   error: bad options, an unknown model, or the database failed
==  ==========================================================================
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, TextIO
from urllib.parse import urlsplit

from graph.durations import parse_duration
from graph.settings import InvalidSettings, Settings, load_settings
from graph.validation import utc

# The rest (scipy, Strawberry, SQLAlchemy, httpx) is imported when a check runs, so that
# `mlgraph serve` or `migrate`, which build this command's parser, don't load it.
if TYPE_CHECKING:
    import httpx

    import db
    from graph.types.drift import ColumnDrift, DriftReport

__all__ = [
    "EXIT_ALERT",
    "EXIT_ERROR",
    "EXIT_INSUFFICIENT_DATA",
    "EXIT_OK",
    "EXIT_WEBHOOK_FAILED",
    "CheckOptions",
    "WebhookResult",
    "add_arguments",
    "check",
    "post_report",
    "run_check_drift",
]

EXIT_OK = 0
EXIT_ALERT = 1
EXIT_INSUFFICIENT_DATA = 2
EXIT_WEBHOOK_FAILED = 3
EXIT_ERROR = 4

# The webhook is retried on these statuses and on connection errors and timeouts.
_RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
_BACKOFF_SECONDS = 0.5
_MAX_BACKOFF_SECONDS = 5.0


def _length(option: str, text: str) -> timedelta:
    """A window's length from the command line (graph/durations.py), longer than zero."""
    try:
        length = parse_duration(text)
    except ValueError as exc:
        raise ValueError(f"{option}: {exc}") from None
    if length <= timedelta(0):
        raise ValueError(f"{option}: a window must be longer than zero")
    return length


def _parse_time(text: str) -> datetime:
    return utc(datetime.fromisoformat(text))


@dataclass(frozen=True, slots=True)
class CheckOptions:
    """What one run checks, from the command line over the settings (``None``: the setting)."""

    model: str | None = None
    until: str | None = None
    current: str | None = None
    reference: str | None = None
    reference_since: str | None = None
    reference_until: str | None = None
    accuracy_threshold: float | None = None
    webhook_url: str | None = None


@dataclass(frozen=True, slots=True)
class _Plan:
    model: str
    reference: tuple[datetime, datetime]
    current: tuple[datetime, datetime]
    accuracy_threshold: float | None
    webhook_url: str | None


def _plan(settings: Settings, options: CheckOptions) -> _Plan:
    """Resolve the windows; a ``ValueError`` names what is wrong."""
    until = _parse_time(options.until) if options.until else datetime.now(UTC)
    length = (
        _length("--current", options.current) if options.current else settings.drift_current_window
    )
    current = (until - length, until)
    if (options.reference_since is None) != (options.reference_until is None):
        raise ValueError("give both --reference-since and --reference-until, or neither")
    if options.reference and options.reference_since:
        raise ValueError("give --reference or --reference-since/--reference-until, not both")
    reference: tuple[datetime, datetime]
    if options.reference_since and options.reference_until:
        reference = (_parse_time(options.reference_since), _parse_time(options.reference_until))
    elif options.reference is None and settings.drift_reference_since is not None:
        assert settings.drift_reference_until is not None  # the settings validator pairs them
        reference = (
            utc(settings.drift_reference_since),
            utc(settings.drift_reference_until),
        )
    else:
        before = (
            _length("--reference", options.reference)
            if options.reference
            else settings.drift_reference_window
        )
        reference = (current[0] - before, current[0])
    if reference[0] >= reference[1]:
        raise ValueError("the reference window must start before it ends")
    threshold = options.accuracy_threshold
    if threshold is None:
        threshold = settings.drift_accuracy_threshold
    if threshold is not None and not 0 <= threshold <= 1:
        raise ValueError("the accuracy threshold is a share between 0 and 1")
    return _Plan(
        model=options.model or settings.model_list()[0].name,
        reference=reference,
        current=current,
        accuracy_threshold=threshold,
        webhook_url=options.webhook_url or settings.drift_webhook_url,
    )


def _column(column: ColumnDrift | None) -> dict[str, Any] | None:
    if column is None:
        return None
    return {
        "feature": column.feature,
        "name": column.name,
        "kind": column.kind.value if column.kind is not None else None,
        "test": column.test.value,
        "value": column.value,
        "threshold": column.threshold,
        "drifted": column.drifted,
    }


def _window(bounds: tuple[datetime, datetime], count: int, sample: int) -> dict[str, Any]:
    return {
        "since": bounds[0].isoformat(),
        "until": bounds[1].isoformat(),
        "count": count,
        "sample": sample,
    }


async def _accuracy(
    sessions: db.Sessions, settings: Settings, plan: _Plan
) -> dict[str, Any] | None:
    """Accuracy over the current window's predictions with actuals, as ``performance`` has it."""
    from db import actuals as actual_queries
    from monitoring.classification import compute_metrics

    if plan.accuracy_threshold is None:
        return None
    async with sessions() as session:
        buckets = await actual_queries.get_performance_counts(
            session,
            model_name=plan.model,
            since=plan.current[0],
            until=plan.current[1],
            bucket="week",
        )
    pairs: Counter[tuple[str, str]] = Counter()
    for bucket in buckets:
        pairs.update(bucket.pairs)
    metrics = compute_metrics(pairs)
    # Judged on as many rows as a drift window needs: a handful of actuals is noise.
    judged = metrics.accuracy is not None and metrics.count >= settings.drift_min_rows
    return {
        "value": metrics.accuracy,
        "threshold": plan.accuracy_threshold,
        "with_actuals": metrics.count,
        "below": judged
        and metrics.accuracy is not None
        and metrics.accuracy < plan.accuracy_threshold,
    }


def _reasons(drift: DriftReport, accuracy: dict[str, Any] | None) -> list[str]:
    reasons = []
    for column in [*drift.features, *([drift.label] if drift.label else [])]:
        if column.drifted:
            name = "label" if column.name is None else f"feature {column.name}"
            # The comparison that flagged it: KS p <=, chi-square and Z-test p <, distances >=.
            relation = column.test.relation
            reasons.append(
                f"{name}: {column.test.value} {column.value:.4g} {relation} {column.threshold:g}"
            )
    if accuracy is not None and accuracy["below"]:
        reasons.append(
            f"accuracy {accuracy['value']:.4g} < {accuracy['threshold']:g} "
            f"over {accuracy['with_actuals']} predictions with actuals"
        )
    return reasons


async def _check_model(sessions: db.Sessions, settings: Settings, model: str) -> None:
    """A model must be configured or have stored predictions: a misspelt name would otherwise
    look like a model with too little data."""
    from db import predictions as prediction_queries
    from graph.cli._database import CommandError

    configured = [entry.name for entry in settings.model_list()]
    if model in configured:
        return
    async with sessions() as session:
        if await prediction_queries.has_predictions(session, model_name=model):
            return
    raise CommandError(
        f"unknown model {model!r}: it is not configured ({', '.join(configured)}) and has no "
        "stored predictions"
    )


def _warnings(drift: DriftReport, accuracy: dict[str, Any] | None, settings: Settings) -> list[str]:
    from graph.types.drift import DriftStatus

    warnings = []
    if drift.status is DriftStatus.INSUFFICIENT_DATA:
        warnings.append(f"drift not judged: {drift.message}")
    if accuracy is not None and accuracy["with_actuals"] < settings.drift_min_rows:
        warnings.append(
            f"accuracy not judged: {accuracy['with_actuals']} prediction(s) with actuals in the "
            f"current window, {settings.drift_min_rows} needed (MLGRAPH_DRIFT_MIN_ROWS)"
        )
    return warnings


async def _measure(settings: Settings, plan: _Plan) -> dict[str, Any]:
    import db
    from graph.cli._database import open_database
    from graph.resolvers.drift import check_drift, default_thresholds
    from graph.types.drift import DriftStatus

    # Both windows are read from the replica, when there is one.
    async with open_database(
        settings.read_url, statement_cache=settings.database_statement_cache
    ) as engine:
        sessions = db.make_sessionmaker(engine)
        await _check_model(sessions, settings, plan.model)
        drift = await check_drift(
            sessions,
            settings,
            model_name=plan.model,
            reference=plan.reference,
            current=plan.current,
            thresholds=default_thresholds(settings),
        )
        accuracy = await _accuracy(sessions, settings, plan)
    reasons = _reasons(drift, accuracy)
    warnings = _warnings(drift, accuracy, settings)
    if reasons:
        status = "alert"
    elif drift.status is DriftStatus.INSUFFICIENT_DATA:
        status = "insufficient_data"
    else:
        status = "ok"
    return {
        "model": plan.model,
        "status": status,
        "reasons": reasons,
        # What could not be judged: an alert on accuracy must not hide an empty reference.
        "warnings": warnings,
        "checked_at": datetime.now(UTC).isoformat(),
        "reference": _window(plan.reference, drift.reference_count, drift.reference_sample),
        "current": _window(plan.current, drift.current_count, drift.current_sample),
        "drift": {
            "status": drift.status.value,
            "message": drift.message,
            "sampled": drift.sampled,
            "features": [_column(column) for column in drift.features],
            "label": _column(drift.label),
        },
        "accuracy": accuracy,
    }


@dataclass(frozen=True, slots=True)
class WebhookResult:
    delivered: bool
    attempts: int
    status: int | None  # the last HTTP status, if any answer came
    error: str | None


async def post_report(
    url: str,
    report: dict[str, Any],
    *,
    timeout: float,
    retries: int,
    transport: httpx.AsyncBaseTransport | None = None,
) -> WebhookResult:
    """POST ``report`` as JSON; retry connection errors, timeouts, 429 and 5xx ``retries`` times
    (backing off from 0.5 s, doubling); any 2xx is delivered."""
    import httpx

    status: int | None = None
    error: str | None = None
    async with httpx.AsyncClient(timeout=timeout, transport=transport) as client:
        for attempt in range(1, retries + 2):
            if attempt > 1:
                await asyncio.sleep(
                    min(_BACKOFF_SECONDS * 2 ** (attempt - 2), _MAX_BACKOFF_SECONDS)
                )
            try:
                response = await client.post(url, json=report)
            except httpx.TransportError as exc:
                status, error = (
                    None,
                    f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__,
                )
                continue
            status = response.status_code
            if response.is_success:
                return WebhookResult(delivered=True, attempts=attempt, status=status, error=None)
            error = f"HTTP {status}"
            if status not in _RETRY_STATUSES:
                return WebhookResult(delivered=False, attempts=attempt, status=status, error=error)
    return WebhookResult(delivered=False, attempts=retries + 1, status=status, error=error)


async def check(settings: Settings, options: CheckOptions, *, out: TextIO | None = None) -> int:
    """One run: measure, alert, print the report (to ``out``, default stdout); returns the exit
    status."""
    out = out or sys.stdout
    try:
        plan = _plan(settings, options)
    except ValueError as exc:
        print(json.dumps({"status": "error", "error": str(exc)}), file=out)
        return EXIT_ERROR
    from graph.cli._database import CommandError, database_problem
    from graph.migrations import DATABASE_ERRORS

    try:
        report = await _measure(settings, plan)
    except Exception as exc:  # a CronJob needs a status and one line, never a traceback
        if isinstance(exc, CommandError):  # not reachable, or not migrated
            message = str(exc)
        elif isinstance(exc, DATABASE_ERRORS):  # failed half-way
            message = database_problem(settings.database_url, exc)
        else:
            message = f"{type(exc).__name__}: {str(exc).strip().partition(chr(10))[0]}"
        print(json.dumps({"model": plan.model, "status": "error", "error": message}), file=out)
        return EXIT_ERROR
    code = {"ok": EXIT_OK, "insufficient_data": EXIT_INSUFFICIENT_DATA}.get(
        report["status"], EXIT_ALERT
    )
    printed = dict(report)
    if code == EXIT_ALERT and plan.webhook_url:
        result = await post_report(
            plan.webhook_url,
            report,
            timeout=settings.drift_webhook_timeout,
            retries=settings.drift_webhook_retries,
        )
        # Only the host: webhook URLs often carry a token in their path.
        printed["webhook"] = {"host": urlsplit(plan.webhook_url).netloc} | {
            "delivered": result.delivered,
            "attempts": result.attempts,
            "status": result.status,
            "error": result.error,
        }
        if not result.delivered:
            code = EXIT_WEBHOOK_FAILED
    print(json.dumps(printed, indent=2), file=out)
    for warning in report["warnings"]:  # beside the JSON, for whoever reads the job's log
        print(f"mlgraph check-drift: {warning}", file=sys.stderr)
    return code


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``check-drift`` options; values are checked by :func:`check`, so that a bad one
    exits 4 (argparse's own usage errors, such as an unknown option, exit 2)."""
    parser.add_argument("--model", help="default: the default model (MLGRAPH_MODELS' first)")
    parser.add_argument("--current", help="e.g. 24h; default: MLGRAPH_DRIFT_CURRENT_WINDOW")
    parser.add_argument("--until", help="end of the current window, ISO 8601 (default: now)")
    parser.add_argument(
        "--reference",
        help="e.g. 7d, just before the current window (MLGRAPH_DRIFT_REFERENCE_WINDOW)",
    )
    parser.add_argument("--reference-since", help="a fixed reference window, ISO 8601")
    parser.add_argument("--reference-until", help="with --reference-since")
    parser.add_argument(
        "--accuracy-threshold", help="alert below this accuracy, 0..1 (needs actuals)"
    )
    parser.add_argument("--webhook-url", help="default: MLGRAPH_DRIFT_WEBHOOK_URL")


def run_check_drift(args: argparse.Namespace) -> int:
    """``mlgraph check-drift``: the settings, then :func:`check` in its own event loop."""
    try:
        settings = load_settings()
    except InvalidSettings as exc:
        print(json.dumps({"status": "error", "error": "; ".join(exc.problems)}))
        return EXIT_ERROR
    try:
        threshold = float(args.accuracy_threshold) if args.accuracy_threshold else None
    except ValueError:
        error = f"--accuracy-threshold: {args.accuracy_threshold!r} is not a number"
        print(json.dumps({"status": "error", "error": error}))
        return EXIT_ERROR
    options = CheckOptions(
        model=args.model,
        until=args.until,
        current=args.current,
        reference=args.reference,
        reference_since=args.reference_since,
        reference_until=args.reference_until,
        accuracy_threshold=threshold,
        webhook_url=args.webhook_url,
    )
    return asyncio.run(check(settings, options))
