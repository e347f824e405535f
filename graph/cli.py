"""The ``mlgraph`` command: ``mlgraph serve`` and ``mlgraph migrate``."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

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

    args = parser.parse_args(argv)
    settings = Settings()
    if args.command == "serve":
        return _serve(settings, args.host, args.port, args.workers)
    return _migrate(settings, args.revision, down=args.down)


def _serve(settings: Settings, host: str | None, port: int | None, workers: int | None) -> int:
    import uvicorn

    uvicorn.run(
        "graph.app:create_app",
        factory=True,
        host=host or settings.host,
        port=port or settings.port,
        workers=workers or settings.workers,
        log_level=settings.log_level,
        # The process runs behind a Kubernetes Service or a proxy that sets these headers.
        proxy_headers=True,
    )
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
