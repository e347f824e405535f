"""Group commit: classify calls that arrive together are stored in one transaction.

One commit per call is one WAL flush per call. ``PredictionWriter`` queues each call and one
task per process drains the queue: it stores everything waiting in one transaction (on
PostgreSQL one statement, ``db.pg_writes``; on SQLite a multi-row INSERT, ``store_calls``),
commits, then answers every caller of that batch. While
a batch commits, new calls queue up for the next one, so an idle server adds no wait (a lone
call is a batch of one) and a busy one writes bigger batches instead of queuing commits behind
each other.

Each caller is answered only after its batch has committed, so a prediction returned to a
caller is stored. A batch that fails for a reason other than the database being unreachable
is retried call by call, so one call's bad row fails that call alone.

The task that drains the queue is started by the call that found it idle and inherits that
call's context: with tracing on, a batch's SQL spans appear in that call's trace only.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from db.engine import STORAGE_ERRORS, Sessions
from db.errors import DuplicateRequestId
from db.pg_writes import write_calls
from db.predictions import NewCall, StoredPrediction, store_calls

__all__ = ["Announce", "OnCommit", "PredictionWriter"]

# SQLite: called inside the batch's transaction with every row it stores (graph/live.py's
# announce); PostgreSQL batches notify instead.
Announce = Callable[[AsyncSession, Sequence[StoredPrediction]], Awaitable[None]]
# Called after each commit with the number of calls it stored (a metric in graph/).
OnCommit = Callable[[int], None]

_Pending = tuple[NewCall, "asyncio.Future[list[StoredPrediction]]"]


class PredictionWriter:
    """Stores classify calls with group commit; one per process, shared by every request.

    On PostgreSQL a batch is one transaction of hand-written statements on a pooled
    connection's asyncpg driver (``db.pg_writes``); on SQLite it goes through an ORM session
    (``db.predictions.store_calls``). Both store the same rows with the same guarantees.

    Parameters:
        sessions: the process's sessionmaker (bound to the process's engine).
        announce: SQLite: run in each batch's transaction with its session and the rows it
            inserts (may be None).
        notify: PostgreSQL: ``pg_notify`` each batch's rows on ``db.notify.CHANNEL`` in its
            transaction.
        through_sqlalchemy: PostgreSQL: send the statements through SQLAlchemy's connection,
            so that its events (tracing spans) see them, rather than to asyncpg directly.
        on_commit: told, after each commit, how many calls it stored (may be None).
        max_rows: rows per transaction at most; a call is never split across two.
    """

    def __init__(
        self,
        sessions: Sessions,
        *,
        announce: Announce | None = None,
        notify: bool = False,
        through_sqlalchemy: bool = False,
        on_commit: OnCommit | None = None,
        max_rows: int = 1000,
    ) -> None:
        engine = sessions.kw.get("bind")
        if not isinstance(engine, AsyncEngine):
            raise TypeError("PredictionWriter needs a sessionmaker bound to an AsyncEngine")
        self.sessions = sessions
        self.engine = engine
        self.postgres = engine.dialect.name == "postgresql"
        if self.postgres and announce is not None:
            raise ValueError("on PostgreSQL a batch announces its rows with notify=True")
        self.announce = announce
        self.notify = notify
        self.through_sqlalchemy = through_sqlalchemy
        self.on_commit = on_commit
        self.max_rows = max_rows
        self.batches = 0  # transactions committed (tests read it)
        # Schemas committed by this process: store_calls need not store them again.
        self.known_schemas: set[int] = set()
        self._pending: list[_Pending] = []
        self._drain: asyncio.Task[None] | None = None

    async def write(self, call: NewCall) -> list[StoredPrediction]:
        """Store ``call``'s rows; returns them once their transaction has committed.

        Raises ``DuplicateRequestId`` when the call's request id is stored already, and one of
        ``db.STORAGE_ERRORS`` when the database cannot be reached. A caller that is cancelled
        while it waits does not stop the write: its rows are committed with their batch.
        """
        future: asyncio.Future[list[StoredPrediction]] = asyncio.get_running_loop().create_future()
        self._pending.append((call, future))
        if self._drain is None:
            self._drain = asyncio.create_task(self._drain_queue())
        return await future

    async def aclose(self) -> None:
        """Wait until every call queued so far is stored (at shutdown)."""
        while self._drain is not None:
            await asyncio.shield(self._drain)

    async def _drain_queue(self) -> None:
        try:
            while self._pending:
                batch = self._take_batch()
                try:
                    await self._store(batch)
                except BaseException as exc:  # never leave a caller waiting forever
                    _fail(batch, exc)
                    if not isinstance(exc, Exception):
                        raise
        finally:
            self._drain = None
            for _, future in self._pending:  # only if cancelled: nothing else ends the loop early
                future.cancel()
            self._pending.clear()

    def _take_batch(self) -> list[_Pending]:
        count = rows = 0
        for call, _ in self._pending:
            if count and rows + len(call.rows) > self.max_rows:
                break
            count += 1
            rows += len(call.rows)
        batch, self._pending = self._pending[:count], self._pending[count:]
        return batch

    async def _store(self, batch: list[_Pending]) -> None:
        calls = [call for call, _ in batch]
        try:
            if self.postgres:
                results = await write_calls(
                    self.engine,
                    calls=calls,
                    known_schemas=self.known_schemas,
                    notify=self.notify,
                    through_sqlalchemy=self.through_sqlalchemy,
                )
            else:
                results = await self._store_in_session(calls)
        except STORAGE_ERRORS as exc:
            _fail(batch, exc)
            return
        except Exception as exc:
            if len(batch) == 1:
                _fail(batch, exc)
                return
            for item in batch:  # find the call at fault; the others are stored on their own
                await self._store([item])
            return
        self.batches += 1
        self.known_schemas.update(c.schema_id for c, _ in batch if c.schema_id is not None)
        if self.on_commit is not None:
            self.on_commit(len(batch))
        for (call, future), rows in zip(batch, results, strict=True):
            if future.done():  # its caller was cancelled; the rows are stored all the same
                continue
            if rows is None:
                assert call.request_id is not None
                future.set_exception(DuplicateRequestId(call.request_id))
            else:
                future.set_result(rows)

    async def _store_in_session(self, calls: list[NewCall]) -> list[list[StoredPrediction] | None]:
        async with self.sessions.begin() as session:
            results = await store_calls(session, calls=calls, known_schemas=self.known_schemas)
            stored = [row for rows in results for row in rows or ()]
            if self.announce is not None and stored:
                await self.announce(session, stored)
        return results


def _fail(batch: list[_Pending], exc: BaseException) -> None:
    for _, future in batch:
        if future.done():
            continue
        if isinstance(exc, asyncio.CancelledError):
            future.cancel()
        else:
            future.set_exception(exc)
