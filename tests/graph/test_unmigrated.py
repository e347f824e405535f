"""A database that was never migrated, or is behind, says so: in /readyz, in every answer, in
the start-up log and in every command, and nothing reaches the model meanwhile."""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import logging
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from db.urls import describe_url
from graph.cli import main
from graph.migrations import head_revision
from tests.conftest import AppClient
from tests.utils.api import CLASSIFY, IRIS_ROWS, PREDICTIONS, error_codes, graphql
from tests.utils.migrations import migrate
from tests.utils.serve import run_mlgraph, stub_model

MIGRATE = "run `mlgraph migrate`"


async def test_an_empty_database_answers_not_migrated_until_it_is(
    app_client: AppClient,
    empty_database_url: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    calls: list[dict[str, str]] = []
    caplog.set_level(logging.INFO)
    with stub_model(calls) as model_url:
        async with app_client(database_url=empty_database_url, model_url=model_url) as client:
            ready = await client.get("/readyz")
            classify = await graphql(client, CLASSIFY, rows=IRIS_ROWS)
            history = await graphql(client, PREDICTIONS)
            feedback = await client.post(
                "/api/v1.0/feedback",
                json={"response": {"meta": {"puid": "x"}}, "truth": {"data": {"ndarray": ["a"]}}},
            )
            export = await client.get("/export.csv?since=2026-01-01&until=2027-01-01")
            calls_before = len(calls)

            await asyncio.to_thread(migrate, empty_database_url, "head")
            migrated = await client.get("/readyz")  # reads the revision again, at once
            after = await graphql(client, CLASSIFY, rows=IRIS_ROWS)

    assert ready.status_code == 503
    assert ready.json()["checks"] == {"database": "not_migrated", "models": {"iris": "ok"}}
    assert ready.json()["message"] == f"the database has no mlgraph tables: {MIGRATE}"
    for body in (classify, history):
        assert error_codes(body) == ["DATABASE_NOT_MIGRATED"]
        assert body["errors"][0]["message"] == f"the database has no mlgraph tables: {MIGRATE}"
    assert calls_before == 0  # nothing reached the model while nothing could be stored
    assert feedback.status_code == export.status_code == 503
    assert feedback.json()["status"]["reason"] == "DATABASE_NOT_MIGRATED"
    assert export.json() == {
        "error": f"the database has no mlgraph tables: {MIGRATE}",
        "code": "DATABASE_NOT_MIGRATED",
    }

    assert (migrated.status_code, migrated.json()["checks"]["database"]) == (200, "ok")
    assert "message" not in migrated.json()
    assert len(after["data"]["classify"]["predictions"]) == len(IRIS_ROWS)
    assert len(calls) == 1

    # The start-up log says which database, and what to do; no traceback for any of it.
    where = describe_url(empty_database_url)
    assert f"the database ({where}) has no mlgraph tables: {MIGRATE}" in caplog.messages
    assert not [record for record in caplog.records if record.exc_info]


async def test_a_database_behind_head_names_both_revisions(
    app_client: AppClient, empty_database_url: str
) -> None:
    await asyncio.to_thread(migrate, empty_database_url, "0003")
    async with app_client(database_url=empty_database_url) as client:
        ready = await client.get("/readyz")
    assert ready.status_code == 503
    assert ready.json()["message"] == (
        f"the database is at revision 0003, this mlgraph needs {head_revision()}: {MIGRATE}"
    )


async def test_a_newer_schema_keeps_serving_and_warns(
    app_client: AppClient, database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """During a rolling update the old pods see the new release's revision: they stay ready."""
    await _set_revision(database_url, "9999")
    caplog.set_level(logging.INFO)
    try:
        with stub_model() as model_url:
            async with app_client(model_url=model_url) as client:
                ready = await client.get("/readyz")
                body = await graphql(client, CLASSIFY, rows=IRIS_ROWS)
    finally:
        await _set_revision(database_url, head_revision())  # PostgreSQL's is shared
    assert ready.status_code == 200
    assert "errors" not in body
    assert any("newer than this mlgraph" in message for message in caplog.messages)


async def _set_revision(url: str, revision: str) -> None:
    engine = create_async_engine(url)
    async with engine.begin() as connection:
        await connection.execute(
            text("UPDATE alembic_version SET version_num = :revision"), {"revision": revision}
        )
    await engine.dispose()


async def test_start_up_logs_which_database_it_uses(
    app_client: AppClient, database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="mlgraph.app")
    async with app_client():
        pass
    where = describe_url(database_url)
    assert f"database {where}, schema at revision {head_revision()}" in caplog.messages
    assert ":" not in where.split("@")[0].removeprefix("PostgreSQL ")  # no password


def _mlgraph(*args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(args))
    return code, out.getvalue(), err.getvalue()


@pytest.mark.parametrize(
    "command",
    [
        ["apikey", "create", "--scope", "read", "--name", "x"],
        ["apikey", "list"],
        ["apikey", "revoke", "mlg_x"],
        ["maintain"],
        ["export", "--since", "2026-01-01", "--until", "2026-02-01", "--format", "csv"],
    ],
)
def test_every_command_on_an_empty_database_prints_one_line(
    command: list[str],
    empty_database_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    if empty_database_url.startswith("sqlite"):
        Path(empty_database_url.split("///")[1]).touch()  # an empty file, as SQLite leaves one
    monkeypatch.setenv("MLGRAPH_DATABASE_URL", empty_database_url)
    if command[0] == "export":
        command = [*command, "--out", str(tmp_path / "out.csv")]
    code, out, err = _mlgraph(*command)
    where = describe_url(empty_database_url)
    assert (code, out) == (1, "")
    assert err == f"mlgraph: the database ({where}) has no mlgraph tables: {MIGRATE}\n"
    assert not (tmp_path / "out.csv").exists()


def test_check_drift_on_an_empty_database_is_one_json_error(
    empty_database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    if empty_database_url.startswith("sqlite"):
        Path(empty_database_url.split("///")[1]).touch()
    monkeypatch.setenv("MLGRAPH_DATABASE_URL", empty_database_url)
    code, out, _ = _mlgraph("check-drift")
    assert code == 4
    (line,) = out.splitlines()
    report = json.loads(line)
    assert report["status"] == "error"
    assert report["error"].endswith(f"has no mlgraph tables: {MIGRATE}")
    assert "SELECT" not in line


def test_a_missing_sqlite_file_is_named_and_not_created(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "elsewhere.db"
    monkeypatch.setenv("MLGRAPH_DATABASE_URL", f"sqlite:///{path}")
    code, _, err = _mlgraph("apikey", "list")
    assert code == 1
    assert err.startswith(
        f"mlgraph: the database file {path} does not exist: run `mlgraph migrate`"
    )
    assert not path.exists()


def test_a_database_that_does_not_answer_is_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    from scripts.modelserver import free_port

    url = f"postgresql://postgres:hunter2@127.0.0.1:{free_port()}/mlgraph"
    monkeypatch.setenv("MLGRAPH_DATABASE_URL", url)
    for command in (["migrate"], ["maintain"]):
        code, _, err = _mlgraph(*command)
        assert code == 1
        (line,) = err.splitlines()
        assert line.startswith("mlgraph: cannot use the database (PostgreSQL postgres@127.0.0.1:")
        assert "connection refused" in line
        assert "hunter2" not in line


def test_migrate_says_from_which_revision_to_which(
    empty_database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MLGRAPH_DATABASE_URL", empty_database_url)
    where = describe_url(empty_database_url)
    head = head_revision()
    assert _mlgraph("migrate", "0003") == (
        0,
        f"{where}: migrated from revision base (no tables) to 0003\n",
        "",
    )
    assert _mlgraph("migrate") == (0, f"{where}: migrated from revision 0003 to {head}\n", "")
    assert _mlgraph("migrate") == (0, f"{where}: already at revision {head}; nothing to do\n", "")
    code, _, err = _mlgraph("migrate", "nosuch")
    assert code == 1
    assert err.startswith("mlgraph: Can't locate revision identified by 'nosuch'")
    assert _mlgraph("migrate", "base", "--down")[:2] == (
        0,
        f"{where}: migrated from revision {head} to base (no tables)\n",
    )


def test_serve_migrates_an_sqlite_database_itself_and_says_so(tmp_path: Path) -> None:
    path = tmp_path / "new.db"
    with (
        stub_model() as model_url,
        run_mlgraph(
            f"sqlite:///{path}",
            tmp_path / "serve.log",
            MLGRAPH_MODEL_URL=model_url,
            MLGRAPH_LOG_LEVEL="info",
        ) as server,
    ):
        import httpx

        ready = httpx.get(server.url + "/readyz", timeout=10)
    lines = [json.loads(line) for line in server.log.read_text().splitlines() if line]
    migrated = [line for line in lines if line["message"].startswith("migrated the database")]
    assert ready.status_code == 200
    assert len(migrated) == 1
    assert migrated[0]["database"] == f"SQLite file {path}"
    assert (migrated[0]["from"], migrated[0]["to"]) == (None, head_revision())
    assert not [line for line in lines if "exception" in line]


@pytest.mark.postgres_only
def test_serve_leaves_postgresql_to_mlgraph_migrate(
    dialect: str, empty_database_url: str, tmp_path: Path
) -> None:
    with (
        stub_model() as model_url,
        run_mlgraph(
            empty_database_url, tmp_path / "serve.log", MLGRAPH_MODEL_URL=model_url
        ) as server,
    ):
        import httpx

        ready = httpx.get(server.url + "/readyz", timeout=10)
    lines = [json.loads(line) for line in server.log.read_text().splitlines() if line]
    assert ready.status_code == 503
    assert ready.json()["checks"]["database"] == "not_migrated"
    where = describe_url(empty_database_url)
    assert f"the database ({where}) has no mlgraph tables: {MIGRATE}" in [
        line["message"] for line in lines
    ]
    assert not [line for line in lines if "exception" in line]
