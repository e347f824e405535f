"""Every ``graphql`` and ``sh`` block of README.md runs as written against a live mlgraph.

The rules, for whoever adds a README section:

- Blocks run top to bottom against one real ``mlgraph serve`` (SQLite, the real seldon-core
  microservice serving both example models, ``iris`` as ``make run`` does and ``churn`` as the
  README's churn section sets it up), after ``mlgraph demo-traffic`` filled the history. A
  block may use what an earlier one made (``order-42`` from the first example).
- A ``graphql`` block is one operation with literal arguments (no variables), POSTed to
  ``/graphql``; it must answer ``data`` without ``errors``, and if the answer holds lists, one at
  least must not be empty: an example whose dates or ids match nothing shows nothing.
- An ``sh`` block runs under ``bash -euo pipefail`` in a scratch folder that links to the
  checkout's files (so ``.venv/bin/mlgraph`` and ``deploy/model`` work as from the checkout,
  and what a block writes stays out of it), with ``mlgraph`` on the PATH and the server's
  ``MLGRAPH_*`` settings; ``127.0.0.1:8000`` and ``localhost:8000`` (make
  run's address) mean the test's server. It must exit 0 and print no JSON that reports an error
  (``errors``, or a ``status`` of ``error`` or Seldon's ``FAILURE``). Use ``curl
  --fail-with-body`` so an HTTP error fails the block.
- A block that cannot run here (it starts a long-running server, or needs a machine the test
  cannot have) gets, on the line just above its opening fence,
  ``<!-- not run by tests/test_readme.py: <why> -->``. Such blocks stay few: at most
  ``MAX_SKIPPED``, and never more than a fifth of all blocks (checked below).
- Other fences (plain text, yaml, python, json) are not run.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from scripts.modelserver import ModelServer
from tests.utils.serve import Mlgraph, run_mlgraph

pytestmark = pytest.mark.model_server

README = Path(__file__).resolve().parents[1] / "README.md"
MAX_SKIPPED = 3
_FENCE = re.compile(
    r"^(?:<!-- not run by tests/test_readme\.py: (?P<reason>.*?) -->\n)?"
    r"```(?P<language>graphql|sh)\n(?P<body>.*?)^```$",
    re.MULTILINE | re.DOTALL,
)
_MAKE_RUN_ADDRESS = re.compile(r"\b(?:localhost|127\.0\.0\.1):8000\b")


@dataclass(frozen=True)
class Block:
    language: str
    body: str
    line: int
    skipped_because: str | None

    @property
    def name(self) -> str:
        return f"README.md:{self.line} ({self.language})"


def readme_blocks(text: str) -> list[Block]:
    return [
        Block(
            match["language"],
            match["body"],
            text.count("\n", 0, match.start("language")) + 1,
            match["reason"],
        )
        for match in _FENCE.finditer(text)
    ]


BLOCKS = readme_blocks(README.read_text())
RUN = [block for block in BLOCKS if block.skipped_because is None]


def test_blocks_that_are_not_run_are_few_and_say_why() -> None:
    skipped = [block for block in BLOCKS if block.skipped_because is not None]
    assert len(RUN) >= 10, "the README's examples were not found"
    assert len(skipped) <= min(MAX_SKIPPED, len(BLOCKS) // 5), [b.name for b in skipped]
    for block in skipped:
        assert block.skipped_because is not None
        assert len(block.skipped_because.split()) >= 5, f"{block.name}: say why it is not run"
    # A marker anywhere but just above a graphql or sh fence would silently skip nothing.
    markers = README.read_text().count("<!-- not run by tests/test_readme.py:")
    assert markers == len(skipped)


def test_readme_blocks_are_found_as_written() -> None:
    text = "a\n```graphql\nquery { a }\n```\n<!-- not run by tests/test_readme.py: b c -->\n"
    text += "```sh\nmake run\n```\n```yaml\nx: 1\n```\n"
    assert readme_blocks(text) == [
        Block("graphql", "query { a }\n", 2, None),
        Block("sh", "make run\n", 6, "b c"),
    ]


@pytest.fixture(scope="module")
def live(
    model_server: ModelServer, churn_seldon: ModelServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Mlgraph]:
    """``make run`` as the README has it, with the churn model beside iris as its churn
    section sets them up, plus ``mlgraph demo-traffic``."""
    folder = tmp_path_factory.mktemp("readme")
    models = [{"name": "iris", "url": model_server.url}, {"name": "churn", "url": churn_seldon.url}]
    with run_mlgraph(
        f"sqlite+aiosqlite:///{folder / 'mlgraph.db'}",
        folder / "serve.log",
        MLGRAPH_MODELS=json.dumps(models),
        MLGRAPH_MODEL_VERSION="",  # as make run: read from the model's metadata
        # A key created by one block and revoked by the next is seen at once.
        MLGRAPH_API_KEY_CACHE_SECONDS="0",
    ) as server:
        demo = subprocess.run(
            [_mlgraph(), "demo-traffic", "--url", server.url, "--count", "240", "--rate", "0"],
            capture_output=True,
            text=True,
            timeout=300,
            env=server.environment,
            check=False,
        )
        assert demo.returncode == 0, demo.stdout + demo.stderr
        yield server


def _mlgraph() -> str:
    return str(Path(sys.executable).parent / "mlgraph")


@pytest.mark.parametrize("block", RUN, ids=[block.name for block in RUN])
def test_readme_block_runs_as_written(
    block: Block, live: Mlgraph, tmp_path_factory: pytest.TempPathFactory
) -> None:
    if block.language == "graphql":
        response = httpx.post(live.url + "/graphql", json={"query": block.body}, timeout=60)
        assert response.status_code == 200, response.text
        body = response.json()
        assert body.get("errors") is None, f"{block.name}: {body['errors']}"
        assert body.get("data"), body
        lists = list(_lists(body["data"]))
        assert not lists or any(lists), f"{block.name}: every list is empty: {body['data']}"
        return
    address = live.url.removeprefix("http://")
    script = _MAKE_RUN_ADDRESS.sub(address, block.body)
    environment = {
        **live.environment,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
    }
    result = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script],
        cwd=_scratch(tmp_path_factory.mktemp("block")),
        capture_output=True,
        text=True,
        timeout=120,
        env=environment,
        check=False,
    )
    shown = f"{block.name}\n{script}\nstdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    assert result.returncode == 0, shown
    assert not [report for report in _json_objects(result.stdout) if _is_error(report)], shown


def _scratch(folder: Path) -> Path:
    """A folder that looks like the checkout (a link to each of its files and folders), so that
    blocks written for the checkout's root run here and write nothing into it."""
    for entry in README.parent.iterdir():
        if entry.name not in (".git", "mlgraph.db", "mlgraph.db-wal", "mlgraph.db-shm"):
            (folder / entry.name).symlink_to(entry)
    return folder


def _lists(value: Any) -> Iterator[list[Any]]:
    if isinstance(value, list):
        yield value
        for item in value:
            yield from _lists(item)
    elif isinstance(value, dict):
        for item in value.values():
            yield from _lists(item)


def _json_objects(text: str) -> Iterator[Any]:
    """Each JSON value printed: the whole output, or one per line."""
    for candidate in (text, *text.splitlines()):
        try:
            yield json.loads(candidate)
        except ValueError:
            continue


def _is_error(value: Any) -> bool:
    if not isinstance(value, dict):
        return False
    status = value.get("status")
    return (
        bool(value.get("errors"))
        or status == "error"
        or (isinstance(status, dict) and status.get("status") == "FAILURE")
    )
