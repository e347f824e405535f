"""Run Alembic from tests exactly as ``mlgraph migrate`` does."""

from __future__ import annotations

from alembic import command
from alembic.config import Config

from graph.migrations import alembic_config


def migrate(url: str, revision: str, *, down: bool = False) -> None:
    config = alembic_config(url)
    assert isinstance(config, Config)
    (command.downgrade if down else command.upgrade)(config, revision)
