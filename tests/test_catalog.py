"""The layer catalog against SQLite and a real PostgreSQL: migrations, metadata, concurrent edits.

Every test runs twice through the ``database_url`` fixture: on a SQLite file in tmp_path, and on PostgreSQL
in a fresh schema (dropped afterwards) of the database that TWIN_TEST_POSTGRES_URL names. The PostgreSQL
runs skip, saying why, when that variable is unset or the server cannot be reached.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from pydantic import ValidationError
from sqlalchemy import create_engine, inspect, make_url, text
from sqlalchemy.engine import Engine

from twin.catalog import Catalog, LayerRecord, PlanningInfo, migrate
from twin.catalog.models import Base
from twin.errors import ConflictError, NotFoundError, PreconditionFailedError

POSTGRES_ENV = "TWIN_TEST_POSTGRES_URL"


def _postgres_url() -> str:
    """The PostgreSQL server to test against, or skip with the reason."""
    url = os.environ.get(POSTGRES_ENV)
    if not url:
        pytest.skip(
            f"{POSTGRES_ENV} is not set (e.g. postgresql+psycopg://twin_test:twin_test@127.0.0.1/twin_test)"
        )
    engine = create_engine(url, connect_args={"connect_timeout": 3})
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except Exception as error:  # any driver error means: no usable server here
        pytest.skip(f"PostgreSQL at {make_url(url).render_as_string()} is not reachable: {error}")
    finally:
        engine.dispose()
    return url


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Any) -> Iterator[str]:
    """A catalog URL on an empty database: a SQLite file, or a fresh PostgreSQL schema dropped afterwards."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'catalog.sqlite'}"
        return
    base = _postgres_url()
    schema = f"twin_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(base)
    with admin.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        url = make_url(base).update_query_dict({"options": f"-csearch_path={schema}"})
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.begin() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture
def catalog(database_url: str) -> Iterator[Catalog]:
    """An opened (migrated) catalog on an empty database."""
    opened = Catalog(database_url)
    yield opened
    opened.close()


def _revision(engine: Engine) -> str | None:
    with engine.connect() as connection:
        return migrate.current_revision(connection)


def planning_layer(layer_id: str = "bplan-32") -> LayerRecord:
    """A planning layer with every kind of planning metadata."""
    return LayerRecord(
        id=layer_id,
        title="B-Plan Nr. 32 „Am Markt“",
        kind="wms",
        url="https://geodienste.example.de/wms?SERVICE=WMS",
        group="planung/bebauungspläne",
        licence="dl-de/by-2-0",
        attribution="Stadt Halle (Saale)",
        bbox=[11.96, 51.47, 11.98, 51.49],
        style={
            "color": {
                "conditions": [["${status} === 'Satzung'", "color('orange')"], ["true", "color('white')"]]
            }
        },
        planning=PlanningInfo.model_validate(
            {
                "status": "InkraftGetreten",
                "number": "32",
                "dates": {
                    "aufstellungsbeschluss": "2019-03-27",
                    "auslegung_start": "2020-05-04",
                    "auslegung_ende": "2020-06-05",
                    "satzungsbeschluss": "2021-02-24",
                    "inkrafttreten": "2021-04-16",
                },
                "office": "Fachbereich Städtebau und Bauordnung",
                "style_attribute": "planart",
                "colors": {"1000": "#e41a1c", "2000": "rgb(55, 126, 184)", "3000": "orange"},
                "documents": [
                    {
                        "title": "Planzeichnung",
                        "url": "https://example.de/bplan32.pdf",
                        "media_type": "application/pdf",
                    },
                    {
                        "title": "Begründung",
                        "url": "https://example.de/bplan32-begruendung.pdf",
                        "language": "de",
                    },
                ],
            }
        ),
    )


# --- migrations -------------------------------------------------------------------------------------------


def test_known_head_is_alembics_head() -> None:
    # An up-to-date catalog opens without alembic by comparing with this constant: a new migration must bump it.
    assert migrate.head_revision() == migrate.HEAD_REVISION


def test_migrates_an_empty_database_to_head(database_url: str) -> None:
    catalog = Catalog(database_url)
    try:
        assert _revision(catalog.engine) == migrate.head_revision()
        inspector = inspect(catalog.engine)
        assert "layers" in inspector.get_table_names()
        assert {index["name"] for index in inspector.get_indexes("layers")} >= {
            "ix_layers_kind",
            "ix_layers_group_path",
        }
        assert catalog.list() == []
    finally:
        catalog.close()


