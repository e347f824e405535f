"""What every resolver receives as ``info.context``."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, TypedDict

import db

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncEngine
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.websockets import WebSocket

    from graph.auth import Authenticator, Principal
    from graph.live import Broadcaster
    from graph.migrations import SchemaGuard
    from graph.models import ModelRegistry
    from graph.settings import Settings

__all__ = ["Context", "State"]


class State(TypedDict):
    """What the lifespan yields: one of each per process, shared by every request."""

    settings: Settings
    engine: AsyncEngine
    schema: SchemaGuard
    sessions: db.Sessions
    # MLGRAPH_DATABASE_READ_URL's engine, or None; then read_sessions is sessions.
    read_engine: AsyncEngine | None
    read_sessions: db.Sessions
    models: ModelRegistry
    authenticator: Authenticator
    live: Broadcaster
    writer: db.PredictionWriter


@dataclass
class Context:
    """Built fresh for every GraphQL request from the process's ``State``."""

    request: Request | WebSocket
    response: Response | WebSocket | None
    # Why the database's schema cannot be used ("run `mlgraph migrate`"), or None.
    schema_problem: str | None
    settings: Settings
    # The primary: writes, and reads that must see what was just acknowledged.
    sessions: db.Sessions
    # The read replica when one is set (else the primary): history, statistics, drift,
    # performance. It lags the primary; graph/databases.py says who may read it.
    read_sessions: db.Sessions
    models: ModelRegistry
    authenticator: Authenticator
    live: Broadcaster
    writer: db.PredictionWriter
    # A WebSocket's graphql-transport-ws connection_init payload (set by Strawberry); browsers
    # cannot set headers on a WebSocket, so the key may come as {"authorization": "Bearer …"}.
    connection_params: object = None
    _principal: Principal | None = field(default=None, repr=False)
    _catalog: asyncio.Task[db.features.Catalog] | None = field(default=None, repr=False)

    async def principal(self) -> Principal:
        """Who is calling; the key is looked up at most once per request."""
        if self._principal is None:
            header = self.request.headers.get("authorization")
            if header is None and isinstance(self.connection_params, dict):
                header = self.connection_params.get("authorization")
            self._principal = await self.authenticator.authenticate(header)
        return self._principal

    async def catalog(self) -> db.features.Catalog:
        """The stored feature schemas, read at most once per request (a few rows per model):
        every prediction of a page names its values from the same read."""
        if self._catalog is None:
            self._catalog = asyncio.ensure_future(self._load_catalog())
        return await asyncio.shield(self._catalog)

    async def _load_catalog(self) -> db.features.Catalog:
        # The primary: it has every schema a row read from a lagging replica can name.
        async with self.sessions() as session:
            return await db.features.load_catalog(session)
