"""The layers table.

Revision ID: 0001
Revises:
Create Date: 2026-11-22

The same table the catalog made with ``create_all`` before migrations existed, so such databases are stamped
at this revision and upgraded from here.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Create the layers table."""
    op.create_table(
        "layers",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("title", sa.String(256), nullable=False),
        sa.Column("description", sa.Text, nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("group_path", sa.String(256), nullable=False),
        sa.Column("attribution", sa.Text, nullable=False),
        sa.Column("licence", sa.String(128), nullable=False),
        sa.Column("bbox", sa.JSON, nullable=True),
        sa.Column("feature_count", sa.Integer, nullable=False),
        sa.Column("source", sa.Text, nullable=False),
        sa.Column("url", sa.Text, nullable=True),
        sa.Column("visible", sa.Boolean, nullable=False),
        sa.Column("opacity", sa.Float, nullable=False),
        sa.Column("style", sa.JSON, nullable=True),
        sa.Column("planning", sa.JSON, nullable=True),
        sa.Column("extra", sa.JSON, nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("created", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    """Drop the layers table."""
    op.drop_table("layers")
