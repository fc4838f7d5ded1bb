"""Alembic migrations of the catalog; run by ``twin.catalog.migrate.upgrade`` when a Catalog opens."""
