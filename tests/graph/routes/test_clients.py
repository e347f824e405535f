"""Drop-in: clients that call a model directly switch to mlgraph by changing only the host.

The real clients, each run as it would be run against the model: the seed's ``curl`` line,
seldon-core's own ``SeldonClient`` (in the seldon-core environment: it pins old libraries) and
``tritonclient.http`` (in a test-only environment from PyPI), against a real ``mlgraph serve``
in front of the real seldon-core microservice and MLServer, on PostgreSQL and SQLite. Each
client's script runs twice, against the model server and against mlgraph, and must get the same
answers; what mlgraph stored is then read back with the ``predictions`` and ``performance``
queries.
"""

from __future__ import annotations

import json
import math
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from scripts.modelserver import ModelServer, ensure_venv
from tests.utils.serve import serve_mlgraph

pytestmark = pytest.mark.model_server

CLIENTS = Path(__file__).parent / "clients"
README = Path(__file__).resolve().parents[3] / "README.md"
IRIS_CLASSES = ["setosa", "versicolor", "virginica"]
# The seed's line, its host aside.
SEED_BODY = '{"data": {"ndarray": [[1, 3, 3]]}}'
IRIS_BODY = '{"data": {"ndarray": [[5.1, 3.5, 1.4, 0.2]]}}'


@pytest.fixture
def mlgraph(
    database_url: str, model_server: ModelServer, mlserver: ModelServer, tmp_path: Path
) -> Iterator[str]:
    """``mlgraph serve`` in front of iris on Seldon (``iris``), iris on MLServer (``iris-v2``,
    ``iris`` there) and the churn pipeline on MLServer (``churn``)."""
    models = [
        {"name": "iris", "url": model_server.url},
        {"name": "iris-v2", "protocol": "v2", "url": mlserver.url, "v2_name": "iris",
         "class_names": IRIS_CLASSES},
        {"name": "churn", "protocol": "v2", "url": mlserver.url, "class_names": ["churn", "stay"]},
    ]  # fmt: skip
    with serve_mlgraph(
        database_url, tmp_path / "serve.log", MLGRAPH_MODELS=json.dumps(models)
    ) as url:
        yield url


