"""The GraphQL schema, assembled from each domain's resolvers."""

from __future__ import annotations

from functools import partial
from typing import Any

import strawberry
from graphql import GraphQLError
from strawberry.schema.config import StrawberryConfig
from strawberry.types import ExecutionContext

from graph.completion import PlainCompletion
from graph.middleware.limits import DocumentLimits, document_limits
from graph.operation import OperationHooks
from graph.resolvers.actuals import ActualMutations, PerformanceQueries
from graph.resolvers.classify import ClassifyMutations
from graph.resolvers.drift import DriftQueries
from graph.resolvers.live import LiveSubscriptions
from graph.resolvers.models import ModelQueries
from graph.resolvers.predictions import PredictionQueries
from graph.resolvers.stats import StatsQueries
from graph.settings import Settings
from graph.types.features import SCALARS

__all__ = ["Schema", "build_schema"]


@strawberry.type
class Query(PredictionQueries, ModelQueries, StatsQueries, PerformanceQueries, DriftQueries):
    pass


@strawberry.type
class Mutation(ClassifyMutations, ActualMutations):
    pass


@strawberry.type
class Subscription(LiveSubscriptions):
    pass


class Schema(strawberry.Schema):
    """Strawberry's schema with mlgraph's operation hooks, and the limits they apply for the
    view's own execution path (graph/operation.py)."""

    def __init__(self, *, limits: DocumentLimits, **kwargs: Any) -> None:
        # A factory: Strawberry makes one extension per operation, so each has its own context.
        super().__init__(extensions=[partial(OperationHooks, limits)], **kwargs)
        self.limits = limits

    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        # with_code logs what is unexpected; expected errors (bad input, model down) are
        # answers, not incidents, and must not fill the logs with tracebacks.
        return


def build_schema(settings: Settings) -> Schema:
    return Schema(
        limits=document_limits(settings),
        query=Query,
        mutation=Mutation,
        subscription=Subscription,
        config=StrawberryConfig(scalar_map=SCALARS),
        execution_context_class=PlainCompletion,
    )
