"""Footprint inputs as municipalities publish them: formats, layers, CRSs and attribute names."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
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


def _block(n: int = 6, x0: float = 706_000.0, y0: float = 5_707_000.0) -> list[shapely.Polygon]:
    return [shapely.box(x0 + 15 * i, y0, x0 + 15 * i + 12, y0 + 10) for i in range(n)]


def _frame(n: int = 6, crs: str = "EPSG:25832") -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {
            "objekt_id": [f"DEST{i:04d}" for i in range(n)],
            "Gebäudehöhe": np.linspace(8, 20, n),
            "Straße": ["Große Ulrichstraße"] * n,
            "baujahr": [1905 + i for i in range(n)],
        },
        geometry=_block(n),
        crs=crs,
    )


def _properties(layer: Path) -> tuple[dict, dict]:
    path = next(p for _, p in tilecheck.iter_contents(layer / "tileset.json"))
    glb = tilecheck.read_glb(path)
    schema = glb.gltf["extensions"]["EXT_structural_metadata"]["schema"]["classes"]["building"]["properties"]
    return schema, tilecheck.read_property_table(glb)


@pytest.mark.parametrize("suffix", [".gpkg", ".shp", ".geojson", ".fgb", ".parquet", ".zip"])
def test_every_footprint_format_ingests_with_ids_and_attributes(tmp_path: Path, suffix: str) -> None:
    frame = _frame()
    if suffix == ".parquet":
        source = tmp_path / "b.parquet"
        frame.to_parquet(source)
    elif suffix == ".zip":
        frame.to_file(tmp_path / "b.shp")
        source = tmp_path / "b.zip"
        with zipfile.ZipFile(source, "w") as archive:
            for part in tmp_path.glob("b.*"):
                if part.suffix != ".zip":
                    archive.write(part, part.name)
    else:
        source = tmp_path / f"b{suffix}"
        frame.to_file(source)
    settings = Settings(data_dir=tmp_path / "data")
    report = ingest([source], IngestOptions("b"), settings)
    assert report["features_written"] == 6
    assert report["height_rules"] == {"attribute:Gebäudehöhe": 6} or suffix in (".shp", ".zip")
    schema, table = _properties(settings.layers_dir / "b")
    assert sorted(table["source_id"]) == [f"DEST{i:04d}" for i in range(6)]
    # Umlauts become ASCII identifiers; the original name stays readable.
    if suffix not in (".shp", ".zip"):  # dBase truncates and re-encodes field names
        assert schema["Gebaeudehoehe"]["name"] == "Gebäudehöhe"
        assert schema["Strasse"]["name"] == "Straße"
        assert set(table["Strasse"]) == {"Große Ulrichstraße"}


def test_lonlat_geojson_per_rfc7946(tmp_path: Path) -> None:
    frame = _frame().to_crs("OGC:CRS84")
    source = tmp_path / "wgs84.geojson"
    source.write_text(frame.to_json(drop_id=True))
    assert '"crs"' not in source.read_text()[:200]
    settings = Settings(data_dir=tmp_path / "data")
    report = ingest([source], IngestOptions("ll"), settings)
    assert report["features_written"] == 6
    # Placed where the UTM original is: compare a decoded roof corner with pyproj from EPSG:25832.
    layer = settings.layers_dir / "ll"
    path = next(p for _, p in tilecheck.iter_contents(layer / "tileset.json"))
    decoded = tilecheck.tile_positions_ecef(layer / "tileset.json", path)
    to_ecef = Transformer.from_crs("EPSG:25832", "EPSG:4978", always_xy=True)
    corners = shapely.get_coordinates(_frame().geometry.values)
    expected = np.column_stack(to_ecef.transform(corners[:, 0], corners[:, 1], np.zeros(len(corners))))
    distance = np.linalg.norm(expected[:, None, :] - decoded[None, :, :], axis=2).min(axis=1)
    assert distance.max() < 0.01


def test_multi_layer_geopackage_needs_a_choice(tmp_path: Path) -> None:
    source = tmp_path / "multi.gpkg"
    _frame().to_file(source, layer="gebaeude")
    _frame().to_file(source, layer="nebengebaeude")
    gpd.GeoDataFrame({"name": ["a"]}, geometry=[shapely.Point(706_000, 5_707_000)], crs="EPSG:25832").to_file(
        source, layer="adressen"
    )
    settings = Settings(data_dir=tmp_path / "data")
    with pytest.raises(InputError, match="choose one with --source-layer") as info:
        ingest([source], IngestOptions("m"), settings)
    assert "gebaeude" in str(info.value) and "adressen" in str(info.value)
    from twin.ingest.footprints import FootprintOptions

    report = ingest(
        [source], IngestOptions("m", footprints=FootprintOptions(source_layer="nebengebaeude")), settings
    )
    assert report["features_written"] == 6
    with pytest.raises(InputError, match="has no layer 'nope'"):
        ingest([source], IngestOptions("m", footprints=FootprintOptions(source_layer="nope")), settings)


def test_one_polygon_layer_among_others_is_found(tmp_path: Path) -> None:
    source = tmp_path / "mixed.gpkg"
    gpd.GeoDataFrame({"name": ["a"]}, geometry=[shapely.Point(706_000, 5_707_000)], crs="EPSG:25832").to_file(
        source, layer="adressen"
    )
    _frame().to_file(source, layer="gebaeude")
    report = ingest([source], IngestOptions("m"), Settings(data_dir=tmp_path / "data"))
    assert report["features_written"] == 6


def test_geojson_string_ids_and_nested_properties(tmp_path: Path) -> None:
    features = []
    for i, poly in enumerate(_block(3)):
        features.append({
            "type": "Feature",
            "id": f"DEBY{i:03d}",
            "properties": {"nutzung": {"haupt": "Wohnen"}, "tags": ["a", "b"], "hoehe": "12,5 m"},
            "geometry": shapely.geometry.mapping(poly),
        })  # fmt: skip
    source = tmp_path / "ids.geojson"
    crs = {"type": "name", "properties": {"name": "urn:ogc:def:crs:EPSG::25832"}}
    source.write_text(json.dumps({"type": "FeatureCollection", "crs": crs, "features": features}))
    settings = Settings(data_dir=tmp_path / "data")
    report = ingest([source], IngestOptions("g"), settings)
    assert report["height_rules"] == {"attribute:hoehe": 3}
    _, table = _properties(settings.layers_dir / "g")
    assert sorted(table["source_id"]) == ["DEBY000", "DEBY001", "DEBY002"]
    assert table["height"] == [pytest.approx(12.5)] * 3


def test_cli_ingest_of_geoparquet_loads_neither_pandas_nor_geopandas(tmp_path: Path) -> None:
    # pandas and geopandas cost 0.4 s of start-up; the Arrow path needs neither (see twin.cli._batch_process).
    source = tmp_path / "b.parquet"
    _frame().to_parquet(source)
    env = {**os.environ, "TWIN_DATA_DIR": str(tmp_path / "data")}
    command = [sys.executable, "-X", "importtime", "-m", "twin.cli", "ingest", str(source), "--layer", "b"]
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    imported = {line.rsplit("|", 1)[-1].strip() for line in result.stderr.splitlines() if "|" in line}
    assert "pandas.core.frame" not in imported
    assert not {name for name in imported if name.split(".")[0] == "geopandas"}
    assert (tmp_path / "data" / "layers" / "b" / "tileset.json").is_file()


@pytest.mark.parametrize("variant", ["geoarrow-encoding", "bbox-covering"])
def test_geoparquet_1_1_variants(tmp_path: Path, variant: str) -> None:
    # GeoParquet 1.1 allows native GeoArrow geometry columns and a bbox "covering" column next to the WKB.
    source = tmp_path / "b.parquet"
    if variant == "geoarrow-encoding":
        _frame().to_parquet(source, geometry_encoding="geoarrow")
    else:
        _frame().to_parquet(source, write_covering_bbox=True)
    settings = Settings(data_dir=tmp_path / "data")
    report = ingest([source], IngestOptions(layer_id="b"), settings)
    assert report["features_written"] == 6
    names = {p["name"] for p in report["properties"]}
    assert "bbox" not in names and "geometry" not in names
    schema, table = _properties(settings.data_dir / "layers" / "b")
    assert sorted(table["source_id"]) == [f"DEST{i:04d}" for i in range(6)]
    assert "baujahr" in schema


@pytest.mark.parametrize("suffix", [".gpkg", ".geojson", ".fgb"])
def test_container_feature_ids_are_ids_not_attributes(tmp_path: Path, suffix: str) -> None:
    # Without an id-like column, a container's own feature ids name the buildings; they are not attributes.
    frame = _frame().drop(columns=["objekt_id"])
    source = tmp_path / f"b{suffix}"
    frame.to_file(source)
    settings = Settings(data_dir=tmp_path / "data")
    report = ingest([source], IngestOptions(layer_id="b"), settings)
    names = {p["name"] for p in report["properties"]}
    assert not names & {"fid", "OGC_FID"}, names
    _, table = _properties(settings.data_dir / "layers" / "b")
    ids = sorted(table["source_id"], key=int)
    assert len(ids) == 6 and len(set(ids)) == 6 and all(i.isdigit() for i in ids)
