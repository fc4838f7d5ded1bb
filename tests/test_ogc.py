"""OGC API Features under /ogc, against layers ingested by the real pipeline.

Read-only tests share one ingest of the sample city (data/samples/halle-altstadt.gpkg) per module; tests that
change the data dir make their own. The 100,000-building layer is generated and ingested once per session.
"""

from __future__ import annotations

import importlib.util
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pytest
import shapely
from conftest import BRITTANY, GRID_DIR
from fastapi.testclient import TestClient
from shapely.geometry import box

from twin.api import create_app
from twin.catalog import Catalog, LayerRecord
from twin.features import FeatureStore
from twin.pipeline import IngestOptions, ingest
from twin.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
SAMPLE_CITY = ROOT / "data" / "samples" / "halle-altstadt.gpkg"
TILESET_REL = "http://www.opengis.net/def/rel/ogc/1.0/tileset"
CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"


def _settings(data_dir: Path) -> Settings:
    return Settings(data_dir=data_dir, grid_dirs=[GRID_DIR] if GRID_DIR.is_dir() else [])


@pytest.fixture(scope="module")
def city(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """A data dir with the sample city ingested as layer 'altstadt', an external WMS and an unpublished layer."""
    settings = _settings(tmp_path_factory.mktemp("ogc") / "data")
    ingest(
        [SAMPLE_CITY],
        IngestOptions(
            layer_id="altstadt", title="Altstadt", licence="dl-de/by-2-0", attribution="Stadt Halle"
        ),
        settings,
    )
    catalog = Catalog(settings.catalog_url)
    catalog.upsert(LayerRecord(id="bplan", title="B-Pläne", kind="wms", url="https://example.de/wms"))
    catalog.upsert(LayerRecord(id="unpublished", title="Noch nicht", kind="3dtiles"))
    catalog.close()
    return settings


@pytest.fixture
def client(city: Settings) -> Iterator[TestClient]:
    """A fresh app on the sample city's data dir."""
    with TestClient(create_app(city)) as test_client:
        yield test_client


@pytest.fixture(scope="module")
def footprints(city: Settings) -> gpd.GeoDataFrame:
    """The published features of 'altstadt', read independently with geopandas."""
    path = FeatureStore(city.data_dir).path("altstadt")
    assert path is not None
    return gpd.read_parquet(path)


def _problem(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    return body


def _rel(links: list[dict[str, str]], rel: str) -> dict[str, str]:
    [link] = [link for link in links if link["rel"] == rel]
    return link


def _path(href: str) -> str:
    return href.removeprefix("http://testserver")


# --- landing page, conformance, collections -----------------------------------------------------------------


def test_landing_page_links(client: TestClient) -> None:
    response = client.get("/ogc")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    links = response.json()["links"]
    assert _path(_rel(links, "self")["href"]) == "/ogc"
    assert _path(_rel(links, "conformance")["href"]) == "/ogc/conformance"
    assert _path(_rel(links, "data")["href"]) == "/ogc/collections"
    service_desc = _rel(links, "service-desc")
    assert service_desc["type"].startswith("application/vnd.oai.openapi+json")
    paths = client.get(_path(service_desc["href"])).json()["paths"]
    assert "/ogc/collections/{collection_id}/items" in paths
    parameters = {p["name"] for p in paths["/ogc/collections/{collection_id}/items"]["get"]["parameters"]}
    assert parameters >= {"collection_id", "bbox", "limit", "offset"}


def test_conformance_classes(client: TestClient) -> None:
    classes = client.get("/ogc/conformance").json()["conformsTo"]
    for name in ("core", "geojson", "oas30"):
        assert f"http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/{name}" in classes


def test_collections_list_ingested_layers_with_features(client: TestClient, city: Settings) -> None:
    body = client.get("/ogc/collections").json()
    assert _path(_rel(body["links"], "self")["href"]) == "/ogc/collections"
    assert [c["id"] for c in body["collections"]] == ["altstadt"]  # not the WMS, not the unpublished layer
    [altstadt] = body["collections"]
    assert altstadt["title"] == "Altstadt"
    assert _rel(altstadt["links"], "items")["type"] == "application/geo+json"
    tileset = _rel(altstadt["links"], TILESET_REL)
    assert tileset["type"] == "application/json"
    assert _path(tileset["href"]) == "/tiles/altstadt/tileset.json"
    assert _rel(altstadt["links"], "license")["href"] == "https://www.govdata.de/dl-de/by-2-0"


def test_collection_extent_from_catalog_bbox(client: TestClient, city: Settings) -> None:
    body = client.get("/ogc/collections/altstadt").json()
    catalog_bbox = Catalog(city.catalog_url).get("altstadt").bbox
    assert body["extent"]["spatial"] == {"bbox": [catalog_bbox], "crs": CRS84}
    assert body["crs"] == [CRS84]
    assert body["itemType"] == "feature"


@pytest.mark.parametrize("collection", ["nope", "bplan", "unpublished", "%2e%2e", "a%00b"])
def test_unknown_collection_is_404(client: TestClient, collection: str) -> None:
    for suffix in ("", "/items", "/items/DESTLIB3SJMU2KZF"):
        body = _problem(client.get(f"/ogc/collections/{collection}{suffix}"), 404)
        assert body["code"] == "NotFound"


# --- items --------------------------------------------------------------------------------------------------


def test_items_default_page(client: TestClient, footprints: gpd.GeoDataFrame) -> None:
    response = client.get("/ogc/collections/altstadt/items")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/geo+json"
    body = response.json()
    assert body["type"] == "FeatureCollection"
    assert body["numberMatched"] == len(footprints)
    assert body["numberReturned"] == len(body["features"]) == 10
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", body["timeStamp"])
    assert "prev" not in {link["rel"] for link in body["links"]}
    first = body["features"][0]
    assert first["id"] == footprints["source_id"].iloc[0]
    assert first["properties"]["height"] == pytest.approx(footprints["height"].iloc[0])
    assert shapely.equals_exact(shapely.geometry.shape(first["geometry"]), footprints.geometry.iloc[0], 1e-12)


def test_paging_links_visit_every_feature_once(client: TestClient, footprints: gpd.GeoDataFrame) -> None:
    url: str | None = "/ogc/collections/altstadt/items?limit=700"
    seen: list[str] = []
    pages = 0
    while url is not None:
        body = client.get(url).json()
        pages += 1
        assert body["numberReturned"] == len(body["features"]) <= 700
        seen += [feature["id"] for feature in body["features"]]
        next_links = [link for link in body["links"] if link["rel"] == "next"]
        url = _path(next_links[0]["href"]) if next_links else None
    assert pages == -(-len(footprints) // 700)
    assert seen == list(footprints["source_id"])


def test_prev_and_next_keep_the_other_parameters(client: TestClient) -> None:
    body = client.get("/ogc/collections/altstadt/items?funktion_text=Wohnhaus&limit=5&offset=10").json()
    for rel, offset in (("next", "15"), ("prev", "5"), ("self", "10")):
        href = _rel(body["links"], rel)["href"]
        assert "funktion_text=Wohnhaus" in href and "limit=5" in href and f"offset={offset}" in href
    last = client.get(
        f"/ogc/collections/altstadt/items?funktion_text=Wohnhaus&offset={body['numberMatched'] - 1}"
    )
    assert "next" not in {link["rel"] for link in last.json()["links"]}


def test_bbox_matches_shapely(client: TestClient, footprints: gpd.GeoDataFrame) -> None:
    west, south, east, north = footprints.total_bounds
    width, height = east - west, north - south
    query = (west + 0.4 * width, south + 0.4 * height, west + 0.55 * width, south + 0.52 * height)
    response = client.get(
        "/ogc/collections/altstadt/items", params={"bbox": ",".join(map(str, query)), "limit": 10000}
    )
    body = response.json()
    expected = footprints.loc[footprints.intersects(box(*query)), "source_id"].tolist()
    assert 0 < len(expected) < len(footprints)
    assert body["numberMatched"] == len(expected)
    assert [feature["id"] for feature in body["features"]] == expected


def test_bbox_with_heights_uses_the_horizontal_box(client: TestClient) -> None:
    two_d = client.get("/ogc/collections/altstadt/items", params={"bbox": "11.96,51.48,11.97,51.485"}).json()
    three_d = client.get(
        "/ogc/collections/altstadt/items", params={"bbox": "11.96,51.48,-100,11.97,51.485,500"}
    ).json()
    assert two_d["numberMatched"] == three_d["numberMatched"] > 0


def test_attribute_filters_typed_by_column(client: TestClient, footprints: gpd.GeoDataFrame) -> None:
    cases: list[tuple[dict[str, str], Any]] = [
        ({"funktion_text": "Wohnhaus"}, footprints["funktion_text"] == "Wohnhaus"),
        ({"gebaeudefunktion": "1010"}, footprints["gebaeudefunktion"] == 1010),
        (
            {"hoehe": str(footprints["hoehe"].dropna().iloc[0])},
            footprints["hoehe"] == footprints["hoehe"].dropna().iloc[0],
        ),
        (
            {"plz": "06108", "funktion_text": "Wohnhaus"},
            (footprints["plz"] == "06108") & (footprints["funktion_text"] == "Wohnhaus"),
        ),
    ]
    for params, expected in cases:
        body = client.get("/ogc/collections/altstadt/items", params=params | {"limit": "10000"}).json()
        assert body["numberMatched"] == int(expected.sum()) > 0, params
        assert [f["id"] for f in body["features"]] == footprints.loc[expected, "source_id"].tolist()
    none = client.get("/ogc/collections/altstadt/items", params={"funktion_text": "Schloss Neuschwanstein"})
    assert none.json()["numberMatched"] == 0


def test_filter_and_bbox_combine(client: TestClient, footprints: gpd.GeoDataFrame) -> None:
    query = (11.96, 51.478, 11.975, 51.488)
    expected = footprints.intersects(box(*query)) & (footprints["funktion_text"] == "Wohnhaus")
    body = client.get(
        "/ogc/collections/altstadt/items",
        params={"bbox": ",".join(map(str, query)), "funktion_text": "Wohnhaus", "limit": "10000"},
    ).json()
    assert body["numberMatched"] == int(expected.sum()) > 0


@pytest.mark.parametrize(
    "params",
    [
        {"bbox": "11.9,51.4,12.0"},
        {"bbox": "11.9,51.4,12.0,51.5,1"},
        {"bbox": "a,b,c,d"},
        {"bbox": "11.9,51.5,12.0,51.4"},
        {"bbox": "11.9,-91,12.0,51.4"},
        {"bbox": "-181,51.4,12.0,51.5"},
        {"bbox": "nan,51.4,12.0,51.5"},
        {"bbox": ""},
        {"limit": "0"},
        {"limit": "ten"},
        {"offset": "-1"},
        {"datetime": "yesterday"},
        {"f": "html"},
        {"gebaeudefunktion": "Wohnhaus"},
        {"hoehe": "inf"},
        {"colour": "red"},
    ],
)
def test_invalid_parameters_are_400(client: TestClient, params: dict[str, str]) -> None:
    body = _problem(client.get("/ogc/collections/altstadt/items", params=params), 400)
    assert body["code"] == "InvalidParameterValue"
    assert body["detail"]


def test_repeated_parameter_is_400(client: TestClient) -> None:
    _problem(client.get("/ogc/collections/altstadt/items?limit=1&limit=2"), 400)


def test_limit_above_maximum_is_served_as_maximum(client: TestClient) -> None:
    body = client.get("/ogc/collections/altstadt/items", params={"limit": "50000"}).json()
    assert body["numberReturned"] == min(10_000, body["numberMatched"])
    assert "limit=10000" in _rel(body["links"], "self")["href"]


def test_offset_beyond_the_end_is_an_empty_page(client: TestClient) -> None:
    body = client.get("/ogc/collections/altstadt/items", params={"offset": "1000000"}).json()
    assert body["numberReturned"] == 0 and body["features"] == []
    assert body["numberMatched"] > 0


def test_antimeridian_bbox_is_two_boxes(client: TestClient) -> None:
    body = client.get("/ogc/collections/altstadt/items", params={"bbox": "170,51.4,12.0,51.5"}).json()
    everything = client.get("/ogc/collections/altstadt/items").json()
    assert body["numberMatched"] == everything["numberMatched"]
    assert (
        client.get("/ogc/collections/altstadt/items", params={"bbox": "170,51.4,-170,51.5"}).json()[
            "numberMatched"
        ]
        == 0
    )


# --- single features ----------------------------------------------------------------------------------------


def test_single_feature(client: TestClient, footprints: gpd.GeoDataFrame) -> None:
    row = footprints.iloc[123]
    response = client.get(f"/ogc/collections/altstadt/items/{row['source_id']}")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/geo+json"
    feature = response.json()
    assert feature["type"] == "Feature"
    assert feature["id"] == row["source_id"]
    assert feature["properties"]["funktion_text"] == row["funktion_text"]
    assert shapely.equals_exact(shapely.geometry.shape(feature["geometry"]), row.geometry, 1e-12)
    assert _path(_rel(feature["links"], "collection")["href"]) == "/ogc/collections/altstadt"


def test_unknown_feature_is_404(client: TestClient) -> None:
    body = _problem(client.get("/ogc/collections/altstadt/items/no-such-building"), 404)
    assert "no-such-building" in body["detail"]


# --- layers made in the test: small GeoPackage, re-ingest, NaN values ---------------------------------------


def _write_gpkg(path: Path, count: int) -> Path:
    """``count`` 10 m squares in a row near Halle (EPSG:25832) with typed attributes, one missing value."""
    squares = [box(704_000 + 20 * i, 5_707_000, 704_010 + 20 * i, 5_707_010) for i in range(count)]
    frame = gpd.GeoDataFrame(
        {
            "id": [f"haus/{i}" for i in range(count)],
            "name": [f"Haus {i}" for i in range(count)],
            "storeys": np.arange(1, count + 1, dtype=np.int64),
            "area": [100.0] * (count - 1) + [float("nan")],
            "listed": [i % 2 == 0 for i in range(count)],
        },
        geometry=squares,
        crs="EPSG:25832",
    )
    frame.to_file(path, driver="GPKG")
    return path


def test_reingest_is_served_at_once_and_odd_ids_work(tmp_path: Path) -> None:
    settings = _settings(tmp_path / "data")
    ingest([_write_gpkg(tmp_path / "v1.gpkg", 4)], IngestOptions(layer_id="reihe"), settings)
    client = TestClient(create_app(settings))
    first = client.get("/ogc/collections/reihe/items").json()
    assert first["numberMatched"] == 4
    by_id = {feature["id"]: feature for feature in first["features"]}
    assert set(by_id) == {f"haus/{i}" for i in range(4)}
    assert by_id["haus/3"]["properties"]["area"] is None  # NaN is null, and the response is valid JSON
    assert client.get("/ogc/collections/reihe/items/haus%2F2").json()["properties"]["name"] == "Haus 2"
    filtered = client.get("/ogc/collections/reihe/items", params={"listed": "true", "storeys": "3"}).json()
    assert [feature["id"] for feature in filtered["features"]] == ["haus/2"]
    assert client.get("/ogc/collections/reihe/items", params={"listed": "maybe"}).status_code == 400

    ingest([_write_gpkg(tmp_path / "v2.gpkg", 7)], IngestOptions(layer_id="reihe"), settings)
    assert client.get("/ogc/collections/reihe/items").json()["numberMatched"] == 7


def test_layer_symlink_out_of_the_data_dir_is_not_a_collection(tmp_path: Path) -> None:
    settings = _settings(tmp_path / "data")
    outside = tmp_path / "outside"
    ingest([_write_gpkg(tmp_path / "v1.gpkg", 2)], IngestOptions(layer_id="reihe"), settings)
    (settings.layers_dir / "reihe").resolve().rename(outside)
    (settings.layers_dir / "reihe").unlink()
    (settings.layers_dir / "reihe").symlink_to(outside, target_is_directory=True)
    client = TestClient(create_app(settings))
    assert client.get("/ogc/collections").json()["collections"] == []
    _problem(client.get("/ogc/collections/reihe/items"), 404)


# --- 100,000 buildings ----------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def big_layer(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """100,000 real-shaped footprints (bench/make_footprints.py) ingested once as layer 'big'."""
    if not BRITTANY.is_file():
        pytest.skip(f"real third-party data not available: {BRITTANY} (../shared is absent)")
    spec = importlib.util.spec_from_file_location("make_footprints", ROOT / "bench" / "make_footprints.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    folder = tmp_path_factory.mktemp("big")
    source = module.make_footprints(100_000, folder / "footprints.parquet")
    settings = _settings(folder / "data")
    ingest([source], IngestOptions(layer_id="big", compression="none"), settings)
    return settings


@pytest.mark.slow
def test_bbox_query_on_100k_buildings_matches_shapely(big_layer: Settings) -> None:
    path = FeatureStore(big_layer.data_dir).path("big")
    assert path is not None
    truth = gpd.read_parquet(path)
    assert len(truth) > 99_000  # the ingest skips the few invalid source footprints (its report says which)
    client = TestClient(create_app(big_layer))
    west, south, east, north = truth.total_bounds
    rng = np.random.default_rng(7)
    for size in (0.002, 0.01, 0.05):
        x0 = rng.uniform(west, east - size)
        y0 = rng.uniform(south, north - size)
        query = (x0, y0, x0 + size, y0 + size * 0.6)
        expected = truth.loc[truth.intersects(box(*query)), "source_id"].tolist()
        body = client.get(
            "/ogc/collections/big/items", params={"bbox": ",".join(map(repr, query)), "limit": "10000"}
        ).json()
        assert body["numberMatched"] == len(expected), query
        got = [feature["id"] for feature in body["features"]]
        assert got == expected[:10000]
        if expected:
            one = body["features"][0]
            assert shapely.intersects(shapely.geometry.shape(one["geometry"]), box(*query))
    everything = client.get("/ogc/collections/big/items", params={"bbox": f"{west},{south},{east},{north}"})
    assert everything.json()["numberMatched"] == len(truth)
    assert json.loads(everything.text)["numberReturned"] == 10


def test_feature_store_reads_a_version_once(city: Settings) -> None:
    store = FeatureStore(city.data_dir)
    first = store.table("altstadt")
    assert store.table("altstadt") is first
    assert store.path("nope") is None
    assert FeatureStore(city.data_dir).table("altstadt") is not first  # the cache is per store (per app)
