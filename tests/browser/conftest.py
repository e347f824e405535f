"""A real headless Chromium (Debian's ``chromium`` and ``chromium-driver``) with no network.

Every host name but 127.0.0.1 fails to resolve and no proxy is used, as on a cluster without
internet access: a page that needs a CDN breaks here as it would there. The browser's network
log is kept, so tests can also assert that a page asked nothing of any other host
(tests/utils/browser.py).
A missing Chromium fails the test: install it with ``apt-get install -y chromium
chromium-driver`` (``.ci/run`` does).
"""

from __future__ import annotations

import shutil
from collections.abc import Generator, Iterator

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service

from tests.utils.browser import ARTIFACTS, CHROMEDRIVER, CHROMIUM

# Whether the test's own call failed, for the fixture's teardown.
FAILED = pytest.StashKey[bool]()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    if report.when == "call":
        item.stash[FAILED] = report.failed
    return report


@pytest.fixture
def browser(request: pytest.FixtureRequest) -> Iterator[webdriver.Chrome]:
    """Chromium, offline; when the test fails, its last screen and console go to artifacts/."""
    if shutil.which(CHROMIUM) is None or shutil.which(CHROMEDRIVER) is None:
        pytest.fail(
            f"{CHROMIUM} or {CHROMEDRIVER} is missing: apt-get install -y chromium chromium-driver"
        )
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--disable-dev-shm-usage",
        "--window-size=1400,1900",
        # Offline, as on an air-gapped cluster: no DNS but for 127.0.0.1, no proxy.
        "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1",
        "--no-proxy-server",
    ):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"performance": "ALL", "browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(executable_path=CHROMEDRIVER))
    try:
        yield driver
        if request.node.stash.get(FAILED, False):
            ARTIFACTS.mkdir(exist_ok=True)
            name = request.node.name
            driver.save_screenshot(str(ARTIFACTS / f"{name}-failed.png"))
            log = driver.get_log("browser")  # type: ignore[no-untyped-call]
            console = "\n".join(str(entry) for entry in log)
            (ARTIFACTS / f"{name}-failed-console.txt").write_text(console)
            print(f"screenshot and console of the failure: {ARTIFACTS / name}-failed.*")
    finally:
        driver.quit()
