"""Which database URLs mlgraph takes, and the async driver each one is given."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

__all__ = ["ACCEPTED", "async_url", "describe_url"]

ACCEPTED = (
    "postgresql+asyncpg://user:password@host:5432/database or sqlite+aiosqlite:///path/to/file.db "
    "(postgres://, postgresql:// and sqlite:// are taken to mean these)"
)

# The schemes platforms and tutorials hand out, mapped to the async drivers mlgraph runs on:
# Heroku, Render and Fly give postgres://, and sqlite:/// is SQLAlchemy's own example.
_ASYNC_DRIVERS = {
    "postgres": "postgresql+asyncpg",
    "postgresql": "postgresql+asyncpg",
    "postgresql+asyncpg": "postgresql+asyncpg",
    "sqlite": "sqlite+aiosqlite",
    "sqlite+aiosqlite": "sqlite+aiosqlite",
}


def async_url(url: str) -> str:
    """``url`` with the async driver mlgraph uses; a ``ValueError`` says what is wrong.

    The message never repeats the URL, which may hold a password.
    """
    try:
        parsed = make_url(url.strip())
    except ArgumentError:
        raise ValueError(f"not a database URL; use {ACCEPTED}") from None
    driver = _ASYNC_DRIVERS.get(parsed.drivername.lower())
    if driver is None:
        raise ValueError(f"the scheme {parsed.drivername!r} is not supported; use {ACCEPTED}")
    if driver.startswith("sqlite") and parsed.host:
        # sqlite://x.db reads as a host named x.db and an in-memory database: nothing kept.
        raise ValueError(
            "an SQLite URL has three slashes before a relative path (sqlite:///mlgraph.db) "
            "and four before an absolute one (sqlite:////var/lib/mlgraph.db)"
        )
    # Only the scheme changes: rendering the parsed URL again would re-quote its parts.
    text = url.strip()
    return driver + text[text.index(":") :]


def describe_url(url: str) -> str:
    """Where ``url`` points, for logs and messages, without a password: the absolute path of
    an SQLite file, or ``user@host:port/database`` of a PostgreSQL server."""
    parsed: URL = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database or ":memory:"
        where = database if database == ":memory:" else str(Path(database).resolve())
        return f"SQLite file {where}"
    user = f"{parsed.username}@" if parsed.username else ""
    port = f":{parsed.port}" if parsed.port else ""
    host = parsed.host or parsed.query.get("host") or "localhost"
    return f"PostgreSQL {user}{host}{port}/{parsed.database or ''}"
