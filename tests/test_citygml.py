"""Real CityGML end to end: every shared file ingests with the right buildings, attributes, heights and roofs.

Expected values are computed here from the source files with lxml and numpy (and PROJ with the GCG2016 grid
for heights), never taken from twin's reader; tiles are read back with the independent `tilecheck`.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pytest
import tilecheck
from conftest import GRID_DIR, SHARED_DATA, shared
from lxml import etree
from pyproj import Transformer
from pyproj.transformer import TransformerGroup

from twin.errors import CRSError, InputError
from twin.ingest.city_reader import DUPLICATE, CityOptions
from twin.pipeline import IngestOptions, ingest
from twin.settings import Settings

NRW_LOD2 = ["LoD2_32_327_5732_1_NW.gml", "LoD2_32_330_5728_1_NW.gml", "LoD2_32_331_5724_1_NW.gml",
            "LoD2_32_341_5724_1_NW.gml"]  # fmt: skip
GML_ID = "{http://www.opengis.net/gml}id"


def _settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path / "data", grid_dirs=[GRID_DIR] if GRID_DIR.is_dir() else [])


def _top_buildings(path: Path) -> list[etree._Element]:
    """Building elements that are city objects of their own (not parts), counted with lxml."""
    tree = etree.parse(str(path), etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=True))
    return [
        element
        for element in tree.iter("{*}Building")
        if etree.QName(element.getparent()).localname == "cityObjectMember"
    ]


def _leaf_tables(layer: Path) -> list[tuple[Path, tilecheck.Glb, dict[str, list[Any]]]]:
    """The leaves of a layer (tiles without children: the full model), read back independently."""
    tileset = json.loads((layer / "tileset.json").read_text())
    uris: list[str] = []

    def walk(tile: dict[str, Any]) -> None:
        if not tile.get("children") and "content" in tile:
            uris.append(tile["content"]["uri"])
        for child in tile.get("children", []):
            walk(child)

    walk(tileset["root"])
    out = []
    for uri in uris:
        glb = tilecheck.read_glb(layer / uri)
        out.append((layer / uri, glb, tilecheck.read_property_table(glb)))
    return out


@pytest.fixture(scope="module")
def nrw(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], Path, list[Path]]:
    if not GRID_DIR.is_dir():
        pytest.skip(f"the GCG2016 grid is not available: {GRID_DIR}")
    sources = [shared(f"citygml/nrw-lod2/{name}") for name in NRW_LOD2]
    settings = Settings(data_dir=tmp_path_factory.mktemp("nrw"), grid_dirs=[GRID_DIR])
    report = ingest(sources, IngestOptions("lod2", title="Gebäude LoD2"), settings)
    return report, settings.layers_dir / "lod2", sources


def test_every_building_once_with_parts_merged(nrw: tuple[dict[str, Any], Path, list[Path]]) -> None:
    report, layer, sources = nrw
    expected = {
        element.get(GML_ID): len(element.findall(".//{*}BuildingPart"))
        for path in sources
        for element in _top_buildings(path)
    }
    assert report["features_read"] == report["features_written"] == len(expected) == 65
    ids = [sid for _, _, table in _leaf_tables(layer) for sid in table["source_id"]]
    assert sorted(ids) == sorted(expected)
    assert report["skipped"] == {}
    # The one building with four BuildingParts is one feature, which says so.
    features = gpd.read_parquet(layer / "features.parquet").set_index("source_id")
    with_parts = {sid for sid, parts in expected.items() if parts}
    assert with_parts and all(features.loc[sid, "building_parts"] == expected[sid] for sid in with_parts)
    assert report["lod"] == {"LoD2": 65}


def test_attributes_in_tiles_and_features(nrw: tuple[dict[str, Any], Path, list[Path]]) -> None:
    _, layer, sources = nrw
    [building] = [b for b in _top_buildings(sources[0]) if b.get(GML_ID) == "DENW34AL0000rE9t"]
    function = building.findtext("{*}function")
    roof = building.findtext("{*}roofType")
    height = float(building.findtext("{*}measuredHeight") or "nan")
    generic = {
        element.get("name"): element.findtext("{*}value") for element in building.iter("{*}stringAttribute")
    }
    street = building.findtext(".//{*}ThoroughfareName")
    number = building.findtext(".//{*}ThoroughfareNumber")
    table = next(table for _, _, table in _leaf_tables(layer) if "DENW34AL0000rE9t" in table["source_id"])
    row = table["source_id"].index("DENW34AL0000rE9t")
    assert table["function"][row] == function == "31001_1210"
    assert table["function_label"][row] == "Land- und forstwirtschaftliches Wohngebäude"
    assert table["roof_type"][row] == roof == "3100"
    assert table["roof_type_label"][row] == "Satteldach"
    assert table["measured_height"][row] == pytest.approx(height)
    assert table["Gemeindeschluessel"][row] == generic["Gemeindeschluessel"] == "05170048"
    assert table["address"][row] == f"{street} {number}, Wesel"
    assert table["source_file"][row] == NRW_LOD2[0]
    assert table["lod"][row] == "2"
    # The model height is the geometry's: highest point above lowest, metres.
    z = np.array(" ".join(building.xpath(".//*[local-name()='posList']/text()")).split(), float)[2::3]
    assert table["height"][row] == pytest.approx(z.max() - z.min(), abs=0.01)
    features = gpd.read_parquet(layer / "features.parquet").set_index("source_id")
    assert features.loc["DENW34AL0000rE9t", "function_label"] == table["function_label"][row]
    assert "function_code_space" not in features.columns


def test_heights_match_proj_with_the_geoid_grid_within_a_centimetre(
    nrw: tuple[dict[str, Any], Path, list[Path]],
) -> None:
    """Every vertex of every building, decoded as CesiumJS does, is a source vertex transformed by PROJ."""
    report, layer, sources = nrw
    group = TransformerGroup("EPSG:25832+7837", "EPSG:4978", always_xy=True)
    assert group.best_available, "PROJ does not find the GCG2016 grid"
    to_ecef = group.transformers[0]
    assert "de_bkg_gcg2016.tif" in report["transform"]
    source_vertices: dict[str, np.ndarray] = {}
    for path in sources:
        for building in _top_buildings(path):
            text = " ".join(building.xpath(".//*[local-name()='Polygon']//*[local-name()='posList']/text()"))
            xyz = np.array(text.split(), float).reshape(-1, 3)
            source_vertices[building.get(GML_ID)] = np.column_stack(to_ecef.transform(*xyz.T))
    worst, compared = 0.0, 0
    for path, glb, table in _leaf_tables(layer):
        decoded = tilecheck.tile_positions_ecef(layer / "tileset.json", path, glb=glb)
        feature = glb.accessor(glb.gltf["meshes"][0]["primitives"][0]["attributes"]["_FEATURE_ID_0"])
        for fid, sid in enumerate(table["source_id"]):
            mine = decoded[feature.astype(int) == fid]
            expected = source_vertices[sid]
            distance = np.linalg.norm(mine[:, None, :] - expected[None, :, :], axis=2)
            worst = max(worst, float(distance.min(axis=1).max()), float(distance.min(axis=0).max()))
            compared += 1
    assert compared == 65
    assert worst < 0.01, f"worst vertex {worst * 1000:.1f} mm from PROJ's"


def _polygon_area(points: np.ndarray) -> float:
    """Area of a planar 3D ring (closed or open) from its Newell normal, square metres."""
    points = points - points[0]
    nxt = np.roll(points, -1, axis=0)
    return 0.5 * float(np.linalg.norm(np.cross(points, nxt).sum(axis=0)))


def test_roof_triangles_cover_the_roof_polygons(nrw: tuple[dict[str, Any], Path, list[Path]]) -> None:
    """Roof triangles' area equals the source roof polygons' area within 0.1 %."""
    _, layer, sources = nrw
    roof_area = 0.0
    for path in sources:
        for building in _top_buildings(path):
            for roof in building.iter("{*}RoofSurface"):
                for polygon in roof.iter("{*}Polygon"):
                    rings = [np.array(ring.text.split(), float).reshape(-1, 3)
                             for ring in polygon.iter("{*}posList")]  # fmt: skip
                    roof_area += _polygon_area(rings[0]) - sum(_polygon_area(hole) for hole in rings[1:])
    triangles_area = 0.0
    for path, glb, _ in _leaf_tables(layer):
        positions = tilecheck.tile_positions_ecef(layer / "tileset.json", path, glb=glb)
        materials = [material["name"] for material in glb.gltf["materials"]]
        for primitive in glb.gltf["meshes"][0]["primitives"]:
            if materials[primitive["material"]] != "roof":
                continue
            corners = positions[glb.accessor(primitive["indices"]).astype(int).reshape(-1, 3)]
            cross = np.cross(corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0])
            triangles_area += 0.5 * float(np.linalg.norm(cross, axis=1).sum())
    assert roof_area > 1000
    assert triangles_area == pytest.approx(roof_area, rel=1e-3)


def test_tiles_are_valid_and_parents_show_lod1_boxes(nrw: tuple[dict[str, Any], Path, list[Path]]) -> None:
    _, layer, _ = nrw
    contents = sorted(path for _, path in tilecheck.iter_contents(layer / "tileset.json"))
    tilecheck.assert_gltf_valid(contents)
    for path in contents:
        tilecheck.check_structural_metadata(tilecheck.read_glb(path))
    tilecheck.check_tileset(layer / "tileset.json")
    tileset = json.loads((layer / "tileset.json").read_text())
    root = tileset["root"]
    assert root["refine"] == "REPLACE" and root["children"]
    assert tileset["geometricError"] > root["geometricError"] > 0

    def check(tile: dict[str, Any]) -> set[str]:
        """The ids in the subtree's leaves; a parent's boxes are some of them, its error not below its children's."""
        ids: set[str] = set()
        for child in tile.get("children", []):
            assert child["geometricError"] <= tile["geometricError"]
            ids |= check(child)
        shown = set()
        if "content" in tile:
            shown = set(
                tilecheck.read_property_table(tilecheck.read_glb(layer / tile["content"]["uri"]))["source_id"]
            )
        if not tile.get("children"):
            return shown
        parents.append(len(shown))
        assert shown <= ids
        return ids

    parents: list[int] = []
    assert len(check(root)) == 65
    # Some parents show boxes (the large buildings of their area); none shows more than its subtree has.
    assert any(parents)


