"""``mlgraph apikey create|list|revoke``: keys are printed once and stored as their SHA-256.

In development, calls need no key until the first active key exists (graph/auth.py): creating
the first one, and revoking the last one, switch authentication for every caller, so both say so.
"""

from __future__ import annotations

import argparse
import sys

import db
from graph.auth import generate_key, hash_key
from graph.cli._database import open_database
from graph.settings import Settings

__all__ = ["apikey"]

_HEADER = ("ID", "PREFIX", "SCOPE", "STATE", "NAME")


async def apikey(settings: Settings, args: argparse.Namespace) -> int:
    development = settings.environment == "development"
    async with (
        open_database(
            settings.database_url, statement_cache=settings.database_statement_cache
        ) as engine,
        db.make_sessionmaker(engine).begin() as session,
    ):
        before = await db.apikeys.count_active_api_keys(session)
        if args.apikey_command == "create":
            key = generate_key()
            row = await db.apikeys.create_api_key(
                session,
                name=args.name,
                scope=args.scope,
                prefix=key[:12],
                key_hash=hash_key(key),
            )
        elif args.apikey_command == "list":
            _print_keys(await db.apikeys.list_api_keys(session), development, before)
            return 0
        else:
            count = await db.apikeys.revoke_api_key(session, key=args.key)
    # Printed only once the transaction has committed: a key shown is a key that works.
    if args.apikey_command == "create":
        print(f"created key {row.id} ({row.prefix}…) with scope {row.scope}:")
        print(key)
        print("store it now: it is not shown again and cannot be recovered.")
        if development and before == 0:
            print(
                "this is the first active key, so authentication is now on: every call "
                "needs a key with the right scope (MLGRAPH_ANONYMOUS_READ=true lets callers "
                "without one read); running servers notice within "
                f"MLGRAPH_API_KEY_CACHE_SECONDS ({settings.api_key_cache_seconds:g} s)"
            )
        return 0
    if count == 0:
        print(f"mlgraph: no active key with id, prefix or name {args.key!r}", file=sys.stderr)
        return 1
    print(f"revoked {count} key(s)")
    if development and before == count:
        print(
            "no active key is left, so authentication is off again: calls need no key "
            "(MLGRAPH_ENVIRONMENT=production always requires one)"
        )
    return 0


def _print_keys(rows: list[db.ApiKey], development: bool, active: int) -> None:
    if not rows:
        print("no API keys yet: `mlgraph apikey create --scope predict --name <who>` makes one")
    else:
        table = [_HEADER] + [
            (
                str(row.id),
                f"{row.prefix}…",
                row.scope,
                f"revoked {row.revoked_at:%Y-%m-%d}" if row.revoked_at else "active",
                row.name,
            )
            for row in rows
        ]
        widths = [max(len(line[i]) for line in table) for i in range(len(_HEADER) - 1)]
        for line in table:
            print(
                "  ".join(
                    [*(cell.ljust(w) for cell, w in zip(line[:-1], widths, strict=True)), line[-1]]
                )
            )
    if development and active == 0:
        print("authentication is off: no active key, so calls need none (development)")
