"""A model request sent by the transport itself (``mlclient._http.send_through``, what
``mlgraph serve`` does) is the request the httpx client would send, and fails the same way.

The requests are recorded on their way to the session's real servers (the seldon-core
microservice and MLServer) through the aiohttp transport ``mlgraph serve`` uses.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from httpx_aiohttp import AiohttpTransport

from mlclient import ModelOutput, ModelUnreachable, SeldonClient, V2Client
from mlclient._http import exchange_json
from scripts.modelserver import ModelServer
from tests.utils.api import IRIS_ROWS

TIMEOUT = httpx.Timeout(7.0, connect=2.0)


class Recording(httpx.AsyncBaseTransport):
    """Passes each request on to ``inner`` and keeps what was sent."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner = inner
        self.sent: list[tuple[Any, ...]] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.sent.append(
            (
                request.method,
                str(request.url),
                request.headers.multi_items(),
                await request.aread(),
                request.extensions.get("timeout"),
            )
        )
        return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self.inner.aclose()


async def _both_ways(
    make: Any, *, headers: dict[str, str] | None = None
) -> tuple[list[tuple[Any, ...]], list[ModelOutput]]:
    """``make(http, transport)``'s predictions of IRIS_ROWS through the client, then through the
    transport, with the requests each sent."""
    recording = Recording(AiohttpTransport())
    outputs = []
    async with httpx.AsyncClient(transport=recording, timeout=TIMEOUT, headers=headers) as http:
        for transport in (None, recording):
            outputs.append(await make(http, transport).predict(IRIS_ROWS, request_id="r-1"))
    return recording.sent, outputs


def _same_answers(outputs: list[ModelOutput]) -> None:
    via_client, via_transport = outputs
    assert via_transport.rows == via_client.rows
    assert via_transport.model_version == via_client.model_version
    assert via_transport.answer is not None
    assert via_client.answer is not None
    assert via_transport.answer.body == via_client.answer.body


@pytest.mark.model_server
async def test_v2_sends_what_the_client_would(mlserver: ModelServer) -> None:
    sent, outputs = await _both_ways(
        lambda http, transport: V2Client(
            http,
            name="iris",
            base_url=mlserver.url.replace("http://", "http://user:secret@"),
            probabilities=True,
            headers={"Seldon-Model": "iris"},
            timeout=5.0,
            transport=transport,
        ),
        headers={"User-Agent": "mlgraph-test"},
    )
    assert len(sent) == 2
    assert sent[1] == sent[0]
    headers = dict(sent[0][2])
    assert headers["user-agent"] == "mlgraph-test"  # the client's own headers still go
    assert headers["seldon-model"] == "iris"
    assert headers["authorization"].startswith("Basic ")
    assert headers["content-type"] == "application/json"
    assert sent[0][4] == httpx.Timeout(5.0).as_dict()
    _same_answers(outputs)
    assert [row.label for row in outputs[0].rows] == ["0", "2", "1"]


@pytest.mark.model_server
async def test_seldon_sends_what_the_client_would(model_server: ModelServer) -> None:
    sent, outputs = await _both_ways(
        lambda http, transport: SeldonClient(
            http, name="iris", base_url=model_server.url, version="v1", transport=transport
        )
    )
    assert len(sent) == 2
    assert sent[1] == sent[0]
    assert sent[0][:2] == ("POST", model_server.url + "/api/v1.0/predictions")
    _same_answers(outputs)


@pytest.mark.model_server
async def test_the_clients_timeout_applies_when_the_call_names_none(
    mlserver: ModelServer,
) -> None:
    recording = Recording(AiohttpTransport())
    async with httpx.AsyncClient(transport=recording, timeout=TIMEOUT) as http:
        url = mlserver.url + "/v2/models/iris"
        for transport in (None, recording):
            answer = await exchange_json(http, "GET", url, transport=transport)
            assert answer.body["name"] == "iris"
    assert [each[4] for each in recording.sent] == [TIMEOUT.as_dict()] * 2


class _CutOff(httpx.AsyncByteStream):
    def __init__(self) -> None:
        self.closed = False

    async def __aiter__(self) -> AsyncIterator[bytes]:
        yield b'{"outputs": ['
        raise httpx.ReadError("connection reset by peer")

    async def aclose(self) -> None:
        self.closed = True


async def test_an_answer_cut_off_while_read_is_unreachable_and_the_stream_is_closed() -> None:
    stream = _CutOff()
    transport = httpx.MockTransport(lambda request: httpx.Response(200, stream=stream))
    async with httpx.AsyncClient(transport=transport) as http:
        client = V2Client(http, name="iris", base_url="http://model", transport=transport)
        with pytest.raises(ModelUnreachable, match="connection reset by peer"):
            await client.predict(IRIS_ROWS)
    assert stream.closed
