"""CityJSON end to end: the files of ../shared/data/cityjson through `twin.pipeline.ingest` to 3D Tiles,
features.parquet and the OGC API.

What each file should give is counted here from its JSON, independently of the reader: top-level buildings
(BuildingParts merged into them), the other CityObjects by type, the CityJSONSeq lines that are not features.
Tiles are read back with tilecheck (which imports nothing of twin).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow.parquet as pq
import pytest
import shapely
import tilecheck
from conftest import GRID_DIR, SHARED_DATA, shared
from fastapi.testclient import TestClient
from pyproj import Transformer
from test_cityjson import BUILDING_SKIPS as READER_SKIPS
from test_cityjson import INVALID_FILES

from twin.api.app import create_app
from twin.errors import CRSError, InputError
from twin.features import FEATURES_FILE
from twin.ingest.city_reader import DUPLICATE, CityOptions
from twin.pipeline import IngestOptions, ingest
from twin.settings import Settings

FloatArray = npt.NDArray[np.float64]

CITYJSON_DIR = SHARED_DATA / "cityjson"
FILES = sorted(
    str(path.relative_to(SHARED_DATA))
    for path in CITYJSON_DIR.rglob("*")
    if path.suffix in (".json", ".jsonl") and path.is_file()
) or ["cityjson/(shared data absent)"]
LAYER = "layer-id"
ZURICH = "cityjson/cjio-testdata/zurich_subset_lod2.json"
MULTI_LOD = "cityjson/cjio-testdata/multi_lod.json"
CUBE_SEQ = "cityjson/cjval-cases/cube_20.jsonl"

# Files that name no CRS: refused until the CRS is given, then ingested with this one.
RD_NAP = "EPSG:7415"  # Amersfoort / RD New + NAP height: the Dutch coordinates of these files
# Unit cubes around (0, 0) that have no place on Earth. World Mercator (WGS 84) is conformal and true to scale
# on the equator, so a 1 m edge stays 1 m (PROJ's Equidistant Cylindrical, EPSG:4087, is spherical: 0.7 % off
# north-south); it has no vertical datum, so the cubes stand on the ground. (Not EPSG:25832: German z values
# are taken as DHHN2016, whose grid does not reach (0, 0).)
UNIT_CRS = "EPSG:3395"
NO_CRS = {
    "cityjson/cjio-testdata/DH_01_subs.city.json": RD_NAP,  # Den Haag, x 78 600, y 457 800
    "cityjson/cjio-testdata/multi_lod.json": RD_NAP,  # x 153 300, y 414 200
    "cityjson/cjio-testdata/rotterdam/rotterdam_subset.json": RD_NAP,  # Rotterdam, x 90 500, y 435 600
    "cityjson/cjio-testdata/cube.json": UNIT_CRS,
    "cityjson/cjio-testdata/dummy/rectangle.json": UNIT_CRS,
    "cityjson/cjval-cases/address.json": UNIT_CRS,
    "cityjson/cjval-cases/cube_20.jsonl": UNIT_CRS,
    "cityjson/cjval-cases/cube_20_1.jsonl": UNIT_CRS,
    "cityjson/cjval-cases/duplicate.json": UNIT_CRS,
    "cityjson/cjval-cases/extension.jsonl": UNIT_CRS,
    "cityjson/cjval-cases/material.city.json": UNIT_CRS,
    "cityjson/cjval-cases/material2.city.json": UNIT_CRS,
    "cityjson/cjval-cases/material3.city.json": UNIT_CRS,
    "cityjson/cjval-cases/sem.json": UNIT_CRS,
}
# Files refused whole, and buildings skipped by design (the reader's cases, see test_cityjson), plus what
# the ingest adds. Every other file writes every building. (cjval's other invalid cases are invalid only in
# their appearance (material, texture), which twin does not read, or hold no building: they ingest like
# valid files.)
BUILDING_SKIPS: dict[str, dict[str, int]] = {
    **READER_SKIPS,
    # The stream holds Building "id-1" in two features: one layer cannot hold two buildings with one id.
    "cityjson/cjval-cases/cube_20.jsonl": {DUPLICATE: 1},
    "cityjson/cjval-cases/cube_20_1.jsonl": {DUPLICATE: 1},
    "cityjson/cjval-cases/extension.jsonl": {DUPLICATE: 1},
}


def settings_for(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path / "data", grid_dirs=[GRID_DIR])


# Counting from the JSON --------------------------------------------------------------------------------


@dataclass
class Counted:
    """What a file holds, counted from its JSON."""

    buildings: list[str] = field(default_factory=list)  # top-level Building ids in file order, repeats kept
    skipped: Counter[str] = field(default_factory=Counter)  # everything else, worded as the report words it


def _kind(objects: dict[str, Any], key: str) -> Any:
    obj = objects.get(key)
    return obj.get("type") if isinstance(obj, dict) else None


def count_objects(objects: dict[str, Any], into: Counted) -> None:
    """Top-level Buildings, and the other CityObjects by type, of one CityObjects map."""
    building_like = ("Building", "BuildingPart")
    links: dict[str, set[str]] = {key: set(obj.get("children", [])) for key, obj in objects.items()}
    for key, obj in objects.items():
        for parent in obj.get("parents", []):
            links.setdefault(parent, set()).add(key)
    reached: set[str] = set()
    for key, obj in objects.items():
        kind = obj["type"]
        if kind not in building_like:
            into.skipped[f"not a building ({kind})"] += 1
        elif kind == "Building" and all(
            _kind(objects, p) not in building_like for p in obj.get("parents", [])
        ):
            into.buildings.append(key)
            stack = [key]
            while stack:  # its parts (and buildings inside it), merged into it
                member = stack.pop()
                if member not in reached and _kind(objects, member) in building_like:
                    reached.add(member)
                    stack.extend(links.get(member, ()))
    for key, obj in objects.items():
        if obj["type"] in building_like and key not in reached:
            into.skipped[f"{obj['type']} without a top-level Building"] += 1


def count_file(path: Path) -> Counted:
    counted = Counted()
    if path.suffix == ".jsonl":
        _header, *lines = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
        for feature in lines:
            if feature["type"] == "CityJSONFeature":
                count_objects(feature["CityObjects"], counted)
            else:
                counted.skipped[f"not a CityJSONFeature (type {feature['type']!r})"] += 1
    else:
        count_objects(json.loads(path.read_text())["CityObjects"], counted)
    return counted


# Reading the layer back ----------------------------------------------------------------------------------


def leaf_contents(layer: Path) -> list[Path]:
    """The content files of the leaf tiles (parents hold LoD1 boxes of some buildings again)."""
    return [
        path for tile, path in tilecheck.iter_contents(layer / "tileset.json") if not tile.get("children")
    ]


def leaf_tables(layer: Path) -> Iterator[tuple[Path, tilecheck.Glb, dict[str, list[Any]]]]:
    for path in leaf_contents(layer):
        glb = tilecheck.read_glb(path)
        yield path, glb, tilecheck.read_property_table(glb)


def triangles_by_material(layer: Path, path: Path, glb: tilecheck.Glb) -> dict[str, FloatArray]:
    """ECEF triangles (T, 3, 3), metres, of each material of a tile (all primitives share one vertex list)."""
    ecef = tilecheck.tile_positions_ecef(layer / "tileset.json", path, glb=glb)
    (mesh,) = glb.gltf["meshes"]
    assert len(glb.gltf["nodes"]) == 1  # so that the primitives' indices index `ecef`
    out: dict[str, FloatArray] = {}
    for primitive in mesh["primitives"]:
        name = glb.gltf["materials"][primitive["material"]]["name"]
        out[name] = ecef[glb.accessor(primitive["indices"]).astype(np.int64).reshape(-1, 3)]
    return out


def triangle_area(triangles: FloatArray) -> float:
    """Total area of (T, 3, 3) triangles, square metres."""
    edges = np.cross(triangles[:, 1] - triangles[:, 0], triangles[:, 2] - triangles[:, 0])
    return float(0.5 * np.linalg.norm(edges, axis=1).sum())


def real_vertices(document: dict[str, Any]) -> FloatArray:
    """A CityJSON document's vertices with its transform applied (source CRS units)."""
    transform = document["transform"]
    vertices: FloatArray = np.asarray(document["vertices"], dtype=np.float64) * transform["scale"]
    return vertices + transform["translate"]


