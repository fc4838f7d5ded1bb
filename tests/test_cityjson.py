"""The CityJSON / CityJSONSeq reader: real files from ../shared/data/cityjson and small cases made here.

Expectations on real files are computed from the JSON in the test, independently of the reader: building
counts, skipped objects per type, polygons per building (surfaces of the building and its parts).
"""

from __future__ import annotations

import json
import zipfile
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import numpy as np
import pyarrow as pa
import pytest
from conftest import SHARED_DATA, shared

import twin.ingest.cityjson as cityjson
from twin.errors import InputError
from twin.ingest.cityjson import is_cityjson_seq, read_cityjson
from twin.ingest.citymodel import CityChunk, SurfaceClass
from twin.ingest.sources import SourceRef

CITYJSON_DIR = SHARED_DATA / "cityjson"
FILES = sorted(
    str(path.relative_to(SHARED_DATA))
    for path in CITYJSON_DIR.rglob("*")
    if path.suffix in (".json", ".jsonl") and path.is_file()
) or ["cityjson/(shared data absent)"]

# Files that must end with an InputError naming the file, and why.
INVALID_FILES = {
    # A CityJSONFeature on its own: its integer vertices need the transform (and CRS) of the CityJSON header
    # line of a CityJSONSeq, which this file does not have, so no coordinate in it can be computed.
    "cityjson/cjval-cases/cjfeat1.json": "a lone CityJSONFeature",
}
# Per-building problems in files that otherwise read: skip reason → count.
BUILDING_SKIPS: dict[str, dict[str, int]] = {
    # id-3 (CompositeSolid) refers to vertices 22, 666-668, 74-76, 880-885 of a file with 9 vertices.
    "cityjson/cjval-cases/sem.json": {"vertex index out of range": 1},
    # Buildings that have attributes but no geometry, in themselves or in BuildingParts.
    "cityjson/cjval-cases/noise1.city.json": {"no geometry": 1},
    "cityjson/cjval-cases/o2.json": {"no geometry": 1},
    "cityjson/cjval-cases/o3.json": {"no geometry": 1},
}
REPAIRS: dict[str, dict[str, int]] = {
    # id-1: 6 semantic values for 5 surfaces, one of them (5) beyond its 3 semantic surfaces.
    "cityjson/cjval-cases/sem.json": {"invalid semantics: surfaces classified by orientation": 1},
}
# Lines of CityJSONSeq files that are not features: the misspelt type "CityJSONFeatur".
LINE_SKIPS: dict[str, dict[str, int]] = {
    "cityjson/cjval-cases/cube_20.jsonl": {"not a CityJSONFeature (type 'CityJSONFeatur')": 1},
    "cityjson/cjval-cases/extension.jsonl": {"not a CityJSONFeature (type 'CityJSONFeatur')": 1},
}
# cjval calls material.city.json, material2.city.json, texture1/2.city.json (material or texture values
# overflow) and texture6.city.json (a float as texture index) invalid, but only in their appearance, which
# twin does not read: the generic test reads them like valid files (texture6 holds no building).
APPEARANCE_ONLY_INVALID = [
    "material.city.json", "material2.city.json", "texture1.city.json", "texture2.city.json", "texture6.city.json"
]  # fmt: skip


def surface_count(geometry: dict[str, Any]) -> int:
    """Surfaces in a geometry object, counted from its boundaries (points and lines have none)."""
    b = geometry["boundaries"]
    kind = geometry["type"]
    if kind in ("MultiSurface", "CompositeSurface"):
        return len(b)
    if kind == "Solid":
        return sum(len(shell) for shell in b)
    if kind in ("MultiSolid", "CompositeSolid"):
        return sum(len(shell) for solid in b for shell in solid)
    return 0


def part_ids(objects: dict[str, Any], key: str) -> list[str]:
    """BuildingParts below an object through "children", depth first."""
    out = []
    for child in objects[key].get("children", []):
        if objects.get(child, {}).get("type") == "BuildingPart":
            out += [child, *part_ids(objects, child)]
    return out


@dataclass
class Expected:
    """What a file holds, counted here from its JSON."""

    buildings: dict[str, int] = field(default_factory=dict)  # id → polygons (own and parts' surfaces)
    parts: dict[str, int] = field(default_factory=dict)  # id → BuildingParts merged
    skipped: Counter[str] = field(default_factory=Counter)


