"""The layer catalog: one table of layer metadata in SQLite (default) or PostgreSQL, through SQLAlchemy."""

from twin.catalog.store import Catalog, LayerRecord

__all__ = ["Catalog", "LayerRecord"]
