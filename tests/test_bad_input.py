"""Bad input: clear one-line errors naming the file, right exit codes, reported skips, nothing half published."""

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
from typer.testing import CliRunner

from twin.cli import app
from twin.pipeline import IngestOptions, ingest
from twin.settings import Settings
from twin.tiles import glb as glb_module

runner = CliRunner()


def _run(args: list[str], data_dir: Path) -> tuple[int, str]:
    result = runner.invoke(app, args, env={"TWIN_DATA_DIR": str(data_dir)})
    return result.exit_code, result.output


def _square(x: float, y: float, size: float = 10.0) -> shapely.Polygon:
    return shapely.box(x, y, x + size, y + size)


def _write(
    path: Path, geoms: list[shapely.Geometry | None], crs: str | None = "EPSG:25832", **columns: list
) -> Path:
    frame = gpd.GeoDataFrame(
        columns or {"name": [f"b{i}" for i in range(len(geoms))]}, geometry=geoms, crs=crs
    )
    frame.to_file(path)
    return path


def _published(data_dir: Path, layer: str) -> bool:
    return (data_dir / "layers" / layer / "tileset.json").exists()


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("empty.geojson", b"", "file is empty"),
        ("page.geojson", b"<!DOCTYPE html><html><body>404 Not Found</body></html>", "HTML page"),
        ("notes.geojson", b"just some text\n", "not a recognised geodata format"),
        ("broken.gpkg", b"SQLite format 3\x00" + b"\x00" * 100, "cannot read"),
        ("other.json", b'{"hello": "world"}', "neither GeoJSON nor CityJSON"),
    ],
)
def test_whole_file_problems_fail_with_one_line_naming_the_file(
    tmp_path: Path, name: str, content: bytes, message: str
) -> None:
    source = tmp_path / name
    source.write_bytes(content)
    code, output = _run(["ingest", str(source), "--layer", "x"], tmp_path / "data")
    assert code == 2
    line = " ".join(output.split())
    assert str(source) in line and message in line
    assert not _published(tmp_path / "data", "x")


def test_utm_geojson_without_crs_is_refused(tmp_path: Path) -> None:
    source = tmp_path / "utm.geojson"
    feature = {
        "type": "Feature",
        "properties": {},
        "geometry": shapely.geometry.mapping(_square(700000, 5700000)),
    }
    source.write_text(json.dumps({"type": "FeatureCollection", "features": [feature]}))
    code, output = _run(["ingest", str(source), "--layer", "x"], tmp_path / "data")
    assert code == 2
    assert "declares no CRS" in output and "--crs" in output
    # With --crs it works.
    code, output = _run(["ingest", str(source), "--layer", "x", "--crs", "EPSG:25832"], tmp_path / "data")
    assert code == 0, output
    assert _published(tmp_path / "data", "x")


def test_shapefile_without_prj_is_refused(tmp_path: Path) -> None:
    source = _write(tmp_path / "nocrs.shp", [_square(0, 0)], crs=None)
    assert not source.with_suffix(".prj").exists()
    code, output = _run(["ingest", str(source), "--layer", "x"], tmp_path / "data")
    assert code == 2
    assert "no coordinate reference system" in output and "--crs" in output


def test_unknown_crs_and_bad_layer_id(tmp_path: Path) -> None:
    source = _write(tmp_path / "ok.gpkg", [_square(700000, 5700000)])
    code, output = _run(["ingest", str(source), "--layer", "x", "--crs", "EPSG:999999"], tmp_path / "data")
    assert code == 2 and "unknown coordinate reference system" in output
    code, output = _run(["ingest", str(source), "--layer", "../evil"], tmp_path / "data")
    assert code == 2 and "layer id" in output


def test_per_feature_problems_are_repaired_or_skipped_and_reported(tmp_path: Path) -> None:
    x0, y0 = 700000.0, 5700000.0
    geoms = [
        _square(x0, y0),  # fine
        shapely.Polygon([(x0 + 20, y0), (x0 + 30, y0 + 10), (x0 + 30, y0), (x0 + 20, y0 + 10)]),  # bow tie
        shapely.Polygon([(x0 + 40, y0), (x0 + 41, y0), (x0 + 42, y0)]),  # zero area
        shapely.Polygon([(x0 + 50, y0), (x0 + 60, y0), (x0 + 60, np.nan), (x0 + 50, y0 + 10)]),  # NaN
        None,  # no geometry
        shapely.Polygon([(x0 + 70, y0), (x0 + 70, y0 + 10), (x0 + 80, y0 + 10), (x0 + 80, y0)]),  # clockwise
        shapely.Polygon(  # repeated vertices and a courtyard
            [(x0 + 100, y0), (x0 + 140, y0), (x0 + 140, y0), (x0 + 140, y0 + 40), (x0 + 100, y0 + 40)],
            [[(x0 + 110, y0 + 10), (x0 + 110, y0 + 30), (x0 + 130, y0 + 30), (x0 + 130, y0 + 10)]],
        ),
    ]
    source = _write(
        tmp_path / "mixed.gpkg",
        geoms,
        gml_id=[f"DE{i}" for i in range(len(geoms))],
        hoehe=[12.5, None, 5.0, 7.0, 3.0, None, None],
        geschosse=[4, 3, None, 2, 1, None, 2],
    )
    data = tmp_path / "data"
    code, output = _run(["ingest", str(source), "--layer", "mixed"], data)
    assert code == 0, output
    report = json.loads((data / "layers" / "mixed" / "report.json").read_text())
    assert report["features_read"] == 7
    assert report["features_written"] == 4
    assert report["skipped"] == {
        "empty or missing geometry": 1,
        "NaN or infinite coordinates": 1,
        "zero or tiny area (below 0.5 m²) or collapsed polygon": 1,
    }
    assert report["skipped_examples"]["NaN or infinite coordinates"] == ["DE3"]
    # the bow tie, and the collinear ring (then skipped as collapsed)
    assert (
        report["repaired"]["invalid polygon made valid (self-intersection, bow tie or bad ring nesting)"] == 2
    )
    assert report["repaired"]["ring orientation fixed"] >= 1
    assert report["repaired"]["repeated vertices removed"] == 1
    # Heights: attribute for DE0, storeys for DE1 (3 x 3 m) and DE6 (2 x 3 m), default for DE5.
    assert report["height_rules"] == {"attribute:hoehe": 1, "storeys": 2, "default": 1}
    assert "skipped 1: NaN or infinite coordinates" in output


