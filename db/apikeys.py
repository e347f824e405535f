"""Queries on API keys. Keys arrive here already hashed: db never sees a key in clear."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import func, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from db.tables import ApiKey

__all__ = [
    "count_active_api_keys",
    "create_api_key",
    "find_active_api_key",
    "list_api_keys",
    "revoke_api_key",
]


async def create_api_key(
    session: AsyncSession, *, name: str, scope: str, prefix: str, key_hash: str
) -> ApiKey:
    statement = (
        insert(ApiKey)
        .values(name=name, scope=scope, prefix=prefix, key_hash=key_hash)
        .returning(ApiKey)
    )
    return (await session.scalars(statement)).one()


async def find_active_api_key(session: AsyncSession, *, key_hash: str) -> ApiKey | None:
    statement = select(ApiKey).where(
        col(ApiKey.key_hash) == key_hash, col(ApiKey.revoked_at).is_(None)
    )
    return (await session.scalars(statement)).first()


async def count_active_api_keys(session: AsyncSession) -> int:
    statement = select(func.count()).select_from(ApiKey).where(col(ApiKey.revoked_at).is_(None))
    return (await session.scalar(statement)) or 0


async def list_api_keys(session: AsyncSession) -> list[ApiKey]:
    return list((await session.scalars(select(ApiKey).order_by(col(ApiKey.id)))).all())


async def revoke_api_key(session: AsyncSession, *, key: str) -> int:
    """Revoke the active keys with this id, prefix or name; returns how many were revoked."""
    match = or_(col(ApiKey.prefix) == key, col(ApiKey.name) == key)
    if key.isdigit():
        match = or_(match, col(ApiKey.id) == int(key))
    statement = (
        update(ApiKey)
        .where(match, col(ApiKey.revoked_at).is_(None))
        .values(revoked_at=datetime.now(UTC))
    )
    result = await session.execute(statement)
    return int(result.rowcount)  # type: ignore[attr-defined]
