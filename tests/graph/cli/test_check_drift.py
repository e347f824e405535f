"""``mlgraph check-drift`` end to end: seeded windows in a real database (both dialects), the
real command line, and a real webhook receiver on 127.0.0.1; the drift gauges at /metrics."""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import numpy as np
import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy.ext.asyncio import AsyncSession

import db
from graph.cli import main
from tests.conftest import AppClient
from tests.utils.api import graphql
from tests.utils.builders import create_random_prediction

# The end of the current window: the current window is the 24 h before it, the reference the
# 7 days before that (the defaults).
UNTIL = datetime(2026, 3, 9, 0, 0, tzinfo=UTC)
N = 200


class Receiver:
    """A webhook on 127.0.0.1 that records every POSTed body and answers ``status``."""

    def __init__(self, status: int) -> None:
        self.status = status
        self.bodies: list[dict[str, Any]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers["Content-Length"])
                receiver.bodies.append(json.loads(self.rfile.read(length)))
                self.send_response(receiver.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/secret-token"


@contextlib.contextmanager
def receiving(status: int = 200) -> Iterator[Receiver]:
    receiver = Receiver(status)
    thread = threading.Thread(target=receiver.server.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        receiver.server.shutdown()
        receiver.server.server_close()
        thread.join()


async def _seed(session: AsyncSession, *, shift: float, current_rows: int = N) -> None:
    """Reference rows spread over the 7 days before the current window; current rows in it,
    with feature 1 moved by ``shift`` standard deviations."""
    rng = np.random.default_rng(7)
    current_start = UNTIL - timedelta(hours=24)
    windows = (
        (current_start - timedelta(days=7), 7 * 24, N, 0.0),
        (current_start, 24, current_rows, shift),
    )
    for start, hours, rows, moved in windows:
        features = np.column_stack([rng.normal(0, 1, rows), rng.normal(5 + 2 * moved, 2, rows)])
        labels = rng.choice(["setosa", "versicolor"], rows, p=[0.5, 0.5])
        for i in range(rows):
            await create_random_prediction(
                session,
                created_at=start + timedelta(hours=hours) * (i / rows),
                features=[float(x) for x in features[i]],
                label=str(labels[i]),
            )
    await session.commit()


async def _check_drift(
    monkeypatch: pytest.MonkeyPatch, database_url: str, *args: str, **env: str
) -> tuple[int, dict[str, Any]]:
    """Runs ``mlgraph check-drift`` as the CronJob would (its own event loop, settings from the
    environment); returns the exit status and the printed report."""
    monkeypatch.setenv("MLGRAPH_DATABASE_URL", database_url)
    for name, value in env.items():
        monkeypatch.setenv(f"MLGRAPH_{name.upper()}", value)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = await asyncio.to_thread(main, ["check-drift", "--until", UNTIL.isoformat(), *args])
    return code, json.loads(out.getvalue())


async def test_shifted_window_alerts_and_posts_the_report(
    monkeypatch: pytest.MonkeyPatch, database_url: str, session: AsyncSession
) -> None:
    await _seed(session, shift=1.0)
    with receiving() as receiver:
        code, report = await _check_drift(monkeypatch, database_url, drift_webhook_url=receiver.url)
    assert code == 1
    (posted,) = receiver.bodies
    assert posted["status"] == "alert"
    assert posted["model"] == "iris"
    assert posted["drift"]["status"] == "drifted"
    assert [f["drifted"] for f in posted["drift"]["features"]] == [False, True]
    assert [reason.split(":")[0] for reason in posted["reasons"]] == ["feature f1"]
    # KS flags at p <= threshold, as Evidently's does.
    assert posted["reasons"][0].startswith("feature f1: ks ")
    assert posted["reasons"][0].endswith(" <= 0.05")
    assert posted["current"]["since"] == (UNTIL - timedelta(hours=24)).isoformat()
    assert posted["reference"]["until"] == posted["current"]["since"]
    assert (posted["reference"]["count"], posted["current"]["count"]) == (N, N)
    # The printed report is the posted one, plus how the delivery went (never the URL's path).
    assert report == {**posted, "webhook": report["webhook"]}
    assert report["webhook"] == {
        "host": receiver.url.split("/")[2],
        "delivered": True,
        "attempts": 1,
        "status": 200,
        "error": None,
    }
    assert "secret-token" not in json.dumps(report)


async def test_no_drift_posts_nothing_and_exits_0(
    monkeypatch: pytest.MonkeyPatch, database_url: str, session: AsyncSession
) -> None:
    await _seed(session, shift=0.0)
    with receiving() as receiver:
        code, report = await _check_drift(monkeypatch, database_url, drift_webhook_url=receiver.url)
    assert (code, report["status"]) == (0, "ok")
    assert report["drift"]["status"] == "no_drift"
    assert report["reasons"] == []
    assert "webhook" not in report
    assert receiver.bodies == []


async def test_too_little_data_exits_2(
    monkeypatch: pytest.MonkeyPatch, database_url: str, session: AsyncSession
) -> None:
    await _seed(session, shift=3.0, current_rows=5)
    with receiving() as receiver:
        code, report = await _check_drift(monkeypatch, database_url, drift_webhook_url=receiver.url)
    assert (code, report["status"]) == (2, "insufficient_data")
    assert report["current"]["count"] == 5
    assert "at least 30" in report["drift"]["message"]
    assert receiver.bodies == []


async def test_failing_webhook_exits_3_after_bounded_retries(
    monkeypatch: pytest.MonkeyPatch, database_url: str, session: AsyncSession
) -> None:
    await _seed(session, shift=1.0)
    with receiving(status=500) as receiver:
        code, report = await _check_drift(
            monkeypatch, database_url, drift_webhook_url=receiver.url, drift_webhook_retries="1"
        )
    assert code == 3
    assert len(receiver.bodies) == 2  # the first attempt and one retry
    assert report["status"] == "alert"
    assert report["webhook"]["delivered"] is False
    assert (report["webhook"]["attempts"], report["webhook"]["status"]) == (2, 500)
    assert report["webhook"]["error"] == "HTTP 500"


async def test_accuracy_below_the_threshold_alerts(
    monkeypatch: pytest.MonkeyPatch, database_url: str, session: AsyncSession
) -> None:
    await _seed(session, shift=0.0)
    current = await db.predictions.list_predictions(
        session, limit=10_000, model_name="iris", since=UNTIL - timedelta(hours=24)
    )
    # Every other actual disagrees with the prediction: accuracy 0.5.
    await db.actuals.record_actuals(
        session,
        labels=[
            (row.id, row.label if i % 2 else f"not-{row.label}") for i, row in enumerate(current)
        ],
    )
    await session.commit()
    with receiving() as receiver:
        code, report = await _check_drift(
            monkeypatch, database_url, "--accuracy-threshold", "0.8", drift_webhook_url=receiver.url
        )
        calm, calm_report = await _check_drift(
            monkeypatch, database_url, "--accuracy-threshold", "0.4"
        )
    assert code == 1
    assert report["drift"]["status"] == "no_drift"
    assert report["accuracy"] == {
        "value": 0.5,
        "threshold": 0.8,
        "with_actuals": N,
        "below": True,
    }
    assert report["reasons"] == [f"accuracy 0.5 < 0.8 over {N} predictions with actuals"]
    assert len(receiver.bodies) == 1
    assert (calm, calm_report["accuracy"]["below"]) == (0, False)


async def test_an_accuracy_alert_does_not_hide_an_empty_reference(
    monkeypatch: pytest.MonkeyPatch, database_url: str, session: AsyncSession
) -> None:
    """The README's own example, run just after demo-traffic: nothing in the week before."""
    for i in range(N):
        row = await create_random_prediction(
            session, created_at=UNTIL - timedelta(hours=1) + timedelta(seconds=i), label="setosa"
        )
        await db.actuals.record_actuals(session, labels=[(row.id, "virginica")])
    await session.commit()
    code, report = await _check_drift(monkeypatch, database_url, "--accuracy-threshold", "0.9")
    assert (code, report["status"]) == (1, "alert")
    assert report["reasons"] == [f"accuracy 0 < 0.9 over {N} predictions with actuals"]
    assert report["warnings"] == [
        f"drift not judged: each window needs at least 30 predictions: the reference has 0, "
        f"the current {N}"
    ]


async def test_too_few_actuals_are_a_warning_not_silence(
    monkeypatch: pytest.MonkeyPatch, database_url: str, session: AsyncSession
) -> None:
    await _seed(session, shift=0.0)
    code, report = await _check_drift(monkeypatch, database_url, "--accuracy-threshold", "0.9")
    assert (code, report["status"]) == (0, "ok")
    assert report["warnings"] == [
        "accuracy not judged: 0 prediction(s) with actuals in the current window, 30 needed "
        "(MLGRAPH_DRIFT_MIN_ROWS)"
    ]


async def test_an_unknown_model_is_an_error_not_insufficient_data(
    monkeypatch: pytest.MonkeyPatch, database_url: str, session: AsyncSession
) -> None:
    await _seed(session, shift=0.0)
    code, report = await _check_drift(monkeypatch, database_url, "--model", "irsi")
    assert (code, report["status"]) == (4, "error")
    assert report["error"] == (
        "unknown model 'irsi': it is not configured (iris) and has no stored predictions"
    )


@pytest.mark.parametrize(
    "args",
    [
        ("--current", "soon"),
        ("--current", "0"),
        ("--reference", "P1M"),
        ("--reference-since", "2026-03-01"),
        ("--accuracy-threshold", "2"),
    ],
)
async def test_bad_options_exit_4(
    monkeypatch: pytest.MonkeyPatch, database_url: str, args: tuple[str, ...]
) -> None:
    code, report = await _check_drift(monkeypatch, database_url, *args)
    assert (code, report["status"]) == (4, "error")


@pytest.mark.parametrize(
    ("args", "env"),
    [
        (("--current", "PT24H", "--reference", "P7D"), {}),  # ISO 8601, refused before
        (("--current", "86400", "--reference", "1w"), {}),
        ((), {"drift_current_window": "24h", "drift_reference_window": "604800"}),  # refused before
    ],
)
async def test_windows_take_the_same_spellings_as_options_and_settings(
    monkeypatch: pytest.MonkeyPatch,
    database_url: str,
    session: AsyncSession,
    args: tuple[str, ...],
    env: dict[str, str],
) -> None:
    await _seed(session, shift=1.0)
    code, report = await _check_drift(monkeypatch, database_url, *args, **env)
    assert (code, report["status"]) == (1, "alert")
    assert report["current"]["since"] == (UNTIL - timedelta(hours=24)).isoformat()
    assert report["reference"]["since"] == (UNTIL - timedelta(days=8)).isoformat()
    assert (report["reference"]["count"], report["current"]["count"]) == (N, N)


async def test_drift_query_sets_the_gauges(app_client: AppClient, session: AsyncSession) -> None:
    await _seed(session, shift=1.0)
    query = """query($m: String!, $ref: TimeWindow!, $cur: TimeWindow!, $test: DriftTest) {
      drift(modelName: $m, reference: $ref, current: $cur, test: $test) { status } }"""
    current_start = UNTIL - timedelta(hours=24)
    windows = {
        "ref": {
            "since": (current_start - timedelta(days=7)).isoformat(),
            "until": current_start.isoformat(),
        },
        "cur": {"since": current_start.isoformat(), "until": UNTIL.isoformat()},
    }
    # The seeded rows belong to "iris"; move them to a model no other test (or run) queries.
    model = f"gauged-{uuid.uuid4().hex[:8]}"
    async with app_client() as client:
        before = await _drift_samples(client, model)
    assert before == {}
    await session.execute(
        db.Prediction.__table__.update().values(model_name=model)  # type: ignore[attr-defined]
    )
    await session.commit()
    async with app_client() as client:
        body = await graphql(client, query, m=model, **windows)
        assert body["data"]["drift"]["status"] == "DRIFTED"
        after = await _drift_samples(client, model)
        names = await _drift_names(client, model)
        body = await graphql(client, query, m=model, test="PSI", **windows)
        psi = await _drift_samples(client, model)
    # Each series names its feature: the rows were stored without a schema, so by position.
    assert names == {("0", "f0"), ("1", "f1"), ("label", "label")}
    assert after[("mlgraph_drift_detected", "1", None)] == 1
    assert after[("mlgraph_drift_detected", "0", None)] == 0
    assert after[("mlgraph_drift_score", "1", "ks")] < 0.05
    assert after[("mlgraph_drift_score", "0", "ks")] >= 0.05
    assert ("mlgraph_drift_score", "label", "ztest") in after
    # Only the latest test per column is exported.
    assert {key for key in psi if key[0] == "mlgraph_drift_score"} == {
        ("mlgraph_drift_score", "0", "psi"),
        ("mlgraph_drift_score", "1", "psi"),
        ("mlgraph_drift_score", "label", "ztest"),
    }


async def _drift_names(client: Any, model: str) -> set[tuple[str, str]]:
    response = await client.get("/metrics")
    return {
        (sample.labels["feature"], sample.labels["name"])
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
        if sample.name.startswith("mlgraph_drift_") and sample.labels.get("model") == model
    }


async def _drift_samples(client: Any, model: str) -> dict[tuple[str, str, str | None], float]:
    response = await client.get("/metrics")
    return {
        (sample.name, sample.labels["feature"], sample.labels.get("test")): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
        if sample.name.startswith("mlgraph_drift_") and sample.labels.get("model") == model
    }