def expected_from(objects: dict[str, Any], into: Expected) -> None:
    for key, obj in objects.items():
        kind = obj["type"]
        if kind == "Building" and not obj.get("parents"):
            members = [key, *part_ids(objects, key)]
            into.buildings[key] = sum(
                surface_count(g) for member in members for g in objects[member].get("geometry", [])
            )
            into.parts[key] = len(members) - 1
        elif kind not in ("Building", "BuildingPart"):
            into.skipped[f"not a building ({kind})"] += 1


def expected_for(path: Path) -> Expected:
    expected = Expected()
    if path.suffix == ".jsonl":
        lines = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
        for feature in lines[1:]:
            if feature["type"] == "CityJSONFeature":
                expected_from(feature["CityObjects"], expected)
    else:
        expected_from(json.loads(path.read_text())["CityObjects"], expected)
    return expected


def read_all(path: Path) -> list[CityChunk]:
    return list(read_cityjson(SourceRef(path)))


def totals(chunks: list[CityChunk]) -> tuple[Counter[str], Counter[str]]:
    skipped: Counter[str] = Counter()
    repaired: Counter[str] = Counter()
    for chunk in chunks:
        skipped.update(chunk.log.skipped)
        repaired.update(chunk.log.repaired)
    return skipped, repaired


def polygons_per_building(chunk: CityChunk) -> dict[str, int]:
    return dict(zip(chunk.ids, np.diff(chunk.polygons.building_polygon_start).tolist(), strict=True))


def check_chunk(chunk: CityChunk) -> None:
    """Invariants of every chunk: consistent offsets, classes decided, attributes that pyarrow takes."""
    rings = chunk.polygons
    assert rings.ring_start[-1] == len(rings.xy) == len(rings.z if rings.z is not None else [])
    assert rings.polygon_ring_start[-1] == len(rings.ring_start) - 1
    assert rings.building_polygon_start[-1] == len(chunk.polygon_class) == len(chunk.polygon_lod)
    assert len(chunk.ids) == len(chunk.attributes) == rings.building_count
    assert not (chunk.polygon_class == SurfaceClass.UNKNOWN).any()
    assert (np.diff(rings.ring_start) >= 3).all()
    assert np.isfinite(rings.xy).all()
    pa.Table.from_pylist(chunk.attributes)  # raises if a column mixes types that cannot be combined


@pytest.mark.parametrize("relative", FILES)
def test_every_shared_file(relative: str) -> None:
    path = shared(relative)
    if relative in INVALID_FILES:
        with pytest.raises(InputError) as error:
            read_all(path)
        assert str(error.value).startswith(str(path))
        assert INVALID_FILES[relative] in str(error.value)
        return
    chunks = read_all(path)
    expected = expected_for(path)
    skipped, repaired = totals(chunks)
    building_skips = BUILDING_SKIPS.get(relative, {})
    assert skipped == expected.skipped + Counter(building_skips) + Counter(LINE_SKIPS.get(relative, {}))
    assert repaired == Counter(REPAIRS.get(relative, {}))
    read = {}
    for chunk in chunks:
        check_chunk(chunk)
        assert chunk.source == str(path)
        read.update(polygons_per_building(chunk))
        for key, attributes in zip(chunk.ids, chunk.attributes, strict=True):
            assert attributes.get("building_parts", 0) == expected.parts[key]
    assert len(read) == len(expected.buildings) - sum(building_skips.values())
    for key, polygons in read.items():
        assert polygons == expected.buildings[key], key


def test_the_case_list_covers_the_folder() -> None:
    shared("cityjson/cjval-cases/sem.json")
    names = {Path(relative).name for relative in FILES}
    assert {"zurich_subset_lod2.json", "delft.json", "cube_20.jsonl", "cjfeat1.json"} <= names
    assert set(APPEARANCE_ONLY_INVALID) <= names
    assert all(relative in FILES for relative in [*INVALID_FILES, *BUILDING_SKIPS, *LINE_SKIPS])


