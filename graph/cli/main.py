"""The ``mlgraph`` command: ``serve``, ``migrate``, ``maintain``, ``apikey``, ``export``, …"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence
from pathlib import Path

import db
from graph.auth import Scope, generate_key, hash_key
from graph.observability import logging_config
from graph.settings import Settings

__all__ = ["alembic_config", "main"]

# The migrations ship beside the packages (the checkout, or /app in the image).
ALEMBIC_DIR = Path(__file__).resolve().parent.parent / "alembic"


def alembic_config(database_url: str) -> object:
    """An Alembic ``Config`` for ``database_url``, without needing alembic.ini."""
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(ALEMBIC_DIR))
    # ConfigParser treats % as interpolation; URLs may hold %-escaped passwords.
    config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return config


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="mlgraph", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="run the GraphQL API with uvicorn")
    serve.add_argument("--host", help="default: MLGRAPH_HOST or 127.0.0.1")
    serve.add_argument("--port", type=int, help="default: MLGRAPH_PORT or 8000")
    serve.add_argument("--workers", type=int, help="default: MLGRAPH_WORKERS or 1")

    migrate = commands.add_parser("migrate", help="upgrade the database schema (alembic)")
    migrate.add_argument("revision", nargs="?", default="head", help="target (default: head)")
    migrate.add_argument(
        "--down", action="store_true", help="downgrade to the revision instead, e.g. base"
    )

    commands.add_parser(
        "maintain",
        help="retention: drop months past MLGRAPH_RETENTION_MONTHS, make coming partitions",
    )

    apikey = commands.add_parser("apikey", help="create, list and revoke API keys")
    apikey_commands = apikey.add_subparsers(dest="apikey_command", required=True)
    create = apikey_commands.add_parser("create", help="print a new key (shown only once)")
    create.add_argument("--scope", required=True, choices=[s.value for s in Scope])
    create.add_argument("--name", required=True, help="who or what uses the key")
    apikey_commands.add_parser("list", help="list keys (never the keys themselves)")
    revoke = apikey_commands.add_parser("revoke", help="revoke a key by id or prefix")
    revoke.add_argument("key", help="the id or prefix shown by 'mlgraph apikey list'")

    export = commands.add_parser("export", help="write predictions and actuals to a file")
    export.add_argument("--since", required=True, help="ISO 8601, inclusive")
    export.add_argument("--until", required=True, help="ISO 8601, exclusive")
    export.add_argument("--model", help="only this model")
    export.add_argument("--format", choices=("parquet", "csv"), default="parquet")
    export.add_argument("--out", required=True, help="file to write")

    from graph.drift_check import add_arguments, run_check_drift

    check_drift = commands.add_parser(
        "check-drift", help="drift/accuracy check for a CronJob; exit 0 ok, 1 alert, 2-4 see README"
    )
    add_arguments(check_drift)

    from graph import demo

    demo.add_arguments(
        commands.add_parser("demo-traffic", help="send demo classify calls and actuals to mlgraph")
    )

    args = parser.parse_args(argv)
    if args.command == "demo-traffic":
        return demo.run_demo_traffic(args)  # a client of a running mlgraph: no settings
    if args.command == "check-drift":
        return run_check_drift(args)  # reads its own settings: a bad one must exit 4, not 1
    settings = Settings()
    if args.command == "export":
        from graph.export import run_export

        return run_export(settings, args.since, args.until, args.model, args.format, args.out)
    if args.command == "serve":
        return _serve(settings, args.host, args.port, args.workers)
    if args.command == "apikey":
        return asyncio.run(_apikey(settings, args))
    if args.command == "maintain":
        return asyncio.run(_maintain(settings))
    return _migrate(settings, args.revision, down=args.down)


def _serve(settings: Settings, host: str | None, port: int | None, workers: int | None) -> int:
    import uvicorn

    uvicorn.run(
        "graph.app:serve_app",
        factory=True,
        host=host or settings.host,
        port=port or settings.port,
        workers=workers or settings.workers,
        log_level=settings.log_level,
        log_config=logging_config(settings.log_level),
        # In-flight requests (their commits included) get this long after SIGTERM; keep it
        # under the pod's terminationGracePeriodSeconds.
        timeout_graceful_shutdown=settings.shutdown_grace_seconds,
        # The process runs behind a Kubernetes Service or a proxy that sets these headers.
        proxy_headers=True,
    )
    return 0


async def _apikey(settings: Settings, args: argparse.Namespace) -> int:
    engine = db.make_engine(settings.database_url)
    try:
        async with db.make_sessionmaker(engine).begin() as session:
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
    finally:
        await engine.dispose()
    if count == 0:
        print(f"no active key with id or prefix {args.key!r}", file=sys.stderr)
        return 1
    print(f"revoked {count} key(s)")
    return 0


async def _maintain(settings: Settings) -> int:
    from datetime import UTC, datetime

    engine = db.make_engine(settings.database_url)
    try:
        async with db.make_sessionmaker(engine).begin() as session:
            report = await db.partitions.maintain(
                session,
                now=datetime.now(UTC),
                retention_months=settings.retention_months,
                months_ahead=settings.partitions_ahead,
            )
    finally:
        await engine.dispose()
    print(f"retention: keeping predictions from {report.cutoff:%Y-%m-%d} (UTC) on")
    if report.dialect == "postgresql":
        print(f"created partitions: {', '.join(report.created) or 'none'}")
        print(f"dropped partitions: {', '.join(report.dropped) or 'none'}")
        for name in report.skipped:
            print(f"warning: {name} not created: {db.partitions.DEFAULT_PARTITION} holds its rows")
        if report.default_rows:
            print(
                f"warning: {report.default_rows} row(s) in {db.partitions.DEFAULT_PARTITION}: "
                "run maintain more often or raise MLGRAPH_PARTITIONS_AHEAD; rows are not moved"
            )
    else:
        print(
            f"{report.dialect} has no partitions: deleted {report.deleted_predictions} "
            "prediction(s) in batches"
        )
    print(f"deleted {report.deleted_actuals} actual(s) and {report.deleted_requests} request id(s)")
    return 0


def _migrate(settings: Settings, revision: str, *, down: bool) -> int:
    from alembic import command

    config = alembic_config(settings.database_url)
    if down:
        command.downgrade(config, revision)  # type: ignore[arg-type]
    else:
        command.upgrade(config, revision)  # type: ignore[arg-type]
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
