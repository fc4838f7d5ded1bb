"""Catalog access: plain methods over a SQLAlchemy engine, no web framework.

The schema is brought up to date by the alembic migrations (twin.catalog.migrate) whenever a Catalog opens.
Concurrent writers cannot lose each other's updates: every row carries a ``version`` that SQLAlchemy checks
and bumps on each UPDATE (optimistic locking), ``update``/``delete`` take the version the caller's change is
based on (an HTTP If-Match) and refuse a stale one, and write transactions on SQLite begin with
``BEGIN IMMEDIATE`` so a read-modify-write never interleaves with another writer.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, event, or_, select
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.orm.exc import StaleDataError

from twin.catalog import migrate
from twin.catalog.models import LayerRow
from twin.catalog.schema import LayerRecord
from twin.errors import ConflictError, NotFoundError, PreconditionFailedError

READ_ONLY = "twin_read_only"


def _sqlite_events(engine: Engine) -> None:
    """SQLite: WAL, a busy timeout, and BEGIN IMMEDIATE for write transactions (plain BEGIN for reads)."""

    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" event below emit BEGIN itself instead of pysqlite's implicit, deferred one.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        # busy_timeout waits for the lock instead of failing. WAL lets readers go on while a writer writes.
        cursor.execute("PRAGMA busy_timeout=30000")
        _switch_to_wal(cursor)
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(connection: Connection) -> None:
        # A deferred transaction that reads and then writes fails with SQLITE_BUSY if another writer
        # committed in between; taking the write lock up front makes it wait instead.
        read_only = connection.get_execution_options().get(READ_ONLY, False)
        connection.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")


def _switch_to_wal(cursor: Any, attempts: int = 200) -> None:
    """PRAGMA journal_mode=WAL, retried: SQLite answers "database is locked" at once, without its busy handler,
    when connections switch a new database's journal mode together (four engines opening a new catalog at
    once failed about one time in twenty here)."""
    for attempt in range(attempts):
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as error:
            if "locked" not in str(error) or attempt == attempts - 1:
                raise
            time.sleep(0.05)


def _not_found(layer_id: str) -> NotFoundError:
    return NotFoundError(f"layer '{layer_id[:100]}' does not exist")


def _storable(text: str, limit: int) -> bool:
    """Whether ``text`` can be an id or group in the database (PostgreSQL refuses NUL characters)."""
    return len(text) <= limit and "\x00" not in text


def _stale(layer_id: str, version: int) -> PreconditionFailedError:
    return PreconditionFailedError(
        f"layer '{layer_id}' changed (now version {version}); reload it and apply your change again"
    )


def _values(record: LayerRecord) -> dict[str, Any]:
    """The row's column values of a record (JSON-ready: planning dates as ISO strings)."""
    return record.model_dump(mode="json", exclude={"created", "updated", "version"})


class Catalog:
    """The layer catalog behind one database URL (SQLite file or PostgreSQL)."""

    def __init__(self, url: str) -> None:
        if url.startswith("sqlite:///") and url != "sqlite:///:memory:":
            Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        self.engine: Engine = create_engine(url)
        if self.engine.dialect.name == "sqlite":
            _sqlite_events(self.engine)
        migrate.upgrade(self.engine)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        self._reads = sessionmaker(self.engine.execution_options(**{READ_ONLY: True}), expire_on_commit=False)

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A write transaction: committed on success, rolled back on any error."""
        with self._sessions() as session, session.begin():
            yield session

    @contextmanager
    def _read(self) -> Iterator[Session]:
        with self._reads() as session, session.begin():
            yield session

    def list(
        self, kind: str | None = None, group: str | None = None, text: str | None = None
    ) -> list[LayerRecord]:
        """Layers ordered by group and id; optionally of one kind, in a group (or below), matching text."""
        query = select(LayerRow).order_by(LayerRow.group, LayerRow.id)
        if kind:
            query = query.where(LayerRow.kind == kind)
        if group is not None and not _storable(group, 256):
            return []
        if group:
            query = query.where(or_(LayerRow.group == group, LayerRow.group.startswith(group + "/")))
        with self._read() as session:
            records = [LayerRecord.model_validate(row) for row in session.scalars(query)]
        if text:
            # Case-folded in Python: SQLite's LOWER() knows only ASCII, and "Straße" should find "STRASSE".
            needle = text.casefold()
            records = [
                r
                for r in records
                if needle in r.id.casefold()
                or needle in r.title.casefold()
                or needle in r.description.casefold()
            ]
        return records

    def get(self, layer_id: str) -> LayerRecord:
        """One layer; NotFoundError if there is none with this id."""
        if not _storable(layer_id, 64):
            raise _not_found(layer_id)
        with self._read() as session:
            row = session.get(LayerRow, layer_id)
            if row is None:
                raise _not_found(layer_id)
            return LayerRecord.model_validate(row)

    def upsert(self, record: LayerRecord, session: Session | None = None) -> LayerRecord:
        """Insert or replace a layer's metadata (keeps `created`, bumps `version`)."""
        if session is None:
            with self.session() as own:
                return self.upsert(record, own)
        now = datetime.now(UTC)
        row = session.get(LayerRow, record.id)
        values = _values(record)
        if row is None:
            row = LayerRow(**values, created=now, updated=now)
            session.add(row)
        else:
            for key, value in values.items():
                setattr(row, key, value)
            row.updated = now
        try:
            session.flush()
        except StaleDataError as error:
            raise _stale(record.id, row.version) from error
        return LayerRecord.model_validate(row)

    def create(self, record: LayerRecord) -> LayerRecord:
        """Add a new layer; ConflictError if the id is taken (also when two creators race)."""
        try:
            with self.session() as session:
                if session.get(LayerRow, record.id) is not None:
                    raise ConflictError(f"layer '{record.id}' already exists")
                return self.upsert(record, session)
        except IntegrityError as error:
            raise ConflictError(f"layer '{record.id}' already exists") from error

    def update(
        self, layer_id: str, changes: dict[str, Any], expected_version: int | None = None
    ) -> LayerRecord:
        """Change some fields of a layer and return it.

        With ``expected_version`` (the version the change is based on, e.g. from If-Match) the change is
        refused with PreconditionFailedError if the layer has changed since; pydantic's ValidationError if
        the merged metadata is invalid (nothing is written then).
        """
        if not _storable(layer_id, 64):
            raise _not_found(layer_id)
        with self.session() as session:
            row = session.get(LayerRow, layer_id, with_for_update=True)
            if row is None:
                raise _not_found(layer_id)
            current = LayerRecord.model_validate(row)
            if expected_version is not None and current.version != expected_version:
                raise _stale(layer_id, current.version)
            merged = LayerRecord.model_validate(current.model_dump() | changes | {"id": layer_id})
            return self.upsert(merged, session)

    def delete(self, layer_id: str, expected_version: int | None = None) -> None:
        """Remove a layer's metadata; NotFoundError if absent, PreconditionFailedError if it changed."""
        if not _storable(layer_id, 64):
            raise _not_found(layer_id)
        with self.session() as session:
            row = session.get(LayerRow, layer_id, with_for_update=True)
            if row is None:
                raise _not_found(layer_id)
            if expected_version is not None and row.version != expected_version:
                raise _stale(layer_id, row.version)
            session.delete(row)
            try:
                session.flush()
            except StaleDataError as error:
                raise _stale(layer_id, row.version) from error

    def close(self) -> None:
        """Release the database connections."""
        self.engine.dispose()
