"""PostgreSQL ``LISTEN/NOTIFY`` for new predictions, so every process hears every commit.

The writer's statement that inserts the rows also notifies them (``db.pg_writes``): PostgreSQL
delivers a notification only when its transaction commits, so a rolled-back insert notifies
nobody.
``Listener`` is one raw asyncpg connection per process that ``LISTEN``\\s on the channel.

A payload holds ids, model, label and time only (subscribers read the rows by id), and stays
under PostgreSQL's 8000-byte payload limit by splitting a large batch into several
notifications. On SQLite both are unused: one process, so an in-process broadcast suffices.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg  # type: ignore[import-untyped]  # no stubs upstream
from sqlalchemy.engine import make_url

from db.predictions import PredictionRow

__all__ = [
    "CHANNEL",
    "LISTEN_ERRORS",
    "Listener",
    "Notice",
    "decode_payload",
    "notice_chunks",
    "notices_of",
]

CHANNEL = "mlgraph_predictions"
# PostgreSQL refuses payloads of 8000 bytes or more; leave room for the JSON envelope.
MAX_PAYLOAD_BYTES = 7000
# What ``Listener.start`` raises when the database cannot be reached or refuses.
LISTEN_ERRORS: tuple[type[BaseException], ...] = (
    OSError,
    TimeoutError,
    asyncpg.PostgresError,
    asyncpg.InterfaceError,
)


@dataclass(frozen=True, slots=True)
class Notice:
    """One committed prediction, as announced: enough to filter on and to read it by id."""

    id: uuid.UUID
    model_name: str
    label: str
    created_at: datetime


def notices_of(rows: Sequence[PredictionRow]) -> list[Notice]:
    return [Notice(r.id, r.model_name, r.label, r.created_at) for r in rows]


# PostgreSQL writes a row's time into the payload itself (db.pg_writes); room is kept for its
# longest form, e.g. "2026-12-02T14:57:32.123456+05:30", with a margin.
_STAMP_ROOM = "x" * 40
_ID_ROOM = "x" * 36  # a UUID's text


def notice_chunks(model_names: Sequence[str], labels: Sequence[str]) -> list[int]:
    """For rows announced in this order, the payload each goes in: numbered from 0, each under
    ``MAX_PAYLOAD_BYTES`` (the database builds the payloads, db.pg_writes)."""
    chunks: list[int] = []
    chunk = size = 0
    sizes: dict[tuple[str, str], int] = {}  # a batch holds few models and labels
    for key in zip(model_names, labels, strict=True):
        item_size = sizes.get(key)
        if item_size is None:
            # json.dumps escapes non-ASCII, so this is never smaller than the database's UTF-8.
            item_size = sizes[key] = len(json.dumps([_ID_ROOM, *key, _STAMP_ROOM])) + 2
        if size and size + item_size > MAX_PAYLOAD_BYTES:
            chunk, size = chunk + 1, 0
        chunks.append(chunk)
        size += item_size
    return chunks


def decode_payload(payload: str) -> list[Notice]:
    """The notices in one payload: a JSON list of ``[id, model, label, time]``."""
    return [
        Notice(uuid.UUID(i), model, label, datetime.fromisoformat(at))
        for i, model, label, at in json.loads(payload)
    ]


class Listener:
    """A dedicated asyncpg connection listening on ``CHANNEL``.

    Parameters:
        database_url: the SQLAlchemy URL (``postgresql+asyncpg://…``) of the database.
        on_notices: called on the event loop with the notices of each notification.
        on_lost: called when the connection ends; notifications sent meanwhile are lost, so
            the caller should catch up from the table and then ``start()`` again.
    """

    def __init__(
        self,
        database_url: str,
        *,
        on_notices: Callable[[list[Notice]], None],
        on_lost: Callable[[], None],
    ) -> None:
        url = make_url(database_url).set(drivername="postgresql")
        self._dsn = url.render_as_string(hide_password=False)
        self._on_notices = on_notices
        self._on_lost = on_lost
        self._connection: Any = None

    @property
    def connected(self) -> bool:
        return self._connection is not None and not self._connection.is_closed()

    async def start(self) -> None:
        """Connect and ``LISTEN``; raises ``OSError`` or asyncpg's errors when it cannot."""
        connection = await asyncpg.connect(self._dsn, timeout=10)
        try:
            await connection.add_listener(CHANNEL, self._received)
        except BaseException:
            await connection.close()
            raise
        connection.add_termination_listener(self._terminated)
        self._connection = connection

    async def close(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None and not connection.is_closed():
            connection.remove_termination_listener(self._terminated)
            await connection.close(timeout=5)

    def _received(self, _connection: Any, _pid: int, _channel: str, payload: str) -> None:
        self._on_notices(decode_payload(payload))

    def _terminated(self, _connection: Any) -> None:
        self._connection = None
        self._on_lost()
