"""Bring a database up to the newest schema with Alembic, from code (no alembic.ini needed)."""
from __future__ import annotations

import logging
from pathlib import Path

from alembic import command
from alembic.config import Config

logger = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"


def alembic_config(database_url: str) -> Config:
    """An Alembic config pointing at our migrations and at `database_url`."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    # Passed as an attribute, not a main option: URLs may hold '%' (ConfigParser interpolation).
    config.attributes["database_url"] = database_url
    config.attributes["configure_logger"] = False
    return config


def upgrade_database(database_url: str) -> None:
    """Run `alembic upgrade head` against `database_url`."""
    logger.info("upgrading the clinic database schema to the newest revision")
    command.upgrade(alembic_config(database_url), "head")
