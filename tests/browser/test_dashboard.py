"""The dashboard in a real headless Chromium with no network (tests/browser/conftest.py).

``mlgraph serve`` runs on a SQLite database seeded with known predictions and actuals; the test
checks the numbers the charts draw, that a classify made meanwhile shows up in the live feed,
that the page asked nothing of another host, and writes a screenshot (its path is printed; a
copy goes to tests/browser/artifacts/).
"""

from __future__ import annotations

import asyncio
import re
import shutil
import subprocess
import sys
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlencode

import httpx
import pytest
from selenium import webdriver
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

import db
from scripts.modelserver import ModelServer
from tests.utils.browser import ARTIFACTS, foreign_requests, requested_urls
from tests.utils.builders import create_random_prediction
from tests.utils.migrations import migrate
from tests.utils.serve import metric, serve_mlgraph, stub_label, stub_model

# How each drift figure must be described: p-values (KS at or below the threshold, as Evidently
# flags it, the others below it); every other test gives a distance.
RULES = {
    "KS": "p-value; drift at or below",
    "CHISQUARE": "p-value; drift below",
    "ZTEST": "p-value; drift below",
}

# Hours before the current one -> (label, actual) of each prediction stored then.
SEEDED: dict[int, list[tuple[str, str | None]]] = {
    5: [("setosa", "setosa"), ("setosa", "setosa"), ("virginica", "virginica")],
    3: [("setosa", "setosa"), ("setosa", "virginica"), *[("virginica", None)] * 5],
    1: [
        ("virginica", "virginica"),
        ("virginica", "virginica"),
        ("virginica", "virginica"),
        ("setosa", None),
    ],
}


async def _seed(url: str, hour: datetime) -> None:
    engine = db.make_engine(url)
    try:
        async with db.make_sessionmaker(engine).begin() as session:
            actuals: list[db.Actual] = []
            for hours_ago, rows in SEEDED.items():
                for i, (label, actual) in enumerate(rows):
                    current = hours_ago == 1
                    # Feature 0 moves far in the current window (drift); feature 1 does not.
                    features = [(8.0 if current else 5.0) + i / 10, 3.0 + (i % 2) / 10, 1.5, 0.2]
                    row = await create_random_prediction(
                        session,
                        created_at=hour - timedelta(hours=hours_ago, minutes=-10 - i),
                        label=label,
                        features=features,
                        latency_ms=2.0 + hours_ago,
                        request_id=(request_id := f"seed-{hours_ago}-{i}"),
                    )
                    if hours_ago == 5:  # Seldon feedback's rewards: 1, 0, 1
                        await session.merge(
                            db.ClassifyRequest(
                                request_id=request_id,
                                created_at=row.created_at,
                                reward=float(i != 1),
                            )
                        )
                    if actual is not None:
                        actuals.append(
                            db.Actual(
                                prediction_id=row.id,
                                label=actual,
                                created_at=row.created_at,
                                updated_at=row.created_at,
                            )
                        )
            await session.flush()  # the predictions first: actuals refer to them
            session.add_all(actuals)
    finally:
        await engine.dispose()