def test_ogc_api_serves_the_footprints(nrw: tuple[dict[str, Any], Path, list[Path]]) -> None:
    from fastapi.testclient import TestClient

    from twin.api.app import create_app

    _, layer, _ = nrw
    settings = Settings(data_dir=layer.parent.parent, grid_dirs=[GRID_DIR])
    with TestClient(create_app(settings)) as client:
        response = client.get("/ogc/collections/lod2/items", params={"limit": 100})
        assert response.status_code == 200
        body = response.json()
        assert body["numberMatched"] == 65
        feature = next(f for f in body["features"] if f["id"] == "DENW34AL0000Gbbh")
        assert feature["geometry"]["type"] in ("Polygon", "MultiPolygon")
        lon, lat = np.array(feature["geometry"]["coordinates"][0], dtype=float).reshape(-1, 2).mean(axis=0)
        assert 6.5 < lon < 6.6 and 51.6 < lat < 51.7
        assert feature["properties"]["street"] == "Rosenallee"
        filtered = client.get(
            "/ogc/collections/lod2/items", params={"roof_type": "3100", "limit": 100}
        ).json()
        assert 0 < filtered["numberMatched"] < 65
        # The viewer's search finds a city model building by its address.
        hits = client.get("/api/search", params={"q": "Rosenallee 2"}).json()["results"]
        assert "DENW34AL0000Gbbh" in [hit["id"] for hit in hits]


