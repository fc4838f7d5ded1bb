"""Catalog access: plain functions over a SQLAlchemy engine, no web framework."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import create_engine, event, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from twin.catalog.models import Base, LayerRow
from twin.errors import NotFoundError


class LayerRecord(BaseModel):
    """Metadata of one layer as the catalog stores it."""

    model_config = ConfigDict(from_attributes=True)

    id: str
    title: str
    description: str = ""
    kind: str = "3dtiles"
    group: str = ""
    attribution: str = ""
    licence: str = ""
    bbox: list[float] | None = None
    feature_count: int = 0
    source: str = ""
    url: str | None = None
    visible: bool = True
    opacity: float = 1.0
    style: dict[str, Any] | None = None
    planning: dict[str, Any] | None = None
    extra: dict[str, Any] = Field(default_factory=dict)
    version: int = 1
    created: datetime | None = None
    updated: datetime | None = None


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # WAL lets the server read while an ingest writes; busy_timeout waits instead of failing at once.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()


class Catalog:
    """The layer catalog behind one database URL."""

    def __init__(self, url: str) -> None:
        if url.startswith("sqlite:///"):
            Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        self.engine: Engine = create_engine(url, future=True)
        if self.engine.dialect.name == "sqlite":
            event.listen(self.engine, "connect", _sqlite_pragmas)
        Base.metadata.create_all(self.engine)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A transaction: committed on success, rolled back on any error."""
        with self._sessions() as session, session.begin():
            yield session

    def list(self) -> list[LayerRecord]:
        """All layers, ordered by group and id."""
        with self.session() as session:
            rows = session.scalars(select(LayerRow).order_by(LayerRow.group, LayerRow.id)).all()
            return [LayerRecord.model_validate(row) for row in rows]

    def get(self, layer_id: str) -> LayerRecord:
        """One layer; NotFoundError if there is none with this id."""
        with self.session() as session:
            row = session.get(LayerRow, layer_id)
            if row is None:
                raise NotFoundError(f"layer '{layer_id}' does not exist")
            return LayerRecord.model_validate(row)

    def upsert(self, record: LayerRecord, session: Session | None = None) -> LayerRecord:
        """Insert or replace a layer's metadata (keeps `created`, bumps `version`)."""
        if session is None:
            with self.session() as own:
                return self.upsert(record, own)
        now = datetime.now(UTC)
        row = session.get(LayerRow, record.id)
        values = record.model_dump(exclude={"created", "updated", "version"})
        if row is None:
            row = LayerRow(**values, created=now, updated=now, version=1)
            session.add(row)
        else:
            for key, value in values.items():
                setattr(row, key, value)
            row.updated = now
            row.version = row.version + 1
        session.flush()
        return LayerRecord.model_validate(row)

    def delete(self, layer_id: str) -> None:
        """Remove a layer's metadata; NotFoundError if absent."""
        with self.session() as session:
            row = session.get(LayerRow, layer_id)
            if row is None:
                raise NotFoundError(f"layer '{layer_id}' does not exist")
            session.delete(row)