def ring_vector_area(points: FloatArray) -> FloatArray:
    """Newell's vector area of a 3D ring (normal times area), around its centroid for precision."""
    centred = points - points.mean(axis=0)
    vector: FloatArray = 0.5 * np.cross(centred, np.roll(centred, -1, axis=0)).sum(axis=0)
    return vector


def polygon_area(rings: list[FloatArray]) -> float:
    """Area of a planar 3D polygon: its exterior's, less its holes' (projected on the exterior's plane)."""
    exterior = ring_vector_area(rings[0])
    size = float(np.linalg.norm(exterior))
    normal = exterior / size
    return size - sum(abs(float(ring_vector_area(hole) @ normal)) for hole in rings[1:])


def surfaces_with_types(geometry: dict[str, Any]) -> Iterator[tuple[list[list[int]], str | None]]:
    """(surface rings as vertex indices, semantic type) of every surface of a geometry."""
    depth = {"MultiSurface": 0, "CompositeSurface": 0, "Solid": 1, "MultiSolid": 2, "CompositeSolid": 2}
    levels = depth[geometry["type"]]
    semantics = geometry.get("semantics", {"surfaces": [], "values": None})

    def walk(boundaries: Any, values: Any, level: int) -> Iterator[tuple[list[list[int]], str | None]]:
        for index, item in enumerate(boundaries):
            value = values[index] if isinstance(values, list) else None
            if level:
                yield from walk(item, value, level - 1)
            else:
                yield item, semantics["surfaces"][value]["type"] if value is not None else None

    yield from walk(geometry["boundaries"], semantics["values"], levels)


