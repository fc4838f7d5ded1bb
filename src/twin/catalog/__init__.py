"""The layer catalog: layer metadata in SQLite (default) or PostgreSQL, through SQLAlchemy and alembic."""

from twin.catalog.schema import (
    DocumentLink,
    LayerKind,
    LayerRecord,
    PlanDates,
    PlanningInfo,
    PlanStatus,
)
from twin.catalog.store import Catalog

__all__ = ["Catalog", "DocumentLink", "LayerKind", "LayerRecord", "PlanDates", "PlanStatus", "PlanningInfo"]
