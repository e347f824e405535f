"""The ``mlgraph`` command: ``serve``, ``migrate``, ``maintain``, ``apikey``, ``export``, …"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from graph.auth import Scope
from graph.cli import check_drift, demo_traffic
from graph.cli._database import CommandError, database_problem
from graph.migrations import DATABASE_ERRORS
from graph.settings import InvalidSettings, Settings, load_settings

__all__ = ["main"]

# Plain text: --help prints it as it is (the module docstring is reStructuredText).
DESCRIPTION = (
    "mlgraph: a GraphQL gateway in front of your ML models that stores every prediction. "
    "Settings come from MLGRAPH_* environment variables (README, Settings); "
    "`mlgraph <command> --help` describes each command."
)


class _HelpFormatter(argparse.HelpFormatter):
    """Shows each option's default, when it has one (argparse's own formatter would print
    "(default: None)" for every option that defaults to a setting)."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help or ""
        default = action.default
        if default in (None, False, argparse.SUPPRESS) or "default" in text or not action.help:
            return action.help
        return f"{text} (default: {default})"


def _command(commands: Any, name: str, help: str) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = commands.add_parser(
        name, help=help, description=help, formatter_class=_HelpFormatter
    )
    return parser


def _version() -> str:
    try:
        return version("mlgraph")
    except PackageNotFoundError:  # run from a checkout that was never installed
        return "unknown"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="mlgraph", description=DESCRIPTION, formatter_class=_HelpFormatter
    )
    parser.add_argument("--version", action="version", version=f"mlgraph {_version()}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="<command>")

    serve = _command(commands, "serve", "run the GraphQL API with uvicorn")
    serve.add_argument("--host", help="default: MLGRAPH_HOST or 127.0.0.1")
    serve.add_argument("--port", type=int, help="default: MLGRAPH_PORT or 8000")
    serve.add_argument(
        "--workers",
        type=int,
        help="default: MLGRAPH_WORKERS, or one per CPU on PostgreSQL and one on SQLite",
    )

    migrate = _command(commands, "migrate", "upgrade the database schema (Alembic)")
    migrate.add_argument("revision", nargs="?", default="head", help="target: head, base or 0005")
    migrate.add_argument(
        "--down", action="store_true", help="downgrade to the revision instead, e.g. base"
    )

    _command(
        commands,
        "maintain",
        "retention: drop months past MLGRAPH_RETENTION_MONTHS, make coming partitions",
    )

    apikey = _command(commands, "apikey", "create, list and revoke API keys")
    apikey_commands = apikey.add_subparsers(
        dest="apikey_command", required=True, metavar="<create|list|revoke>"
    )
    create = _command(apikey_commands, "create", "print a new key (shown only once)")
    create.add_argument(
        "--scope", required=True, choices=[s.value for s in Scope], help="what the key may do"
    )
    create.add_argument("--name", required=True, help="who or what uses the key")
    _command(apikey_commands, "list", "list keys (never the keys themselves)")
    revoke = _command(apikey_commands, "revoke", "revoke keys by id, prefix or name")
    revoke.add_argument(
        "key", help="an id or prefix shown by `mlgraph apikey list`, or a name (all its keys)"
    )

    export = _command(commands, "export", "write predictions and actuals to a file")
    export.add_argument("--since", required=True, help="ISO 8601, inclusive")
    export.add_argument("--until", required=True, help="ISO 8601, exclusive")
    export.add_argument("--model", help="only this model")
    export.add_argument(
        "--format", choices=("parquet", "csv"), default="parquet", help="the file's format"
    )
    export.add_argument("--out", required=True, help="file to write")

    check_drift.add_arguments(
        _command(
            commands,
            "check-drift",
            "drift and accuracy check for a CronJob; exits 0 ok, 1 alert, 2 insufficient data, "
            "3 alert but the webhook failed, 4 error",
        )
    )
    demo_traffic.add_arguments(
        _command(commands, "demo-traffic", "send demo classify calls and actuals to mlgraph")
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
