"""The predictionAdded subscription (graphql-transport-ws at ``/graphql``)."""

from __future__ import annotations

from collections.abc import AsyncGenerator

import strawberry
from strawberry.types import Info

from db import notify
from graph.auth import CanRead
from graph.context import Context
from graph.cursors import decode_cursor
from graph.errors import StorageUnavailable
from graph.live import stream
from graph.types.live import PredictionEvent
from graph.validation import check_text

__all__ = ["LiveSubscriptions"]


@strawberry.type
class LiveSubscriptions:
    @strawberry.subscription(
        permission_classes=[CanRead],
        description=(
            "Each prediction as it is committed, by any mlgraph process, oldest first. With "
            "'after' (the cursor of the last event, or of a predictions edge), first every "
            "stored prediction that followed it, so a dropped connection loses nothing."
        ),
    )
    async def prediction_added(
        self,
        info: Info[Context, None],
        model_name: str | None = None,
        label: str | None = None,
        after: str | None = None,
    ) -> AsyncGenerator[PredictionEvent, None]:
        check_text(model_name, argument="modelName")
        check_text(label, argument="label")
        keyset = decode_cursor(after) if after is not None else None
        context = info.context
        try:
            subscription = context.live.subscribe(model_name=model_name, label=label)
            subscriber = await subscription.__aenter__()
        except notify.LISTEN_ERRORS as exc:
            raise StorageUnavailable("cannot listen for new predictions; retry later") from exc
        try:
            # The primary, never the read replica: a notice names rows the moment they commit,
            # and a lagging replica would not have them yet (nor a catch-up's newest rows).
            async for live in stream(context.sessions, subscriber, after=keyset):
                yield PredictionEvent.from_live(live, dropped=subscriber.dropped)
        finally:
            await subscription.__aexit__(None, None, None)
