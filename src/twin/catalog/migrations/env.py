"""Alembic environment of the catalog.

Run programmatically only (``twin.catalog.migrate.upgrade``): the caller opens the connection, takes the
migration lock and hands the connection in ``config.attributes["connection"]``; the migrations run inside the
caller's transaction, so a failed upgrade changes nothing. To write a new revision::

    python -m twin.catalog.migrate revision -m "what changes"
"""

from __future__ import annotations

from alembic import context
from sqlalchemy.engine import Connection

from twin.catalog.models import Base

connection = context.config.attributes.get("connection")
if not isinstance(connection, Connection):
    raise RuntimeError(
        "the catalog migrations run through twin.catalog.migrate, not the alembic command line"
    )

context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    # SQLite cannot ALTER most things: batch mode copies the table instead.
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
