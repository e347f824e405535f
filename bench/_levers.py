"""Hot-path levers tried from the bench, without changing graph/: uvicorn app factories.

    .venv/bin/python bench/classify.py --variant caches=_levers:with_caches

Each factory builds mlgraph's own app (``graph.app.create_app``) with one change, so that a
lever can be measured against the unchanged app in the same interleaved run before anyone
edits the hot path. These are experiments, not the fix: the fix belongs in graph/.
"""

from __future__ import annotations

from functools import partial
from typing import Any

from strawberry.extensions import AddValidationRules, ParserCache, SchemaExtension, ValidationCache

import graph.app
from graph.schema import build_schema

__all__ = ["with_caches"]


def _cached_schema(settings: Any) -> Any:
    schema = build_schema(settings)
    extensions: list[Any] = []
    for extension in schema.extensions:
        built = extension if isinstance(extension, SchemaExtension) else extension()
        if isinstance(built, AddValidationRules):
            # QueryDepthLimiter and MaxAliasesLimiter make a new rule class per instance, so a
            # factory per request gives ValidationCache a new cache key every time. Keep the
            # rule classes built once; each request still gets a fresh extension.
            extensions.append(partial(AddValidationRules, list(built.validation_rules)))
        else:
            extensions.append(extension)
    schema.extensions = (
        partial(ParserCache, maxsize=256),
        partial(ValidationCache, maxsize=256),
        *extensions,
    )
    return schema


def with_caches() -> Any:
    """mlgraph with Strawberry's ParserCache and ValidationCache (bounded, 256 documents)."""
    original = graph.app.build_schema
    graph.app.build_schema = _cached_schema  # type: ignore[assignment]
    try:
        return graph.app.create_app()
    finally:
        graph.app.build_schema = original