def test_zurich_parts_merged_with_their_rings_and_vertices() -> None:
    path = shared("cityjson/cjio-testdata/zurich_subset_lod2.json")
    doc = json.loads(path.read_text())
    objects = doc["CityObjects"]
    (chunk,) = read_all(path)
    assert len(chunk) == 49
    assert sum(a["building_parts"] for a in chunk.attributes) == 161
    rings = chunk.polygons
    for index, key in enumerate(chunk.ids):
        members = part_ids(objects, key)
        surfaces = [s for m in members for g in objects[m]["geometry"] for s in g["boundaries"]]
        p0, p1 = rings.building_polygon_start[index : index + 2]
        assert p1 - p0 == len(surfaces)
        r0, r1 = rings.polygon_ring_start[[p0, p1]]
        assert r1 - r0 == sum(len(s) for s in surfaces)  # holes kept
        assert rings.ring_start[r1] - rings.ring_start[r0] == sum(len(r) for s in surfaces for r in s)
        assert set(chunk.polygon_lod[p0:p1].tolist()) == {20}
        # Every Zurich surface has a semantic type: the classes are exactly those.
        types = Counter(
            g["semantics"]["surfaces"][v]["type"]
            for m in members
            for g in objects[m]["geometry"]
            for v in g["semantics"]["values"]
        )
        classes = Counter(SurfaceClass(c).name for c in chunk.polygon_class[p0:p1].tolist())
        assert classes["ROOF"] == types["RoofSurface"]
        assert classes["WALL"] == types["WallSurface"]
        assert classes["GROUND"] == types["GroundSurface"]


def test_zurich_vertex_after_transform_by_hand() -> None:
    path = shared("cityjson/cjio-testdata/zurich_subset_lod2.json")
    (chunk,) = read_all(path)
    # Vertex 0 is [7456404, 4485477, 448781]; scale 0.001, translate [2677116.375, 1241839.025, 0]. It opens
    # the first ring (a WallSurface) of the 5th part of building 2b587d1d, after the surfaces of 4 parts.
    expected = (7456.404 + 2677116.375, 4485.477 + 1241839.025, 448.781)
    building = chunk.ids.index("UUID_2b587d1d-ef3d-4859-a9b9-a069396a2d91")
    objects = json.loads(path.read_text())["CityObjects"]
    before = sum(
        len(objects[p]["geometry"][0]["boundaries"]) for p in objects[chunk.ids[building]]["children"][:4]
    )
    polygon = chunk.polygons.building_polygon_start[building] + before
    vertex = chunk.polygons.ring_start[chunk.polygons.polygon_ring_start[polygon]]
    got = (*chunk.polygons.xy[vertex], chunk.polygons.z[vertex] if chunk.polygons.z is not None else None)
    assert got == pytest.approx(expected, abs=1e-6)
    assert chunk.polygon_class[polygon] == SurfaceClass.WALL
    assert chunk.crs == "https://www.opengis.net/def/crs/EPSG/0/2056"
    attributes = chunk.attributes[building]
    assert attributes["class"] == "BB01"
    assert attributes["creation_date"] == "2017-01-23"
    assert attributes["Herkunft"] == "EE_LB_2007"
    assert attributes["Region"] == 6 and isinstance(attributes["Region"], int)
    assert "creationDate" not in attributes


def test_attributes_of_delft_and_the_dummy() -> None:
    (chunk,) = read_all(shared("cityjson/cjio-testdata/delft.json"))
    first = chunk.attributes[chunk.ids.index("b1105d28c-00ba-11e6-b420-2bdcc4ab5d7f")]
    assert first["measured_height"] == 6.0 and isinstance(first["measured_height"], float)  # 6 in the file
    assert first["min-height-surface"] == -0.1
    assert first["eindregistratie"] == ""  # an empty text is a value, not a missing one
    assert "measuredHeight" not in first
    assert chunk.crs == "https://www.opengis.net/def/crs/EPSG/0/7415"
    (dummy,) = read_all(shared("cityjson/cjio-testdata/dummy/dummy.json"))
    assert dummy.attributes == [
        {
            "owner": "Elvis Presley",
            "measured_height": 22.3,
            "roof_type": "gable",
            "year_of_construction": 1904,
        }
    ]


def test_address_mapping() -> None:
    (chunk,) = read_all(shared("cityjson/cjval-cases/address.json"))
    tower = chunk.attributes[chunk.ids.index("LondonTower")]
    assert tower["street"] == "rue de la Patate"
    assert tower["house_number"] == "1"
    assert tower["postcode"] == "H0H 0H0"
    assert tower["locality"] == "Chibougamau"
    assert tower["address"] == "rue de la Patate 1, H0H 0H0 Chibougamau"  # two equal addresses: one line
    assert tower["roof_type"] == "dual pent roof" and tower["usage"] == "leisure"
    assert tower["conditionOfConstruction"] == "demolished"
    assert "street" not in chunk.attributes[chunk.ids.index("LondonTower2")]
    (japanese,) = read_all(shared("cityjson/cjval-cases/japanese.city.json"))
    first = japanese.attributes[0]
    assert first["locality"] == first["address"] == "東京都港区六本木一丁目"
    assert first["storeys_above_ground"] == 2 and first["storeys_below_ground"] == 0
    assert first["class"] == "3003" and first["usage"] == "401" and first["measured_height"] == 13.4
    assert first["creation_date"] == "2024-03-15"  # the date of "2024-03-15T00:00:00+01:00"


