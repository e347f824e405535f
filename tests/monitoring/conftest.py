"""The Evidently environment for the drift cross-check, built once and cached like the model
servers' (``scripts/modelserver.py``); a build that fails fails the run."""

from __future__ import annotations

from pathlib import Path

import pytest

from scripts.modelserver import ensure_venv


@pytest.fixture(scope="session")
def evidently_python() -> Path:
    """The Python of the virtual environment with Evidently 0.4.40."""
    return ensure_venv("evidently") / "bin" / "python"