# Every file ----------------------------------------------------------------------------------------------


def test_the_tables_cover_the_folder() -> None:
    shared(ZURICH)
    names = {Path(relative).name for relative in FILES}
    assert {"zurich_subset_lod2.json", "multi_lod.json", "cube_20.jsonl", "cjfeat1.json", "sem.json"} <= names
    assert all(relative in FILES for relative in [*NO_CRS, *INVALID_FILES, *BUILDING_SKIPS])


@pytest.mark.parametrize("relative", FILES)
def test_every_shared_file(relative: str, tmp_path: Path) -> None:
    """Ingested with every building counted, refused for a missing CRS until given one, or refused whole."""
    path = shared(relative)
    settings = settings_for(tmp_path)
    layer = settings.layers_dir / LAYER
    if relative in INVALID_FILES:
        with pytest.raises(InputError) as error:
            ingest([path], IngestOptions(LAYER), settings)
        assert str(error.value).startswith(f"{path}: ")
        assert INVALID_FILES[relative] in str(error.value)
        assert not layer.exists()
        return
    city = CityOptions()
    if relative in NO_CRS:
        with pytest.raises(CRSError) as missing:
            ingest([path], IngestOptions(LAYER), settings)
        assert str(missing.value).startswith(f"{path}: ")
        assert "--crs" in str(missing.value)
        assert not layer.exists()
        city = CityOptions(crs=NO_CRS[relative])
    report = ingest([path], IngestOptions(LAYER, city=city), settings)

    counted = count_file(path)
    by_design = Counter(BUILDING_SKIPS.get(relative, {}))
    assert report["skipped"] == dict(counted.skipped + by_design)
    assert report["features_written"] == len(counted.buildings) - by_design.total()
    assert report["features_read"] == report["features_written"] + sum(report["skipped"].values())
    # Repeated ids are exactly the duplicates reported; other skipped buildings are named by id.
    assert len(counted.buildings) - len(set(counted.buildings)) == by_design[DUPLICATE]
    gone = {key for reason in by_design if reason != DUPLICATE for key in report["skipped_examples"][reason]}
    expected = set(counted.buildings) - gone
    assert len(gone) == by_design.total() - by_design[DUPLICATE]

    in_leaves = Counter(key for _, _, table in leaf_tables(layer) for key in table["source_id"])
    assert set(in_leaves) == expected
    assert set(in_leaves.values()) <= {1}
    if expected:
        features = pq.read_table(layer / FEATURES_FILE, columns=["source_id"])
        assert sorted(features.column("source_id").to_pylist()) == sorted(expected)
        tilecheck.check_tileset(layer / "tileset.json")
    else:
        assert "no buildings in the input: the layer is empty" in report["warnings"]
    assert json.loads((layer / "report.json").read_text())["features_written"] == len(expected)


