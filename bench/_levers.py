"""Hot-path levers tried from the bench, without changing graph/: uvicorn app factories.

    .venv/bin/python bench/classify.py --variant unfrozen=_levers:unfrozen

Each factory builds mlgraph's own app (``graph.app.create_app``) with one change, so that a
lever can be measured against the unchanged app in the same interleaved run before anyone
edits the hot path, or so that one already in place can be weighed again by taking it out.
These are experiments, not the fix: the fix belongs in graph/.
"""

from __future__ import annotations

from typing import Any

import graph.app

__all__ = ["unfrozen"]


def unfrozen() -> Any:
    """mlgraph without ``gc.freeze()`` after start-up (what ``serve_app`` adds): what the
    garbage collector's full collections of the start-up heap cost under load."""
    return graph.app.create_app()
