"""SeldonClient against the real seldon-core microservice, and faults through a mock transport."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable

import httpx
import pytest

from mlclient import (
    BadModelResponse,
    ModelError,
    ModelRejectedInput,
    ModelServerError,
    ModelTimeout,
    ModelUnreachable,
    SeldonClient,
)
from scripts.modelserver import ModelServer, free_port
from tests.utils.api import IRIS_ROWS

pytestmark = pytest.mark.model_server


async def test_predicts_iris_classes_with_probabilities(model_server: ModelServer) -> None:
    async with httpx.AsyncClient() as http:
        client = SeldonClient(http, name="iris", base_url=model_server.url)
        output = await client.predict(IRIS_ROWS)
    assert [row.label for row in output.rows] == ["setosa", "virginica", "versicolor"]
    for row in output.rows:
        assert row.probabilities is not None
        assert list(row.probabilities) == ["setosa", "versicolor", "virginica"]
        assert sum(row.probabilities.values()) == pytest.approx(1.0)
        assert max(row.probabilities, key=row.probabilities.__getitem__) == row.label
    assert output.model_name == "iris"
    # Read from the model's own metadata endpoint (the fixture starts it as iris-test-1).
    assert output.model_version == "iris-test-1"
    assert output.latency_ms > 0


async def test_concurrent_first_calls_all_get_the_version_from_metadata(
    model_server: ModelServer,
) -> None:
    async with httpx.AsyncClient() as http:
        client = SeldonClient(http, name="iris", base_url=model_server.url)
        outputs = await asyncio.gather(*(client.predict(IRIS_ROWS[:1]) for _ in range(8)))
    # None answered before the one metadata request did, and none recorded "unknown".
    assert {output.model_version for output in outputs} == {"iris-test-1"}


async def test_configured_version_wins(model_server: ModelServer) -> None:
    async with httpx.AsyncClient() as http:
        client = SeldonClient(http, name="iris", base_url=model_server.url, version="2.0")
        assert (await client.predict(IRIS_ROWS[:1])).model_version == "2.0"


async def test_ready_against_real_server_and_closed_port(model_server: ModelServer) -> None:
    async with httpx.AsyncClient() as http:
        assert await SeldonClient(http, name="iris", base_url=model_server.url).ready()
        closed = f"http://127.0.0.1:{free_port()}"
        assert not await SeldonClient(http, name="iris", base_url=closed).ready()


async def test_real_server_500_for_a_wrong_width_is_a_refusal_of_the_input(
    model_server: ModelServer,
) -> None:
    async with httpx.AsyncClient() as http:
        client = SeldonClient(http, name="iris", base_url=model_server.url)
        with pytest.raises(ModelRejectedInput) as caught:
            await client.predict([[1.0, 2.0]])
    assert caught.value.status_code == 500
    # The microservice's own message (status.info), not its whole JSON body.
    assert caught.value.detail == (
        "X has 2 features, but LogisticRegression is expecting 4 features as input."
    )


async def test_unreachable_server() -> None:
    async with httpx.AsyncClient() as http:
        client = SeldonClient(http, name="iris", base_url=f"http://127.0.0.1:{free_port()}")
        with pytest.raises(ModelUnreachable):
            await client.predict(IRIS_ROWS)


def _raising(exc: Exception) -> Callable[[httpx.Request], httpx.Response]:
    def handler(request: httpx.Request) -> httpx.Response:
        raise exc

    return handler


def _answering(status: int, content: bytes) -> Callable[[httpx.Request], httpx.Response]:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(status, content=content)

    return handler


@pytest.mark.parametrize(
    ("handler", "expected"),
    [
        (_raising(httpx.ConnectError("refused")), ModelUnreachable),
        (_raising(httpx.ReadTimeout("slow")), ModelTimeout),
        (_raising(httpx.ConnectTimeout("slow")), ModelUnreachable),
        (_raising(httpx.RemoteProtocolError("reset")), ModelUnreachable),
        (_answering(500, b"boom"), ModelServerError),
        (_answering(503, b"busy"), ModelServerError),
        (_answering(400, b"bad request"), ModelRejectedInput),
        (_answering(200, b"<html>not json"), BadModelResponse),
        (
            _answering(200, json.dumps({"data": {"ndarray": [[0.5, 0.5]]}}).encode()),
            BadModelResponse,
        ),
    ],
)
@pytest.mark.parametrize("direct", [False, True], ids=["client", "transport"])
async def test_faults_become_typed_errors(
    handler: Callable[[httpx.Request], httpx.Response], expected: type[ModelError], direct: bool
) -> None:
    transport = httpx.MockTransport(handler)
    async with httpx.AsyncClient(transport=transport) as http:
        client = SeldonClient(
            http,
            name="iris",
            base_url="http://model",
            version="v1",
            transport=transport if direct else None,
        )
        with pytest.raises(expected):
            await client.predict(IRIS_ROWS)


async def test_request_body_is_seldon_ndarray() -> None:
    seen: list[object] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append((request.method, request.url.path, json.loads(request.content)))
        return httpx.Response(200, json={"data": {"ndarray": ["a", "b", "c"]}})

    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as http:
        client = SeldonClient(http, name="m", base_url="http://model/seldon/ns/iris/", version="1")
        output = await client.predict(IRIS_ROWS)
    assert seen == [
        ("POST", "/seldon/ns/iris/api/v1.0/predictions", {"data": {"ndarray": IRIS_ROWS}})
    ]
    assert [r.label for r in output.rows] == ["a", "b", "c"]


async def test_version_from_seldon_deployment_request_path() -> None:
    body = {"data": {"ndarray": [1]}, "meta": {"requestPath": {"clf": "registry:5000/iris:1.4.2"}}}
    transport = httpx.MockTransport(lambda request: httpx.Response(200, json=body))
    async with httpx.AsyncClient(transport=transport) as http:
        output = await SeldonClient(http, name="m", base_url="http://model").predict([[1.0]])
    assert output.model_version == "1.4.2"


async def test_request_id_goes_as_puid_and_the_answer_is_kept_as_sent(
    model_server: ModelServer,
) -> None:
    async with httpx.AsyncClient() as http:
        client = SeldonClient(http, name="iris", base_url=model_server.url)
        output = await client.predict(IRIS_ROWS[:1], request_id="puid-7")
        direct = await http.post(
            model_server.url + "/api/v1.0/predictions",
            json={"data": {"ndarray": IRIS_ROWS[:1]}, "meta": {"puid": "puid-7"}},
        )
    # The microservice answers with the puid it was sent; the bytes are the server's own.
    assert output.answer is not None
    assert output.answer.body["meta"]["puid"] == "puid-7"
    assert output.answer.content == direct.content
    assert json.loads(output.answer.content) == output.answer.body
