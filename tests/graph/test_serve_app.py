"""The app ``mlgraph serve`` runs: create_app() with the start-up heap frozen for the GC."""

from __future__ import annotations

import subprocess
import sys

# Runs in a fresh interpreter: freezing the test process's own heap would outlive this test.
PROBE = """
import gc
from graph.app import serve_app
before = gc.get_freeze_count()
app = serve_app()
print(before, gc.get_freeze_count(), type(app).__name__)
"""


def test_serve_app_freezes_what_start_up_built() -> None:
    result = subprocess.run(
        [sys.executable, "-c", PROBE],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
        env={"MLGRAPH_DATABASE_URL": "sqlite+aiosqlite:///:memory:", "PATH": ""},
    )
    before, after, kind = result.stdout.split()
    assert kind == "Starlette"
    assert int(before) == 0
    # The schema, SQLAlchemy's mappers and every imported module: far more than a few objects.
    assert int(after) > 50_000
