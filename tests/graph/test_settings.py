"""Settings from the environment: one model by MLGRAPH_MODEL_*, several by MLGRAPH_MODELS."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest

from graph.settings import InvalidSettings, Settings, load_settings

MLGRAPH = str(Path(sys.executable).parent / "mlgraph")


def test_single_model_from_model_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLGRAPH_MODEL_URL", "http://model:9000")
    monkeypatch.setenv("MLGRAPH_MODEL_NAME", "churn")
    monkeypatch.setenv("MLGRAPH_MODEL_FEATURES", "12")
    (model,) = Settings().model_list()
    assert (model.name, model.protocol, model.url, model.features) == (
        "churn",
        "seldon",
        "http://model:9000",
        12,
    )


def test_several_models_from_json_with_a_chosen_default(monkeypatch: pytest.MonkeyPatch) -> None:
    models = [
        {"name": "a", "url": "http://a"},
        {"name": "b", "protocol": "v2", "url": "http://b", "headers": {"Seldon-Model": "b"}},
    ]
    monkeypatch.setenv("MLGRAPH_MODELS", json.dumps(models))
    monkeypatch.setenv("MLGRAPH_DEFAULT_MODEL", "b")
    listed = Settings().model_list()
    assert [m.name for m in listed] == ["b", "a"]
    assert listed[0].headers == {"Seldon-Model": "b"}


@pytest.mark.parametrize(
    ("variables", "message"),
    [
        (
            {"MLGRAPH_MODELS": '[{"name": "a", "url": "x"}, {"name": "a", "url": "y"}]'},
            "MLGRAPH_MODELS: each name must be unique, got ['a', 'a']",
        ),
        (
            {"MLGRAPH_MODELS": '[{"name": "a", "url": "x"}]', "MLGRAPH_DEFAULT_MODEL": "z"},
            "MLGRAPH_DEFAULT_MODEL 'z' is not among MLGRAPH_MODELS' ['a']",
        ),
        (
            {"MLGRAPH_MODELS": '[{"name": "a", "url": "x", "protocol": "grpc"}]'},
            "MLGRAPH_MODELS item 0, protocol: must be 'seldon' or 'v2' (got 'grpc')",
        ),
        ({"MLGRAPH_MODELS": '[{"name": "a"}]'}, "MLGRAPH_MODELS item 0, url: is required"),
        ({"MLGRAPH_MODELS": "[{"}, "MLGRAPH_MODELS: not valid JSON (Expecting property name"),
        (
            {"MLGRAPH_DEFAULT_PAGE_SIZE": "600"},
            "MLGRAPH_DEFAULT_PAGE_SIZE (600) must not exceed MLGRAPH_MAX_PAGE_SIZE (500)",
        ),
        ({"MLGRAPH_PORT": "abc"}, "MLGRAPH_PORT: must be a whole number (got 'abc')"),
        ({"MLGRAPH_PORT": "0"}, "MLGRAPH_PORT: must be at least 1 (got '0')"),
        ({"MLGRAPH_GRAPHIQL": "nah"}, "MLGRAPH_GRAPHIQL: must be true or false (got 'nah')"),
        ({"OTEL_SDK_DISABLED": "maybe"}, "OTEL_SDK_DISABLED: must be true or false (got 'maybe')"),
        (
            {"MLGRAPH_MODEL_CLASS_NAMES": "a,b"},
            """MLGRAPH_MODEL_CLASS_NAMES: must be a JSON list, e.g. ["a", "b"] (got 'a,b')""",
        ),
        (
            {"MLGRAPH_DRIFT_CURRENT_WINDOW": "soon"},
            "MLGRAPH_DRIFT_CURRENT_WINDOW: 'soon' is not a duration; give seconds (86400), 30m, "
            "24h, 7d, 2w, or ISO 8601 (PT24H, P7D)",
        ),
        (
            {"MLGRAPH_DRIFT_REFERENCE_SINCE": "2026-01-01"},
            "set both MLGRAPH_DRIFT_REFERENCE_SINCE and MLGRAPH_DRIFT_REFERENCE_UNTIL, or neither",
        ),
        # A replica or a LISTEN connection exists only beside a PostgreSQL primary.
        (
            {"MLGRAPH_DATABASE_READ_URL": "postgresql+asyncpg://r/db"},
            "MLGRAPH_DATABASE_READ_URL is a PostgreSQL URL beside a PostgreSQL "
            "MLGRAPH_DATABASE_URL",
        ),
        (
            {
                "MLGRAPH_DATABASE_URL": "postgresql+asyncpg://p/db",
                "MLGRAPH_LISTEN_DATABASE_URL": "sqlite+aiosqlite:///x.db",
            },
            "MLGRAPH_LISTEN_DATABASE_URL is a PostgreSQL URL beside a PostgreSQL",
        ),
    ],
)
def test_a_bad_setting_is_one_line_that_names_its_variable(
    monkeypatch: pytest.MonkeyPatch, variables: dict[str, str], message: str
) -> None:
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(InvalidSettings) as raised:
        load_settings()
    (problem,) = raised.value.problems
    assert problem.startswith(message)
    assert "\n" not in problem
    for pydantic_text in ("validation error", "pydantic", "type=", "input_value", "Input should"):
        assert pydantic_text not in problem


def test_every_bad_setting_gets_its_own_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLGRAPH_PORT", "abc")
    monkeypatch.setenv("MLGRAPH_MODEL_PROTOCOL", "grpc")
    monkeypatch.setenv("MLGRAPH_MODEL_TIMEOUT", "-1")
    with pytest.raises(InvalidSettings) as raised:
        load_settings()
    assert sorted(problem.split(":")[0] for problem in raised.value.problems) == [
        "MLGRAPH_MODEL_PROTOCOL",
        "MLGRAPH_MODEL_TIMEOUT",
        "MLGRAPH_PORT",
    ]


def test_secrets_are_never_repeated_in_the_message(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLGRAPH_DATABASE_URL", "mysql://admin:s3cret@db/mlgraph")
    monkeypatch.setenv("MLGRAPH_DRIFT_WEBHOOK_URL", "123")  # a str is taken: no error for it
    monkeypatch.setenv("MLGRAPH_MODELS", '[{"name": "a", "url": 5, "headers": "s3cret"}]')
    with pytest.raises(InvalidSettings) as raised:
        load_settings()
    assert "s3cret" not in str(raised.value)
    assert any(
        p.startswith("MLGRAPH_DATABASE_URL: the scheme 'mysql'") for p in raised.value.problems
    )


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("86400", timedelta(days=1)),  # the README's "or seconds"
        ("24h", timedelta(days=1)),  # what the CLI takes
        ("PT24H", timedelta(days=1)),  # ISO 8601, the ConfigMap's spelling
        ("P7D", timedelta(days=7)),
        ("2w", timedelta(weeks=2)),
    ],
)
def test_windows_take_every_duration_spelling(
    monkeypatch: pytest.MonkeyPatch, value: str, expected: timedelta
) -> None:
    monkeypatch.setenv("MLGRAPH_DRIFT_CURRENT_WINDOW", value)
    monkeypatch.setenv("MLGRAPH_DRIFT_REFERENCE_WINDOW", value)
    settings = load_settings()
    assert settings.drift_current_window == settings.drift_reference_window == expected


def test_timeouts_take_durations_as_seconds(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLGRAPH_MODEL_TIMEOUT", "500ms")
    monkeypatch.setenv("MLGRAPH_BREAKER_RESET_SECONDS", "PT30S")
    monkeypatch.setenv("MLGRAPH_MODEL_DEADLINE", "2m")
    monkeypatch.setenv("MLGRAPH_SHUTDOWN_GRACE_SECONDS", "25")
    monkeypatch.setenv("MLGRAPH_MODELS", '[{"name": "a", "url": "http://a", "timeout": "3s"}]')
    settings = load_settings()
    assert (settings.model_timeout, settings.breaker_reset_seconds) == (0.5, 30.0)
    assert (settings.model_deadline, settings.shutdown_grace_seconds) == (120.0, 25.0)
    assert settings.model_list()[0].timeout == 3.0


@pytest.mark.parametrize(
    ("given", "used"),
    [
        ("postgres://u:p@db:5432/mlgraph", "postgresql+asyncpg://u:p@db:5432/mlgraph"),
        ("postgresql://u:p@db/mlgraph", "postgresql+asyncpg://u:p@db/mlgraph"),
        ("sqlite:///x.db", "sqlite+aiosqlite:///x.db"),
        ("sqlite+aiosqlite:////var/lib/x.db", "sqlite+aiosqlite:////var/lib/x.db"),
    ],
)
def test_database_urls_platforms_hand_out_get_the_async_driver(
    monkeypatch: pytest.MonkeyPatch, given: str, used: str
) -> None:
    monkeypatch.setenv("MLGRAPH_DATABASE_URL", given)
    assert load_settings().database_url == used


@pytest.mark.parametrize(
    ("url", "wrong"),
    [
        ("not-a-url", "not a database URL"),
        ("mysql://u:p@db/x", "the scheme 'mysql' is not supported"),
        ("postgresql+psycopg2://u:p@db/x", "the scheme 'postgresql+psycopg2' is not supported"),
        ("sqlite://x.db", "an SQLite URL has three slashes before a relative path"),
    ],
)
def test_mlgraph_migrate_names_a_bad_database_url_in_one_line(url: str, wrong: str) -> None:
    result = subprocess.run(
        [MLGRAPH, "migrate"],
        capture_output=True,
        text=True,
        timeout=60,
        env={"MLGRAPH_DATABASE_URL": url, "PATH": ""},
    )
    assert result.returncode == 1
    assert result.stdout == ""
    (line,) = result.stderr.splitlines()
    assert line.startswith(f"mlgraph: MLGRAPH_DATABASE_URL: {wrong}")
    if "scheme" in wrong or "not a" in wrong:
        assert "postgresql+asyncpg://" in line
        assert "sqlite+aiosqlite:///" in line
    assert "p@db" not in line


@pytest.mark.parametrize(
    "command",
    [
        ["serve"],
        ["maintain"],
        ["apikey", "list"],
        ["export", "--since", "2026-01-01", "--until", "2026-02-01", "--out", "x.csv"],
    ],
)
def test_every_command_refuses_bad_settings_before_it_starts(
    command: list[str], tmp_path: Path
) -> None:
    result = subprocess.run(
        [MLGRAPH, *command],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
        env={"MLGRAPH_DATABASE_URL": "not-a-url", "MLGRAPH_PORT": "http", "PATH": ""},
    )
    assert result.returncode == 1
    assert result.stdout == ""
    assert sorted(result.stderr.splitlines()) == [
        "mlgraph: MLGRAPH_DATABASE_URL: not a database URL; use postgresql+asyncpg://user:"
        "password@host:5432/database or sqlite+aiosqlite:///path/to/file.db (postgres://, "
        "postgresql:// and sqlite:// are taken to mean these)",
        "mlgraph: MLGRAPH_PORT: must be a whole number (got 'http')",
    ]
    assert list(tmp_path.iterdir()) == []  # nothing was created


def test_features_as_a_count_names_or_names_and_kinds(monkeypatch: pytest.MonkeyPatch) -> None:
    from graph.features import schema_from_settings
    from mlclient import Feature, FeatureKind, FeatureSchema

    features = ["tenure", {"name": "contract", "kind": "categorical"}, {"name": "charges"}]
    models = [
        {"name": "a", "url": "http://a", "features": 3},
        {"name": "b", "url": "http://b", "features": features},
    ]
    monkeypatch.setenv("MLGRAPH_MODELS", json.dumps(models))
    a, b = Settings().model_list()
    assert schema_from_settings(a.features) == FeatureSchema.positional(3)
    assert schema_from_settings(b.features) == FeatureSchema(
        (
            Feature("tenure", FeatureKind.NUMERICAL),
            Feature("contract", FeatureKind.CATEGORICAL),
            Feature("charges", FeatureKind.NUMERICAL),
        )
    )
    monkeypatch.delenv("MLGRAPH_MODELS")
    monkeypatch.setenv("MLGRAPH_MODEL_FEATURES", '["x", {"name": "y", "kind": "categorical"}]')
    (single,) = Settings().model_list()
    schema = schema_from_settings(single.features)
    assert schema is not None
    assert [(f.name, f.kind.value) for f in schema.features] == [
        ("x", "numerical"),
        ("y", "categorical"),
    ]


@pytest.mark.parametrize(
    ("features", "message"),
    [
        ('["a", "a"]', "names must be unique"),
        ('[{"name": "a", "kind": "text"}]', "must be 'numerical' or 'categorical' (got 'text')"),
        ("[]", "name at least one feature"),
        ("0", "a count must be at least 1"),
        ('[{"name": ""}]', "name: must have at least 1 character"),
        ('[{"name": "a", "type": "numerical"}]', "type: extra inputs are not permitted"),
        ('"income"', "must be a JSON list"),
    ],
)
def test_bad_features_are_refused_at_start(
    monkeypatch: pytest.MonkeyPatch, features: str, message: str
) -> None:
    monkeypatch.setenv("MLGRAPH_MODEL_FEATURES", features)
    with pytest.raises(InvalidSettings) as raised:
        load_settings()
    (problem,) = raised.value.problems
    assert problem.startswith("MLGRAPH_MODEL_FEATURES"), problem
    assert message in problem, problem


def test_database_urls_for_a_pooler_and_a_replica(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLGRAPH_DATABASE_URL", "postgresql+asyncpg://u@pgbouncer:6432/db")
    plain = load_settings()
    assert plain.database_statement_cache is True
    assert plain.database_read_url is None
    assert plain.listen_url == "postgresql+asyncpg://u@pgbouncer:6432/db"  # default: the main one
    monkeypatch.setenv("MLGRAPH_DATABASE_STATEMENT_CACHE", "false")
    monkeypatch.setenv("MLGRAPH_LISTEN_DATABASE_URL", "postgresql+asyncpg://u@primary:5432/db")
    # Mapped to the async driver like the main URL.
    monkeypatch.setenv("MLGRAPH_DATABASE_READ_URL", "postgres://u@replica:5432/db")
    pooled = load_settings()
    assert pooled.database_statement_cache is False
    assert pooled.listen_url == "postgresql+asyncpg://u@primary:5432/db"
    assert pooled.database_read_url == "postgresql+asyncpg://u@replica:5432/db"