def test_models_match_the_migrations(database_url: str) -> None:
    # A model change without a revision (or the reverse) shows up here as a difference. The revisions run
    # through alembic here (naming the head revision takes that path even on an empty database).
    engine = create_engine(database_url)
    try:
        migrate.upgrade(engine, migrate.HEAD_REVISION)
        with engine.connect() as connection:
            assert migrate.current_revision(connection) == migrate.HEAD_REVISION
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            assert compare_metadata(context, Base.metadata) == []
    finally:
        engine.dispose()


def test_a_new_catalog_gets_the_migrated_schema_without_running_the_migrations(database_url: str) -> None:
    # Catalog() on an empty database creates the schema from the models and stamps it: it must be what
    # the migrations make, indexes and all, and later migrations must find it at head.
    catalog = Catalog(database_url)
    try:
        with catalog.engine.connect() as connection:
            assert migrate.current_revision(connection) == migrate.HEAD_REVISION
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            assert compare_metadata(context, Base.metadata) == []
        migrated = create_engine(
            f"sqlite:///{Path(database_url.removeprefix('sqlite:///')).parent / 'm.sqlite'}"
        )
        if catalog.engine.dialect.name == "sqlite":
            migrate.upgrade(migrated, migrate.HEAD_REVISION)
            ours, theirs = inspect(catalog.engine), inspect(migrated)
            for table in ("layers", "alembic_version"):
                assert _shape(ours, table) == _shape(theirs, table)
        migrated.dispose()
    finally:
        catalog.close()


def _shape(inspector: Any, table: str) -> tuple[Any, ...]:
    columns = [(c["name"], str(c["type"]), c["nullable"]) for c in inspector.get_columns(table)]
    indexes = sorted(
        (i["name"], tuple(i["column_names"]), bool(i["unique"])) for i in inspector.get_indexes(table)
    )
    primary = inspector.get_pk_constraint(table)["constrained_columns"]
    return tuple(columns), tuple(indexes), tuple(primary)


def test_opening_again_is_idempotent_and_keeps_data(database_url: str) -> None:
    first = Catalog(database_url)
    first.upsert(planning_layer())
    first.close()
    for _ in range(2):
        again = Catalog(database_url)
        assert _revision(again.engine) == migrate.head_revision()
        [layer] = again.list()
        assert layer.version == 1
        assert layer.planning == planning_layer().planning
        again.close()


def test_downgrade_then_upgrade_keeps_rows(catalog: Catalog, database_url: str) -> None:
    catalog.upsert(planning_layer())
    migrate.downgrade(catalog.engine, "0001")
    assert _revision(catalog.engine) == "0001"
    assert "ix_layers_kind" not in {index["name"] for index in inspect(catalog.engine).get_indexes("layers")}
    reopened = Catalog(database_url)
    assert _revision(reopened.engine) == migrate.head_revision()
    assert reopened.get("bplan-32").title == planning_layer().title
    reopened.close()


def test_database_made_before_migrations_is_stamped_and_upgraded(database_url: str) -> None:
    # What create_all made before alembic: the layers table of revision 0001 and no alembic_version table.
    engine = create_engine(database_url)
    migrate.upgrade(engine, "0001")
    with engine.begin() as connection:
        connection.execute(text("DROP TABLE alembic_version"))
        connection.execute(
            text(
                "INSERT INTO layers (id, title, description, kind, group_path, attribution, licence, "
                "feature_count, source, visible, opacity, extra, version, created, updated) VALUES "
                "('old', 'Alt', '', '3dtiles', '', '', '', 5, '', true, 1.0, '{}', 3, :now, :now)"
            ),
            {"now": datetime(2025, 1, 1, tzinfo=UTC)},
        )
    engine.dispose()
    catalog = Catalog(database_url)
    assert _revision(catalog.engine) == migrate.head_revision()
    old = catalog.get("old")
    assert (old.title, old.feature_count, old.version) == ("Alt", 5, 3)
    catalog.close()


def test_processes_opening_a_new_catalog_at_once_all_succeed(database_url: str) -> None:
    # Separate engines (as separate processes have) racing to migrate the same empty database.
    barrier = threading.Barrier(4)
    errors: list[BaseException] = []
    opened: list[Catalog] = []

    def open_catalog() -> None:
        try:
            barrier.wait()
            opened.append(Catalog(database_url))
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=open_catalog) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    assert len(opened) == 4
    assert {_revision(catalog.engine) for catalog in opened} == {migrate.head_revision()}
    for catalog in opened:
        catalog.close()