def test_several_addresses(tmp_path: Path) -> None:
    address = [
        {
            "ThoroughfareName": "Marktplatz",
            "ThoroughfareNumber": "1",
            "Postcode": "06108",
            "Locality": "Halle",
        },
        {
            "ThoroughfareName": "Marktplatz",
            "ThoroughfareNumber": "1",
            "Postcode": "06108",
            "Locality": "Halle",
        },
        {"ThoroughfareName": "Rathausstraße", "ThoroughfareNumber": 3, "Locality": "Halle"},
    ]
    chunk = one_chunk(
        write(tmp_path, city({"b": {"type": "Building", "geometry": [box()], "address": address}}))
    )
    (attributes,) = chunk.attributes
    assert attributes["address"] == "Marktplatz 1, 06108 Halle"
    assert json.loads(attributes["addresses"]) == ["Marktplatz 1, 06108 Halle", "Rathausstraße 3, Halle"]


def test_multi_lod_codes() -> None:
    path = shared("cityjson/cjio-testdata/multi_lod.json")
    objects = json.loads(path.read_text())["CityObjects"]
    (chunk,) = read_all(path)
    start = chunk.polygons.building_polygon_start
    for index, key in enumerate(chunk.ids):
        lods = Counter(chunk.polygon_lod[start[index] : start[index + 1]].tolist())
        expected = Counter(
            {int(g["lod"].replace(".", "")): surface_count(g) for g in objects[key]["geometry"]}
        )
        assert lods == expected
        assert set(lods) == {12, 13, 22}


def test_cityjson_seq_cube() -> None:
    path = shared("cityjson/cjval-cases/cube_20.jsonl")
    assert is_cityjson_seq(path.read_bytes()[:4096])
    chunks = read_all(path)
    (chunk,) = chunks
    assert chunk.ids == ["id-1", "id-1"]  # the two Building features (the file repeats the id)
    # Feature vertex [2000, 1000, 1000] with the header's scale 0.001 and translate [-1, -1, 0]: (1, 0, 1).
    assert chunk.polygons.xy[0].tolist() == pytest.approx([1.0, 0.0])
    assert chunk.polygons.z is not None and chunk.polygons.z[0] == pytest.approx(1.0)
    assert set(chunk.polygon_lod.tolist()) == {10}
    assert chunk.attributes[0] == {"function": "something"}


def test_is_cityjson_seq() -> None:
    header = b'{"type":"CityJSON","version":"2.0","CityObjects":{},"vertices":[]}\n'
    feature = b'{"type":"CityJSONFeature","id":"a","CityObjects":{},"vertices":[]}\n'
    assert is_cityjson_seq(header + feature)
    assert is_cityjson_seq(b"\xef\xbb\xbf" + header + feature)
    assert is_cityjson_seq(b"\x1e" + header + b"\x1e" + feature)
    assert is_cityjson_seq(header + feature[:20])  # the head cut the first feature short
    assert not is_cityjson_seq(header)  # one line: a plain (empty) CityJSON file
    assert not is_cityjson_seq(header[:30])
    assert not is_cityjson_seq(b'{"type":"Feature","geometry":null}\n{"type":"Feature","geometry":null}\n')
    assert not is_cityjson_seq(header + b'{"type":"Feature","geometry":null}\n')
    assert not is_cityjson_seq(b'{\n  "type": "CityJSON",\n  "version": "2.0"\n}\n')
    assert not is_cityjson_seq(b"not json at all\n\n")
    delft = CITYJSON_DIR / "cjio-testdata" / "delft.json"
    if delft.exists():
        assert not is_cityjson_seq(delft.read_bytes()[:4096])


# Small inputs made here -------------------------------------------------------------------------------

CUBE_VERTICES = [[0, 0, 0], [1000, 0, 0], [1000, 1000, 0], [0, 1000, 0]]
CUBE_VERTICES += [[x, y, 3000] for x, y, _ in CUBE_VERTICES]
# Outward-facing quads of a 1 × 1 × 3 m box: bottom, top, four walls (vertex indices into CUBE_VERTICES).
BOX = [[[0, 3, 2, 1]], [[4, 5, 6, 7]], [[0, 1, 5, 4]], [[1, 2, 6, 5]], [[2, 3, 7, 6]], [[3, 0, 4, 7]]]


