"""Search and attribute summaries over features.parquet (core), /api/search and the config's properties."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import pytest
import shapely
from fastapi.testclient import TestClient

from twin.api import create_app
from twin.api.config import build_config, load_profile
from twin.catalog import Catalog, LayerRecord
from twin.search import layer_properties, normalize, search
from twin.settings import Settings


def write_layer(settings: Settings, layer_id: str = "gebaeude") -> Path:
    """A published-looking layer with three buildings in features.parquet and its catalog record."""
    folder = settings.layers_dir / layer_id
    folder.mkdir(parents=True)
    frame = gpd.GeoDataFrame(
        {
            "source_id": ["DEST0001", "DEST0002", "DEST0003"],
            "height": [12.0, 30.0, 7.5],
            "height_rule": ["attribute:hoehe"] * 3,
            "gebaeudefunktion": [1010, 2020, 1010],
            "name": [None, "Roter Turm", None],
            "strasse": ["Große Ulrichstraße", "Marktplatz", "Mühlweg"],
            "hausnummer": ["1", "", "3a"],
            "adresse": ["Große Ulrichstraße 1, 06108 Halle (Saale)", None, None],
            "baujahr": [1905.0, 1506.0, None],
        },
        geometry=[
            shapely.box(11.96, 51.48, 11.9601, 51.4801),
            shapely.box(11.97, 51.48, 11.9702, 51.4802),
            shapely.box(11.98, 51.48, 11.9801, 51.4801),
        ],
        crs="OGC:CRS84",
    )
    path = folder / "features.parquet"
    frame.to_parquet(path, index=False)
    Catalog(settings.catalog_url).upsert(LayerRecord(id=layer_id, title="Gebäude", kind="3dtiles"))
    return path


def test_normalize_folds_case_and_umlauts() -> None:
    assert normalize("Große MÜHLE") == "grosse muehle"
    assert normalize("Mühlweg") == normalize("MUEHLWEG")
    assert normalize("Café") == "cafe"


def test_search_by_address_name_and_id(settings: Settings) -> None:
    write_layer(settings)
    hits = search(settings.layers_dir, ["gebaeude"], "grosse ulrichstr 1")
    assert [hit["id"] for hit in hits] == ["DEST0001"]
    assert hits[0]["label"] == "Große Ulrichstraße 1, 06108 Halle (Saale)"
    assert hits[0]["lon"] == pytest.approx(11.96005, abs=1e-4)
    assert hits[0]["height"] == 12.0
    assert [hit["label"] for hit in search(settings.layers_dir, ["gebaeude"], "roter turm")] == ["Roter Turm"]
    assert [hit["label"] for hit in search(settings.layers_dir, ["gebaeude"], "mühlweg")] == ["Mühlweg 3a"]
    assert search(settings.layers_dir, ["gebaeude"], "dest0002")[0]["id"] == "DEST0002"
    assert search(settings.layers_dir, ["gebaeude"], "nirgendwo") == []
    assert search(settings.layers_dir, ["missing"], "markt") == []
    assert len(search(settings.layers_dir, ["gebaeude"], "dest", limit=2)) == 2


def test_properties_summarise_types_ranges_and_categories(settings: Settings) -> None:
    write_layer(settings)
    props = {p["id"]: p for p in layer_properties(settings.layers_dir, "gebaeude")}
    assert props["source_id"]["kind"] == "text"
    assert props["baujahr"] == {
        "id": "baujahr",
        "type": "number",
        "kind": "number",
        "min": 1506.0,
        "max": 1905.0,
    }
    function = props["gebaeudefunktion"]
    assert function["kind"] == "category"
    assert function["categories"] == [{"value": 1010, "count": 2}, {"value": 2020, "count": 1}]
    assert "geometry" not in props


def test_search_endpoint_and_config_properties(settings: Settings) -> None:
    write_layer(settings)
    client = TestClient(create_app(settings))
    body = client.get("/api/search", params={"q": "Marktplatz"}).json()
    assert body["results"][0]["id"] == "DEST0002"
    assert body["results"][0]["layer"] == "gebaeude"
    assert client.get("/api/search", params={"q": ""}).json()["results"] == []
    assert client.get("/api/search", params={"q": "x", "limit": 0}).status_code in (400, 422)
    config = client.get("/api/config").json()
    layer = config["layers"][0]
    assert {p["id"] for p in layer["properties"]} >= {"height", "gebaeudefunktion", "baujahr"}
    assert config["viewer"]["timezone"] == "Europe/Berlin"


def test_features_layer_gets_an_items_url() -> None:
    record = LayerRecord(id="bplan", title="B-Pläne", kind="features", extra={"items_url": "/plans.geojson"})
    config = build_config(load_profile(None), [record, LayerRecord(id="ogc", title="OGC", kind="features")])
    urls = [layer["url"] for layer in config["layers"]]
    assert urls == ["/plans.geojson", "ogc/collections/ogc/items?limit=10000"]
