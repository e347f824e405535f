"""History queries over 1,000,000 stored predictions, through mlgraph's GraphQL API.

    .venv/bin/python bench/history.py --rows 1000000 --repeats 30

Creates a fresh PostgreSQL database, migrates it with ``mlgraph migrate``, makes the monthly
partitions of the seeded days (``db.partitions.maintain``), seeds ``predictions`` with COPY
(asyncpg ``copy_records_to_table``; several models, ``created_at`` spread over 60 days, in time
order as they would arrive), then starts ``mlgraph serve`` and times, per case (a model
and a date range): the first page, and the 50th page reached by following ``endCursor``. Each
is repeated (first and deep interleaved) for p50/p95. Finally it prints EXPLAIN (ANALYZE,
BUFFERS) of the SQL that mlgraph's own ``db.predictions.list_predictions`` sends for both pages.
It also times the monitoring queries (predictionStats, featureStats, drift) over one week.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import sys
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import _harness
from _harness import (
    BENCH,
    PG,
    asyncpg_url,
    free_port,
    fresh_database,
    machine,
    make_partitions,
    percentile,
    start_mlgraph,
    table,
    use_ref,
)

# How far back the seeded rows go.
SEEDED = timedelta(days=60)
# (model, version, share of the rows, labels)
MODELS = [
    ("iris", "1.4", 0.40, ["setosa", "versicolor", "virginica"]),
    ("churn", "2.0", 0.25, ["stay", "leave"]),
    ("fraud", "7", 0.20, ["ok", "fraud"]),
    ("spam", "0.9", 0.13, ["ham", "spam"]),
    ("canary", "0.1", 0.02, ["a", "b"]),
]
COLUMNS = [
    "id", "created_at", "model_name", "model_version", "features", "label",
    "probabilities", "latency_ms", "request_id", "row_index",
]  # fmt: skip
PAGE_QUERY = """
query Page($modelName: String, $since: DateTime, $until: DateTime, $first: Int, $after: String) {
  predictions(modelName: $modelName, since: $since, until: $until, first: $first, after: $after) {
    edges { cursor node { id createdAt modelName modelVersion label features latencyMs
                          probabilities { label probability } } }
    pageInfo { hasNextPage endCursor }
  }
}
"""

# The monitoring queries of issue 6's history benchmark, over one model's windows.
STATS_QUERY = """
query Stats($modelName: String!, $since: DateTime!, $until: DateTime!) {
  predictionStats(modelName: $modelName, since: $since, until: $until, bucket: DAY) {
    start count meanLatencyMs p95LatencyMs labels { label count }
  }
}
"""
FEATURE_STATS_QUERY = """
query FeatureStats($modelName: String!, $since: DateTime!, $until: DateTime!) {
  featureStats(modelName: $modelName, since: $since, until: $until) {
    index count mean std min max quantiles { quantile value }
  }
}
"""
DRIFT_QUERY = """
query Drift($modelName: String!, $reference: TimeWindow!, $current: TimeWindow!) {
  drift(modelName: $modelName, reference: $reference, current: $current) {
    status message referenceCount currentCount referenceSample currentSample sampled
    features { feature test value threshold drifted }
    label { test value threshold drifted }
  }
}
"""


async def seed(database: str, rows: int, *, days: int = 60, chunk: int = 100_000) -> float:
    """COPY ``rows`` predictions in time order, ending now; returns the seconds it took."""
    import asyncpg

    rng = random.Random(6)
    end = datetime.now(UTC)
    start = end - timedelta(days=days)
    step = timedelta(days=days) / rows
    names = [m[0] for m in MODELS]
    weights = [m[2] for m in MODELS]
    versions = {m[0]: m[1] for m in MODELS}
    # A pool of distinct bodies: realistic sizes without a json.dumps per row.
    pools: dict[str, list[tuple[str, str, str]]] = {}
    for name, _, _, labels in MODELS:
        pool = []
        for _ in range(500):
            features = json.dumps([round(rng.uniform(0, 8), 1) for _ in range(4)])
            raw = [rng.random() for _ in labels]
            probabilities = {label: round(p / sum(raw), 4) for label, p in zip(labels, raw)}  # noqa: B905
            label = max(probabilities, key=probabilities.__getitem__)
            pool.append((features, label, json.dumps(probabilities)))
        pools[name] = pool

    connection = await asyncpg.connect(f"postgresql://{PG}/{database}")
    started = time.perf_counter()
    try:
        for offset in range(0, rows, chunk):
            count = min(chunk, rows - offset)
            models = rng.choices(names, weights, k=count)
            records = []
            for i, model in enumerate(models):
                features, label, probabilities = rng.choice(pools[model])
                created_at = start + step * (offset + i) + timedelta(microseconds=rng.random())
                records.append((
                    uuid.uuid4(), created_at, model, versions[model], features, label,
                    probabilities, round(rng.uniform(1, 40), 2), None, 0,
                ))  # fmt: skip
            await connection.copy_records_to_table("predictions", records=records, columns=COLUMNS)
        seconds = time.perf_counter() - started
        await connection.execute("VACUUM (ANALYZE) predictions")
    finally:
        await connection.close()
    return seconds


def post(client: Any, query: str, variables: dict[str, Any]) -> tuple[float, dict[str, Any]]:
    """One GraphQL operation: milliseconds and ``data``; a failure raises RuntimeError."""
    started = time.perf_counter()
    response = client.post("/graphql", json={"query": query, "variables": variables})
    elapsed = (time.perf_counter() - started) * 1000
    body = response.json()
    if response.status_code != 200 or body.get("errors"):
        raise RuntimeError(f"query failed: {response.status_code} {str(body)[:500]}")
    return elapsed, body["data"]


def page(client: Any, variables: dict[str, Any]) -> tuple[float, dict[str, Any]]:
    elapsed, data = post(client, PAGE_QUERY, variables)
    return elapsed, data["predictions"]


def monitoring(client: Any, now: datetime, repeats: int) -> list[list[object]]:
    """p50/p95 of the stats and drift queries over one week of iris (about 47,000 rows)."""
    week = {"since": (now - timedelta(days=7)).isoformat(), "until": now.isoformat()}
    previous = {
        "since": (now - timedelta(days=14)).isoformat(),
        "until": (now - timedelta(days=7)).isoformat(),
    }
    operations = {
        "predictionStats, 1 week, DAY buckets": (STATS_QUERY, {"modelName": "iris", **week}),
        "featureStats, 1 week": (FEATURE_STATS_QUERY, {"modelName": "iris", **week}),
        "drift, week vs previous week": (
            DRIFT_QUERY,
            {"modelName": "iris", "reference": previous, "current": week},
        ),
    }
    rows: list[list[object]] = []
    for label, (query, variables) in operations.items():
        try:
            post(client, query, variables)  # warm-up
            times = [post(client, query, variables)[0] for _ in range(repeats)]
        except RuntimeError as exc:
            rows.append([label, 0, "-", "-", "-", str(exc)[:120]])
            continue
        rows.append([label, len(times), f"{statistics.median(times):.1f}",
                     f"{percentile(times, 95):.1f}", f"{max(times):.1f}", ""])  # fmt: skip
    return rows


def measure(client: Any, case: dict[str, Any], pages: int, repeats: int) -> dict[str, Any]:
    """Walk ``pages`` pages once, then time the first and the last page ``repeats`` times."""
    walk: list[float] = []
    variables = dict(case)
    cursor = None
    cursors: list[str | None] = []
    for _ in range(pages):
        cursors.append(cursor)
        elapsed, data = page(client, {**variables, "after": cursor})
        walk.append(elapsed)
        if not data["pageInfo"]["hasNextPage"]:
            raise RuntimeError(f"only {len(walk)} pages for {case}: seed more rows")
        cursor = data["pageInfo"]["endCursor"]
    deep_cursor = cursors[-1]
    first: list[float] = []
    deep: list[float] = []
    for _ in range(repeats):
        first.append(page(client, {**variables, "after": None})[0])
        deep.append(page(client, {**variables, "after": deep_cursor})[0])
    return {"walk": walk, "first": first, "deep": deep, "deep_cursor": deep_cursor}


async def explain(
    database: str, case: dict[str, Any], cursor: str | None, *, hide_index: bool = False
) -> str:
    """EXPLAIN (ANALYZE, BUFFERS) of the statement ``list_predictions`` sends for ``case``."""
    if str(_harness.SOURCE) not in sys.path:
        sys.path.insert(0, str(_harness.SOURCE))
    from sqlalchemy import event

    import db
    from db import predictions as queries
    from graph.cursors import decode_cursor

    engine = db.make_engine(asyncpg_url(database))
    captured: list[tuple[str, Any]] = []

    def grab(conn: Any, cur: Any, statement: str, parameters: Any, *_: Any) -> None:
        if "FROM predictions" in statement:
            captured.append((statement, parameters))

    event.listen(engine.sync_engine, "before_cursor_execute", grab)
    try:
        async with db.make_sessionmaker(engine)() as session:
            await queries.list_predictions(
                session,
                limit=case["first"] + 1,
                since=datetime.fromisoformat(case["since"]),
                until=datetime.fromisoformat(case["until"]),
                model_name=case["modelName"],
                after=decode_cursor(cursor) if cursor else None,
            )
        statement, parameters = captured[-1]
        async with engine.connect() as connection:
            if hide_index:
                # Transactional DDL: the index is back when the connection rolls back.
                await connection.exec_driver_sql("DROP INDEX ix_predictions_created_at")
            result = await connection.exec_driver_sql(
                "EXPLAIN (ANALYZE, BUFFERS) " + statement, parameters
            )
            plan = "\n".join(row[0] for row in result)
            await connection.rollback()
    finally:
        await engine.dispose()
    return f"{statement}\n-- parameters: {parameters}\n{plan}"


def profile_pages(
    client: Any, pid: int, cases: dict[str, Any], results: dict[str, Any], seconds: int
) -> str:
    """py-spy mlgraph while one client keeps asking for first and deep pages, then stops."""
    from pyspy import find_py_spy, record, report

    py_spy = find_py_spy()
    done = threading.Event()
    served = [0]

    def load() -> None:
        deadline = time.monotonic() + 2 * seconds + 30
        while not done.is_set() and time.monotonic() < deadline:
            for label, case in cases.items():
                page(client, {**case, "after": None})
                page(client, {**case, "after": results[label]["deep_cursor"]})
                served[0] += 2

    thread = threading.Thread(target=load, daemon=True)
    thread.start()
    raw, svg = BENCH / "profile-history.txt", BENCH / "profile-history.svg"
    started = time.monotonic()
    try:
        record(py_spy, pid, seconds, 100, raw, svg)
    finally:
        done.set()
        thread.join(timeout=60)
    rate = served[0] / (time.monotonic() - started)
    return (
        f"{rate:.1f} pages/s during the profile; flame graph {svg}\n\n{report(raw.read_text(), 20)}"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=30, help="timed runs per page")
    parser.add_argument("--pages", type=int, default=50, help="the deep page's number")
    parser.add_argument("--page-size", type=int, default=50)
    parser.add_argument(
        "--py-spy", type=int, default=0, metavar="SECONDS",
        help="then profile mlgraph serving these pages for SECONDS (bench/profile-history.*)",
    )  # fmt: skip
    parser.add_argument("--ref", help="run mlgraph from this commit (git archive), e.g. HEAD")
    args = parser.parse_args()
    if args.rows > 5_000_000 or args.repeats > 500:
        parser.error("keep runs bounded: --rows <= 5000000, --repeats <= 500")
    import httpx

    info = machine()
    now = datetime.now(UTC).replace(microsecond=0)
    cases = {
        "iris, last 30 days": {
            "modelName": "iris",
            "since": (now - timedelta(days=30)).isoformat(),
            "until": (now + timedelta(hours=1)).isoformat(),
        },
        "churn, one week (days 28-21 ago)": {
            "modelName": "churn",
            "since": (now - timedelta(days=28)).isoformat(),
            "until": (now - timedelta(days=21)).isoformat(),
        },
        "canary (2% of rows), last 30 days": {
            "modelName": "canary",
            "since": (now - timedelta(days=30)).isoformat(),
            "until": (now + timedelta(hours=1)).isoformat(),
        },
    }
    for case in cases.values():
        case["first"] = args.page_size

    with (
        use_ref(args.ref) as code,
        tempfile.TemporaryDirectory(prefix="mlgraph-bench-") as tmp,
        fresh_database() as name,
    ):
        print(f"# history benchmark, {info['date']}")
        print(f"machine: nproc={info['nproc']}, {info['cpu']}; mlgraph at {code}")
        # The seeded days' months get their partitions first, as `mlgraph maintain` makes them
        # in production: otherwise the rows land in the DEFAULT partition and every page reads it.
        made = asyncio.run(make_partitions(name, first=datetime.now(UTC) - SEEDED, months=3))
        print(f"partitions made for the data: {', '.join(made) or 'none (already there)'}")
        seconds = asyncio.run(seed(name, args.rows, days=SEEDED.days))
        print(f"seeded {args.rows} rows with COPY in {seconds:.1f} s (then VACUUM ANALYZE)")
        # No model is needed for reading; an unused port keeps the config honest.
        mlgraph = start_mlgraph(Path(tmp), asyncpg_url(name), f"http://127.0.0.1:{free_port()}")
        results = {}
        try:
            with httpx.Client(base_url=mlgraph.url, timeout=30) as client:
                page(client, {**next(iter(cases.values())), "after": None})  # warm-up
                for label, case in cases.items():
                    results[label] = measure(client, case, args.pages, args.repeats)
                stats_rows = monitoring(client, now, min(args.repeats, 10))
                if args.py_spy:
                    profiled = profile_pages(client, mlgraph.pid, cases, results, args.py_spy)
        finally:
            mlgraph.stop()

        rows = []
        for label, result in results.items():
            deep = f"page {args.pages}"
            for which, times in (("first page", result["first"]), (deep, result["deep"])):
                rows.append([label, which, len(times), f"{statistics.median(times):.2f}",
                             f"{percentile(times, 95):.2f}", f"{max(times):.2f}"])  # fmt: skip
            walk = result["walk"]
            rows.append([label, f"walk 1..{args.pages} (each once)", len(walk),
                         f"{statistics.median(walk):.2f}", f"{percentile(walk, 95):.2f}",
                         f"{max(walk):.2f}"])  # fmt: skip
        print(f"\nHTTP round trip through mlgraph (page size {args.page_size}), milliseconds:\n")
        print(table(["case", "page", "runs", "p50 ms", "p95 ms", "max ms"], rows))
        print("\nMonitoring queries over one week of iris, milliseconds:\n")
        print(table(["query", "runs", "p50 ms", "p95 ms", "max ms", "error"], stats_rows))
        if args.py_spy:
            print(f"\n## py-spy of mlgraph serving these pages, one client\n\n{profiled}")

        for label, result in results.items():
            case = cases[label]
            deep = f"page {args.pages}"
            for which, cursor in (("first page", None), (deep, result["deep_cursor"])):
                print(f"\n## EXPLAIN (ANALYZE, BUFFERS): {label}, {which}\n")
                print(asyncio.run(explain(name, case, cursor)))
            # What the plan would be with only the composite index (DDL rolls back).
            print(f"\n## {label}, page {args.pages}, if ix_predictions_created_at did not exist\n")
            print(asyncio.run(explain(name, case, result["deep_cursor"], hide_index=True)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