def test_ground_mode_puts_each_lowest_point_at_zero(tmp_path: Path) -> None:
    source = shared("citygml/nrw-lod2/LoD2_32_327_5732_1_NW.gml")
    report = ingest([source], IngestOptions("g", heights="ground"), _settings(tmp_path))
    assert report["heights"].startswith("ground") and report["ground_height"] == 0.0
    layer = _settings(tmp_path).layers_dir / "g"
    lowest: list[float] = []
    for path, glb, table in _leaf_tables(layer):
        _, _, h = tilecheck.ecef_to_geodetic(
            tilecheck.tile_positions_ecef(layer / "tileset.json", path, glb=glb)
        )
        feature = glb.accessor(glb.gltf["meshes"][0]["primitives"][0]["attributes"]["_FEATURE_ID_0"]).astype(
            int
        )
        lowest.extend(float(h[feature == fid].min()) for fid in range(len(table["source_id"])))
    assert len(lowest) == report["features_written"]
    assert np.allclose(lowest, 0.0, atol=0.01)


def test_every_valid_lod1_file_and_the_lod_choice(tmp_path: Path) -> None:
    lod1 = sorted((SHARED_DATA / "citygml" / "nrw-lod1").glob("*.gml")) or [shared("citygml/nrw-lod1")]
    count = sum(len(_top_buildings(path)) for path in lod1)
    report = ingest(lod1, IngestOptions("lod1"), _settings(tmp_path))
    assert report["features_written"] == count and report["lod"] == {"LoD1": count}
    # LoD1 and LoD2 together have no level in common: each building keeps its own, and the ingest says so.
    mixed = [*lod1, shared(f"citygml/nrw-lod2/{NRW_LOD2[3]}")]
    report = ingest(mixed, IngestOptions("mixed"), _settings(tmp_path))
    assert report["lod"] == {"LoD1": count, "LoD2": 1}
    assert any("no level of detail in common" in warning for warning in report["warnings"])
    report = ingest(mixed, IngestOptions("one", city=CityOptions(lod="1")), _settings(tmp_path))
    assert report["lod"] == {"LoD1": count, "LoD2": 1}
    assert any("--lod" in note and "1 buildings without it" in note for note in report["notes"])


