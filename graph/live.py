"""Live predictions: the process's ``Broadcaster`` and the stream each subscriber reads.

How a committed prediction reaches subscribers:

- PostgreSQL: the prediction writer (``db.writer``, group commit, ``notify=True``)
  ``pg_notify``\\s the ids inside each batch's transaction (delivered on commit, to every
  process and pod). Each process has one ``db.notify.Listener`` connection, opened on its
  first subscriber, that hands the notices to ``_deliver``.
- SQLite (one process): ``announce()`` registers an ``after_commit`` hook on the session that
  hands the notices to ``_deliver`` directly.

``_deliver`` never waits: each subscriber has a bounded queue, and a full queue drops the notice,
counts it (``mlgraph_live_dropped_total``) and marks the subscriber as lagging, so a slow
subscriber never slows classify down. A lagging subscriber then reads what it missed from the
table, after the last row it sent, so a drop delays rows but loses none; the same catch-up
serves a client that reconnects with the cursor of the last prediction it saw.

Known limit: cursors order rows by ``created_at``, the time the database stamped them, which on
PostgreSQL is when their transaction began. A row whose transaction began before, but committed
after, the row a catch-up starts from is not found by that catch-up. Classify's transaction holds
only the insert (the model call comes before it), so that window is a few milliseconds.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncSession

import db
from db import notify
from db import predictions as queries
from db.notify import Notice
from db.predictions import Keyset
from graph import metrics

__all__ = ["Broadcaster", "LiveRow", "Subscriber", "stream"]

logger = logging.getLogger(__name__)

# Rows read per catch-up query, and notices taken from a queue per round of reads.
PAGE_SIZE = 500
# Ids a stream remembers having sent, to send no row twice where catch-up meets live notices.
RECENT_IDS = 10_000
RECONNECT_SECONDS = (0.5, 1, 2, 5)


@dataclass(eq=False)
class Subscriber:
    """One subscription's queue of notices, filtered by model and label."""

    queue_size: int
    model_name: str | None = None
    label: str | None = None
    queue: asyncio.Queue[Notice] = field(init=False)
    # Notices this subscriber dropped; ``lagging`` until it has caught up from the table.
    dropped: int = 0
    lagging: bool = False
    _wakeup: asyncio.Event = field(init=False, default_factory=asyncio.Event)

    def __post_init__(self) -> None:
        self.queue = asyncio.Queue(maxsize=self.queue_size)

    def wants(self, notice: Notice) -> bool:
        return (self.model_name is None or notice.model_name == self.model_name) and (
            self.label is None or notice.label == self.label
        )

    def offer(self, notice: Notice) -> None:
        try:
            self.queue.put_nowait(notice)
        except asyncio.QueueFull:
            self.dropped += 1
            self.lagging = True
            metrics.LIVE_DROPPED.inc()
        self._wakeup.set()

    def lost(self) -> None:
        """Notices may have been missed (the listener reconnected): catch up from the table."""
        self.lagging = True
        self._wakeup.set()

    async def take(self) -> list[Notice]:
        """Waits for news; returns the queued notices ([] when only ``lagging`` changed)."""
        while self.queue.empty() and not self.lagging:
            self._wakeup.clear()
            await self._wakeup.wait()
        notices: list[Notice] = []
        while not self.queue.empty() and len(notices) < PAGE_SIZE:
            notices.append(self.queue.get_nowait())
        return notices

    def clear(self) -> None:
        while not self.queue.empty():
            self.queue.get_nowait()


