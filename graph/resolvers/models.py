"""The models query: what can be called, and is it up."""

from __future__ import annotations

import asyncio

import strawberry
from strawberry.types import Info

from graph.auth import CanRead
from graph.context import Context
from graph.models import ModelEntry
from graph.types.features import FeatureInfo
from graph.types.model import ModelInfo, ModelInput

__all__ = ["ModelQueries"]


@strawberry.type
class ModelQueries:
    @strawberry.field(
        permission_classes=[CanRead],
        description="The configured models, the default first, each checked for readiness now.",
    )
    async def models(self, info: Info[Context, None]) -> list[ModelInfo]:
        return list(await asyncio.gather(*map(_describe, info.context.models.entries)))


async def _describe(entry: ModelEntry) -> ModelInfo:
    ready, metadata, known = await asyncio.gather(
        entry.client.ready(), entry.metadata(), entry.schema()
    )
    inputs = [
        ModelInput(name=i.name, datatype=i.datatype, shape=list(i.shape))
        for i in (metadata.inputs if metadata else ())
    ]
    return ModelInfo(
        name=entry.name,
        protocol=entry.config.protocol,
        is_default=entry.is_default,
        version=entry.config.version,
        ready=ready,
        feature_count=known[0].width if known else None,
        features=[FeatureInfo(name=f.name, kind=f.kind) for f in known[0].features]
        if known
        else None,
        features_from=known[1] if known else None,
        inputs=inputs,
    )
