"""Database URLs: the async driver for what platforms hand out, a clear refusal for the rest."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from db.urls import async_url, describe_url


@pytest.mark.parametrize(
    ("given", "used"),
    [
        ("postgres://u:p@db/x", "postgresql+asyncpg://u:p@db/x"),
        (
            "postgresql://u:p%40ss@db:5433/x?ssl=require",
            "postgresql+asyncpg://u:p%40ss@db:5433/x?ssl=require",
        ),
        ("postgresql+asyncpg://u@db/x", "postgresql+asyncpg://u@db/x"),
        ("postgresql:///x?host=/run/postgresql", "postgresql+asyncpg:///x?host=/run/postgresql"),
        ("sqlite:///mlgraph.db", "sqlite+aiosqlite:///mlgraph.db"),
        ("SQLite:////var/lib/my data.db", "sqlite+aiosqlite:////var/lib/my data.db"),
        ("sqlite+aiosqlite:///:memory:", "sqlite+aiosqlite:///:memory:"),
    ],
)
def test_the_async_driver_replaces_only_the_scheme(given: str, used: str) -> None:
    assert async_url(given) == used


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("not-a-url", "not a database URL; use postgresql+asyncpg://"),
        ("", "not a database URL"),
        (
            "mysql://root:hunter2@db/x",
            "the scheme 'mysql' is not supported; use postgresql+asyncpg",
        ),
        ("postgresql+psycopg2://root:hunter2@db/x", "the scheme 'postgresql+psycopg2'"),
        ("sqlite://mlgraph.db", "three slashes before a relative path"),
    ],
)
def test_a_refused_url_says_what_is_accepted_and_hides_the_password(url: str, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)) as raised:
        async_url(url)
    assert "hunter2" not in str(raised.value)


def test_describe_url_names_the_file_or_server_without_a_password(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert describe_url("sqlite+aiosqlite:///./mlgraph.db") == f"SQLite file {tmp_path}/mlgraph.db"
    assert (
        describe_url("postgresql+asyncpg://app:hunter2@db.example:5432/mlgraph")
        == "PostgreSQL app@db.example:5432/mlgraph"
    )