class Broadcaster:
    """Hands committed predictions to this process's subscribers; one per process.

    Parameters:
        database_url: PostgreSQL URLs use ``LISTEN/NOTIFY``; anything else is in-process.
        queue_size: notices a subscriber may have waiting before new ones are dropped.
    """

    def __init__(self, database_url: str, *, queue_size: int) -> None:
        self.postgres = database_url.startswith("postgresql")
        self.queue_size = queue_size
        self._subscribers: set[Subscriber] = set()
        self._listener = (
            notify.Listener(database_url, on_notices=self._deliver, on_lost=self._lost)
            if self.postgres
            else None
        )
        self._starting = asyncio.Lock()
        self._reconnect: asyncio.Task[None] | None = None
        self._closed = False

    async def announce(self, session: AsyncSession, rows: Sequence[db.PredictionRow]) -> None:
        """SQLite: hand ``rows``, being inserted in ``session``'s transaction, to subscribers
        once it commits (a hook: it cannot fail). On PostgreSQL the writer sends ``pg_notify``
        for the rows itself, in the transaction (``db.PredictionWriter(notify=True)``)."""
        if self.postgres:
            raise RuntimeError("on PostgreSQL, predictions are announced by the writer's notify")
        notices = notify.notices_of(rows)
        event.listen(
            session.sync_session, "after_commit", lambda _s: self._deliver(notices), once=True
        )

    @asynccontextmanager
    async def subscribe(
        self, *, model_name: str | None = None, label: str | None = None
    ) -> AsyncIterator[Subscriber]:
        """Register a subscriber for as long as the block runs."""
        await self._ensure_listener()
        subscriber = Subscriber(self.queue_size, model_name=model_name, label=label)
        self._subscribers.add(subscriber)
        metrics.LIVE_SUBSCRIBERS.inc()
        try:
            yield subscriber
        finally:
            self._subscribers.discard(subscriber)
            metrics.LIVE_SUBSCRIBERS.dec()

    async def aclose(self) -> None:
        self._closed = True
        if self._reconnect is not None:
            self._reconnect.cancel()
            await asyncio.gather(self._reconnect, return_exceptions=True)
        if self._listener is not None:
            await self._listener.close()

    def _deliver(self, notices: list[Notice]) -> None:
        # Runs on the event loop and never awaits: classify is never held up by a subscriber.
        for subscriber in list(self._subscribers):
            for notice in notices:
                if subscriber.wants(notice):
                    subscriber.offer(notice)

    async def _ensure_listener(self) -> None:
        if self._listener is None or self._listener.connected:
            return
        async with self._starting:
            if not self._listener.connected and self._reconnect is None:
                await self._listener.start()

    def _lost(self) -> None:
        if self._closed:
            return
        logger.warning("live predictions: the LISTEN connection ended; reconnecting")
        for subscriber in self._subscribers:
            subscriber.lost()
        if self._reconnect is None:
            self._reconnect = asyncio.get_running_loop().create_task(self._reconnect_loop())

    async def _reconnect_loop(self) -> None:
        assert self._listener is not None
        attempt = 0
        try:
            while not self._closed:
                try:
                    async with self._starting:
                        await self._listener.start()
                except notify.LISTEN_ERRORS as exc:
                    delay = RECONNECT_SECONDS[min(attempt, len(RECONNECT_SECONDS) - 1)]
                    logger.warning("live predictions: LISTEN reconnect failed (%r)", exc)
                    attempt += 1
                    await asyncio.sleep(delay)
                    continue
                # Whatever was committed while nobody listened is read from the table.
                for subscriber in self._subscribers:
                    subscriber.lost()
                return
        finally:
            self._reconnect = None


@dataclass(frozen=True, slots=True)
class LiveRow:
    """A row for a subscriber: ``replayed`` when it was read from the table to catch up."""

    row: db.PredictionRow
    replayed: bool


class _RecentIds:
    def __init__(self, size: int) -> None:
        self._ids: OrderedDict[object, None] = OrderedDict()
        self._size = size

    def __contains__(self, key: object) -> bool:
        return key in self._ids

    def add(self, key: object) -> None:
        self._ids[key] = None
        if len(self._ids) > self._size:
            self._ids.popitem(last=False)


async def stream(
    sessions: db.Sessions, subscriber: Subscriber, *, after: Keyset | None
) -> AsyncIterator[LiveRow]:
    """The rows a subscriber should see, in order, each once.

    With ``after`` (a client reconnecting), first every stored row that follows it, then live
    ones; without, live rows from now on. Call with a subscriber already registered, so that
    nothing committed during the catch-up is missed.
    """
    sent = _RecentIds(RECENT_IDS)
    cursor = after
    if cursor is None:
        # "Now": the newest stored row. A later catch-up (after drops) starts from here.
        async with sessions() as session:
            newest = await queries.list_predictions(
                session, limit=1, model_name=subscriber.model_name, label=subscriber.label
            )
        cursor = Keyset(newest[0].created_at, newest[0].id) if newest else None
    else:
        subscriber.lagging = True

    while True:
        notices = await subscriber.take()
        if subscriber.lagging:
            # Everything queued is committed, so the table has it: read from there instead.
            subscriber.lagging = False
            subscriber.clear()
            while True:
                async with sessions() as session:
                    rows = await queries.list_predictions(
                        session,
                        limit=PAGE_SIZE,
                        model_name=subscriber.model_name,
                        label=subscriber.label,
                        after=cursor,
                        oldest_first=True,
                    )
                for row in rows:
                    if row.id not in sent:
                        sent.add(row.id)
                        yield LiveRow(row, replayed=True)
                if rows:
                    cursor = Keyset(rows[-1].created_at, rows[-1].id)
                if len(rows) < PAGE_SIZE:
                    break
            continue
        ids = [n.id for n in notices if n.id not in sent]
        if not ids:
            continue
        async with sessions() as session:
            # In cursor order, as a catch-up sends them: then the cursor of the last event a
            # client saw is the furthest it has seen, and a reconnect repeats nothing.
            rows = await queries.get_predictions_by_ids(session, ids=ids)
        for row in rows:
            sent.add(row.id)
            yield LiveRow(row, replayed=False)
            key = Keyset(row.created_at, row.id)
            if cursor is None or (key.created_at, key.id) > (cursor.created_at, cursor.id):
                cursor = key