OGC_FILES = sorted((SHARED_DATA / "citygml" / "ogc-encodings").rglob("*.gml"))


@pytest.mark.parametrize("path", OGC_FILES, ids=[f"{p.parent.name}/{p.name}" for p in OGC_FILES])
def test_ogc_examples_ingest_or_refuse_their_local_crs(path: Path, tmp_path: Path) -> None:
    expected = len(_top_buildings(path))
    settings = _settings(tmp_path)
    if "#local" in path.read_text(encoding="utf-8"):
        with pytest.raises(CRSError, match=rf"{path.name}.*local engineering CRS.*--crs"):
            ingest([path], IngestOptions("ogc"), settings)
        assert not (settings.layers_dir / "ogc").exists()
        # The user knows where the local frame lies: a transverse Mercator at its origin.
        local = "+proj=tmerc +lat_0=51.5 +lon_0=7.5 +k=1 +x_0=0 +y_0=0 +ellps=GRS80 +units=m +no_defs"
        options = IngestOptions("ogc", city=CityOptions(crs=local), heights="ground")
    else:
        options = IngestOptions("ogc")
    report = ingest([path], options, settings)
    assert report["features_written"] == expected >= 1
    lod = {"LOD0": "LoD0", "LOD1": "LoD1", "LOD2": "LoD2", "LOD3": "LoD3"}
    for marker, name in lod.items():
        if marker in path.name:
            assert report["lod"] == {name: expected}


def test_empty_tile_gives_an_empty_layer_with_a_note(tmp_path: Path) -> None:
    source = shared("citygml/nrw-lod2/edge-cases/LoD2_32_324_5730_1_NW_empty_NaN_envelope.gml")
    settings = _settings(tmp_path)
    report = ingest([source], IngestOptions("empty"), settings)
    assert report["features_written"] == 0 and report["tiles"] == 0
    assert any(source.name in warning and "no buildings" in warning for warning in report["warnings"])
    tileset = json.loads((settings.layers_dir / "empty" / "tileset.json").read_text())
    assert "content" not in tileset["root"] and "children" not in tileset["root"]


def test_html_saved_as_gml_is_refused_in_one_line(tmp_path: Path) -> None:
    source = shared("citygml/nrw-lod2/edge-cases/LoD2_32_335_5728_1_NW_http404_html.gml")
    settings = _settings(tmp_path)
    with pytest.raises(InputError) as caught:
        ingest([source], IngestOptions("html"), settings)
    assert str(source) in caught.value.message and "HTML" in caught.value.message
    assert "\n" not in caught.value.message
    assert not (settings.layers_dir / "html").exists()


def test_zip_folder_glob_utf16_and_duplicates(tmp_path: Path) -> None:
    """The forms the Länder deliver: zipped tiles, folders, .xml names, UTF-16; the same tile twice."""
    sources = [shared(f"citygml/nrw-lod2/{name}") for name in NRW_LOD2]
    archive = tmp_path / "lod2.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as handle:
        for path in sources[:2]:
            handle.write(path, f"tiles/{path.name}")
    folder = tmp_path / "folder"
    folder.mkdir()
    text = sources[2].read_text(encoding="utf-8").replace('encoding="UTF-8"', 'encoding="UTF-16"')
    (folder / "tile.xml").write_text(text, encoding="utf-16")
    (folder / "notes.txt").write_text("not a city model")
    settings = _settings(tmp_path)
    report = ingest([archive, folder, str(tmp_path / "folder" / "*.xml")], IngestOptions("forms"), settings)
    assert report["features_written"] == 16 + 45 + 3
    assert report["sources"] == [f"{archive}:tiles/{sources[0].name}", f"{archive}:tiles/{sources[1].name}",
                                 str(folder / "tile.xml")]  # fmt: skip
    twice = ingest([sources[3], archive, sources[3]], IngestOptions("twice"), settings)
    assert twice["features_written"] == 1 + 16 + 45
    # The same tile under another name (a re-download): its building is kept once, and counted.
    copy = tmp_path / "copy.gml"
    copy.write_bytes(sources[3].read_bytes())
    again = ingest([sources[3], copy], IngestOptions("again"), settings)
    assert again["features_written"] == 1
    assert again["skipped"] == {DUPLICATE: 1}


