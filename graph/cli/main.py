"""The ``mlgraph`` command: ``serve``, ``migrate``, ``maintain``, ``apikey``, ``export``, …"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence

from graph.auth import Scope
from graph.cli import check_drift, demo_traffic
from graph.cli._database import CommandError, database_problem
from graph.migrations import DATABASE_ERRORS
from graph.settings import InvalidSettings, Settings, load_settings

__all__ = ["main"]


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
    revoke = apikey_commands.add_parser("revoke", help="revoke keys by id, prefix or name")
    revoke.add_argument(
        "key", help="an id or prefix shown by `mlgraph apikey list`, or a name (all its keys)"
    )

    export = commands.add_parser("export", help="write predictions and actuals to a file")
    export.add_argument("--since", required=True, help="ISO 8601, inclusive")
    export.add_argument("--until", required=True, help="ISO 8601, exclusive")
    export.add_argument("--model", help="only this model")
    export.add_argument("--format", choices=("parquet", "csv"), default="parquet")
    export.add_argument("--out", required=True, help="file to write")

    check_drift.add_arguments(
        commands.add_parser(
            "check-drift",
            help="drift/accuracy check for a CronJob; exit 0 ok, 1 alert, 2-4 see README",
        )
    )
    demo_traffic.add_arguments(
        commands.add_parser("demo-traffic", help="send demo classify calls and actuals to mlgraph")
    )

    args = parser.parse_args(argv)
    if args.command == "demo-traffic":
        return demo_traffic.run_demo_traffic(args)  # a client of a running mlgraph: no settings
    if args.command == "check-drift":
        return check_drift.run_check_drift(args)  # reads its own settings: a bad one exits 4
    try:
        settings = load_settings()
    except InvalidSettings as exc:
        for problem in exc.problems:
            print(f"mlgraph: {problem}", file=sys.stderr)
        return 1
    try:
        return _run(args, settings)
    except CommandError as exc:
        print(f"mlgraph: {exc}", file=sys.stderr)
    except DATABASE_ERRORS as exc:  # the database failed half-way (it answered at the start)
        print(f"mlgraph: {database_problem(settings.database_url, exc)}", file=sys.stderr)
    return 1


def _run(args: argparse.Namespace, settings: Settings) -> int:
    # Each sub-command's module is imported only when it runs (uvicorn, Alembic, pyarrow).
    if args.command == "export":
        from graph.cli.export import export as run_export

        return run_export(settings, args.since, args.until, args.model, args.format, args.out)
    if args.command == "serve":
        from graph.cli.serve import serve as run_serve

        return run_serve(settings, args.host, args.port, args.workers)
    if args.command == "apikey":
        from graph.cli.apikey import apikey as run_apikey

        return asyncio.run(run_apikey(settings, args))
    if args.command == "maintain":
        from graph.cli.maintain import maintain as run_maintain

        return asyncio.run(run_maintain(settings))
    from graph.cli.migrate import migrate as run_migrate

    return run_migrate(settings, args.revision, down=args.down)


if __name__ == "__main__":
    raise SystemExit(main())