# Zurich: attributes, surfaces, roof area, OGC API ----------------------------------------------------------


@dataclass(frozen=True)
class Ingested:
    settings: Settings
    report: dict[str, Any]
    layer: Path
    document: dict[str, Any]


@pytest.fixture(scope="module")
def zurich(tmp_path_factory: pytest.TempPathFactory) -> Ingested:
    """zurich_subset_lod2.json (49 buildings of 161 parts, EPSG:2056) ingested once for these tests."""
    path = shared(ZURICH)
    settings = settings_for(tmp_path_factory.mktemp("zurich"))
    report = ingest([path], IngestOptions(LAYER), settings)
    return Ingested(settings, report, settings.layers_dir / LAYER, json.loads(path.read_text()))


def zurich_expected_attributes(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Per building, the attributes the layer should carry: its own (standard ones renamed), and from its
    first part that has it what it lacks (Geomtype is on the parts)."""
    objects = document["CityObjects"]
    out = {}
    for key, obj in objects.items():
        if obj["type"] != "Building":
            continue
        own = dict(obj["attributes"])
        own["creation_date"] = own.pop("creationDate")
        for child in obj["children"]:
            for name, value in objects[child].get("attributes", {}).items():
                own.setdefault("creation_date" if name == "creationDate" else name, value)
        own["building_parts"] = len(obj["children"])
        own["lod"] = "2"
        own["source_file"] = "zurich_subset_lod2.json"
        out[key] = own
    return out


def test_zurich_every_building_once_in_the_leaves_with_its_attributes(zurich: Ingested) -> None:
    expected = zurich_expected_attributes(zurich.document)
    assert len(expected) == 49
    assert sum(a["building_parts"] for a in expected.values()) == 161
    assert zurich.report["features_written"] == 49 and zurich.report["skipped"] == {}
    seen: Counter[str] = Counter()
    for _, _, table in leaf_tables(zurich.layer):
        seen.update(table["source_id"])
        for row, key in enumerate(table["source_id"]):
            got = {name: table[name][row] for name in expected[key]}
            assert got == expected[key], key
    assert seen == Counter(dict.fromkeys(expected, 1))


def test_zurich_attributes_in_features_parquet(zurich: Ingested) -> None:
    expected = zurich_expected_attributes(zurich.document)
    table = pq.read_table(zurich.layer / FEATURES_FILE)
    assert table.num_rows == 49
    assert table.schema.field("Region").type == "int64"
    for row in table.to_pylist():
        assert {name: row[name] for name in expected[row["source_id"]]} == expected[row["source_id"]]
        assert row["height"] > 0 and row["height_rule"] == "geometry"


def test_zurich_surfaces_coloured_by_class(zurich: Ingested) -> None:
    leaves = list(leaf_tables(zurich.layer))
    assert leaves
    for path, glb, _ in leaves:
        materials = glb.gltf["materials"]
        assert {m["name"] for m in materials} <= {"roof", "wall", "ground", "other"}
        colours = {m["name"]: tuple(m["pbrMetallicRoughness"]["baseColorFactor"]) for m in materials}
        assert colours["roof"] != colours["wall"]
        used = Counter(materials[p["material"]]["name"] for p in glb.gltf["meshes"][0]["primitives"])
        assert used["roof"] == used["wall"] == 1, path  # every leaf holds buildings with roofs and walls


def test_zurich_roof_area_equals_the_source_roof_surfaces(zurich: Ingested) -> None:
    """Roof triangles decoded from the leaves (ECEF) against the RoofSurface polygons (EPSG:2056, metres).

    EPSG:2056 names no vertical datum, so each building was moved vertically onto the ground: areas keep.
    LV95's scale error in Zurich is about 1e-5, far below the tolerance.
    """
    tiles = 0.0
    for path, glb, _ in leaf_tables(zurich.layer):
        tiles += triangle_area(triangles_by_material(zurich.layer, path, glb)["roof"])
    document = zurich.document
    vertices = real_vertices(document)
    source = 0.0
    roofs = 0
    for obj in document["CityObjects"].values():
        for geometry in obj.get("geometry", []):
            for surface, kind in surfaces_with_types(geometry):
                if kind == "RoofSurface":
                    source += polygon_area([vertices[ring] for ring in surface])
                    roofs += 1
    assert roofs > 49
    assert tiles == pytest.approx(source, rel=1e-3)


def test_ogc_items_are_footprints_near_zurich(zurich: Ingested) -> None:
    objects = zurich.document["CityObjects"]
    vertices = real_vertices(zurich.document)
    to_crs84 = Transformer.from_crs("EPSG:2056", "OGC:CRS84", always_xy=True)
    with TestClient(create_app(zurich.settings)) as client:
        response = client.get(f"/ogc/collections/{LAYER}/items", params={"limit": 5})
    assert response.status_code == 200
    body = response.json()
    assert body["numberMatched"] == 49 and len(body["features"]) == 5
    for feature in body["features"]:
        geometry = feature["geometry"]
        assert geometry["type"] in ("Polygon", "MultiPolygon")
        footprint = shapely.geometry.shape(geometry)
        lon, lat = footprint.centroid.x, footprint.centroid.y
        assert abs(lon - 8.5) < 0.15 and abs(lat - 47.4) < 0.1
        key = feature["properties"]["source_id"]
        assert feature["properties"]["class"] == objects[key]["attributes"]["class"]
        assert feature["properties"]["building_parts"] == len(objects[key]["children"])
        # The building's ground surfaces, placed by pyproj, lie on its footprint (within about 10 cm).
        ground = [
            ring[0]
            for child in objects[key]["children"]
            for geometry in objects[child]["geometry"]
            for ring, kind in surfaces_with_types(geometry)
            if kind == "GroundSurface"
        ]
        assert ground
        x, y = to_crs84.transform(*vertices[np.concatenate(ground), :2].T)
        assert footprint.buffer(1e-6).contains(shapely.points(x, y)).all(), key


# Levels of detail, CityJSONSeq, CRS problems ---------------------------------------------------------------


def total_index_count(layer: Path) -> int:
    """Triangle corners over all leaf tiles."""
    total = 0
    for _, glb, _ in leaf_tables(layer):
        accessors = glb.gltf["accessors"]
        total += sum(accessors[p["indices"]]["count"] for p in glb.gltf["meshes"][0]["primitives"])
    return total


def test_multi_lod_default_is_the_highest_common_and_lod_1_can_be_chosen(tmp_path: Path) -> None:
    path = shared(MULTI_LOD)
    objects = json.loads(path.read_text())["CityObjects"]
    lods = [{g["lod"] for g in obj["geometry"]} for obj in objects.values() if obj["type"] == "Building"]
    assert len(lods) == 10 and all(found == {"1.2", "1.3", "2.2"} for found in lods)

    default = ingest([path], IngestOptions(LAYER, city=CityOptions(crs=RD_NAP)), settings_for(tmp_path / "a"))
    assert default["lod"] == {"LoD2.2": 10}
    assert any("level of detail 2.2, the highest every building has" in note for note in default["notes"])
    lod1 = ingest(
        [path], IngestOptions(LAYER, city=CityOptions(crs=RD_NAP, lod="1")), settings_for(tmp_path / "b")
    )
    assert list(lod1["lod"]) in (["LoD1"], ["LoD1.2"], ["LoD1.3"]) and sum(lod1["lod"].values()) == 10
    assert lod1["polygons"] < default["polygons"]

    layers = [tmp_path / name / "data" / "layers" / LAYER for name in ("a", "b")]
    assert {v for _, _, t in leaf_tables(layers[0]) for v in t["lod"]} == {"2.2"}
    assert {v.split(".")[0] for _, _, t in leaf_tables(layers[1]) for v in t["lod"]} == {"1"}
    assert total_index_count(layers[1]) < total_index_count(layers[0])


def test_lod_2_means_the_lod2_family(tmp_path: Path) -> None:
    path = shared(MULTI_LOD)
    report = ingest(
        [path], IngestOptions(LAYER, city=CityOptions(crs=RD_NAP, lod="2")), settings_for(tmp_path)
    )
    assert report["lod"] == {"LoD2.2": 10}


def test_cityjson_seq_cube_through_the_same_api(tmp_path: Path) -> None:
    """cube_20.jsonl: a header line, then features; the kept Building is a 2 m-diagonal square, 1 m high."""
    path = shared(CUBE_SEQ)
    settings = settings_for(tmp_path)
    report = ingest([path], IngestOptions(LAYER, city=CityOptions(crs=UNIT_CRS)), settings)
    assert report["features_written"] == 1 and report["lod"] == {"LoD1": 1}
    layer = settings.layers_dir / LAYER
    [(tile, glb, table)] = list(leaf_tables(layer))
    assert table["source_id"] == ["id-1"] and table["function"] == ["something"] and table["lod"] == ["1"]
    assert table["height"][0] == pytest.approx(1.0, abs=1e-3)
    # Vertices (±1, 0), (0, ±1): top and bottom 2 m² each, four walls of √2 m × 1 m.
    area = sum(triangle_area(t) for t in triangles_by_material(layer, tile, glb).values())
    assert area == pytest.approx(4 + 4 * np.sqrt(2), rel=1e-3)


def test_coordinates_outside_the_geoid_grid_are_refused_with_the_file_name(tmp_path: Path) -> None:
    """EPSG:25832 makes the z values DHHN2016 heights (German data); GCG2016 does not cover (0, 0) m."""
    path = shared("cityjson/cjio-testdata/cube.json")
    settings = settings_for(tmp_path)
    with pytest.raises(CRSError) as error:
        ingest([path], IngestOptions(LAYER, city=CityOptions(crs="EPSG:25832")), settings)
    assert str(error.value).startswith(f"{path}: ") and "--crs" in str(error.value)
    assert not (settings.layers_dir / LAYER).exists()


def test_two_files_in_one_layer(tmp_path: Path) -> None:
    paths = [shared("cityjson/cjio-testdata/delft.json"), shared(ZURICH)]
    report = ingest(paths, IngestOptions(LAYER), settings_for(tmp_path))
    counted = [count_file(path) for path in paths]
    assert report["features_written"] == sum(len(c.buildings) for c in counted) == 160 + 49
    assert report["lod"] == {"LoD1": 160, "LoD2": 49}  # no LoD in common: each at its highest, with a warning
    assert any("no level of detail in common" in warning for warning in report["warnings"])


def test_two_files_each_warning_names_its_own_file(tmp_path: Path) -> None:
    delft, zurich = shared("cityjson/cjio-testdata/delft.json"), shared(ZURICH)
    report = ingest([delft, zurich], IngestOptions(LAYER), settings_for(tmp_path))
    [swiss] = [warning for warning in report["warnings"] if "CH1903+" in warning]
    assert swiss.startswith(f"{zurich}: ")
