"""Indexes for the layer list filters (kind, group).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Index kind and group path."""
    op.create_index("ix_layers_kind", "layers", ["kind"])
    op.create_index("ix_layers_group_path", "layers", ["group_path"])


def downgrade() -> None:
    """Drop the indexes."""
    op.drop_index("ix_layers_group_path", table_name="layers")
    op.drop_index("ix_layers_kind", table_name="layers")
