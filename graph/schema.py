"""The GraphQL schema, assembled from each domain's resolvers."""

from __future__ import annotations

import strawberry
from graphql import GraphQLError
from strawberry.schema.config import StrawberryConfig
from strawberry.types import ExecutionContext

from graph.errors import ErrorCodes
from graph.metrics import OperationMetrics
from graph.middleware.limits import limit_extensions
from graph.resolvers.actuals import ActualMutations, PerformanceQueries
from graph.resolvers.classify import ClassifyMutations
from graph.resolvers.drift import DriftQueries
from graph.resolvers.live import LiveSubscriptions
from graph.resolvers.models import ModelQueries
from graph.resolvers.predictions import PredictionQueries
from graph.resolvers.stats import StatsQueries
from graph.settings import Settings
from graph.types.features import SCALARS

__all__ = ["build_schema"]


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
    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        # ErrorCodes logs what is unexpected; expected errors (bad input, model down) are
        # answers, not incidents, and must not fill the logs with tracebacks.
        return


def build_schema(settings: Settings) -> strawberry.Schema:
    # Extensions exit in reverse order: ErrorCodes, last, sets the codes OperationMetrics counts.
    return Schema(
        query=Query,
        mutation=Mutation,
        subscription=Subscription,
        extensions=[*limit_extensions(settings), OperationMetrics, ErrorCodes],
        config=StrawberryConfig(scalar_map=SCALARS),
    )
