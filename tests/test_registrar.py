"""Large ingests publish and register through a helper process (twin.registrar): same result, same safety."""

from __future__ import annotations

from pathlib import Path

import pytest

import twin.registrar
from twin.catalog import Catalog
from twin.errors import PublishError
from twin.pipeline import IngestOptions, ingest
from twin.settings import Settings

SAMPLE = Path(__file__).resolve().parents[1] / "data" / "samples" / "halle-altstadt.gpkg"


@pytest.fixture
def always_registrar(monkeypatch: pytest.MonkeyPatch) -> None:
    # Every input counts as large: the helper process does the publishing.
    monkeypatch.setattr(twin.registrar, "REGISTRAR_MIN_BYTES", 0)


def test_helper_process_registers_and_keeps_curated_metadata(tmp_path: Path, always_registrar: None) -> None:
    settings = Settings(data_dir=tmp_path / "data")
    report = ingest([SAMPLE], IngestOptions(layer_id="altstadt", title="Altstadt"), settings)
    catalog = Catalog(settings.catalog_url)
    record = catalog.get("altstadt")
    assert record.title == "Altstadt"
    assert record.feature_count == report["features_written"] > 3000
    assert (settings.data_dir / "layers" / "altstadt" / "tileset.json").is_file()
    # A planner's description survives a re-ingest through the helper.
    catalog.update("altstadt", {"description": "Stand 2026"}, expected_version=record.version)
    ingest([SAMPLE], IngestOptions(layer_id="altstadt"), settings)
    again = Catalog(settings.catalog_url).get("altstadt")
    assert again.description == "Stand 2026"
    assert again.title == "Altstadt"


def test_helper_failure_is_raised_and_nothing_is_published(tmp_path: Path, always_registrar: None) -> None:
    settings = Settings(data_dir=tmp_path / "data")
    ingest([SAMPLE], IngestOptions(layer_id="altstadt"), settings)
    published = (settings.data_dir / "layers" / "altstadt").resolve()
    # The catalog cannot be opened in the helper (nothing listens on port 1): the ingest fails, and the
    # earlier version stays.
    broken = Settings(data_dir=tmp_path / "data", database_url="postgresql+psycopg://twin@127.0.0.1:1/twin")
    with pytest.raises(PublishError, match="registering the layer failed"):
        ingest([SAMPLE], IngestOptions(layer_id="altstadt"), broken)
    assert (settings.data_dir / "layers" / "altstadt").resolve() == published
    assert not list((settings.data_dir / "versions" / "altstadt").glob("*.partial"))
