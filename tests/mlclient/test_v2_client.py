"""V2Client against a real MLServer, and every fault through a mock transport."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from mlclient import (
    BadModelResponse,
    FeatureSchema,
    ModelClient,
    ModelError,
    ModelMetadata,
    ModelRejectedInput,
    ModelServerError,
    ModelTimeout,
    ModelUnreachable,
    RowPrediction,
    TensorMetadata,
    V2Client,
)
from mlclient.v2 import parse_infer_response
from scripts.modelserver import ModelServer, free_port
from tests.utils.api import IRIS_ROWS

IRIS_CLASSES = ["setosa", "versicolor", "virginica"]

# --- against the real MLServer ----------------------------------------------------------------


@pytest.mark.model_server
async def test_labels_without_probabilities(mlserver: ModelServer) -> None:
    async with httpx.AsyncClient() as http:
        client = V2Client(http, name="iris", base_url=mlserver.url)
        output = await client.predict(IRIS_ROWS)
    # MLServer's sklearn runtime answers `predict` only: the class indexes, as INT64 [3, 1].
    assert output.rows == [RowPrediction("0"), RowPrediction("2"), RowPrediction("1")]
    assert output.model_name == "iris"
    # From the response's model_version (the fixture starts MLServer with this version).
    assert output.model_version == "iris-v2-test-1"
    assert output.latency_ms > 0


@pytest.mark.model_server
async def test_probabilities_named_by_class_names(mlserver: ModelServer) -> None:
    async with httpx.AsyncClient() as http:
        client = V2Client(
            http,
            name="iris",
            base_url=mlserver.url,
            class_names=IRIS_CLASSES,
            probabilities=True,
        )
        output = await client.predict(IRIS_ROWS)
    assert [row.label for row in output.rows] == ["setosa", "virginica", "versicolor"]
    for row in output.rows:
        assert row.probabilities is not None
        assert list(row.probabilities) == IRIS_CLASSES
        assert sum(row.probabilities.values()) == pytest.approx(1.0)
        assert max(row.probabilities, key=row.probabilities.__getitem__) == row.label
    assert output.model_version == "iris-v2-test-1"


@pytest.mark.model_server
async def test_probabilities_without_class_names_use_class_indexes(mlserver: ModelServer) -> None:
    async with httpx.AsyncClient() as http:
        client = V2Client(http, name="iris", base_url=mlserver.url, probabilities=True)
        output = await client.predict(IRIS_ROWS)
    assert [row.label for row in output.rows] == ["0", "2", "1"]
    assert all(
        row.probabilities and list(row.probabilities) == ["0", "1", "2"] for row in output.rows
    )


@pytest.mark.model_server
async def test_mlgraph_name_and_server_version_path(mlserver: ModelServer) -> None:
    async with httpx.AsyncClient() as http:
        client = V2Client(
            http, name="flowers", base_url=mlserver.url, model_name="iris", version="iris-v2-test-1"
        )
        output = await client.predict(IRIS_ROWS[:1])
        assert await client.ready()
        missing = V2Client(http, name="iris", base_url=mlserver.url, version="no-such-version")
        assert not await missing.ready()
        # A version the server does not have is mlgraph's configuration, not the input.
        with pytest.raises(ModelServerError) as caught:
            await missing.predict(IRIS_ROWS[:1])
    assert (output.model_name, output.model_version) == ("flowers", "iris-v2-test-1")
    assert caught.value.status_code == 404
    assert caught.value.detail == "Model iris with version no-such-version not found"


@pytest.mark.model_server
async def test_ready_against_real_server_unknown_model_and_closed_port(
    mlserver: ModelServer,
) -> None:
    async with httpx.AsyncClient() as http:
        assert await V2Client(http, name="iris", base_url=mlserver.url).ready()
        assert not await V2Client(http, name="no-such-model", base_url=mlserver.url).ready()
        closed = f"http://127.0.0.1:{free_port()}"
        assert not await V2Client(http, name="iris", base_url=closed).ready()


@pytest.mark.model_server
async def test_metadata_gives_the_feature_count(mlserver: ModelServer) -> None:
    async with httpx.AsyncClient() as http:
        metadata = await V2Client(http, name="iris", base_url=mlserver.url).metadata()
    # MLServer reports inputs only because deploy/model/mlserver/model-settings.json declares
    # them; the sklearn runtime infers none. It lists no versions even with one configured.
    assert metadata == ModelMetadata(
        name="iris",
        versions=(),
        platform="sklearn",
        inputs=(TensorMetadata("input-0", "FP64", (-1, 4)),),
        features=FeatureSchema.positional(4),
    )
    assert metadata.feature_count == 4


@pytest.mark.model_server
async def test_real_server_500_for_a_wrong_width_is_a_refusal_of_the_input(
    mlserver: ModelServer,
) -> None:
    async with httpx.AsyncClient() as http:
        client = V2Client(http, name="iris", base_url=mlserver.url)
        with pytest.raises(ModelRejectedInput) as caught:
            await client.predict([[1.0, 2.0]])
    assert (caught.value.status_code, caught.value.detail) == (500, "Internal Server Error")


async def test_unreachable_server() -> None:
    async with httpx.AsyncClient() as http:
        # Annotated so mypy checks that V2Client implements the ModelClient protocol.
        client: ModelClient = V2Client(
            http, name="iris", base_url=f"http://127.0.0.1:{free_port()}"
        )
        with pytest.raises(ModelUnreachable):
            await client.predict(IRIS_ROWS)


# --- requests, through a mock transport -------------------------------------------------------

PREDICT_3 = {"name": "predict", "shape": [3, 1], "datatype": "INT64", "data": [0, 2, 1]}
PROBA_3 = {
    "name": "predict_proba",
    "shape": [3, 3],
    "datatype": "FP64",
    "data": [0.9, 0.05, 0.05, 0.1, 0.1, 0.8, 0.2, 0.7, 0.1],
}


async def test_request_is_one_flat_fp64_tensor_with_headers_everywhere() -> None:
    seen: list[tuple[str, str, str | None, Any]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content) if request.content else None
        seen.append((request.method, request.url.path, request.headers.get("seldon-model"), body))
        if request.url.path.endswith("/infer"):
            return httpx.Response(200, json={"outputs": [PROBA_3]})
        return httpx.Response(200, json={"name": "iris"})

    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as http:
        client = V2Client(
            http,
            name="iris",
            base_url="http://seldon-mesh.models/",
            probabilities=True,
            headers={"Seldon-Model": "iris"},
        )
        await client.predict(IRIS_ROWS)
        assert await client.ready()
        await client.metadata()
    flat = [value for row in IRIS_ROWS for value in row]
    assert seen == [
        (
            "POST",
            "/v2/models/iris/infer",
            "iris",
            {
                "inputs": [{"name": "input-0", "shape": [3, 4], "datatype": "FP64", "data": flat}],
                "outputs": [{"name": "predict_proba"}],
            },
        ),
        ("GET", "/v2/health/ready", "iris", None),
        ("GET", "/v2/models/iris/ready", "iris", None),
        ("GET", "/v2/models/iris", "iris", None),
    ]


async def test_without_probabilities_no_outputs_are_requested_and_version_is_in_the_path() -> None:
    seen: list[tuple[str, Any]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append((request.url.path, json.loads(request.content)))
        return httpx.Response(200, json={"outputs": [PREDICT_3]})

    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as http:
        client = V2Client(http, name="m", base_url="http://x", model_name="iris", version="3")
        output = await client.predict(IRIS_ROWS)
    assert seen[0][0] == "/v2/models/iris/versions/3/infer"
    assert "outputs" not in seen[0][1]
    # No model_version in the response: the configured version is recorded.
    assert output.model_version == "3"


async def test_version_is_unknown_when_neither_response_nor_settings_give_one() -> None:
    transport = httpx.MockTransport(lambda r: httpx.Response(200, json={"outputs": [PREDICT_3]}))
    async with httpx.AsyncClient(transport=transport) as http:
        output = await V2Client(http, name="iris", base_url="http://x").predict(IRIS_ROWS)
    assert output.model_version == "unknown"


async def test_ready_needs_the_model_ready_too() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200 if request.url.path == "/v2/health/ready" else 503)

    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as http:
        assert not await V2Client(http, name="iris", base_url="http://x").ready()


async def test_ragged_rows_are_refused_before_sending() -> None:
    transport = httpx.MockTransport(lambda r: pytest.fail("nothing should be sent"))
    async with httpx.AsyncClient(transport=transport) as http:
        with pytest.raises(ValueError, match="same number of features"):
            await V2Client(http, name="iris", base_url="http://x").predict([[1.0, 2.0], [1.0]])


# --- faults, through a mock transport ---------------------------------------------------------


def _raising(exc: Exception) -> Callable[[httpx.Request], httpx.Response]:
    def handler(request: httpx.Request) -> httpx.Response:
        raise exc

    return handler


def _answering(status: int, content: bytes) -> Callable[[httpx.Request], httpx.Response]:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(status, content=content)

    return handler


def _outputs(*outputs: dict[str, Any]) -> bytes:
    return json.dumps({"model_name": "iris", "outputs": list(outputs)}).encode()


@pytest.mark.parametrize(
    ("handler", "expected"),
    [
        pytest.param(_raising(httpx.ConnectError("refused")), ModelUnreachable, id="refused"),
        pytest.param(_raising(httpx.ReadTimeout("slow")), ModelTimeout, id="timeout"),
        pytest.param(_answering(503, b"busy"), ModelServerError, id="503"),
        pytest.param(_answering(500, b"boom"), ModelServerError, id="500"),
        pytest.param(_answering(404, b'{"error": "no model"}'), ModelServerError, id="404"),
        pytest.param(_answering(400, b'{"error": "bad"}'), ModelRejectedInput, id="400"),
        pytest.param(
            _answering(400, b'{"error": "Model iris is not ready yet."}'),
            ModelServerError,
            id="400-not-ready",
        ),
        pytest.param(_answering(500, b"Internal Server Error"), ModelRejectedInput, id="500-app"),
        pytest.param(
            _answering(500, b'{"error": "ValueError : x"}'), ModelRejectedInput, id="500-kserve"
        ),
        pytest.param(_answering(500, b"<html>proxy</html>"), ModelServerError, id="500-proxy"),
        pytest.param(_answering(200, b"<html>"), BadModelResponse, id="not-json"),
        pytest.param(_answering(200, b"{}"), BadModelResponse, id="no-outputs"),
        pytest.param(_answering(200, b'{"outputs": []}'), BadModelResponse, id="empty-outputs"),
        pytest.param(
            _answering(200, _outputs({**PREDICT_3, "shape": [3, 2], "data": [0, 1] * 3})),
            BadModelResponse,
            id="labels-wrong-shape",
        ),
        pytest.param(
            _answering(200, _outputs({**PROBA_3, "shape": [9]})),
            BadModelResponse,
            id="probabilities-wrong-shape",
        ),
        pytest.param(
            _answering(200, _outputs({**PREDICT_3, "data": [0, 2]})),
            BadModelResponse,
            id="data-length",
        ),
        pytest.param(
            _answering(200, _outputs({**PREDICT_3, "datatype": "FP128"})),
            BadModelResponse,
            id="unknown-datatype",
        ),
        pytest.param(
            _answering(200, _outputs({**PROBA_3, "data": [0.5] * 8 + [float("nan")]})),
            BadModelResponse,
            id="nan-probability",
        ),
        pytest.param(
            _answering(200, _outputs({**PROBA_3, "data": [float("inf")] + [0.5] * 8})),
            BadModelResponse,
            id="infinite-probability",
        ),
        pytest.param(
            _answering(200, _outputs({**PREDICT_3, "shape": [2, 1], "data": [0, 1]})),
            BadModelResponse,
            id="row-count",
        ),
        pytest.param(
            _answering(200, _outputs({**PROBA_3, "shape": [1, 9]})),
            BadModelResponse,
            id="probabilities-row-count",
        ),
    ],
)
@pytest.mark.parametrize("direct", [False, True], ids=["client", "transport"])
async def test_faults_become_typed_errors(
    handler: Callable[[httpx.Request], httpx.Response], expected: type[ModelError], direct: bool
) -> None:
    transport = httpx.MockTransport(handler)
    async with httpx.AsyncClient(transport=transport) as http:
        client = V2Client(
            http,
            name="iris",
            base_url="http://model",
            probabilities=True,
            transport=transport if direct else None,
        )
        with pytest.raises(expected):
            await client.predict(IRIS_ROWS)


# --- parsing ----------------------------------------------------------------------------------


def test_probabilities_name_the_label_even_when_a_labels_output_is_sent() -> None:
    # The labels output says class 1 for the first row; the label follows the probabilities,
    # named by class_names, so it is always one of the probabilities' keys.
    predict = {**PREDICT_3, "data": [1, 2, 1]}
    rows = parse_infer_response({"outputs": [predict, PROBA_3]}, 3, ["a", "b", "c"])
    assert [row.label for row in rows] == ["a", "c", "b"]
    assert rows[0].probabilities == {"a": 0.9, "b": 0.05, "c": 0.05}


@pytest.mark.parametrize(
    ("output", "labels"),
    [
        (
            {"name": "predict", "shape": [3], "datatype": "INT32", "data": [0, 2, 1]},
            ["0", "2", "1"],
        ),
        (
            {
                "name": "predict",
                "shape": [3, 1],
                "datatype": "BYTES",
                "data": ["cat", "dog", "cat"],
            },
            ["cat", "dog", "cat"],
        ),
        (
            {"name": "y", "shape": [3, 1], "datatype": "FP32", "data": [[2.0], [0.0], [1.5]]},
            ["2", "0", "1.5"],
        ),
        (
            {"name": "out", "shape": [3], "datatype": "BOOL", "data": [True, False, True]},
            ["true", "false", "true"],
        ),
    ],
)
def test_labels_outputs(output: dict[str, Any], labels: list[str]) -> None:
    rows = parse_infer_response({"outputs": [output]}, 3)
    assert [row.label for row in rows] == labels
    assert all(row.probabilities is None for row in rows)


def test_probabilities_found_by_shape_and_nested_data() -> None:
    output = {
        "name": "probs",
        "shape": [2, 2],
        "datatype": "FP32",
        "data": [[0.2, 0.8], [0.6, 0.4]],
    }
    rows = parse_infer_response({"outputs": [output]}, 2)
    assert rows == [
        RowPrediction("1", {"0": 0.2, "1": 0.8}),
        RowPrediction("0", {"0": 0.6, "1": 0.4}),
    ]


@pytest.mark.parametrize(
    ("outputs", "class_names", "message"),
    [
        ([{**PROBA_3, "datatype": "INT64", "data": [0] * 9}], None, "should be FP"),
        ([PROBA_3], ["a", "b"], "3 probabilities for 2 classes"),
        ([{**PREDICT_3, "datatype": "BYTES"}], None, "not BYTES"),
        ([{**PREDICT_3, "data": ["0", "2", "1"]}], None, "not INT64"),
        ([{**PREDICT_3, "shape": [3, -1]}], None, "bad shape"),
        (
            [{"name": "t", "shape": [3, 1, 1], "datatype": "FP32", "data": [1, 2, 3]}],
            None,
            "no labels",
        ),
        (["predict"], None, "not an object"),
    ],
)
def test_malformed_outputs(outputs: list[Any], class_names: list[str] | None, message: str) -> None:
    with pytest.raises(BadModelResponse, match=message):
        parse_infer_response({"outputs": outputs}, 3, class_names)


# --- metadata ---------------------------------------------------------------------------------


async def _metadata(body: Any) -> ModelMetadata:
    transport = httpx.MockTransport(lambda r: httpx.Response(200, json=body))
    async with httpx.AsyncClient(transport=transport) as http:
        return await V2Client(http, name="iris", base_url="http://x").metadata()


async def test_metadata_without_inputs_has_no_feature_count() -> None:
    metadata = await _metadata({"name": "iris", "versions": ["1"], "platform": "onnx"})
    assert metadata == ModelMetadata("iris", ("1",), "onnx", ())
    assert metadata.feature_count is None


async def test_metadata_with_variable_width_has_no_feature_count() -> None:
    inputs = [{"name": "x", "datatype": "FP32", "shape": [-1, -1]}]
    assert (await _metadata({"name": "m", "inputs": inputs})).feature_count is None


@pytest.mark.parametrize(
    "body",
    [
        [],
        {"versions": []},
        {"name": "m", "versions": "1"},
        {"name": "m", "inputs": [{"name": "x", "shape": [4]}]},
        {"name": "m", "inputs": {"x": 1}},
    ],
)
async def test_malformed_metadata(body: Any) -> None:
    with pytest.raises(BadModelResponse):
        await _metadata(body)


@pytest.mark.model_server
async def test_request_id_and_outputs_asked_for_in_order(mlserver: ModelServer) -> None:
    async with httpx.AsyncClient() as http:
        client = V2Client(
            http, name="iris", base_url=mlserver.url, class_names=IRIS_CLASSES, probabilities=True
        )
        output = await client.predict(IRIS_ROWS, request_id="req-9", outputs=["predict"])
    assert output.answer is not None
    body = output.answer.body
    assert body["id"] == "req-9"
    # The outputs asked for, then predict_proba for mlgraph's probabilities.
    assert [o["name"] for o in body["outputs"]] == ["predict", "predict_proba"]
    assert body["outputs"][0]["data"] == [0, 2, 1]
    assert json.loads(output.answer.content) == body
    assert [row.label for row in output.rows] == ["setosa", "virginica", "versicolor"]
