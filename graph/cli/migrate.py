"""``mlgraph migrate``: Alembic upgrades and downgrades, without alembic.ini."""

from __future__ import annotations

from pathlib import Path

from graph.settings import Settings

__all__ = ["ALEMBIC_DIR", "alembic_config", "migrate"]

# The migrations ship beside the packages (the checkout, or /app in the image).
ALEMBIC_DIR = Path(__file__).resolve().parents[2] / "alembic"


def alembic_config(database_url: str) -> object:
    """An Alembic ``Config`` for ``database_url``, without needing alembic.ini."""
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(ALEMBIC_DIR))
    # ConfigParser treats % as interpolation; URLs may hold %-escaped passwords.
    config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return config


def migrate(settings: Settings, revision: str, *, down: bool) -> int:
    from alembic import command

    config = alembic_config(settings.database_url)
    if down:
        command.downgrade(config, revision)  # type: ignore[arg-type]
    else:
        command.upgrade(config, revision)  # type: ignore[arg-type]
    return 0
