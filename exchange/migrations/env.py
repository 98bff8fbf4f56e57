"""Alembic environment: the URL comes from the caller (``exchange db upgrade``) or the config."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

import exchange.models  # noqa: F401  # registers every table on the metadata
from adapters.db import Base, make_engine

target_metadata = Base.metadata


def _run(connection: Connection) -> None:
    context.configure(connection=connection, target_metadata=target_metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


connection = context.config.attributes.get("connection")
if connection is not None:
    _run(connection)
else:
    engine = make_engine(context.config.get_main_option("sqlalchemy.url") or "")
    with engine.connect() as conn:
        _run(conn)
    engine.dispose()
