"""API keys: hashed at rest, scoped, required once any key exists (always in production)."""

from __future__ import annotations

import logging

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

import db
from graph.auth import generate_key, hash_key
from graph.cli import main
from tests.conftest import AppClient
from tests.utils.api import CLASSIFY, PREDICTIONS, error_codes

MODEL = httpx.MockTransport(lambda request: httpx.Response(200, json={"data": {"ndarray": ["a"]}}))
NO_CACHE: dict[str, object] = {"api_key_cache_seconds": 0, "model_version": "v1"}


async def _key(session: AsyncSession, scope: str) -> str:
    key = generate_key()
    await db.apikeys.create_api_key(
        session, name=f"{scope} test", scope=scope, prefix=key[:12], key_hash=hash_key(key)
    )
    await session.commit()
    return key


def _bearer(key: str) -> dict[str, str]:
    return {"authorization": f"Bearer {key}"}


async def _call(
    client: httpx.AsyncClient, query: str, key: str | None, **variables: object
) -> list[str]:
    headers = _bearer(key) if key else {}
    response = await client.post(
        "/graphql", json={"query": query, "variables": variables}, headers=headers
    )
    return error_codes(response.json())


async def test_scopes_decide_what_a_key_may_do(
    app_client: AppClient, session: AsyncSession
) -> None:
    read, predict, admin = [await _key(session, s) for s in ("read", "predict", "admin")]
    rows = [[1.0]]
    async with app_client(transport=MODEL, **NO_CACHE) as client:
        assert await _call(client, CLASSIFY, None, rows=rows) == ["UNAUTHENTICATED"]
        assert await _call(client, PREDICTIONS, None) == ["UNAUTHENTICATED"]
        assert await _call(client, CLASSIFY, read, rows=rows) == ["FORBIDDEN"]
        assert await _call(client, PREDICTIONS, read) == []
        assert await _call(client, CLASSIFY, predict, rows=rows) == []
        assert await _call(client, PREDICTIONS, predict) == ["FORBIDDEN"]
        assert await _call(client, CLASSIFY, admin, rows=rows) == []
        assert await _call(client, PREDICTIONS, admin) == []
        assert await _call(client, PREDICTIONS, "mlg_not-a-key") == ["UNAUTHENTICATED"]
        assert await _call(client, PREDICTIONS, None) == ["UNAUTHENTICATED"]
        response = await client.post(
            "/graphql", json={"query": PREDICTIONS}, headers={"authorization": f"Basic {read}"}
        )
        assert error_codes(response.json()) == ["UNAUTHENTICATED"]
    stored = (await session.scalars(select(db.Prediction))).all()
    assert len(stored) == 2  # the predict and admin calls only


async def test_revoked_key_stops_working(app_client: AppClient, session: AsyncSession) -> None:
    key = await _key(session, "read")
    await _key(session, "admin")  # keeps authentication on after the revocation
    async with app_client(**NO_CACHE) as client:
        assert await _call(client, PREDICTIONS, key) == []
        assert await db.apikeys.revoke_api_key(session, key=key[:12]) == 1
        await session.commit()
        assert await _call(client, PREDICTIONS, key) == ["UNAUTHENTICATED"]


async def test_anonymous_read_setting(app_client: AppClient, session: AsyncSession) -> None:
    await _key(session, "admin")
    async with app_client(transport=MODEL, anonymous_read=True, **NO_CACHE) as client:
        assert await _call(client, PREDICTIONS, None) == []
        assert await _call(client, CLASSIFY, None, rows=[[1.0]]) == ["UNAUTHENTICATED"]


async def test_no_keys_means_open_in_development_and_closed_in_production(
    app_client: AppClient,
) -> None:
    async with app_client(transport=MODEL, **NO_CACHE) as client:
        assert await _call(client, CLASSIFY, None, rows=[[1.0]]) == []
    async with app_client(transport=MODEL, environment="production", **NO_CACHE) as client:
        assert await _call(client, CLASSIFY, None, rows=[[1.0]]) == ["UNAUTHENTICATED"]
        assert await _call(client, PREDICTIONS, None) == ["UNAUTHENTICATED"]


async def test_keys_are_stored_hashed_and_never_logged(
    app_client: AppClient, session: AsyncSession, caplog: pytest.LogCaptureFixture
) -> None:
    key = await _key(session, "read")
    rows = (await session.scalars(select(db.ApiKey))).all()
    assert [r.key_hash for r in rows] == [hash_key(key)]
    assert all(key not in str(value) for r in rows for value in r.model_dump().values())
    caplog.set_level(logging.DEBUG)
    async with app_client(**NO_CACHE) as client:
        await _call(client, PREDICTIONS, key)
        await _call(client, PREDICTIONS, key + "x")
    assert key not in caplog.text


def test_cli_creates_lists_and_revokes(
    database_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("MLGRAPH_DATABASE_URL", database_url)
    assert main(["apikey", "list"]) == 0
    assert capsys.readouterr().out.splitlines() == [
        "no API keys yet: `mlgraph apikey create --scope predict --name <who>` makes one",
        "authentication is off: no active key, so calls need none (development)",
    ]
    assert main(["apikey", "create", "--scope", "predict", "--name", "ci"]) == 0
    created = capsys.readouterr().out
    key = next(line for line in created.splitlines() if line.startswith("mlg_"))
    # The first key switches authentication on for every caller: it says so.
    assert "this is the first active key, so authentication is now on" in created
    assert main(["apikey", "create", "--scope", "read", "--name", "dash"]) == 0
    assert "first active key" not in capsys.readouterr().out
    assert main(["apikey", "list"]) == 0
    listing = capsys.readouterr().out.splitlines()
    assert listing[0].split() == ["ID", "PREFIX", "SCOPE", "STATE", "NAME"]
    assert listing[1].split()[1:] == [f"{key[:12]}…", "predict", "active", "ci"]
    assert len(listing) == 3
    assert key not in "\n".join(listing)
    assert main(["apikey", "revoke", key[:12]]) == 0
    assert "authentication is off again" not in capsys.readouterr().out  # "dash" is active
    assert main(["apikey", "revoke", key[:12]]) == 1
    assert main(["apikey", "revoke", "dash"]) == 0  # by name
    assert capsys.readouterr().out.splitlines() == [
        "revoked 1 key(s)",
        "no active key is left, so authentication is off again: calls need no key "
        "(MLGRAPH_ENVIRONMENT=production always requires one)",
    ]
    assert main(["apikey", "list"]) == 0
    assert [line.split()[3] for line in capsys.readouterr().out.splitlines()[1:3]] == [
        "revoked",
        "revoked",
    ]
