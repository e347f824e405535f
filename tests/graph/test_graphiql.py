"""The GraphiQL page: served with its own files (no CDN), vendored as the manifest says.

The page itself runs in Chromium in tests/browser/test_graphiql.py; these check what the server
sends and what the repository holds.
"""

from __future__ import annotations

import hashlib
import json
from html.parser import HTMLParser
from urllib.parse import urljoin, urlsplit

from graph.graphiql import ASSETS_DIR, PAGE
from scripts.vendor_graphiql import PACKAGES, VENDOR_DIR
from tests.conftest import AppClient

HTML = {"accept": "text/html"}


class _Links(HTMLParser):
    """The URLs of every script and stylesheet in a page."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "script" and found.get("src"):
            self.urls.append(found["src"] or "")
        if tag == "link" and found.get("rel") == "stylesheet":
            self.urls.append(found["href"] or "")


def _assets(page: str) -> list[str]:
    parser = _Links()
    parser.feed(page)
    return parser.urls


async def test_the_page_loads_only_files_mlgraph_serves(app_client: AppClient) -> None:
    async with app_client() as client:
        page = await client.get("/graphql", headers=HTML)
        urls = _assets(page.text)
        answers = {url: await client.get(urljoin("http://mlgraph/graphql", url)) for url in urls}
    assert page.status_code == 200
    assert "default-src 'self'" in page.headers["content-security-policy"]
    assert len(urls) == 7  # React, ReactDOM, GraphiQL, the explorer (script and style), ours
    for url, answer in answers.items():
        # Relative links: the page works under a proxy's path prefix too.
        assert not urlsplit(url).scheme, url
        assert not url.startswith("/"), url
        assert answer.status_code == 200, url
        assert answer.headers["content-type"].split(";")[0] in ("text/css", "text/javascript")


async def test_graphiql_off_serves_neither_page_nor_files(app_client: AppClient) -> None:
    async with app_client(graphiql=False) as client:
        page = await client.get("/graphql", headers=HTML)
        script = await client.get("/graphql/static/vendor/graphiql.min.js")
    assert "graphiql.min.js" not in page.text
    assert script.status_code == 404


def test_vendored_files_are_what_the_manifest_and_the_pins_say() -> None:
    manifest = json.loads((VENDOR_DIR / "manifest.json").read_text())["packages"]
    assert {name: entry["version"] for name, entry in manifest.items()} == {
        package.name: package.version for package in PACKAGES
    }
    listed = {"manifest.json"}
    for name, entry in manifest.items():
        for file, facts in entry["files"].items():
            data = (VENDOR_DIR / file).read_bytes()
            assert hashlib.sha256(data).hexdigest() == facts["sha256"], f"{file} was edited"
            listed.add(file)
        licence = (VENDOR_DIR / entry["licence_file"]).read_text()
        assert "Permission is hereby granted" in licence, name  # all MIT today
        assert entry["license"] == "MIT"
        listed.add(entry["licence_file"])
    present = {p.relative_to(VENDOR_DIR).as_posix() for p in VENDOR_DIR.rglob("*") if p.is_file()}
    assert present == listed


def test_the_page_uses_every_vendored_script_and_style() -> None:
    used = {url.rsplit("/", 1)[-1] for url in _assets(PAGE)}
    vendored = {p.name for p in VENDOR_DIR.glob("*") if p.suffix in (".js", ".css")}
    ours = {p.name for p in ASSETS_DIR.glob("*.js")}
    assert used == vendored | ours