def test_dashboard_draws_seeded_history_and_the_live_feed(
    browser: webdriver.Chrome, tmp_path: Path
) -> None:
    database_url = f"sqlite+aiosqlite:///{tmp_path / 'mlgraph.db'}"
    migrate(database_url, "head")
    hour = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    asyncio.run(_seed(database_url, hour))
    query = {
        # Not on the hour: the first bucket starts before since, and is still drawn.
        "since": (hour - timedelta(hours=5, minutes=-5)).isoformat(),
        "until": (hour + timedelta(hours=1)).isoformat(),
        "driftFrom": (hour - timedelta(hours=1)).isoformat(),
        "bucket": "HOUR",
        "model": "iris",
    }
    environment = {"MLGRAPH_DRIFT_MIN_ROWS": "3"}
    with (
        stub_model() as model_url,
        serve_mlgraph(
            database_url, tmp_path / "serve.log", MLGRAPH_MODEL_URL=model_url, **environment
        ) as base,
    ):
        browser.get(f"{base}/dashboard?{urlencode(query)}")
        wait = WebDriverWait(browser, 30)
        wait.until(lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-loaded"))

        # The hourly bars carry the seeded counts; the hours between them are empty.
        bars = {
            datetime.fromisoformat(g.get_attribute("data-start") or ""): int(
                g.get_attribute("data-count") or -1
            )
            for g in browser.find_elements(By.CSS_SELECTOR, "#volume-chart g.bucket")
        }
        expected = {hour - timedelta(hours=h): len(rows) for h, rows in SEEDED.items()}
        assert {t: n for t, n in bars.items() if n} == expected
        assert len(bars) == 6
        mix = {
            li.get_attribute("data-label"): int(li.get_attribute("data-count") or -1)
            for li in browser.find_elements(By.CSS_SELECTOR, "#label-mix li")
        }
        assert mix == {"setosa": 5, "virginica": 9}
        assert browser.find_element(By.ID, "total").text == "14"

        # Accuracy over the predictions with actuals: 7 right of 8.
        accuracy = browser.find_element(By.ID, "accuracy")
        assert float(accuracy.get_attribute("data-value") or "nan") == pytest.approx(7 / 8)
        # The mean reward of the three rewarded requests.
        reward = browser.find_element(By.ID, "reward")
        assert float(reward.get_attribute("data-value") or "nan") == pytest.approx(2 / 3)
        assert browser.find_element(By.ID, "reward-note").text == "3 requests rewarded"
        # Latency: 2 ms + hours ago, so the worst hourly p95 is the oldest hour's 7 ms.
        assert browser.find_element(By.ID, "p95-latency").text == "7.0 ms"
        # Both line charts have a point per bucket with predictions, inside the plot.
        seeded = {hour - timedelta(hours=h): 2.0 + h for h in SEEDED}
        assert _points_in_plot(browser, "latency-chart", "mean") == seeded
        assert _points_in_plot(browser, "accuracy-chart", "accuracy") == {
            hour - timedelta(hours=5): 100.0,
            hour - timedelta(hours=3): 50.0,
            hour - timedelta(hours=1): 100.0,
        }

        # Drift: feature 0 moved in the current window and is highlighted; feature 1 did not.
        drift = {
            tr.get_attribute("data-column"): tr.get_attribute("class")
            for tr in browser.find_elements(By.CSS_SELECTOR, "#drift-table tbody tr")
        }
        # Named as the rows' schema names them: these rows were stored without one (f0, f1, …).
        assert drift["f0"] == "drifted"
        assert drift["f1"] == ""
        assert browser.find_element(By.ID, "drift-status").text == "drifted"

        # The live feed: a classify made now appears without reloading.
        wait.until(lambda d: d.find_element(By.ID, "live-status").text == "connected")
        with httpx.Client(base_url=base) as client:
            for _ in range(200):
                if asyncio.run(_subscribers(base)) >= 1:
                    break
            else:
                pytest.fail("the dashboard never subscribed")
            response = client.post(
                "/graphql",
                json={
                    "query": "mutation { classify(input: {rows: [[6.1, 2.8, 4.7, 1.2]]}) "
                    "{ predictions { id label } } }"
                },
            )
        [prediction] = response.json()["data"]["classify"]["predictions"]
        assert prediction["label"] == stub_label([6.1])
        row = wait.until(
            lambda d: d.find_element(
                By.CSS_SELECTOR, f'#live-feed tr[data-id="{prediction["id"]}"]'
            )
        )
        assert row.get_attribute("data-label") == "virginica"
        # Leave time for the row's highlight to fade before the picture is taken.
        wait.until(lambda d: "new" not in (row.get_attribute("class") or "") or _fade(d))

        screenshot = tmp_path / "dashboard.png"
        assert browser.save_screenshot(str(screenshot))
        ARTIFACTS.mkdir(exist_ok=True)
        shutil.copy(screenshot, ARTIFACTS / "dashboard.png")
        print(f"dashboard screenshot: {screenshot} (copy: {ARTIFACTS / 'dashboard.png'})")
        urls = requested_urls(browser)
    assert any(url.endswith("/dashboard/dashboard.js") for url in urls)
    assert foreign_requests(urls, base) == []
    assert uuid.UUID(prediction["id"])


def _points_in_plot(driver: webdriver.Chrome, chart: str, kind: str) -> dict[datetime, float]:
    """A line chart's points of one series (bucket start -> value), after checking that each
    lies inside the plot: between the ends of its axis lines, not clipped off to the left."""
    axis = driver.find_element(By.CSS_SELECTOR, f"#{chart} line.axis")
    left, right = (float(axis.get_dom_attribute(end) or "nan") for end in ("x1", "x2"))
    points = {}
    for point in driver.find_elements(By.CSS_SELECTOR, f"#{chart} circle.point.{kind}"):
        x = float(point.get_dom_attribute("cx") or "nan")
        assert left < x < right, (chart, kind, left, x, right)
        start = datetime.fromisoformat(point.get_dom_attribute("data-start") or "")
        points[start] = float(point.get_dom_attribute("data-value") or "nan")
    return points


def _fade(driver: webdriver.Chrome) -> bool:
    driver.execute_script(
        "document.querySelectorAll('#live-feed tr.new').forEach(r => r.classList.remove('new'))"
    )
    return True


async def _subscribers(base: str) -> float:
    async with httpx.AsyncClient(base_url=base) as client:
        value = await metric(client, "mlgraph_live_subscribers")
    if value < 1:
        await asyncio.sleep(0.05)
    return value


def test_dashboard_shows_what_demo_traffic_sent(
    browser: webdriver.Chrome, tmp_path: Path, model_server: ModelServer
) -> None:
    """The exact link ``mlgraph demo-traffic`` prints, against the real seldon-core model."""
    database_url = f"sqlite+aiosqlite:///{tmp_path / 'mlgraph.db'}"
    migrate(database_url, "head")
    count = 240
    with serve_mlgraph(
        database_url, tmp_path / "serve.log", MLGRAPH_MODEL_URL=model_server.url
    ) as base:
        demo = subprocess.run(
            [
                str(Path(sys.executable).parent / "mlgraph"),
                "demo-traffic",
                "--url",
                base,
                "--count",
                str(count),
                "--rate",
                "0",
                "--seed",
                "3",
            ],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert demo.returncode == 0, demo.stderr
        [normal] = re.findall(r"^(\d+) predictions sent; features drift", demo.stdout, re.M)
        [link] = re.findall(r"^dashboard: (\S+)$", demo.stdout, re.M)
        browser.get(link)
        WebDriverWait(browser, 30).until(
            lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-loaded")
        )
        urls = requested_urls(browser)
        error = browser.find_element(By.ID, "error")

        # The link's windows, to the millisecond: every normal row is in the reference window,
        # every drifted row in the current one, and all four features drifted.
        message = browser.find_element(By.ID, "drift-message").text
        assert message.startswith(f"{normal} reference and {count - int(normal)} current ")
        assert browser.find_element(By.ID, "drift-status").text == "drifted"
        rows = browser.find_elements(By.CSS_SELECTOR, "#drift-table tbody tr")
        assert len(rows) == 5  # four features and the label
        assert [row.get_attribute("data-drifted") for row in rows[:4]] == ["true"] * 4
        # Each figure says what it is and which way is bad.
        for row in rows:
            test, value = (cell.text for cell in row.find_elements(By.TAG_NAME, "td")[1:3])
            assert RULES.get(test, "distance; drift at or above") in value, (test, value)

        # Every chart is drawn: the bars hold every prediction, and the latency and accuracy
        # points lie inside their plots (not before the first bucket, clipped away).
        bars = browser.find_elements(By.CSS_SELECTOR, "#volume-chart g.bucket")
        assert sum(int(g.get_attribute("data-count") or 0) for g in bars) == count
        for chart, kinds in (("latency-chart", ("mean", "p95")), ("accuracy-chart", ("accuracy",))):
            for kind in kinds:
                points = _points_in_plot(browser, chart, kind)
                assert points, (chart, kind)
                assert all(value > 0 for value in points.values())
        accuracy = float(browser.find_element(By.ID, "accuracy").get_attribute("data-value") or 0)
        assert 0 < accuracy <= 1
        assert error.get_attribute("hidden") is not None, error.text
        browser.save_screenshot(str(tmp_path / "demo-dashboard.png"))
        ARTIFACTS.mkdir(exist_ok=True)
        shutil.copy(tmp_path / "demo-dashboard.png", ARTIFACTS / "demo-dashboard.png")
    assert foreign_requests(urls, base) == []
