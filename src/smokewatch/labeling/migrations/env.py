"""Alembic environment: runs on the connection the service hands it (see ``db.migrate``)."""

from __future__ import annotations

from typing import Any

from alembic import context
from sqlalchemy import create_engine

from smokewatch.labeling.tables import Base

config = context.config
#: server defaults compared too, so that autogenerate sees a default the ORM has and no
#: migration made (tests/labeling/test_migrations.py compares the same way)
_OPTIONS: dict[str, Any] = {
    "target_metadata": Base.metadata,
    "render_as_batch": True,
    "compare_server_default": True,
}


def run() -> None:
    connection = config.attributes.get("connection")
    if connection is None:  # `alembic` command line: take the URL from the config
        engine = create_engine(config.get_main_option("sqlalchemy.url") or "sqlite://")
        with engine.begin() as conn:
            context.configure(connection=conn, **_OPTIONS)
            context.run_migrations()
        return
    context.configure(connection=connection, **_OPTIONS)
    context.run_migrations()


run()
