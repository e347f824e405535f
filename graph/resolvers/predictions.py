"""Queries over stored predictions."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

import strawberry
from strawberry.types import Info

from db import predictions as queries
from graph.auth import CanRead
from graph.context import Context
from graph.cursors import decode_cursor, encode_cursor
from graph.errors import BadUserInput
from graph.types.prediction import PageInfo, Prediction, PredictionConnection, PredictionEdge
from graph.validation import check_page_size, check_text, utc

__all__ = ["PredictionQueries"]

DateArg = Annotated[
    datetime | None, strawberry.argument(description="ISO 8601; without a timezone, UTC.")
]


@strawberry.type
class PredictionQueries:
    @strawberry.field(
        permission_classes=[CanRead],
        description="One stored prediction, or null when there is none.",
    )
    async def prediction(self, info: Info[Context, None], id: strawberry.ID) -> Prediction | None:
        try:
            prediction_id = uuid.UUID(str(id))
        except ValueError as exc:
            raise BadUserInput("id is not a prediction id (a UUID)", argument="id") from exc
        # The primary: a caller holding an id classify just returned must find its row.
        async with info.context.sessions() as session:
            row = await queries.get_prediction(session, prediction_id=prediction_id)
        return Prediction.from_row(row) if row else None

    @strawberry.field(
        permission_classes=[CanRead],
        description="Stored predictions, newest first: since <= createdAt < until, paged.",
    )
    async def predictions(
        self,
        info: Info[Context, None],
        since: DateArg = None,
        until: DateArg = None,
        model_name: str | None = None,
        label: str | None = None,
        first: Annotated[
            int | None, strawberry.argument(description="Page size; see the server's maximum.")
        ] = None,
        after: Annotated[
            str | None, strawberry.argument(description="pageInfo.endCursor of the last page.")
        ] = None,
    ) -> PredictionConnection:
        settings = info.context.settings
        limit = check_page_size(
            first, default=settings.default_page_size, maximum=settings.max_page_size
        )
        since, until = utc(since, argument="since"), utc(until, argument="until")
        if since is not None and until is not None and since > until:
            raise BadUserInput("since is after until", argument="since")
        check_text(model_name, argument="modelName")
        check_text(label, argument="label")
        keyset = decode_cursor(after) if after is not None else None
        async with info.context.read_sessions() as session:
            # One row more than the page tells whether another page follows.
            rows = await queries.list_predictions(
                session,
                limit=limit + 1,
                since=since,
                until=until,
                model_name=model_name,
                label=label,
                after=keyset,
            )
        page = rows[:limit]
        edges = [
            PredictionEdge(cursor=encode_cursor(row), node=Prediction.from_row(row)) for row in page
        ]
        return PredictionConnection(
            edges=edges,
            page_info=PageInfo(
                has_next_page=len(rows) > limit,
                has_previous_page=after is not None,
                start_cursor=edges[0].cursor if edges else None,
                end_cursor=edges[-1].cursor if edges else None,
            ),
        )
