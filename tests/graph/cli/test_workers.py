"""MLGRAPH_WORKERS: auto is one worker per usable CPU on PostgreSQL, one on SQLite; with several,
a scrape of /metrics counts every worker's calls."""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from graph.cli._cpus import available_cpus, cgroup_quota
from graph.cli.serve import worker_count
from graph.settings import Settings
from tests.utils.api import CLASSIFY
from tests.utils.serve import run_mlgraph, stub_model, wait_for_workers

POSTGRES = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"


def _cgroup(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return root


@pytest.mark.parametrize(
    ("files", "quota"),
    [
        ({}, None),
        ({"cpu.max": "max 100000\n"}, None),
        ({"cpu.max": "150000 100000\n"}, 1.5),
        ({"cpu.max": "400000 100000\n"}, 4.0),
        ({"cpu/cpu.cfs_quota_us": "-1\n", "cpu/cpu.cfs_period_us": "100000\n"}, None),
        ({"cpu/cpu.cfs_quota_us": "50000\n", "cpu/cpu.cfs_period_us": "100000\n"}, 0.5),
    ],
    ids=["none", "v2-max", "v2-1.5", "v2-4", "v1-none", "v1-0.5"],
)
def test_cgroup_quotas_are_read(tmp_path: Path, files: dict[str, str], quota: float | None) -> None:
    assert cgroup_quota(_cgroup(tmp_path, files)) == quota


def test_available_cpus_is_the_affinity_capped_by_the_quota_rounded_down(tmp_path: Path) -> None:
    affinity = len(os.sched_getaffinity(0))
    assert available_cpus(_cgroup(tmp_path / "none", {})) == affinity
    assert available_cpus(_cgroup(tmp_path / "one", {"cpu.max": "150000 100000"})) == 1
    # Less than one CPU's time still gets one worker.
    assert available_cpus(_cgroup(tmp_path / "half", {"cpu.max": "50000 100000"})) == 1
    big = _cgroup(tmp_path / "big", {"cpu.max": f"{100000 * (affinity + 8)} 100000"})
    assert available_cpus(big) == affinity


def test_auto_is_one_per_cpu_on_postgresql_and_one_on_sqlite(tmp_path: Path) -> None:
    assert worker_count(Settings(database_url=POSTGRES)) == available_cpus()
    assert worker_count(Settings(database_url=f"sqlite+aiosqlite:///{tmp_path}/x.db")) == 1
    assert worker_count(Settings(database_url=POSTGRES, workers=3)) == 3


def test_the_setting_takes_auto_or_a_count(monkeypatch: pytest.MonkeyPatch) -> None:
    assert Settings().workers == "auto"
    monkeypatch.setenv("MLGRAPH_WORKERS", "2")
    assert Settings().workers == 2
    monkeypatch.setenv("MLGRAPH_WORKERS", "0")
    with pytest.raises(ValueError, match="workers"):
        Settings()


def _predictions(text: str) -> float:
    return sum(
        sample.value
        for family in text_string_to_metric_families(text)
        if family.name == "mlgraph_predictions"
        for sample in family.samples
        if sample.name == "mlgraph_predictions_total"
    )


async def _classify_and_scrape(url: str, calls: int) -> list[float]:
    body = {"query": CLASSIFY, "variables": {"rows": [[4.0, 1.0]]}}
    # A new connection per call, so both workers accept some of them.
    limits = httpx.Limits(max_keepalive_connections=0)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=30) as http:
        answers = await asyncio.gather(*(http.post("/graphql", json=body) for _ in range(calls)))
        assert all("errors" not in a.json() for a in answers)
        return [_predictions((await http.get("/metrics")).text) for _ in range(4)]


@pytest.mark.postgres_only
def test_two_workers_share_their_metrics(dialect: str, database_url: str, tmp_path: Path) -> None:
    log = tmp_path / "serve.log"
    calls = 40
    with (
        stub_model() as model_url,
        run_mlgraph(
            database_url, log, MLGRAPH_MODEL_URL=model_url, MLGRAPH_WORKERS="2",
            MLGRAPH_LOG_LEVEL="info",
        ) as server,
    ):  # fmt: skip
        wait_for_workers(server, 2)
        scrapes = asyncio.run(_classify_and_scrape(server.url, calls))
        folder = Path(
            next(
                line.rsplit(" in ", 1)[1].split('"')[0]
                for line in log.read_text().splitlines()
                if "metrics of the 2 workers are kept in" in line
            )
        )
        workers = {f.stem.rsplit("_", 1)[1] for f in folder.glob("*.db")}
        answered_by = {
            entry["pid"]
            for entry in map(json.loads, log.read_text().splitlines())
            if entry.get("message") == "request" and entry.get("path") == "/graphql"
        }
    # Both workers answered calls, and whichever answers a scrape counts both workers' calls.
    assert len(answered_by) == 2, answered_by
    assert scrapes == [calls] * 4
    assert len(workers) == 2, workers
    assert not folder.exists()  # removed when serve ended
