"""What the real servers answer to bad input, and the rule built on it: a refusal is
``ModelRejectedInput`` (whatever its status) and never counts for the breaker; a server that is
down is reported with its real cause, and logged with the model's name and URL.

Both servers are the session's real ones (the seldon-core microservice and MLServer), called
through the aiohttp transport ``mlgraph serve`` uses.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import re
import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
from httpx_aiohttp import AiohttpTransport

from mlclient import (
    CircuitBreaker,
    ModelCircuitOpen,
    ModelError,
    ModelRejectedInput,
    ModelServerError,
    ModelTimeout,
    ModelUnreachable,
    ResilientClient,
    RetryPolicy,
    SeldonClient,
    V2Client,
)
from mlclient import v2 as v2_protocol
from mlclient._http import exchange_json
from scripts.modelserver import ModelServer, free_port
from tests.utils.api import IRIS_ROWS

pytestmark = pytest.mark.model_server

NAN = float("nan")


@asynccontextmanager
async def _http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(
        transport=AiohttpTransport(), timeout=httpx.Timeout(5, connect=2)
    ) as http:
        yield http


# --- what the real servers answer ------------------------------------------------------------


@pytest.mark.parametrize(
    ("rows", "detail"),
    [
        pytest.param([[1.0, 2.0, 3.0]], "X has 3 features, but LogisticRegression", id="narrow"),
        pytest.param([[1.0] * 5], "X has 5 features", id="wide"),
        pytest.param([["a", "b", "c", "d"]], "could not convert string to float", id="strings"),
        pytest.param([[NAN, 1.0, 2.0, 3.0]], "Input X contains NaN", id="nan"),
        pytest.param([], "Expected 2D array", id="no-rows"),
    ],
)
async def test_seldon_answers_bad_input_with_a_500_that_is_a_refusal(
    model_server: ModelServer, rows: list[list[Any]], detail: str
) -> None:
    async with _http() as http:
        client = SeldonClient(http, name="iris", base_url=model_server.url, version="1")
        with pytest.raises(ModelRejectedInput) as caught:
            await client.predict(rows)
    assert caught.value.status_code == 500
    assert caught.value.detail.startswith(detail)


async def test_seldon_at_a_wrong_path_is_unwell_not_a_refusal(model_server: ModelServer) -> None:
    # The microservice wraps its own 404 in the same 500 body as a model's exception.
    async with _http() as http:
        client = SeldonClient(http, name="iris", base_url=model_server.url + "/wrong", version="1")
        with pytest.raises(ModelServerError) as caught:
            await client.predict(IRIS_ROWS)
    assert caught.value.status_code == 500
    assert re.match(r"^40[45] (Not Found|Method Not Allowed): ", caught.value.detail)


@pytest.mark.parametrize(
    "rows",
    [
        pytest.param([[1.0, 2.0, 3.0]], id="narrow"),
        pytest.param([[1.0] * 5], id="wide"),
        pytest.param([[NAN, 1.0, 2.0, 3.0]], id="nan"),
    ],
)
async def test_mlserver_answers_bad_input_with_a_500_that_is_a_refusal(
    mlserver: ModelServer, rows: list[list[float]]
) -> None:
    async with _http() as http:
        client = V2Client(http, name="iris", base_url=mlserver.url, probabilities=True)
        with pytest.raises(ModelRejectedInput) as caught:
            await client.predict(rows)
    assert (caught.value.status_code, caught.value.detail) == (500, "Internal Server Error")


async def test_mlserver_answers_strings_and_a_second_tensor_with_a_refusal(
    mlserver: ModelServer,
) -> None:
    url = f"{mlserver.url}/v2/models/iris/infer"
    strings = {"name": "input-0", "shape": [1, 4], "datatype": "BYTES", "data": ["a"] * 4}
    second = {"name": "input-1", "shape": [1, 4], "datatype": "FP64", "data": [1.0] * 4}
    first = {**strings, "datatype": "FP64", "data": [1.0] * 4}
    for inputs, status in (([strings], 500), ([first, second], 400)):
        async with _http() as http:  # each on its own connection: MLServer drops it after a 500
            with pytest.raises(ModelRejectedInput) as caught:
                await exchange_json(
                    http, "POST", url, body={"inputs": inputs}, is_refusal=v2_protocol.is_refusal
                )
        assert caught.value.status_code == status


async def test_mlserver_takes_a_wrong_input_name_and_misses_a_wrong_model_name(
    mlserver: ModelServer,
) -> None:
    async with _http() as http:
        renamed = V2Client(http, name="iris", base_url=mlserver.url, input_name="whatever")
        assert len((await renamed.predict(IRIS_ROWS)).rows) == len(IRIS_ROWS)
        missing = V2Client(http, name="nosuch", base_url=mlserver.url)
        with pytest.raises(ModelServerError) as caught:  # configuration, not the input
            await missing.predict(IRIS_ROWS)
    assert (caught.value.status_code, caught.value.detail) == (404, "Model nosuch not found")


# --- one bad client among good ones ----------------------------------------------------------


@pytest.mark.parametrize("kind", ["seldon", "mlserver"])
async def test_one_bad_client_never_takes_the_model_away_from_the_others(
    kind: str, request: pytest.FixtureRequest
) -> None:
    """Before, five refusals in a row opened the breaker: every caller's valid rows then failed
    fast for the cool-down, again and again while the bad client kept sending."""
    server: ModelServer = request.getfixturevalue(
        "model_server" if kind == "seldon" else "mlserver"
    )
    async with _http() as http:
        inner = (
            SeldonClient(http, name="iris", base_url=server.url, version="1")
            if kind == "seldon"
            else V2Client(http, name="iris", base_url=server.url)
        )
        breaker = CircuitBreaker(failure_threshold=2, reset_after=60)
        # MLServer drops the connection after such a 500 without saying so: the next call sent
        # on it is reset, and retried (nothing reached the model), as with the default retries.
        retry = RetryPolicy(retries=2, backoff=0.001, max_backoff=0.002)
        client = ResilientClient(inner, breaker=breaker, retry=retry)
        outcomes: dict[str, list[str]] = {"good": [], "bad": []}

        async def caller(kind: str, rows: list[list[float]], calls: int) -> None:
            for _ in range(calls):
                try:
                    await client.predict(rows)
                    outcomes[kind].append("ok")
                except ModelError as error:
                    outcomes[kind].append(type(error).__name__)

        await asyncio.gather(
            caller("bad", [[5.1, 3.5, 1.4]], 12),
            *(caller("good", IRIS_ROWS, 6) for _ in range(3)),
        )
    assert outcomes["good"] == ["ok"] * 18
    assert outcomes["bad"] == ["ModelRejectedInput"] * 12
    assert not breaker.is_open
    assert breaker.failures == 0


# --- a server that is down: the real cause, and the log ---------------------------------------


class _Model(BaseHTTPRequestHandler):
    """A Seldon v1 stand-in: ``/slow`` sleeps past the client's timeout, ``/hangup`` closes
    the connection without answering."""

    calls = 0
    authorization: str | None = None

    def do_POST(self) -> None:
        type(self).calls += 1
        type(self).authorization = self.headers.get("authorization")
        self.rfile.read(int(self.headers["content-length"]))
        if self.path.startswith("/slow"):
            time.sleep(1.5)
        if self.path.startswith("/hangup"):
            self.connection.close()
            return
        body = b'{"data": {"ndarray": ["setosa"]}}'
        self.send_response(200)
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        return


@contextmanager
def _serving(port: int = 0) -> Iterator[str]:
    _Model.calls = 0
    server = ThreadingHTTPServer(("127.0.0.1", port), _Model)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


async def test_a_refused_connection_says_refused_not_timed_out() -> None:
    async with _http() as http:
        client = SeldonClient(http, name="iris", base_url=f"http://127.0.0.1:{free_port()}")
        with pytest.raises(ModelUnreachable, match=r"^cannot connect to the model server: "):
            await client.predict(IRIS_ROWS)
        with pytest.raises(ModelUnreachable) as caught:
            await client.predict(IRIS_ROWS)
    assert str(caught.value) == "cannot connect to the model server: connection refused"


async def test_an_unknown_host_says_so() -> None:
    async with _http() as http:
        client = SeldonClient(http, name="iris", base_url="http://no-such-host.invalid")
        with pytest.raises(ModelUnreachable) as caught:
            await client.predict(IRIS_ROWS)
    assert str(caught.value) == "cannot resolve the model server's host 'no-such-host.invalid'"


async def test_a_hang_up_and_a_read_timeout_keep_their_meaning() -> None:
    with _serving() as url:
        async with httpx.AsyncClient(
            transport=AiohttpTransport(), timeout=httpx.Timeout(0.5, connect=2)
        ) as http:
            retry = RetryPolicy(retries=2, backoff=0.001, max_backoff=0.002)
            hangup = ResilientClient(
                SeldonClient(http, name="m", base_url=url + "/hangup", version="1"), retry=retry
            )
            with pytest.raises(ModelUnreachable) as hung:
                await hangup.predict(IRIS_ROWS)
            assert _Model.calls == 3  # nothing was answered: retried like a refusal
            _Model.calls = 0
            slow = ResilientClient(
                SeldonClient(http, name="m", base_url=url + "/slow", timeout=0.5, version="1"),
                retry=retry,
            )
            with pytest.raises(ModelTimeout):  # was a ConnectTimeout, and retried
                await slow.predict(IRIS_ROWS)
            assert _Model.calls == 1  # the model may be doing the work: never retried
    assert str(hung.value) == "the model server closed the connection without answering"


async def test_first_failure_and_each_opening_and_closing_are_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="mlclient")
    port = free_port()
    async with _http() as http:
        inner = SeldonClient(
            http, name="iris", base_url=f"http://ops:s3cret@127.0.0.1:{port}", version="1"
        )
        breaker = CircuitBreaker(failure_threshold=3, reset_after=0.4, first_probe_after=0.1)
        client = ResilientClient(
            inner, breaker=breaker, retry=RetryPolicy(retries=0), url=inner.url
        )
        for _ in range(3):  # the third failure opens the circuit
            with pytest.raises(ModelUnreachable):
                await client.predict(IRIS_ROWS)
        for _ in range(2):
            with pytest.raises(ModelCircuitOpen):  # fails fast...
                await client.predict(IRIS_ROWS)
            await asyncio.sleep(breaker.wait + 0.01)
            with pytest.raises(ModelUnreachable):  # ...until a probe, which fails: open again
                await client.predict(IRIS_ROWS)
        with _serving(port):
            await asyncio.sleep(breaker.wait + 0.01)
            await client.predict(IRIS_ROWS[:1])  # the probe succeeds: closed
    # The URL's credentials went as a header (aiohttp refuses them inside the URL).
    assert _Model.authorization == "Basic " + base64.b64encode(b"ops:s3cret").decode()
    records = [r for r in caplog.records if r.name == "mlclient"]
    messages = [r.getMessage() for r in records]
    url = f"http://127.0.0.1:{port}"
    assert messages[0] == (
        f"model iris at {url} failed: cannot connect to the model server: connection refused"
    )
    opened = [m for m in messages if m.startswith("circuit breaker opened")]
    assert opened[0].startswith(
        f"circuit breaker opened for model iris at {url} after 3 failed call(s) (last: cannot "
        "connect to the model server: connection refused): failing fast for 0.1 s"
    )
    assert len(opened) == 3  # once, then again after each of the 2 failed probes
    assert messages[-1] == f"circuit breaker closed for model iris at {url}: it answers again"
    assert len(messages) == 5  # the first failure, 3 openings, the closing: not one per call
    fields = [getattr(record, "fields", {}) for record in records]
    assert all(f["model"] == "iris" and f["url"] == url for f in fields)
    assert "s3cret" not in caplog.text
