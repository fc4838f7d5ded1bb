"""Alembic revision scripts of the catalog, oldest first."""
