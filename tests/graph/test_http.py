"""The HTTP surface: probes, GraphiQL, and GraphQL's own errors."""

from __future__ import annotations

from pathlib import Path

from scripts.modelserver import ModelServer, free_port
from tests.conftest import AppClient
from tests.utils.api import error_codes, graphql


async def test_healthz(app_client: AppClient) -> None:
    async with app_client() as client:
        response = await client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


async def test_readyz_with_real_model_and_database(
    app_client: AppClient, model_server: ModelServer
) -> None:
    async with app_client(model_url=model_server.url) as client:
        response = await client.get("/readyz")
    assert response.status_code == 200
    assert response.json()["checks"] == {"database": "ok", "models": {"iris": "ok"}}


async def test_readyz_reports_what_is_down(app_client: AppClient, tmp_path: Path) -> None:
    broken_db = f"postgresql+asyncpg://postgres@127.0.0.1:{free_port()}/missing"
    closed = f"http://127.0.0.1:{free_port()}"
    async with app_client(model_url=closed) as client:
        model_down = await client.get("/readyz")
    async with app_client(model_url=closed, database_url=broken_db) as client:
        both_down = await client.get("/readyz")
    assert model_down.status_code == 503
    assert model_down.json()["checks"] == {"database": "ok", "models": {"iris": "unavailable"}}
    assert both_down.json()["checks"] == {
        "database": "unavailable",
        "models": {"iris": "unavailable"},
    }


async def test_graphiql_is_served_to_browsers_and_can_be_switched_off(
    app_client: AppClient,
) -> None:
    async with app_client() as client:
        page = await client.get("/graphql", headers={"accept": "text/html"})
    async with app_client(graphiql=False) as client:
        off = await client.get("/graphql", headers={"accept": "text/html"})
    assert page.status_code == 200
    assert "graphiql" in page.text.lower()
    assert off.status_code != 200 or "graphiql" not in off.text.lower()


async def test_graphql_errors_have_codes(app_client: AppClient) -> None:
    async with app_client() as client:
        syntax = await graphql(client, "{ predictions(first: 1 { edges }")
        unknown = await graphql(client, "{ nope }")
        variable = await graphql(
            client, "query($f: Int) { predictions(first: $f) { edges { cursor } } }", f="x"
        )
    assert error_codes(syntax) == ["GRAPHQL_PARSE_FAILED"]
    assert error_codes(unknown) == ["GRAPHQL_VALIDATION_FAILED"]
    assert error_codes(variable) == ["BAD_USER_INPUT"]