def _curl(base: str, body: str) -> dict[str, Any]:
    done = subprocess.run(
        ["curl", "-s", f"{base}/api/v1.0/predictions", "-H", "Content-Type: application/json",
         "-d", body],
        capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    answer: dict[str, Any] = json.loads(done.stdout)
    return answer


def _run(kind: str, script: str, *args: str) -> dict[str, Any]:
    python = ensure_venv(kind) / "bin" / "python"
    done = subprocess.run(
        [str(python), str(CLIENTS / script), *args],
        capture_output=True, text=True, timeout=180, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    result: dict[str, Any] = json.loads(done.stdout.splitlines()[-1])
    return result


def _readme_example(client: str, base: str, tmp_path: Path) -> None:
    """Run the README's Python example for ``client`` (its drop-in section's block that imports
    it) as written, make run's host aside, in that client's environment."""
    section = README.read_text().split("## Drop-in for existing clients", 1)[1].split("\n## ", 1)[0]
    blocks = [b for b in re.findall(r"```python\n(.*?)```", section, re.S) if client in b]
    assert len(blocks) == 1, f"README has no single {client} example"
    script = tmp_path / f"readme_{client.replace('.', '_')}.py"
    script.write_text(blocks[0].replace("localhost:8000", base.removeprefix("http://")))
    kind = "seldon" if client == "seldon_core" else "tritonclient"
    python = ensure_venv(kind) / "bin" / "python"
    done = subprocess.run(
        [str(python), str(script)], capture_output=True, text=True, timeout=180, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr


def _graphql(base: str, query: str) -> dict[str, Any]:
    response = httpx.post(base + "/graphql", json={"query": query}, timeout=30)
    body: dict[str, Any] = response.json()
    assert "errors" not in body, body
    data: dict[str, Any] = body["data"]
    return data


def _stored(base: str, model: str) -> dict[str, list[dict[str, Any]]]:
    """The stored predictions of ``model`` by request id, in row order."""
    data = _graphql(
        base,
        f'{{ predictions(modelName: "{model}", first: 100) {{ edges {{ node {{ requestId rowIndex '
        "features label probabilities { label probability } } } } }",
    )
    by_request: dict[str, list[dict[str, Any]]] = {}
    for edge in data["predictions"]["edges"]:
        by_request.setdefault(edge["node"]["requestId"], []).append(edge["node"])
    return {k: sorted(v, key=lambda n: n["rowIndex"]) for k, v in by_request.items()}


def test_curl_and_seldon_client_predict_and_send_feedback(
    mlgraph: str, model_server: ModelServer, tmp_path: Path
) -> None:
    # The seed's line: three features for a four-feature model, refused in Seldon's shape.
    seed = _curl(mlgraph, SEED_BODY)
    assert seed["status"]["status"] == "FAILURE"
    assert (seed["status"]["code"], seed["status"]["reason"]) == (400, "BAD_USER_INPUT")
    assert "expects 4 features per row" in seed["status"]["info"]
    # The same line with an iris row: the model's own answer, and a puid.
    iris, direct = _curl(mlgraph, IRIS_BODY), _curl(model_server.url, IRIS_BODY)
    assert iris["data"] == direct["data"]
    assert iris["data"]["names"] == IRIS_CLASSES

    host = mlgraph.removeprefix("http://")
    at_mlgraph = _run("seldon", "seldon_client.py", host, "mlgraph")
    at_model = _run(
        "seldon", "seldon_client.py", model_server.url.removeprefix("http://"), "direct"
    )
    for form in ("tensor", "ndarray"):
        assert at_mlgraph[form]["success"], at_mlgraph[form]
        assert at_mlgraph[form]["response"]["data"] == at_model[form]["response"]["data"]
    assert "tensor" in at_mlgraph["tensor"]["response"]["data"]
    assert not at_mlgraph["wrong_width"]["success"]
    assert not at_model["wrong_width"]["success"]
    assert at_mlgraph["wrong_width"]["response"]["status"]["reason"] == "BAD_USER_INPUT"
    assert at_mlgraph["istio"]["success"]
    assert at_mlgraph["ambassador"]["success"]
    assert [f["success"] for f in at_mlgraph["feedback"]] == [True, True, True], at_mlgraph

    puids = [
        at_mlgraph["tensor"]["response"]["meta"]["puid"],
        at_mlgraph["ndarray"]["response"]["meta"]["puid"],
        at_mlgraph["istio"]["response"]["meta"]["puid"],
        at_mlgraph["ambassador"]["puid"],
        iris["meta"]["puid"],
    ]
    stored = _stored(mlgraph, "iris")
    assert sorted(stored) == sorted(puids)
    assert [n["label"] for n in stored[puids[0]]] == ["setosa", "virginica"]
    assert [n["features"] for n in stored[puids[1]]] == [[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]]
    performance = _graphql(
        mlgraph,
        '{ performance(modelName: "iris", since: "2020-01-01", until: "2100-01-01", '
        "bucket: WEEK) { predictions withActuals accuracy rewarded meanReward } }",
    )["performance"]
    assert sum(b["predictions"] for b in performance) == 7
    # The truth fed back for the tensor prediction's two rows matches what the model said.
    assert sum(b["withActuals"] for b in performance) == 2
    assert all(b["accuracy"] == 1.0 for b in performance if b["withActuals"])
    rewarded = sum(b["rewarded"] for b in performance)
    total = sum(b["meanReward"] * b["rewarded"] for b in performance if b["rewarded"])
    assert (rewarded, total) == (3, 2.0)
    _readme_example("seldon_core", mlgraph, tmp_path)


def test_tritonclient_infers_as_against_mlserver(
    mlgraph: str, mlserver: ModelServer, tmp_path: Path
) -> None:
    at_mlgraph = _run("tritonclient", "triton_client.py", mlgraph.removeprefix("http://"))
    at_model = _run("tritonclient", "triton_client.py", mlserver.url.removeprefix("http://"))
    assert (at_mlgraph["live"], at_mlgraph["ready"], at_mlgraph["model_ready"]) == (True,) * 3
    assert at_mlgraph["metadata"] == at_model["metadata"]
    assert (
        at_mlgraph["labels"]
        == at_model["labels"]
        == {
            "id": "triton-labels",
            "predict": [[0], [2], [1]],
        }
    )
    assert at_mlgraph["proba"]["outputs"] == at_model["proba"]["outputs"] == ["predict_proba"]
    for mine, theirs in zip(
        at_mlgraph["proba"]["predict_proba"], at_model["proba"]["predict_proba"], strict=True
    ):
        assert all(math.isclose(a, b, rel_tol=1e-9) for a, b in zip(mine, theirs, strict=True))
    assert at_mlgraph["churn"] == at_model["churn"]
    assert at_mlgraph["binary"].startswith("refused")
    assert at_model["binary"].startswith("refused")

    stored = _stored(mlgraph, "iris-v2")
    assert sorted(stored) == ["triton-labels", "triton-proba"]
    assert [n["label"] for n in stored["triton-labels"]] == ["setosa", "virginica", "versicolor"]
    assert [p["label"] for p in stored["triton-labels"][0]["probabilities"]] == IRIS_CLASSES
    churn = _stored(mlgraph, "churn")["triton-churn"]
    assert [n["features"] for n in churn] == [
        [3, 95.5, "monthly", "north"],
        [60, 40, "two-year", "south"],
    ]
    assert [n["label"] for n in churn] == at_model["churn"]
    _readme_example("tritonclient", mlgraph, tmp_path)