def test_dangling_xlinks_are_counted_and_broken_xml_is_refused(tmp_path: Path) -> None:
    source = shared(f"citygml/nrw-lod2/{NRW_LOD2[3]}")
    text = source.read_text(encoding="utf-8")
    dangling = tmp_path / "dangling.gml"
    dangling.write_text(
        text.replace('xlink:href="#GUID_14791579313614665016_1_2_1"', 'xlink:href="#nowhere"')
    )
    settings = _settings(tmp_path)
    report = ingest([dangling], IngestOptions("dangling"), settings)
    assert report["features_written"] == 1
    assert report["repaired"]["dangling xlink:href (points to nothing in its building) ignored"] == 1
    broken = tmp_path / "broken.gml"
    broken.write_text(text[: len(text) // 2])
    with pytest.raises(InputError, match=rf"{broken}: not well-formed XML \(line \d+\)"):
        ingest([broken], IngestOptions("dangling"), settings)
    # The failed ingest left the published version alone.
    assert json.loads((settings.layers_dir / "dangling" / "report.json").read_text())["features_written"] == 1


def test_cli_ingests_a_folder(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from twin.cli import app

    folder = shared("citygml/nrw-lod1")
    env = {"TWIN_DATA_DIR": str(tmp_path / "data"), "TWIN_GRID_DIRS": str(GRID_DIR)}
    result = CliRunner().invoke(app, ["ingest", str(folder), "--layer", "lod1", "--lod", "1"], env=env)
    assert result.exit_code == 0, result.output
    assert "buildings in" in result.output and "level of detail 1 (--lod)" in result.output
    wrong = CliRunner().invoke(app, ["ingest", str(folder), "--layer", "x", "--lod", "zwei"], env=env)
    assert wrong.exit_code == 2 and "--lod" in wrong.output


def test_proj_and_geoid_grid_agree_with_the_report_origin(
    nrw: tuple[dict[str, Any], Path, list[Path]],
) -> None:
    """The layer origin is in the layer (lon/lat of the middle of its buildings)."""
    report, _, _ = nrw
    lon, lat = report["origin"]["lon"], report["origin"]["lat"]
    west, south, east, north = report["bbox"]
    assert west < lon < east and south < lat < north
    x, y = Transformer.from_crs("EPSG:4326", "EPSG:25832", always_xy=True).transform(lon, lat)
    assert 320_000 < x < 345_000 and 5_720_000 < y < 5_735_000


def test_inputs_that_cannot_be_ingested_are_refused_in_one_line(tmp_path: Path) -> None:
    """Mixed kinds, empty patterns and folders, damaged and bomb-like zips: one line naming the input, and
    nothing published."""
    import zipfile

    from twin.ingest.sources import MAX_COMPRESSION_RATIO

    gml = shared(f"citygml/nrw-lod2/{NRW_LOD2[3]}")
    geojson = tmp_path / "footprints.geojson"
    geojson.write_text('{"type": "FeatureCollection", "features": []}')
    empty_folder = tmp_path / "empty"
    empty_folder.mkdir()
    (empty_folder / "readme.txt").write_text("nothing here")
    damaged = tmp_path / "damaged.zip"
    damaged.write_bytes(b"PK\x03\x04" + b"\0" * 64)
    bomb = tmp_path / "bomb.zip"
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("tile.gml", b" " * (MAX_COMPRESSION_RATIO * (1 << 17)))  # zeros compress ~1000x
    cases: list[tuple[list[Path | str], str]] = [
        ([gml, geojson], "cannot be ingested into one layer"),
        ([str(tmp_path / "nothing-*.gml")], "nothing-\\*.gml: the pattern matches no files"),
        ([empty_folder], "empty: the folder holds no CityGML, CityJSON or zip files"),
        ([damaged], "damaged.zip: damaged zip archive"),
        ([bomb], "bomb.zip: member tile.gml claims .* refused as a possible zip bomb"),
    ]
    settings = _settings(tmp_path)
    for paths, message in cases:
        with pytest.raises(InputError, match=message) as caught:
            ingest(paths, IngestOptions("refused"), settings)
        assert "\n" not in caught.value.message
    assert not (settings.layers_dir / "refused").exists()