def test_separate_processes_opening_a_new_catalog_at_once(database_url: str) -> None:
    # Real processes (a server and ingests starting together): each migrates if needed and registers a layer.
    script = (
        "import sys\n"
        "from twin.catalog import Catalog, LayerRecord\n"
        "catalog = Catalog(sys.argv[1])\n"
        "catalog.upsert(LayerRecord(id=sys.argv[2], title=sys.argv[2]))\n"
    )
    processes = [
        subprocess.Popen([sys.executable, "-c", script, database_url, f"layer-{n}"], stderr=subprocess.PIPE)
        for n in range(3)
    ]
    failures = [
        proc.communicate(timeout=120)[1].decode() for proc in processes if proc.wait(timeout=120) != 0
    ]
    assert failures == []
    catalog = Catalog(database_url)
    assert [layer.id for layer in catalog.list()] == ["layer-0", "layer-1", "layer-2"]
    catalog.close()


# --- metadata ---------------------------------------------------------------------------------------------


def test_round_trip_of_all_metadata(catalog: Catalog) -> None:
    stored = catalog.upsert(planning_layer())
    loaded = catalog.get("bplan-32")
    assert loaded == stored
    assert loaded.planning is not None
    assert loaded.planning.dates.inkrafttreten == date(2021, 4, 16)
    assert [doc.title for doc in loaded.planning.documents] == ["Planzeichnung", "Begründung"]
    assert loaded.style == planning_layer().style
    assert loaded.bbox == [11.96, 51.47, 11.98, 51.49]
    assert loaded.created is not None and loaded.created.tzinfo is not None
    assert loaded.updated is not None and loaded.created <= loaded.updated
    assert loaded.version == 1


def test_upsert_keeps_created_and_bumps_version(catalog: Catalog) -> None:
    first = catalog.upsert(LayerRecord(id="gebaeude", title="Gebäude", feature_count=10))
    second = catalog.upsert(LayerRecord(id="gebaeude", title="Gebäude (neu)", feature_count=12))
    assert second.version == 2
    assert second.created == first.created
    assert second.updated is not None and first.updated is not None and second.updated >= first.updated
    assert catalog.get("gebaeude").feature_count == 12


def test_pipeline_style_session_upsert(catalog: Catalog) -> None:
    # The ingest registers inside catalog.session() together with publishing: an error rolls both back.
    with pytest.raises(RuntimeError), catalog.session() as session:
        catalog.upsert(LayerRecord(id="half", title="Halb"), session)
        raise RuntimeError("publishing failed")
    with pytest.raises(NotFoundError):
        catalog.get("half")
    with catalog.session() as session:
        catalog.upsert(LayerRecord(id="whole", title="Ganz"), session)
    assert catalog.get("whole").title == "Ganz"


def test_list_filters(catalog: Catalog) -> None:
    catalog.upsert(planning_layer())
    catalog.upsert(LayerRecord(id="gebaeude", title="Gebäude", group="basis", description="LoD1 Straße"))
    catalog.upsert(
        LayerRecord(id="luftbild", title="Luftbild", kind="wmts", url="https://x.de/wmts", group="basis")
    )
    assert [layer.id for layer in catalog.list()] == ["gebaeude", "luftbild", "bplan-32"]
    assert [layer.id for layer in catalog.list(kind="wmts")] == ["luftbild"]
    assert [layer.id for layer in catalog.list(group="planung")] == ["bplan-32"]
    assert catalog.list(group="plan") == []
    assert [layer.id for layer in catalog.list(text="STRASSE")] == ["gebaeude"]  # casefold: ß is ss
    assert [layer.id for layer in catalog.list(text="straße")] == ["gebaeude"]
    assert [layer.id for layer in catalog.list(text="MARKT")] == ["bplan-32"]
    assert catalog.list(group="a\x00b") == []


