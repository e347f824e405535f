"""``mlgraph apikey create|list|revoke``: keys are printed once and stored as their SHA-256."""

from __future__ import annotations

import argparse
import sys

import db
from graph.auth import generate_key, hash_key
from graph.cli._database import open_database
from graph.settings import Settings

__all__ = ["apikey"]


async def apikey(settings: Settings, args: argparse.Namespace) -> int:
    async with (
        open_database(settings.database_url) as engine,
        db.make_sessionmaker(engine).begin() as session,
    ):
        if args.apikey_command == "create":
            key = generate_key()
            row = await db.apikeys.create_api_key(
                session,
                name=args.name,
                scope=args.scope,
                prefix=key[:12],
                key_hash=hash_key(key),
            )
            print(f"created key {row.id} ({row.prefix}…) with scope {row.scope}:")
            print(key)
            print("store it now: it is not shown again and cannot be recovered.")
            return 0
        if args.apikey_command == "list":
            for row in await db.apikeys.list_api_keys(session):
                state = f"revoked {row.revoked_at:%Y-%m-%d}" if row.revoked_at else "active"
                print(f"{row.id}\t{row.prefix}…\t{row.scope}\t{state}\t{row.name}")
            return 0
        count = await db.apikeys.revoke_api_key(session, id_or_prefix=args.key)
    if count == 0:
        print(f"no active key with id or prefix {args.key!r}", file=sys.stderr)
        return 1
    print(f"revoked {count} key(s)")
    return 0
