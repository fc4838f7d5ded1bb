"""Heights: NHN z values through the GCG2016 quasigeoid, never silently without it; ground mode."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import shapely
import tilecheck
from conftest import GRID_DIR
from pyproj import CRS
from pyproj.transformer import TransformerGroup

from twin.pipeline import IngestOptions, ingest
from twin.settings import Settings

# Near Halle (Saale), EPSG:25832; ground at ~90 m above NHN.
X0, Y0, GROUND = 706_000.0, 5_707_000.0, 90.0


def _z_footprints(path: Path, crs: str = "EPSG:25832") -> Path:
    geoms = []
    for i in range(5):
        x = X0 + 30 * i
        geoms.append(
            shapely.Polygon(
                [
                    (x, Y0, GROUND + i),
                    (x + 12, Y0, GROUND + i + 0.5),
                    (x + 12, Y0 + 9, GROUND + i + 0.7),
                    (x, Y0 + 9, GROUND + i),
                ]
            )
        )
    frame = gpd.GeoDataFrame(
        {"gml_id": [f"z{i}" for i in range(5)], "hoehe": [10.0] * 5}, geometry=geoms, crs=crs
    )
    frame.to_file(path)
    return path


def _grid_available() -> None:
    if not (GRID_DIR / "de_bkg_gcg2016.tif").exists():
        pytest.skip(f"GCG2016 grid not available in {GRID_DIR} (../shared is absent)")


def test_dhhn92_heights_go_through_gcg2016_never_a_ballpark(tmp_path: Path) -> None:
    """PROJ has only a 'ballpark' DHHN92 transformation (the geoid ignored: ~45 m off). DHHN92 heights are
    read as DHHN2016 (centimetres apart) through GCG2016, and the ingest says so."""
    _grid_available()
    source = _z_footprints(tmp_path / "z.gpkg")
    report = ingest([source], IngestOptions("z", vertical_crs="EPSG:5783"),
                    Settings(data_dir=tmp_path / "data", grid_dirs=[GRID_DIR]))  # fmt: skip
    assert "read as DHHN2016" in report["heights"]
    assert "de_bkg_gcg2016.tif" in report["transform"] and "ballpark" not in report["transform"].lower()
    assert any("DHHN92 heights taken as DHHN2016" in warning for warning in report["warnings"])
    # Without any grid (a fresh process whose PROJ finds none): refused under --heights source, never the
    # ballpark transformation.
    result = _ingest_without_grid(tmp_path, "--heights", "source", "--vertical-crs", "EPSG:5783")
    assert result.returncode == 3, result.stderr
    assert "DHHN" in result.stderr and "--heights ground" in " ".join(result.stderr.split())


def test_large_transforms_with_the_grid_are_exact_in_two_threads() -> None:
    """Above 200,000 vertices the transform runs in two threads: each needs its own PROJ object, or the grid
    lookups of one corrupt the other's (seen: non-finite heights)."""
    _grid_available()
    from twin.geo.crs import GeodeticTransform, VerticalPlan

    plan = VerticalPlan("source", CRS.from_epsg(7837), "test")
    geodetic = GeodeticTransform(CRS.from_epsg(25832), plan, [GRID_DIR])
    assert "de_bkg_gcg2016.tif" in geodetic.grids
    rng = np.random.default_rng(7)
    n = 600_000
    x, y, z = rng.uniform(330e3, 350e3, n), rng.uniform(5720e3, 5740e3, n), rng.uniform(20, 60, n)
    reference = TransformerGroup(CRS("EPSG:25832+7837"), CRS("EPSG:4979"), always_xy=True).transformers[0]
    expected = reference.transform(x, y, z)
    for _ in range(3):
        lon, lat, h = geodetic(x, y, z)
        assert np.isfinite(h).all()
        assert np.array_equal(h, expected[2]) and np.array_equal(lon, expected[0])
        assert np.array_equal(lat, expected[1])


