"""API keys: who is calling, and may they do this.

Keys are sent as ``Authorization: Bearer <key>``. The database stores only their SHA-256
(keys are 256-bit random tokens, so a fast hash is enough: there is nothing to brute-force).

When is a key required? In production always. In development only once any key exists, so
that a newcomer's ``make run`` works without one and creating the first key switches
authentication on. ``MLGRAPH_ANONYMOUS_READ=true`` lets callers without a key read history.
"""

from __future__ import annotations

import enum
import hashlib
import secrets
import time
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from strawberry.permission import BasePermission
from strawberry.types import Info

import db
from db import apikeys as queries
from graph.errors import AppError

__all__ = [
    "Authenticator",
    "CanPredict",
    "CanRead",
    "Forbidden",
    "Principal",
    "Scope",
    "Unauthenticated",
    "authorize",
    "generate_key",
    "hash_key",
]

KEY_PREFIX = "mlg_"


class Scope(enum.StrEnum):
    PREDICT = "predict"  # classify, record actuals
    READ = "read"  # history, statistics, drift, export
    ADMIN = "admin"  # everything


class Unauthenticated(AppError):
    code = "UNAUTHENTICATED"
    http_status = 401


class Forbidden(AppError):
    code = "FORBIDDEN"
    http_status = 403


@dataclass(frozen=True, slots=True)
class Principal:
    """The caller: a key's scope, or nobody (``scope is None``) when no key was needed."""

    scope: Scope | None
    open: bool = False

    def require(self, scope: Scope, *, anonymous_read: bool) -> None:
        if self.open or self.scope in (scope, Scope.ADMIN):
            return
        if self.scope is None:
            if scope is Scope.READ and anonymous_read:
                return
            raise Unauthenticated(
                "this needs an API key: send 'Authorization: Bearer <key>' "
                "(create one with 'mlgraph apikey create')"
            )
        raise Forbidden(f"this API key has scope '{self.scope}'; this needs '{scope}'")


def generate_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


class Authenticator:
    """Turns an ``Authorization`` header into a ``Principal``; one per process.

    Lookups are remembered for ``cache_seconds`` so that a busy classify path does not pay a
    database round trip per request; a revoked key therefore works for at most that long.
    """

    def __init__(
        self, sessions: db.Sessions, *, production: bool, cache_seconds: float = 10.0
    ) -> None:
        self._sessions = sessions
        self._production = production
        self._cache_seconds = cache_seconds
        self._keys: dict[str, tuple[float, Principal | None]] = {}
        self._enforced: tuple[float, bool] | None = None

    async def authenticate(self, authorization: str | None) -> Principal:
        if not await self._is_enforced():
            return Principal(scope=None, open=True)
        if not authorization:
            return Principal(scope=None)
        kind, _, key = authorization.partition(" ")
        if kind.lower() != "bearer" or not key.strip():
            raise Unauthenticated("the Authorization header must be 'Bearer <key>'")
        principal = await self._lookup(hash_key(key.strip()))
        if principal is None:
            raise Unauthenticated("unknown or revoked API key")
        return principal

    async def _lookup(self, key_hash: str) -> Principal | None:
        now = time.monotonic()
        cached = self._keys.get(key_hash)
        if cached is not None and cached[0] > now:
            return cached[1]
        async with self._sessions() as session:
            row = await queries.find_active_api_key(session, key_hash=key_hash)
        principal = Principal(scope=Scope(row.scope)) if row else None
        if len(self._keys) > 10_000:
            # Bounded: a flood of random keys must not grow the process without limit.
            self._keys.clear()
        self._keys[key_hash] = (now + self._cache_seconds, principal)
        return principal

    async def _is_enforced(self) -> bool:
        if self._production:
            return True
        now = time.monotonic()
        if self._enforced is None or self._enforced[0] <= now:
            async with self._sessions() as session:
                enforced = await queries.count_active_api_keys(session) > 0
            self._enforced = (now + self._cache_seconds, enforced)
        return self._enforced[1]


async def authorize(request: Request, *scopes: Scope, anonymous: bool = False) -> Principal:
    """For plain-HTTP endpoints: the caller, if allowed one of ``scopes``; else raises.

    ``anonymous`` lets callers without a key in (a setting allows it); a key that is sent must
    still be a valid one.
    """
    authenticator: Authenticator = request.state.authenticator
    principal = await authenticator.authenticate(request.headers.get("authorization"))
    if anonymous and principal.scope is None:
        return principal
    refused: AppError | None = None
    for scope in scopes:
        try:
            principal.require(scope, anonymous_read=request.state.settings.anonymous_read)
        except (Unauthenticated, Forbidden) as exc:
            refused = refused or exc
        else:
            return principal
    assert refused is not None, "authorize needs at least one scope"
    raise refused


class _ScopePermission(BasePermission):
    scope: Scope
    message = "not allowed"

    async def has_permission(self, source: Any, info: Info[Any, Any], **kwargs: Any) -> bool:
        # Raising (rather than returning False) keeps our message and code in the response.
        context = info.context
        principal = await context.principal()
        principal.require(self.scope, anonymous_read=context.settings.anonymous_read)
        return True


class CanPredict(_ScopePermission):
    scope = Scope.PREDICT


class CanRead(_ScopePermission):
    scope = Scope.READ