def city(objects: dict[str, Any], **extra: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "type": "CityJSON",
        "version": "2.0",
        "transform": {"scale": [0.001, 0.001, 0.001], "translate": [500000.0, 5700000.0, 40.0]},
        "metadata": {"referenceSystem": "https://www.opengis.net/def/crs/EPSG/0/25832"},
        "CityObjects": objects,
        "vertices": CUBE_VERTICES,
    }
    doc.update(extra)
    return doc


def box(
    lod: str | int = "2", semantics: Any = None, boundaries: Any = None, kind: str = "Solid"
) -> dict[str, Any]:
    geometry: dict[str, Any] = {"type": kind, "lod": lod}
    geometry["boundaries"] = boundaries if boundaries is not None else ([BOX] if kind == "Solid" else BOX)
    if semantics is not None:
        geometry["semantics"] = semantics
    return geometry


def write(tmp_path: Path, content: Any, name: str = "city.json") -> Path:
    path = tmp_path / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(json.dumps(content))
    return path


def one_chunk(path: Path) -> CityChunk:
    chunks = read_all(path)
    assert len(chunks) == 1
    check_chunk(chunks[0])
    return chunks[0]


def test_transform_and_semantic_classes(tmp_path: Path) -> None:
    semantics = {
        "surfaces": [
            {"type": t} for t in ("GroundSurface", "RoofSurface", "WallSurface", "ClosureSurface", "Window")
        ],
        "values": [[0, 1, 2, 3, 4, None]],
    }
    chunk = one_chunk(
        write(tmp_path, city({"b": {"type": "Building", "geometry": [box(semantics=semantics)]}}))
    )
    assert chunk.crs == "https://www.opengis.net/def/crs/EPSG/0/25832"
    assert chunk.polygons.xy[0].tolist() == [500000.0, 5700000.0]
    assert chunk.polygons.xy[1].tolist() == pytest.approx([500000.0, 5700001.0])  # vertex 3: (0, 1000, 0)
    assert chunk.polygons.z is not None and chunk.polygons.z[4] == pytest.approx(43.0)  # vertex 4, top
    classes = [SurfaceClass(c) for c in chunk.polygon_class.tolist()]
    # The null-valued last wall is classified by its orientation.
    assert classes == [SurfaceClass.GROUND, SurfaceClass.ROOF, SurfaceClass.WALL] + [
        SurfaceClass.OTHER
    ] * 2 + [SurfaceClass.WALL]
    assert chunk.polygon_lod.tolist() == [20] * 6


def test_parts_nested_and_installations_skipped(tmp_path: Path) -> None:
    objects = {
        "b": {"type": "Building", "children": ["p1", "inst"], "attributes": {"function": 2463}},
        "p1": {
            "type": "BuildingPart",
            "parents": ["b"],
            "geometry": [box()],
            "attributes": {"function": 9999, "roofType": "1000"},  # the building's own function wins
        },
        # p1 lists no children: p2 is found through its "parents".
        "p2": {"type": "BuildingPart", "parents": ["p1"], "geometry": [box(lod="1.2")]},
        "annex": {"type": "Building", "parents": ["b"], "geometry": [box(lod="1")]},  # merged like a part
        "inst": {"type": "BuildingInstallation", "parents": ["b"], "geometry": [box()]},
        "lost": {"type": "BuildingPart", "parents": ["nowhere"], "geometry": [box()]},
        "road": {"type": "Road", "geometry": [box(kind="MultiSurface")]},
        "group": {"type": "CityObjectGroup", "children": ["b2"]},
        "b2": {"type": "Building", "parents": ["group"], "geometry": [box()]},  # a group member is a building
    }
    chunk = one_chunk(write(tmp_path, city(objects)))
    assert chunk.ids == ["b", "b2"]
    assert chunk.attributes == [{"function": "2463", "roof_type": "1000", "building_parts": 3}, {}]
    assert chunk.polygon_lod.tolist() == [20] * 6 + [12] * 6 + [10] * 6 + [20] * 6
    assert chunk.log.skipped == Counter(
        {
            "not a building (BuildingInstallation)": 1,
            "not a building (Road)": 1,
            "not a building (CityObjectGroup)": 1,
            "BuildingPart without a top-level Building": 1,
        }
    )


