"""The GraphQL schema, assembled from each domain's resolvers."""

from __future__ import annotations

import strawberry

from graph.errors import ErrorCodes
from graph.resolvers.classify import ClassifyMutations
from graph.resolvers.predictions import PredictionQueries

__all__ = ["build_schema"]


@strawberry.type
class Query(PredictionQueries):
    pass


@strawberry.type
class Mutation(ClassifyMutations):
    pass


def build_schema() -> strawberry.Schema:
    return strawberry.Schema(query=Query, mutation=Mutation, extensions=[ErrorCodes])