def test_create_conflict_and_delete(catalog: Catalog) -> None:
    catalog.create(LayerRecord(id="a", title="A"))
    with pytest.raises(ConflictError):
        catalog.create(LayerRecord(id="a", title="A again"))
    catalog.delete("a")
    with pytest.raises(NotFoundError):
        catalog.get("a")
    with pytest.raises(NotFoundError):
        catalog.delete("a")
    with pytest.raises(NotFoundError):
        catalog.get("x\x00y")


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"kind": "wms"}, "needs a url"),
        ({"kind": "xyz", "url": "ftp://tiles.example.de/{z}/{x}/{y}.png"}, "http"),
        ({"kind": "external-3dtiles", "url": "javascript:alert(1)"}, "http"),
        ({"kind": "wmts", "url": "https:///no-host"}, "host"),
        ({"bbox": [11, 52, 12, 51]}, "south <= north"),
        ({"bbox": [11, 51, 12]}, "4 finite numbers"),
        ({"opacity": 1.5}, "less than or equal"),
        ({"planning": {"status": "Genehmigt"}}, "InkraftGetreten"),
        (
            {
                "planning": {
                    "dates": {"aufstellungsbeschluss": "2021-01-01", "satzungsbeschluss": "2020-01-01"}
                }
            },
            "before",
        ),
        ({"planning": {"documents": [{"title": "Plan", "url": "file:///etc/passwd"}]}}, "http"),
        ({"planning": {"office": "x", "unknown": 1}}, "Extra inputs"),
        ({"style": {"color": {"conditions": "red"}}}, "conditions"),
        ({"planning": {"colors": {"1000": "red; background: url(x)"}}}, "pattern"),
        ({"title": "nul\x00"}, "NUL"),
    ],
)
def test_invalid_metadata_is_refused(values: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        LayerRecord.model_validate({"id": "x", "title": "X"} | values)


def test_external_layers_with_url_templates_are_fine() -> None:
    layer = LayerRecord(id="osm", title="OSM", kind="xyz", url="https://tile.example.org/{z}/{x}/{y}.png")
    assert layer.url is not None and "{z}" in layer.url


# --- concurrent edits -------------------------------------------------------------------------------------


def test_stale_version_is_refused_and_nothing_lost(catalog: Catalog) -> None:
    catalog.create(planning_layer())
    # Two editors read version 1; the first saves, the second's change (based on version 1) is refused.
    alice_read = catalog.get("bplan-32").version
    bob_read = catalog.get("bplan-32").version
    saved = catalog.update("bplan-32", {"opacity": 0.4}, expected_version=alice_read)
    assert saved.version == 2
    with pytest.raises(PreconditionFailedError, match="version 2"):
        catalog.update("bplan-32", {"title": "Bob's title"}, expected_version=bob_read)
    current = catalog.get("bplan-32")
    assert (current.opacity, current.title, current.version) == (0.4, planning_layer().title, 2)
    # Bob reloads and applies again: both changes are kept.
    merged = catalog.update("bplan-32", {"title": "Bob's title"}, expected_version=current.version)
    assert (merged.opacity, merged.title, merged.version) == (0.4, "Bob's title", 3)
    with pytest.raises(PreconditionFailedError):
        catalog.delete("bplan-32", expected_version=2)
    catalog.delete("bplan-32", expected_version=3)


def test_invalid_update_changes_nothing(catalog: Catalog) -> None:
    catalog.create(LayerRecord(id="luftbild", title="Luftbild", kind="wmts", url="https://x.de/wmts"))
    with pytest.raises(ValidationError):
        catalog.update("luftbild", {"url": None})
    assert catalog.get("luftbild").url == "https://x.de/wmts"
    assert catalog.get("luftbild").version == 1


def test_concurrent_editors_lose_no_update(catalog: Catalog) -> None:
    """Four editors append to one list at once, each with read, If-Match write, reload and retry on 412."""
    catalog.create(LayerRecord(id="shared", title="Shared", extra={"edits": []}))
    editors, edits_each = 4, 5
    barrier = threading.Barrier(editors)
    errors: list[BaseException] = []
    refusals = [0] * editors

    def edit(editor: int) -> None:
        try:
            barrier.wait()
            for n in range(edits_each):
                while True:
                    current = catalog.get("shared")
                    edits = [*current.extra["edits"], f"{editor}-{n}"]
                    try:
                        catalog.update(
                            "shared", {"extra": {"edits": edits}}, expected_version=current.version
                        )
                        break
                    except PreconditionFailedError:
                        refusals[editor] += 1
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=edit, args=(editor,)) for editor in range(editors)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert errors == []
    final = catalog.get("shared")
    assert sorted(final.extra["edits"]) == sorted(
        f"{e}-{n}" for e in range(editors) for n in range(edits_each)
    )
    assert final.version == 1 + editors * edits_each


def test_updates_without_version_merge_fields_under_the_lock(catalog: Catalog) -> None:
    """Editors changing different fields without If-Match never undo each other's fields."""
    catalog.create(LayerRecord(id="fields", title="Fields"))
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def set_field(changes: list[dict[str, Any]]) -> None:
        try:
            barrier.wait()
            for change in changes:
                catalog.update("fields", change)
        except BaseException as error:
            errors.append(error)

    opacity = [{"opacity": round(0.05 * i, 2)} for i in range(1, 11)]
    titles = [{"title": f"Title {i}"} for i in range(1, 11)]
    threads = [threading.Thread(target=set_field, args=(changes,)) for changes in (opacity, titles)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert errors == []
    final = catalog.get("fields")
    assert (final.opacity, final.title, final.version) == (0.5, "Title 10", 21)