@pytest.mark.parametrize(
    ("geometry", "reason"),
    [
        (box(boundaries=[[[[0, 1, 2, 99]]]]), "vertex index out of range"),
        (box(boundaries=[[[[0, 1, 2, -1]]]]), "vertex index out of range"),
        (box(boundaries=[[[[0, 1.5, 2, 3]]]]), "vertex indices are not integers"),
        (box(boundaries=[[[0, 1, 2]]]), "malformed Solid boundaries"),
        (box(boundaries=[7]), "malformed Solid boundaries"),
        (box(kind="Polyhedron"), "unknown geometry type 'Polyhedron'"),
        (box(lod="high"), "geometry without a valid lod"),
        (
            {"type": "GeometryInstance", "template": 3, "boundaries": [0]},
            "GeometryInstance without geometry-templates",
        ),
        ("not an object", "geometry is not a JSON object"),
    ],
)
def test_broken_geometry_skips_the_building(tmp_path: Path, geometry: Any, reason: str) -> None:
    objects = {
        "bad": {"type": "Building", "geometry": [box(), geometry]},
        "good": {"type": "Building", "geometry": [box()]},
    }
    chunk = one_chunk(write(tmp_path, city(objects)))
    assert chunk.ids == ["good"]
    assert chunk.log.skipped == Counter({reason: 1})
    assert chunk.log.skipped_examples[reason] == ["bad"]


def test_nan_vertex_skips_only_its_building(tmp_path: Path) -> None:
    vertices = [*CUBE_VERTICES, [float("nan"), 0, 0]]
    objects = {
        "bad": {"type": "Building", "geometry": [box(kind="MultiSurface", boundaries=[[[0, 1, 8]]])]},
        "good": {"type": "Building", "geometry": [box()]},
    }
    chunk = one_chunk(write(tmp_path, city(objects, vertices=vertices)))  # json writes NaN, as some tools do
    assert chunk.ids == ["good"]
    assert chunk.log.skipped == Counter({"vertex coordinates are not finite (NaN)": 1})


def test_invalid_semantics_and_short_rings_are_repaired(tmp_path: Path) -> None:
    bad_values = {"surfaces": [{"type": "RoofSurface"}], "values": [[0, 0, 0, 0, 0, 7]]}
    holes = [[[0, 3, 2, 1], [0, 1]], *BOX[1:], [[1, 2]]]  # a 2-vertex hole and a 2-vertex surface
    objects = {
        "sem": {"type": "Building", "geometry": [box(semantics=bad_values)]},
        # A null for a whole shell is valid: no class for any of its surfaces, and nothing to repair.
        "nulls": {
            "type": "Building",
            "geometry": [box(semantics={"surfaces": [{"type": "RoofSurface"}], "values": [None]})],
        },
        "short": {"type": "Building", "geometry": [box(boundaries=[holes])]},
        "flat": {"type": "Building", "geometry": [box(kind="MultiSurface", boundaries=[[[0, 1]], [[]]])]},
    }
    chunk = one_chunk(write(tmp_path, city(objects)))
    assert chunk.ids == ["sem", "nulls", "short"]
    # Not six roofs: the orientation decides, as for surfaces without semantics.
    for building in range(2):
        classes = chunk.polygon_class[building * 6 : building * 6 + 6].tolist()
        assert Counter(SurfaceClass(c).name for c in classes) == Counter({"GROUND": 1, "ROOF": 1, "WALL": 4})
    assert np.diff(chunk.polygons.building_polygon_start).tolist() == [6, 6, 6]
    assert chunk.log.repaired == Counter(
        {
            "invalid semantics: surfaces classified by orientation": 1,
            "ring with fewer than 3 vertices left out": 1,
        }
    )
    assert chunk.log.skipped == Counter({"no surface with 3 or more vertices": 1})


def test_geometry_instance_placed_by_matrix_and_reference_point(tmp_path: Path) -> None:
    templates = {
        "templates": [{"type": "MultiSurface", "lod": "2.1", "boundaries": [[[0, 1, 2]]]}],
        "vertices-templates": [[0.0, 0.0, 0.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.5]],
    }
    matrix = [2.0, 0, 0, 10.0, 0, 2.0, 0, 0, 0, 0, 2.0, 0, 0, 0, 0, 1.0]  # scale 2, then 10 m along x
    instance = {"type": "GeometryInstance", "template": 0, "boundaries": [4], "transformationMatrix": matrix}
    objects = {
        "b": {"type": "Building", "geometry": [instance]},
        "missing": {"type": "Building", "geometry": [{**instance, "template": 1}]},
        "far": {"type": "Building", "geometry": [{**instance, "boundaries": [8]}]},
    }
    chunk = one_chunk(write(tmp_path, city(objects, **{"geometry-templates": templates})))
    assert chunk.ids == ["b"]
    assert chunk.log.skipped == Counter(
        {"GeometryInstance refers to a missing template": 1, "vertex index out of range": 1}
    )
    # Reference point: vertex 4 = (500000, 5700000, 43); template vertex (0, 1, 0.5) → (10, 2, 1) + it.
    xyz = np.column_stack([chunk.polygons.xy, chunk.polygons.z if chunk.polygons.z is not None else []])
    expected = [[500010, 5700000, 43], [500012, 5700000, 43], [500010, 5700002, 44]]
    np.testing.assert_allclose(xyz, expected, rtol=0, atol=1e-9)
    assert chunk.polygon_lod.tolist() == [21]


