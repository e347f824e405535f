"""``mlgraph demo-traffic``: realistic classify calls, a drifting stretch and actuals, so that a
newcomer's dashboard has something to show. Talks to a running mlgraph over its HTTP API only.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import httpx

from graph.durations import parse_duration

__all__ = ["IRIS", "add_arguments", "progress", "run_demo_traffic"]

# Per class: mean and standard deviation of sepal length, sepal width, petal length and petal
# width (cm) in Fisher's iris data (150 flowers, 50 per class, the set scikit-learn ships).
# Hard-coded so that the demo needs neither scikit-learn nor a download.
IRIS: dict[str, tuple[tuple[float, ...], tuple[float, ...]]] = {
    "setosa": ((5.006, 3.428, 1.462, 0.246), (0.352, 0.379, 0.174, 0.105)),
    "versicolor": ((5.936, 2.770, 4.260, 1.326), (0.516, 0.314, 0.470, 0.198)),
    "virginica": ((6.588, 2.974, 5.552, 2.026), (0.636, 0.322, 0.552, 0.275)),
}
# The drifting stretch: longer sepals and petals than the model was trained on (a new supplier,
# a miscalibrated sensor), so the feature distributions move and some labels go wrong.
DRIFT_SHIFT = (0.9, -0.4, 1.3, 0.5)

CLASSIFY = """
mutation DemoClassify($rows: [[Float!]!]!, $requestId: String, $modelName: String) {
  classify(input: {rows: $rows, requestId: $requestId, modelName: $modelName}) {
    predictions { label createdAt }
  }
}
"""
RECORD_ACTUAL = """
mutation DemoActual($requestId: String!, $labels: [String!]!) {
  recordActual(input: {requestId: $requestId, labels: $labels}) { label }
}
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--url", default="http://127.0.0.1:8000", help="mlgraph's base URL")
    parser.add_argument("--api-key", help="an API key with scope predict (when keys are on)")
    parser.add_argument("--model", help="model name (default: the server's default model)")
    parser.add_argument("--count", type=int, default=1200, help="predictions to send")
    parser.add_argument(
        "--duration", type=seconds, default="5m", help="stop after this long: 90s, 5m, PT5M, 300"
    )
    parser.add_argument("--batch", type=int, default=4, help="rows per classify call")
    parser.add_argument("--rate", type=float, default=20, help="classify calls per second; 0: max")
    parser.add_argument(
        "--drift", type=float, default=0.3, help="final share of the traffic whose features drift"
    )
    parser.add_argument(
        "--actuals", type=float, default=0.5, help="share of the calls whose actuals are recorded"
    )
    parser.add_argument("--seed", type=int, help="random seed, for a repeatable run")


def seconds(text: str) -> float:
    """An option's length of time in seconds, in any spelling graph/durations.py reads."""
    try:
        return parse_duration(text).total_seconds()
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def sample_row(rng: random.Random, label: str, *, drifted: bool) -> list[float]:
    """One iris-like flower of class ``label``; ``drifted`` shifts it by ``DRIFT_SHIFT``."""
    means, stds = IRIS[label]
    shift = DRIFT_SHIFT if drifted else (0.0,) * len(means)
    return [
        round(max(0.1, rng.gauss(mean, std) + delta), 2)
        for mean, std, delta in zip(means, stds, shift, strict=True)
    ]


def progress(*, sent: int, count: int, elapsed: float, duration: float) -> float:
    """How far a run is, from 0 to 1: by rows sent or by time, whichever ends it first.

    The drifting stretch starts at ``1 - drift`` of this, so it falls within what is actually
    sent whether ``--count`` or ``--duration`` ends the run (by count alone, a run cut short by
    its duration sent no drifted rows at all).
    """
    by_count = sent / count if count > 0 else 1.0
    by_time = elapsed / duration if duration > 0 else 1.0
    return min(1.0, max(by_count, by_time))


def _post(client: httpx.Client, query: str, variables: dict[str, Any]) -> dict[str, Any]:
    response = client.post("/graphql", json={"query": query, "variables": variables})
    response.raise_for_status()
    body: dict[str, Any] = response.json()
    if body.get("errors"):
        error = body["errors"][0]
        code = (error.get("extensions") or {}).get("code", "ERROR")
        raise RuntimeError(f"{code}: {error['message']}")
    data: dict[str, Any] = body["data"]
    return data


def run_demo_traffic(args: argparse.Namespace) -> int:
    """Send the traffic; returns the exit status (1 when mlgraph cannot be used)."""
    rng = random.Random(args.seed)
    headers = {"authorization": f"Bearer {args.api_key}"} if args.api_key else {}
    run = uuid.uuid4().hex[:8]
    started = datetime.now(UTC)
    start = time.monotonic()
    deadline = start + args.duration
    # When the first drifted prediction was stored, by mlgraph's clock: the dashboard link's
    # current window starts there, so it holds every drifted row and the reference none.
    drift_from: datetime | None = None
    sent = calls = actuals = 0
    labels: dict[str, int] = {}
    try:
        with httpx.Client(base_url=args.url, headers=headers, timeout=30) as client:
            while sent < args.count and time.monotonic() < deadline:
                done = progress(
                    sent=sent,
                    count=args.count,
                    elapsed=time.monotonic() - start,
                    duration=args.duration,
                )
                drifted = done >= 1 - args.drift  # progress only grows: drifted stays so
                if drifted and drift_from is None:
                    print(f"{sent} predictions sent; features drift from now on")
                size = min(args.batch, args.count - sent)
                truth = [rng.choice(list(IRIS)) for _ in range(size)]
                rows = [sample_row(rng, label, drifted=drifted) for label in truth]
                request_id = f"demo-{run}-{calls}"
                data = _post(
                    client,
                    CLASSIFY,
                    {"rows": rows, "requestId": request_id, "modelName": args.model},
                )
                for prediction in data["classify"]["predictions"]:
                    labels[prediction["label"]] = labels.get(prediction["label"], 0) + 1
                if drifted and drift_from is None:
                    drift_from = datetime.fromisoformat(
                        data["classify"]["predictions"][0]["createdAt"]
                    )
                if rng.random() < args.actuals:
                    _post(client, RECORD_ACTUAL, {"requestId": request_id, "labels": truth})
                    actuals += size
                sent += size
                calls += 1
                if calls % 50 == 0:
                    print(f"{sent} predictions sent, {actuals} with actuals")
                if args.rate > 0:
                    # Paced from the start, so the time each call takes counts toward its slot.
                    time.sleep(max(0.0, start + calls / args.rate - time.monotonic()))
    except httpx.HTTPError as exc:
        print(
            f"cannot reach mlgraph at {args.url} ({exc}); is it running (make run)?",
            file=sys.stderr,
        )
        return 1
    except RuntimeError as exc:
        print(f"mlgraph refused the demo traffic: {exc}", file=sys.stderr)
        return 1

    mix = ", ".join(f"{label} {count}" for label, count in sorted(labels.items()))
    print(f"done: {sent} predictions in {calls} calls ({mix}); {actuals} with actuals")
    query = {"since": (started - timedelta(minutes=5)).isoformat(timespec="seconds")}
    if drift_from is not None:
        # Milliseconds, truncated: what a browser's Date holds, and still at or before the row.
        query["driftFrom"] = drift_from.isoformat(timespec="milliseconds")
    if args.model:
        query["model"] = args.model
    print(f"dashboard: {args.url.rstrip('/')}/dashboard/?{urlencode(query)}")
    return 0