def test_nhn_heights_use_the_quasigeoid(tmp_path: Path) -> None:
    _grid_available()
    source = _z_footprints(tmp_path / "z.gpkg")
    settings = Settings(data_dir=tmp_path / "data", grid_dirs=[GRID_DIR])
    report = ingest([source], IngestOptions("z"), settings)
    assert "DHHN2016" in report["heights"]
    assert any("assumed NHN heights in DHHN2016" in w for w in report["warnings"])
    assert "DHHN2016" in report["transform"]

    group = TransformerGroup(CRS("EPSG:25832+7837"), CRS("EPSG:4978"), always_xy=True)
    assert group.best_available
    to_ecef = group.transformers[0]
    layer = settings.layers_dir / "z"
    (content,) = [p for _, p in tilecheck.iter_contents(layer / "tileset.json")]
    decoded = tilecheck.tile_positions_ecef(layer / "tileset.json", content)
    frame = gpd.read_file(source)
    expected = []
    for geom in frame.geometry:
        ring = shapely.get_coordinates(geom, include_z=True)[:-1]
        roof = ring[:, 2].min() + 10.0
        expected.append(np.column_stack(to_ecef.transform(ring[:, 0], ring[:, 1], ring[:, 2])))
        expected.append(np.column_stack(to_ecef.transform(ring[:, 0], ring[:, 1], np.full(len(ring), roof))))
    reference = np.concatenate(expected)
    distance = np.linalg.norm(decoded[:, None, :] - reference[None, :, :], axis=2)
    assert distance.min(axis=1).max() < 0.01
    assert distance.min(axis=0).max() < 0.01
    # The quasigeoid height is 36-50 m everywhere in Germany: buildings are not that much too low.
    _, _, h = tilecheck.ecef_to_geodetic(decoded)
    assert 36.0 < h.min() - GROUND < 50.0


def _ingest_without_grid(tmp_path: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    """`twin ingest` in a fresh process whose PROJ finds no grids (empty user dir, no network)."""
    source = _z_footprints(tmp_path / "z.gpkg")
    empty = tmp_path / "proj-user"
    empty.mkdir(exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("TWIN_")}
    env.update(
        TWIN_DATA_DIR=str(tmp_path / "data"), PROJ_USER_WRITABLE_DIRECTORY=str(empty), PROJ_NETWORK="OFF"
    )
    return subprocess.run(
        [sys.executable, "-m", "twin.cli", "ingest", str(source), "--layer", "z", *extra],
        env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip


def test_missing_geoid_grid_is_refused_when_source_heights_are_required(tmp_path: Path) -> None:
    result = _ingest_without_grid(tmp_path, "--heights", "source")
    assert result.returncode == 3, result.stderr
    message = " ".join(result.stderr.split())
    assert "de_bkg_gcg2016.tif" in message and "--heights ground" in message and "z.gpkg" in message
    assert not (tmp_path / "data" / "layers" / "z").exists()


def test_missing_geoid_grid_in_auto_mode_puts_buildings_on_the_ground_loudly(tmp_path: Path) -> None:
    result = _ingest_without_grid(tmp_path)
    assert result.returncode == 0, result.stderr
    message = " ".join(result.stderr.split())
    assert "de_bkg_gcg2016.tif" in message and "NOT used" in message
    layer = tmp_path / "data" / "layers" / "z"
    report = json.loads((layer / "report.json").read_text())
    assert report["heights"].startswith("ground")
    assert any("NOT used" in w for w in report["warnings"])
    (content,) = [p for _, p in tilecheck.iter_contents(layer / "tileset.json")]
    _, _, h = tilecheck.ecef_to_geodetic(tilecheck.tile_positions_ecef(layer / "tileset.json", content))
    assert h.min() == pytest.approx(0.0, abs=0.01)


def test_ground_mode_puts_bases_on_the_ellipsoid(tmp_path: Path) -> None:
    source = _z_footprints(tmp_path / "z.gpkg")
    settings = Settings(data_dir=tmp_path / "data")
    report = ingest([source], IngestOptions("g", heights="ground"), settings)
    assert report["heights"].startswith("ground")
    layer = settings.layers_dir / "g"
    (content,) = [p for _, p in tilecheck.iter_contents(layer / "tileset.json")]
    _, _, h = tilecheck.ecef_to_geodetic(tilecheck.tile_positions_ecef(layer / "tileset.json", content))
    assert h.min() == pytest.approx(0.0, abs=0.01)
    assert h.max() == pytest.approx(10.0, abs=0.01)


def test_z_without_vertical_datum_outside_germany_stands_on_the_ground(tmp_path: Path) -> None:
    """A PolygonZ file whose CRS names no height system (most shapefiles' .prj): with --heights auto the
    buildings stand on the ground and the report and console say why; --heights source refuses."""
    source = _z_footprints(tmp_path / "z.gpkg", crs="EPSG:32630")
    from twin.errors import CRSError

    report = ingest([source], IngestOptions("z"), Settings(data_dir=tmp_path / "data"))
    assert report["heights"].startswith("ground")
    assert report["ground_height"] == 0.0
    assert any(
        "without a vertical CRS" in warning and "--vertical-crs" in warning for warning in report["warnings"]
    )
    with pytest.raises(CRSError, match="--vertical-crs"):
        ingest([source], IngestOptions("z", heights="source"), Settings(data_dir=tmp_path / "data"))
    report = ingest(
        [source], IngestOptions("z", vertical_crs="ellipsoidal"), Settings(data_dir=tmp_path / "data")
    )
    assert "ellipsoidal" in report["heights"]