def test_cityjson_1_0_address_object_and_no_transform(tmp_path: Path) -> None:
    doc = city(
        {
            "b": {
                "type": "Building",
                "geometry": [box(lod=2)],  # 1.0 writes the LoD as a number
                "address": {
                    "CountryName": "Deutschland",
                    "LocalityName": "Halle (Saale)",
                    "PostalCode": "06108",
                    "ThoroughfareName": "Marktplatz",
                },
                "attributes": {
                    "measuredHeight": "12,5",
                    "storeysAboveGround": "4",
                    "yearOfConstruction": 1911.0,
                    "roofType": 3100,
                    "function": ["31001_1000", "31001_1010"],
                    "yearOfDemolition": "2001-05-03",
                    "creationDate": "2020-01-02T10:00:00",
                    "note": None,
                    "tags": ["a", "b"],
                    "listed": True,
                },
            }
        },
        version="1.0",
        metadata={"referenceSystem": "urn:ogc:def:crs:EPSG::25832"},
        vertices=[[x / 1000, y / 1000, z / 1000] for x, y, z in CUBE_VERTICES],
    )
    del doc["transform"]
    chunk = one_chunk(write(tmp_path, doc))
    assert chunk.crs == "urn:ogc:def:crs:EPSG::25832"
    assert chunk.polygons.xy.max(axis=0).tolist() == [1.0, 1.0]
    assert chunk.attributes == [
        {
            "tags": '["a", "b"]',
            "listed": True,
            "measured_height": 12.5,
            "roof_type": "3100",
            "function": "31001_1000;31001_1010",
            "year_of_demolition": 2001,
            "creation_date": "2020-01-02",
            "storeys_above_ground": 4,
            "year_of_construction": 1911,
            "street": "Marktplatz",
            "postcode": "06108",
            "locality": "Halle (Saale)",
            "address": "Marktplatz, 06108 Halle (Saale)",
        }
    ]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "file is empty"),
        (b"<html><body>Not found</body></html>", "not JSON"),
        (b'{"type": "CityJSON", "version": "2.0", ', "not JSON"),
        (b"\xff\xfe\x00garbage", "not JSON"),
        (b"[1, 2, 3]", "JSON but not CityJSON (the top level is a list)"),
        (
            b'{"type": "FeatureCollection", "features": []}',
            "JSON but not CityJSON (type 'FeatureCollection')",
        ),
        (json.dumps(city({}, version="0.9")).encode(), "CityJSON version '0.9' is not supported"),
        (
            json.dumps(city({}, version="1.2")).encode()
            + b"\n"
            + json.dumps({"type": "CityJSONFeature"}).encode(),
            "CityJSON version '1.2' is not supported",
        ),
        (json.dumps(city({}, version="3.0")).encode(), "CityJSON version '3.0' is not supported"),
        (json.dumps({**city({}), "vertices": None}).encode(), "CityJSON without vertices"),
        (json.dumps({**city({}), "CityObjects": []}).encode(), "CityJSON without CityObjects"),
        (json.dumps(city({}, vertices=[[1, 2]])).encode(), "vertices are not [x, y, z] number triples"),
        (json.dumps(city({}, transform={"scale": [1, 1]})).encode(), "invalid transform"),
        (json.dumps(city({}, transform={"scale": [0, 0, 0], "translate": [0, 0, 0]})).encode(), "scale"),
        (
            json.dumps(city({"b": {"type": "Building", "geometry": [box()]}}, vertices=[[0, 0, 0]])).encode(),
            "vertex indices beyond the vertex list in every building",
        ),
    ],
)
def test_whole_file_problems(tmp_path: Path, content: bytes, message: str) -> None:
    path = write(tmp_path, content)
    with pytest.raises(InputError) as error:
        read_all(path)
    text = str(error.value)
    assert text.startswith(f"{path}: ") and message in text
    assert "\n" not in text