def test_storey_height_and_explicit_attributes(tmp_path: Path) -> None:
    source = _write(tmp_path / "s.gpkg", [_square(700000, 5700000)], levels_total=[5], h_custom=[17.0])
    settings = Settings(data_dir=tmp_path / "data")
    from twin.ingest.footprints import FootprintOptions

    report = ingest(
        [source],
        IngestOptions("s", footprints=FootprintOptions(storeys_attr="levels_total", storey_height=3.5)),
        settings,
    )
    assert report["height_rules"] == {"storeys": 1}
    report = ingest(
        [source], IngestOptions("s", footprints=FootprintOptions(height_attr="h_custom")), settings
    )
    assert report["height_rules"] == {"attribute:h_custom": 1}
    code, output = _run(["ingest", str(source), "--layer", "s", "--height-attr", "nope"], tmp_path / "data")
    assert code == 2 and "no attribute 'nope'" in output


def test_failed_ingest_keeps_the_previous_version(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = tmp_path / "data"
    good = _write(tmp_path / "good.gpkg", [_square(700000 + 20 * i, 5700000) for i in range(30)])
    code, output = _run(["ingest", str(good), "--layer", "city", "--title", "Stadt"], data)
    assert code == 0, output
    tileset = data / "layers" / "city" / "tileset.json"
    before = tileset.read_bytes()
    version_before = (data / "layers" / "city").resolve()

    # A bad file for the same layer: refused, old version still current and unchanged.
    bad = tmp_path / "bad.geojson"
    bad.write_text("<html>oops</html>")
    code, output = _run(["ingest", str(bad), "--layer", "city"], data)
    assert code == 2
    assert tileset.read_bytes() == before
    assert (data / "layers" / "city").resolve() == version_before

    # A failure in the middle of writing tiles (as a crash would): nothing half published, no staging left.
    calls = {"n": 0}
    real = glb_module.encode_glb

    def failing(*args: object, **kwargs: object) -> bytes:
        calls["n"] += 1
        if calls["n"] > 1:
            raise KeyboardInterrupt("simulated interruption")
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr("twin.layer_writer.encode_glb", failing)
    many = _write(tmp_path / "many.gpkg", [_square(700000 + 20 * i, 5700000) for i in range(3000)])
    with pytest.raises(KeyboardInterrupt):
        ingest([many], IngestOptions("city", max_buildings_per_tile=100), Settings(data_dir=data))
    assert tileset.read_bytes() == before
    assert not list((data / "versions" / "city").glob("*.partial"))
    code, output = _run(["layers", "show", "city"], data)
    assert code == 0 and '"feature_count": 30' in output and "Stadt" in output


def test_killed_ingest_leaves_previous_version_serving(tmp_path: Path) -> None:
    """SIGKILL during an ingest: the layer link still points at the complete old version."""
    data = tmp_path / "data"
    good = _write(tmp_path / "good.gpkg", [_square(700000 + 20 * i, 5700000) for i in range(10)])
    assert _run(["ingest", str(good), "--layer", "city"], data)[0] == 0
    before = (data / "layers" / "city" / "tileset.json").read_bytes()
    big = _write(
        tmp_path / "big.gpkg",
        [_square(700000 + 15 * (i % 300), 5700000 + 15 * (i // 300)) for i in range(60000)],
    )
    env = {**os.environ, "TWIN_DATA_DIR": str(data)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "twin.cli", "ingest", str(big), "--layer", "city"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    # Kill it as soon as it has started building the new version.
    versions = data / "versions" / "city"
    for _ in range(2000):
        if list(versions.glob("*.partial")) or proc.poll() is not None:
            break
        subprocess.run(["sleep", "0.01"], check=True)
    proc.kill()
    proc.wait()
    if not list(versions.glob("*.partial")):
        pytest.skip("the ingest finished before it could be killed")
    assert (data / "layers" / "city" / "tileset.json").read_bytes() == before
    # The next ingest cleans up the leftover staging folder.
    assert _run(["ingest", str(good), "--layer", "city"], data)[0] == 0
    assert not list(versions.glob("*.partial"))
