"""Edge cases of real data: one building, a huge outline, coincident buildings, all features unusable."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import shapely
import tilecheck
from pyproj import Transformer

from twin.errors import InputError
from twin.pipeline import IngestOptions, ingest
from twin.settings import Settings

X0, Y0 = 706_000.0, 5_707_000.0


def _ingest(tmp_path: Path, geoms: list[shapely.Geometry], layer: str = "e", **kwargs: object) -> dict:
    source = tmp_path / f"{layer}.gpkg"
    gpd.GeoDataFrame(
        {"name": [f"b{i}" for i in range(len(geoms))]}, geometry=geoms, crs="EPSG:25832"
    ).to_file(source)
    return ingest([source], IngestOptions(layer, **kwargs), Settings(data_dir=tmp_path / "data"))  # type: ignore[arg-type]


def _check(tmp_path: Path, layer: str) -> list[Path]:
    root = tmp_path / "data" / "layers" / layer
    tilecheck.check_tileset(root / "tileset.json")
    contents = [p for _, p in tilecheck.iter_contents(root / "tileset.json")]
    for path in contents:
        tilecheck.check_structural_metadata(tilecheck.read_glb(path))
    return contents


def test_a_single_building(tmp_path: Path) -> None:
    report = _ingest(tmp_path, [shapely.box(X0, Y0, X0 + 10, Y0 + 10)])
    assert report["features_written"] == 1 and report["tiles"] == 1
    _check(tmp_path, "e")


def test_an_outline_with_more_vertices_than_16_bit_indices_hold(tmp_path: Path) -> None:
    angles = np.linspace(0, 2 * np.pi, 20_000, endpoint=False)
    ring = np.column_stack([X0 + 300 * np.cos(angles), Y0 + 300 * np.sin(angles)])
    report = _ingest(tmp_path, [shapely.Polygon(ring), shapely.box(X0 + 400, Y0, X0 + 410, Y0 + 10)])
    assert report["features_written"] == 2
    contents = _check(tmp_path, "e")
    big = max(contents, key=lambda p: p.stat().st_size)
    glb = tilecheck.read_glb(big)
    index_accessor = glb.gltf["accessors"][glb.gltf["meshes"][0]["primitives"][0]["indices"]]
    assert index_accessor["componentType"] == 5125  # UNSIGNED_INT: 100,000 vertices
    tilecheck.assert_gltf_valid([big])


def test_a_building_too_long_for_16_bit_positions_gets_float_positions(tmp_path: Path) -> None:
    # 1.2 km long (an airport terminal): a 16-bit grid over it would step more than 1 cm, so the tile keeps
    # float32 positions; every vertex must still come back where PROJ puts it.
    hall = shapely.Polygon(
        [(X0, Y0), (X0 + 1200, Y0), (X0 + 1200, Y0 + 80), (X0 + 600, Y0 + 40), (X0, Y0 + 80)]
    )
    report = _ingest(tmp_path, [hall], layer="f")
    assert report["features_written"] == 1
    [path] = _check(tmp_path, "f")
    glb = tilecheck.read_glb(path)
    primitive = glb.gltf["meshes"][0]["primitives"][0]
    assert glb.gltf["accessors"][primitive["attributes"]["POSITION"]]["componentType"] == 5126  # FLOAT
    tilecheck.assert_gltf_valid([path])
    decoded = tilecheck.tile_positions_ecef(
        tmp_path / "data" / "layers" / "f" / "tileset.json", path, glb=glb
    )
    ring = np.asarray(hall.exterior.coords)[:-1]
    to_ecef = Transformer.from_crs("EPSG:25832", "EPSG:4978", always_xy=True)
    heights = np.repeat([0.0, 10.0], len(ring))  # ground and the default height
    expected = np.column_stack(to_ecef.transform(np.tile(ring[:, 0], 2), np.tile(ring[:, 1], 2), heights))
    distance = np.linalg.norm(decoded[:, None, :] - expected[None, :, :], axis=2)
    # float32 over ±600 m: well under a centimetre; every vertex is a corner and every corner is drawn.
    assert distance.min(axis=1).max() < 0.01 and distance.min(axis=0).max() < 0.01


def test_many_buildings_on_one_spot_still_split_into_tiles(tmp_path: Path) -> None:
    geoms = [shapely.box(X0, Y0, X0 + 10, Y0 + 10)] * 3000
    report = _ingest(tmp_path, geoms, max_buildings_per_tile=1000)
    assert report["features_written"] == 3000 and report["tiles"] >= 3
    _check(tmp_path, "e")


def test_nothing_usable_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no usable building footprints"):
        _ingest(tmp_path, [shapely.Polygon([(X0, Y0), (X0 + 1, Y0), (X0 + 2, Y0)])])
    assert not (tmp_path / "data" / "layers" / "e").exists()


def test_spread_out_layer_uses_several_levels(tmp_path: Path) -> None:
    rng = np.random.default_rng(7)
    xy = rng.uniform(0, 5_000, size=(4000, 2))
    geoms = [shapely.box(X0 + x, Y0 + y, X0 + x + 12, Y0 + y + 9) for x, y in xy]
    report = _ingest(tmp_path, geoms)
    assert report["tiles"] > 4
    _check(tmp_path, "e")


def test_reingest_keeps_curated_metadata(tmp_path: Path) -> None:
    from twin.catalog import Catalog

    _ingest(tmp_path, [shapely.box(X0, Y0, X0 + 10, Y0 + 10)], title="Gebäude")
    catalog = Catalog(Settings(data_dir=tmp_path / "data").catalog_url)
    record = catalog.get("e")
    curated = record.model_copy(
        update={
            "description": "LoD1 aus ALKIS",
            "style": {"color": "color('#ff0000')"},
            "visible": False,
            "extra": {**record.extra, "contact": "geodaten@example.org"},
        }
    )
    catalog.upsert(curated)
    report = _ingest(
        tmp_path, [shapely.box(X0, Y0, X0 + 10, Y0 + 10), shapely.box(X0 + 20, Y0, X0 + 30, Y0 + 10)]
    )
    assert report["features_written"] == 2
    again = catalog.get("e")
    assert again.feature_count == 2 and again.title == "Gebäude"
    assert again.description == "LoD1 aus ALKIS" and again.visible is False
    assert again.style == {"color": "color('#ff0000')"}
    assert again.extra["contact"] == "geodaten@example.org"
    assert again.extra["tileset"] == "/tiles/e/tileset.json"


def test_a_tile_whose_strings_are_all_empty(tmp_path: Path) -> None:
    source = tmp_path / "s.gpkg"
    gpd.GeoDataFrame(
        {"name": [None, None], "note": ["", ""]},
        geometry=[shapely.box(X0, Y0, X0 + 10, Y0 + 10), shapely.box(X0 + 20, Y0, X0 + 30, Y0 + 10)],
        crs="EPSG:25832",
    ).to_file(source)
    ingest([source], IngestOptions("s"), Settings(data_dir=tmp_path / "data"))
    contents = _check(tmp_path, "s")
    tilecheck.assert_gltf_valid(contents)
    table = tilecheck.read_property_table(tilecheck.read_glb(contents[0]))
    assert table["name"] == [None, None] and table["note"] == ["", ""]