def test_patch_version_and_bom_are_accepted(tmp_path: Path) -> None:
    doc = city({"b": {"type": "Building", "geometry": [box()]}}, version="2.0.1")
    chunk = one_chunk(write(tmp_path, b"\xef\xbb\xbf" + json.dumps(doc, indent=1).encode()))
    assert chunk.ids == ["b"]


def seq_lines(count: int, header: dict[str, Any] | None = None) -> list[bytes]:
    header = header or {k: v for k, v in city({}).items() if k != "vertices"}
    lines = [json.dumps({**header, "CityObjects": {}, "vertices": []}).encode()]
    for number in range(count):
        feature = {
            "type": "CityJSONFeature",
            "id": f"f{number}",
            "CityObjects": {f"f{number}": {"type": "Building", "geometry": [box()]}},
            "vertices": [[x + number * 10_000, y, z] for x, y, z in CUBE_VERTICES],
        }
        lines.append(json.dumps(feature).encode())
    return lines


@dataclass(frozen=True)
class CountingSource(SourceRef):
    """A SourceRef that keeps the handles it opened, to see how far the reader has read."""

    handles: list[IO[bytes]] = field(default_factory=list, compare=False)

    def open(self) -> IO[bytes]:
        handle = super().open()
        self.handles.append(handle)
        return handle


def test_seq_is_streamed_in_chunks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cityjson, "CHUNK_BUILDINGS", 3)
    lines = seq_lines(400)
    path = write(tmp_path, b"\n".join(lines) + b"\n", "city.jsonl")
    source = CountingSource(path)
    chunks = read_cityjson(source)
    first = next(chunks)
    assert first.ids == ["f0", "f1", "f2"]
    assert source.handles[0].tell() < path.stat().st_size / 4  # the rest is not read yet
    rest = list(chunks)
    assert [len(c) for c in rest] == [3] * 132 + [1]
    assert rest[-1].ids == ["f399"]
    # The first ring's second vertex is feature 399's vertex 3: (0 + 3990000, 1000, 0) mm from the translate.
    assert rest[-1].polygons.xy[1].tolist() == pytest.approx([500000 + 3990.0, 5700000 + 1.0])
    assert all(c.crs == "https://www.opengis.net/def/crs/EPSG/0/25832" for c in [first, *rest])


def test_seq_with_bad_lines_skips_them(tmp_path: Path) -> None:
    lines = seq_lines(3)
    broken = json.loads(lines[2])
    broken["vertices"] = "none"
    lines[2] = json.dumps(broken).encode()
    lines.insert(3, b'{"type": "CityJSONFeature", "CityObj')  # a line cut short
    lines.insert(2, b"\x1e" + json.dumps({"type": "Feature", "id": "g"}).encode())
    path = write(tmp_path, b"\xef\xbb\xbf" + b"\r\n".join(lines) + b"\r\n\r\n", "city.jsonl")
    assert is_cityjson_seq(path.read_bytes())
    chunk = one_chunk(path)
    assert chunk.ids == ["f0", "f2"]
    assert chunk.log.skipped == Counter(
        {
            "not a CityJSONFeature (type 'Feature')": 1,
            "CityJSONFeature with invalid vertices (vertices are not a list)": 1,
            "CityJSONSeq line is not JSON": 1,
        }
    )
    assert chunk.log.skipped_examples["CityJSONSeq line is not JSON"] == ["line 5"]


def test_plain_file_in_chunks_and_from_a_zip(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cityjson, "CHUNK_BUILDINGS", 2)
    objects = {f"b{i}": {"type": "Building", "geometry": [box()]} for i in range(5)}
    objects["road"] = {"type": "Road"}
    archive = tmp_path / "tiles.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as out:
        out.writestr("tile/city.json", json.dumps(city(objects)))
    chunks = list(read_cityjson(SourceRef(archive, "tile/city.json")))
    assert [c.ids for c in chunks] == [["b0", "b1"], ["b2", "b3"], ["b4"]]
    assert sum(c.log.skipped["not a building (Road)"] for c in chunks) == 1
    assert chunks[0].source == f"{archive}:tile/city.json"


def test_a_file_without_buildings_still_gives_one_chunk(tmp_path: Path) -> None:
    chunk = one_chunk(write(tmp_path, city({"t": {"type": "TINRelief", "geometry": []}})))
    assert len(chunk) == 0
    assert chunk.log.skipped == Counter({"not a building (TINRelief)": 1})
