"""GraphiQL and the front page in a real Chromium that can reach nothing but 127.0.0.1.

``mlgraph serve`` runs against the real seldon-core model with API keys on. From the front page
the test opens GraphiQL, checks the explorer plugin lists the schema, types a query into the
editor and runs it (refused without a key), types the key into the header editor and runs it
again (answered), runs a subscription that sees a prediction made meanwhile, opens an example
from the front page, and finally asserts that no page asked anything of another host.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import httpx
from selenium import webdriver
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support.ui import WebDriverWait

import db
from graph.auth import generate_key, hash_key
from scripts.modelserver import ModelServer
from tests.utils.browser import foreign_requests, requested_urls
from tests.utils.migrations import migrate
from tests.utils.serve import serve_mlgraph, wait_for_metric

QUERY_EDITOR = ".graphiql-query-editor .CodeMirror"
HEADER_EDITOR = ".graphiql-editor-tool .graphiql-editor:not(.hidden) .CodeMirror"
RESPONSE = ".result-window .CodeMirror"


async def _create_key(url: str) -> str:
    key = generate_key()
    engine = db.make_engine(url)
    try:
        async with db.make_sessionmaker(engine).begin() as session:
            await db.apikeys.create_api_key(
                session, name="browser", scope="admin", prefix=key[:12], key_hash=hash_key(key)
            )
    finally:
        await engine.dispose()
    return key


def _type(driver: webdriver.Chrome, editor: str, text: str) -> None:
    """Click into a CodeMirror editor, select everything and type ``text`` over it."""
    driver.find_element(By.CSS_SELECTOR, editor).click()
    area = driver.find_element(By.CSS_SELECTOR, f"{editor} textarea")
    area.send_keys(Keys.CONTROL, "a")
    area.send_keys(Keys.DELETE)
    area.send_keys(text)
    # GraphiQL closes brackets and quotes as one types: check what the editor really holds.
    held = driver.execute_script(
        "return document.querySelector(arguments[0]).CodeMirror.getValue()", editor
    )
    assert json.dumps(held) == json.dumps(text)


def _response(driver: webdriver.Chrome) -> str:
    """The response pane's text as it is shown."""
    return driver.find_element(By.CSS_SELECTOR, f"{RESPONSE} .CodeMirror-code").text


def _run(driver: webdriver.Chrome, operation: str | None = None) -> None:
    """Press the run button; first, for ``operation``, wait until GraphiQL has parsed the typed
    document (the explorer shows its name): it sends the operation name it last parsed."""
    if operation is not None:
        WebDriverWait(driver, 30).until(
            lambda d: (
                operation
                in [
                    field.get_attribute("value")
                    for field in d.find_elements(
                        By.CSS_SELECTOR, ".graphiql-operation-title-bar input"
                    )
                ]
            )
        )
    driver.find_element(By.CSS_SELECTOR, "button.graphiql-execute-button").click()


def _tab(driver: webdriver.Chrome, name: str) -> WebElement:
    [button] = [
        b
        for b in driver.find_elements(By.CSS_SELECTOR, ".graphiql-editor-tools button")
        if b.text == name
    ]
    return button


def test_graphiql_runs_typed_queries_and_subscriptions_offline(
    browser: webdriver.Chrome, tmp_path: Path, model_server: ModelServer
) -> None:
    database_url = f"sqlite+aiosqlite:///{tmp_path / 'mlgraph.db'}"
    migrate(database_url, "head")
    key = asyncio.run(_create_key(database_url))
    wait = WebDriverWait(browser, 30)
    with serve_mlgraph(
        database_url, tmp_path / "serve.log", MLGRAPH_MODEL_URL=model_server.url
    ) as base:
        browser.get(base + "/")
        browser.find_element(By.ID, "graphiql").click()
        wait.until(lambda d: d.execute_script("return document.readyState") == "complete")
        assert browser.current_url == base + "/graphql"
        # Everything the page loads comes from mlgraph (Strawberry's own page asks a CDN).
        urls = requested_urls(browser)
        assert foreign_requests(urls, base) == []
        wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, QUERY_EDITOR))

        # The explorer plugin is there and lists the schema's root fields.
        browser.find_element(By.CSS_SELECTOR, '[aria-label="Show GraphiQL Explorer"]').click()
        explorer = wait.until(lambda d: d.find_element(By.CSS_SELECTOR, ".graphiql-explorer-root"))
        wait.until(lambda d: "predictionStats" in explorer.text)

        # A query typed into the editor runs; without a key mlgraph refuses it.
        _type(browser, QUERY_EDITOR, "query ModelList { models { name protocol ready } }")
        _run(browser, "ModelList")
        wait.until(lambda d: "UNAUTHENTICATED" in _response(d))

        # With the key in the header editor it is answered.
        _tab(browser, "Headers").click()
        _type(browser, HEADER_EDITOR, json.dumps({"authorization": f"Bearer {key}"}))
        _run(browser)
        wait.until(lambda d: '"name": "iris"' in _response(d))
        assert '"ready": true' in _response(browser)

        # A subscription goes over graphql-transport-ws with the same key.
        _type(
            browser,
            QUERY_EDITOR,
            "subscription Live { predictionAdded { prediction { id label } } }",
        )
        _run(browser, "Live")
        with httpx.Client(base_url=base) as client:
            asyncio.run(_wait_for_subscriber(base))
            response = client.post(
                "/graphql",
                headers={"authorization": f"Bearer {key}"},
                json={
                    "query": "mutation { classify(input: {rows: [[6.7, 3.0, 5.2, 2.3]]}) "
                    "{ predictions { id label } } }"
                },
            )
        [prediction] = response.json()["data"]["classify"]["predictions"]
        wait.until(lambda d: prediction["id"] in _response(d))
        assert f'"label": "{prediction["label"]}"' in _response(browser)
        _run(browser)  # stops the subscription

        # An example on the front page opens in GraphiQL with its operation and runs.
        browser.get(base + "/")
        example = browser.find_element(By.LINK_TEXT, "The latest predictions")
        example.click()
        wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, QUERY_EDITOR))
        wait.until(
            lambda d: (
                "query LatestPredictions"
                in d.execute_script(
                    "return document.querySelector(arguments[0]).CodeMirror.getValue()",
                    QUERY_EDITOR,
                )
            )
        )
        _run(browser)
        wait.until(lambda d: prediction["id"] in _response(d))

        urls += requested_urls(browser)
    assert any(url.endswith("/graphql/static/vendor/graphiql.min.js") for url in urls)
    assert any(url.startswith("ws://") for url in urls)
    assert foreign_requests(urls, base) == []


async def _wait_for_subscriber(base: str) -> None:
    async with httpx.AsyncClient(base_url=base) as client:
        await wait_for_metric(client, "mlgraph_live_subscribers", 1)
