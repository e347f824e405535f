"""The ``mlgraph`` command's own surface: --version, and help that is plain text with defaults."""

from __future__ import annotations

import contextlib
import io
from importlib.metadata import version

import pytest

from graph.cli import main

COMMANDS = [
    [],
    ["serve"],
    ["migrate"],
    ["maintain"],
    ["apikey"],
    ["apikey", "create"],
    ["apikey", "list"],
    ["apikey", "revoke"],
    ["export"],
    ["check-drift"],
    ["demo-traffic"],
]


def _output(*args: str) -> str:
    out = io.StringIO()
    with contextlib.redirect_stdout(out), pytest.raises(SystemExit) as exited:
        main(list(args))
    assert exited.value.code == 0
    return out.getvalue()


def test_version() -> None:
    assert _output("--version") == f"mlgraph {version('mlgraph')}\n"


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c) or "mlgraph")
def test_help_is_plain_text_and_shows_defaults(command: list[str]) -> None:
    text = _output(*command, "--help")
    assert "``" not in text  # reStructuredText from a docstring
    assert "default: None" not in text
    assert "usage: mlgraph" in text


@pytest.mark.parametrize(
    ("command", "shown"),
    [
        (["migrate"], "(default: head)"),
        (["export"], "(default: parquet)"),
        (["demo-traffic"], "(default: 1200)"),
        (["demo-traffic"], "(default: 5m)"),
        (["demo-traffic"], "(default: http://127.0.0.1:8000)"),
        (["serve"], "default: MLGRAPH_PORT or 8000"),
        (["check-drift"], "default: MLGRAPH_DRIFT_CURRENT_WINDOW"),
    ],
)
def test_help_names_each_default(command: list[str], shown: str) -> None:
    assert shown in " ".join(_output(*command, "--help").split())
