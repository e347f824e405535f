"""The front page at ``/`` (and ``/docs``): its links answer and its examples run as shown."""

from __future__ import annotations

from datetime import UTC, datetime
from html.parser import HTMLParser
from urllib.parse import parse_qs, urlsplit

from graphql import parse, validate

from graph.routes.home import examples
from graph.schema import build_schema
from graph.settings import Settings
from scripts.modelserver import ModelServer
from tests.conftest import AppClient
from tests.utils.api import graphql


class _Anchors(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.links: dict[str, str] = {}  # id or text -> href
        self._open: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "a":
            self._open = found.get("href")
            if found.get("id"):
                self.links[found["id"] or ""] = self._open or ""

    def handle_data(self, data: str) -> None:
        if self._open is not None:
            self.links.setdefault(data.strip(), self._open)

    def handle_endtag(self, tag: str) -> None:
        if tag == "a":
            self._open = None


def _links(page: str) -> dict[str, str]:
    parser = _Anchors()
    parser.feed(page)
    return parser.links


async def test_front_page_links_answer(app_client: AppClient, model_server: ModelServer) -> None:
    async with app_client(model_url=model_server.url) as client:
        page = await client.get("/")
        links = _links(page.text)
        answers = {
            name: await client.get("/" + links[name], headers={"accept": "text/html"})
            for name in ("graphiql", "dashboard", "metrics", "healthz", "readyz")
        }
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert "<script" not in page.text  # nothing to load, from anywhere
    for name, answer in answers.items():
        assert answer.status_code == 200, name
    assert "graphiql.min.js" in answers["graphiql"].text
    assert "mlgraph dashboard" in answers["dashboard"].text
    assert "mlgraph_predictions_total" in answers["metrics"].text
    assert answers["readyz"].json()["status"] == "ok"


async def test_every_example_opens_in_graphiql_and_runs(
    app_client: AppClient, model_server: ModelServer
) -> None:
    async with app_client(model_url=model_server.url) as client:
        page = await client.get("/")
        shown = {
            title: parse_qs(urlsplit(href).fragment)["query"][0]
            for title, href in _links(page.text).items()
            if href.startswith("graphql#")
        }
        results = {
            title: await graphql(client, query)
            for title, query in shown.items()
            if not query.startswith("subscription")
        }
    expected = examples("iris", datetime.now(UTC))
    assert list(shown) == [example.title for example in expected]
    for title, body in results.items():
        assert "errors" not in body, (title, body)
    # The classify example runs first, so the others see its two predictions.
    assert len(results["The latest predictions"]["data"]["predictions"]["edges"]) == 2
    hourly = results["Predictions per hour, last 24 hours"]["data"]["predictionStats"]
    assert sum(bucket["count"] for bucket in hourly) == 2
    assert results["The models"]["data"]["models"][0]["ready"] is True
    [live] = [query for query in shown.values() if query.startswith("subscription")]
    assert validate(build_schema(Settings())._schema, parse(live)) == []


async def test_without_graphiql_the_page_says_so(app_client: AppClient) -> None:
    async with app_client(graphiql=False) as client:
        page = await client.get("/")
    assert 'id="graphiql-off"' in page.text
    assert "MLGRAPH_GRAPHIQL=false" in page.text
    assert not [href for href in _links(page.text).values() if href.startswith("graphql")]
    assert "mutation Classify" in page.text  # the examples, as text to send, unfolded
    assert page.text.count("<details open>") == len(examples("iris", datetime.now(UTC)))


async def test_docs_redirects_to_the_front_page(app_client: AppClient) -> None:
    async with app_client() as client:
        response = await client.get("/docs")
    assert response.status_code == 307
    assert response.headers["location"] == "http://mlgraph/"
