"""Helpers for the browser tests: where Chromium is, and what a page asked of the network."""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import urlsplit

from selenium import webdriver

__all__ = ["ARTIFACTS", "CHROMEDRIVER", "CHROMIUM", "foreign_requests", "requested_urls"]

ARTIFACTS = Path(__file__).parent.parent / "browser" / "artifacts"
CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
# Network events whose URL is a request the page made (documents, scripts, styles, fonts,
# fetch/XHR, WebSockets).
REQUEST_EVENTS = {
    "Network.requestWillBeSent": lambda params: params["request"]["url"],
    "Network.webSocketCreated": lambda params: params["url"],
}
# Inline content needs no host.
HOSTLESS_SCHEMES = {"data", "blob", "about", "chrome", "chrome-error"}


def requested_urls(driver: webdriver.Chrome) -> list[str]:
    """Every URL the browser requested since the last call (the log is read once)."""
    urls = []
    for entry in driver.get_log("performance"):  # type: ignore[no-untyped-call]
        message = json.loads(entry["message"])["message"]
        url_of = REQUEST_EVENTS.get(message["method"])
        if url_of is not None:
            urls.append(url_of(message["params"]))
    return urls


def foreign_requests(urls: list[str], base: str) -> list[str]:
    """The URLs in ``urls`` that went anywhere but ``base``'s host and port."""
    home = urlsplit(base).netloc
    return [
        url
        for url in urls
        if urlsplit(url).scheme not in HOSTLESS_SCHEMES and urlsplit(url).netloc != home
    ]
