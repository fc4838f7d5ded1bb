"""Real data end to end: the 2506 OSM footprints of Brittany become valid, exact 3D Tiles."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pytest
import shapely
import tilecheck
from conftest import BRITTANY, shared
from pyproj import Transformer

from twin.pipeline import IngestOptions, ingest
from twin.settings import Settings


@pytest.fixture(scope="module")
def brittany(tmp_path_factory: pytest.TempPathFactory) -> tuple[Settings, dict[str, Any], Path]:
    source = shared("footprints/osm-brittany/BUILDING.geojson")
    settings = Settings(data_dir=tmp_path_factory.mktemp("brittany"))
    report = ingest([source], IngestOptions("brittany"), settings)
    return settings, report, settings.layers_dir / "brittany"


def _contents(layer: Path) -> list[Path]:
    return sorted(path for _, path in tilecheck.iter_contents(layer / "tileset.json"))


def test_every_footprint_is_in_the_tiles_or_reported(brittany: tuple[Settings, dict[str, Any], Path]) -> None:
    _, report, layer = brittany
    source = gpd.read_file(BRITTANY)
    assert report["features_read"] == len(source) == 2506
    skipped = sum(report["skipped"].values())
    assert report["features_written"] == len(source) - skipped
    ids: list[str] = []
    for path in _contents(layer):
        table = tilecheck.read_property_table(tilecheck.read_glb(path))
        ids.extend(table["source_id"])
    assert len(ids) == report["features_written"]
    examples = {i for values in report["skipped_examples"].values() for i in values}
    assert set(ids) | examples == set(source["ID_SOURCE"])
    # Every building got its height from the HEIGHT_ROOF attribute (present for all).
    assert report["height_rules"] == {"attribute:HEIGHT_ROOF": report["features_written"]}
    saved = json.loads((layer / "report.json").read_text())
    assert saved["features_written"] == report["features_written"]


def test_tiles_pass_gltf_validator_and_structural_checks(
    brittany: tuple[Settings, dict[str, Any], Path], tmp_path: Path
) -> None:
    _, _, layer = brittany
    contents = _contents(layer)
    assert len(contents) > 1
    # The meshopt-compressed tiles as served: container, JSON and extension structure ...
    tilecheck.assert_gltf_valid(contents)
    # ... and the same tiles decoded, so the validator also checks the accessor data itself.
    decoded = []
    for path in contents:
        glb = tilecheck.read_glb(path)
        assert "EXT_meshopt_compression" in glb.gltf["extensionsRequired"]
        tilecheck.check_structural_metadata(glb)
        plain = tmp_path / path.name
        plain.write_bytes(tilecheck.decompress_meshopt(glb))
        decoded.append(plain)
    tilecheck.assert_gltf_valid(decoded)
    tilecheck.check_tileset(layer / "tileset.json")


def test_uncompressed_tiles_for_other_clients(tmp_path: Path) -> None:
    """--compression none writes plain glTF (quantized) that any client and the validator read fully."""
    source = shared("footprints/osm-brittany/BUILDING.geojson")
    settings = Settings(data_dir=tmp_path)
    report = ingest([source], IngestOptions("plain", compression="none"), settings)
    layer = settings.layers_dir / "plain"
    contents = _contents(layer)
    tilecheck.assert_gltf_valid(contents)
    count = 0
    for path in contents:
        glb = tilecheck.read_glb(path)
        assert "EXT_meshopt_compression" not in glb.gltf.get("extensionsUsed", [])
        tilecheck.check_structural_metadata(glb)
        count += len(tilecheck.read_property_table(glb)["source_id"])
    assert count == report["features_written"]
    tilecheck.check_tileset(layer / "tileset.json")


def test_attributes_survive_with_their_types(brittany: tuple[Settings, dict[str, Any], Path]) -> None:
    _, report, layer = brittany
    skipped = {i for values in report["skipped_examples"].values() for i in values}
    source = gpd.read_file(BRITTANY).drop_duplicates("ID_SOURCE", keep=False).set_index("ID_SOURCE")
    checked = 0
    for path in _contents(layer):
        glb = tilecheck.read_glb(path)
        table = tilecheck.read_property_table(glb)
        schema = glb.gltf["extensions"]["EXT_structural_metadata"]["schema"]
        properties = schema["classes"]["building"]["properties"]
        assert properties["NB_LEV"]["componentType"] == "INT32"
        assert properties["HEIGHT_WALL"]["componentType"] == "FLOAT64"
        assert properties["TYPE"]["type"] == "STRING"
        for k, sid in enumerate(table["source_id"]):
            if sid not in source.index:
                continue
            row = source.loc[sid]
            assert table["TYPE"][k] == row["TYPE"]
            assert table["NB_LEV"][k] == row["NB_LEV"]
            assert table["HEIGHT_WALL"][k] == pytest.approx(row["HEIGHT_WALL"])
            assert table["height"][k] == pytest.approx(row["HEIGHT_ROOF"])
            checked += 1
    assert checked == len(set(source.index) - skipped)


def test_round_trip_matches_pyproj_within_a_centimetre(
    brittany: tuple[Settings, dict[str, Any], Path],
) -> None:
    """Decode tiles as CesiumJS does and compare with pyproj's direct transform of the source vertices."""
    _, _, layer = brittany
    source = gpd.read_file(BRITTANY).drop_duplicates("ID_SOURCE", keep=False).set_index("ID_SOURCE")
    to_ecef = Transformer.from_crs("EPSG:32630", "EPSG:4978", always_xy=True)
    worst = 0.0
    compared = 0
    for path in _contents(layer)[:6]:
        glb = tilecheck.read_glb(path)
        decoded = tilecheck.tile_positions_ecef(layer / "tileset.json", path, glb=glb)
        feature = glb.accessor(glb.gltf["meshes"][0]["primitives"][0]["attributes"]["_FEATURE_ID_0"]).astype(
            int
        )
        table = tilecheck.read_property_table(glb)
        for fid, sid in enumerate(table["source_id"]):
            if sid not in source.index:
                continue
            ring = shapely.get_coordinates(source.loc[sid].geometry)
            height = float(source.loc[sid]["HEIGHT_ROOF"])
            x = np.concatenate([ring[:, 0], ring[:, 0]])
            y = np.concatenate([ring[:, 1], ring[:, 1]])
            h = np.concatenate([np.zeros(len(ring)), np.full(len(ring), height)])
            expected = np.column_stack(to_ecef.transform(x, y, h))
            mine = decoded[feature == fid]
            # Every decoded vertex is a source vertex at base or roof height, and every source vertex is there.
            d = np.linalg.norm(mine[:, None, :] - expected[None, :, :], axis=2)
            worst = max(worst, float(d.min(axis=1).max()), float(d.min(axis=0).max()))
            compared += 1
    assert compared > 50
    assert worst < 0.01, f"worst vertex error {worst * 1000:.1f} mm"
