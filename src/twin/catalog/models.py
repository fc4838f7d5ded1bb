"""SQLAlchemy table of layers (the schema itself is created and changed by the alembic migrations)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, DateTime, Float, Integer, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    """Declarative base of the catalog tables."""


class LayerRow(Base):
    """One layer: ingested 3D Tiles or features, or an external service registered by URL."""

    __tablename__ = "layers"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    title: Mapped[str] = mapped_column(String(256))
    description: Mapped[str] = mapped_column(Text, default="")
    # "3dtiles" | "features" | "external-3dtiles" | "wms" | "wmts" | "xyz"
    kind: Mapped[str] = mapped_column(String(32), index=True)
    group: Mapped[str] = mapped_column("group_path", String(256), default="", index=True)
    attribution: Mapped[str] = mapped_column(Text, default="")
    licence: Mapped[str] = mapped_column(String(128), default="")
    # [minlon, minlat, maxlon, maxlat] in CRS84, or null
    bbox: Mapped[list[float] | None] = mapped_column(JSON, nullable=True)
    feature_count: Mapped[int] = mapped_column(Integer, default=0)
    source: Mapped[str] = mapped_column(Text, default="")
    url: Mapped[str | None] = mapped_column(Text, nullable=True)
    visible: Mapped[bool] = mapped_column(default=True)
    opacity: Mapped[float] = mapped_column(Float, default=1.0)
    style: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    # PlanningInfo as JSON: status, legal dates, office, documents (validated by twin.catalog.schema)
    planning: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    extra: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # Optimistic locking: every UPDATE says "WHERE version = <the version read>" and bumps it, so a write
    # based on a stale read fails (StaleDataError) instead of silently overwriting a concurrent change.
    version: Mapped[int] = mapped_column(Integer, default=1)
    created: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated: Mapped[datetime] = mapped_column(DateTime(timezone=True))

    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012
