"""Streaming CityGML 1.0 / 2.0 / 3.0 reader: buildings with their surfaces, semantics and attributes.

lxml's iterparse hands over one top-level Building at a time (its BuildingParts inside it); the building is
turned into flat arrays (`twin.ingest.citymodel.ChunkBuilder`) and its element cleared with everything
before it, so memory stays bounded by one building plus the chunk of arrays, whatever the file's size.

Geometry rules (all versions; elements are matched by local name, so any namespace prefix works):
- every gml:Polygon (also Triangle, Rectangle and PolygonPatch) below the building is a polygon; its level of
  detail comes from the nearest `lod<N>...` property above it (lod2Solid, lod2MultiSurface, lod0FootPrint...)
  and its class from the nearest boundary surface above it (RoofSurface, WallSurface, GroundSurface; others
  such as ClosureSurface, Window or Door are OTHER; none is UNKNOWN, classified later by orientation);
- `xlink:href` references (the AdV files build lod2Solid from references to the boundary surfaces' polygons)
  are resolved within the building: a reference to a polygon that is read anyway adds nothing, one to a
  polygon or geometry read nowhere else adds it, a reference to nothing in the building is counted as dangling;
- interior structure (rooms, storeys, building units, furniture, interior installations) is not read: the twin
  shows buildings from outside;
- a gml:id defined twice within a building counts once (the first); xlinks never recurse beyond one level,
  so reference cycles cannot loop.
XML is parsed without DTDs, entity expansion or network access.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import numpy as np
from lxml import etree

from twin.errors import InputError
from twin.ingest.citygml_attributes import building_attributes
from twin.ingest.citymodel import (
    CHUNK_BUILDINGS,
    ChunkBuilder,
    CityChunk,
    SurfaceClass,
)
from twin.ingest.sources import SourceRef

BUILDING = "Building"
PART = "BuildingPart"
POLYGON_TAGS = frozenset({"Polygon", "Triangle", "Rectangle", "PolygonPatch"})
SURFACE_CLASS = {
    "RoofSurface": SurfaceClass.ROOF,
    "WallSurface": SurfaceClass.WALL,
    "GroundSurface": SurfaceClass.GROUND,
}
OTHER_SURFACES = frozenset(
    {"ClosureSurface", "OuterCeilingSurface", "OuterFloorSurface", "Window", "Door", "Opening"}
)
# LoD0 outlines name what they are: the footprint is ground, the roof edge outline is roof.
LOD0_SURFACES = {"lod0FootPrint": SurfaceClass.GROUND, "lod0RoofEdge": SurfaceClass.ROOF}
# Interior structure and things that are not the building's outer shell.
SKIPPED = frozenset(
    {
        "interiorRoom", "Room", "BuildingRoom", "buildingRoom", "Storey", "BuildingUnit", "buildingSubdivision",
        "interiorFurniture", "BuildingFurniture", "buildingFurniture", "interiorBuildingInstallation",
        "IntBuildingInstallation", "appearance", "appearanceMember", "address", "Address",
        "externalReference", "generalizesTo", "relativeToTerrain", "relativeToWater",
    }
)  # fmt: skip
_LOD_PROPERTY = re.compile(r"^lod([0-4])")
HREF = "{http://www.w3.org/1999/xlink}href"
_REFERENCES = etree.XPath(".//*[@xl:href]", namespaces={"xl": "http://www.w3.org/1999/xlink"})
_XPOINTER_ID = re.compile(r"""@gml:id\s*=\s*['"]([^'"]+)['"]""")


def local(tag: Any) -> str:
    """Local name of an lxml tag ('' for comments and processing instructions)."""
    return tag.rpartition("}")[2] if isinstance(tag, str) else ""


GML_IDS = ("{http://www.opengis.net/gml}id", "{http://www.opengis.net/gml/3.2}id")
POLYGON_QNAMES = tuple(
    f"{{{namespace}}}{name}"
    for namespace in ("http://www.opengis.net/gml", "http://www.opengis.net/gml/3.2")
    for name in sorted(POLYGON_TAGS)
)


def gml_id(element: etree._Element) -> str | None:
    """The element's gml:id, whatever the GML namespace (3.1.1 or 3.2)."""
    value = element.get(GML_IDS[0]) or element.get(GML_IDS[1])
    return None if value is None else str(value)


def href_target(href: str) -> str:
    """The id an xlink:href points to: '#id', or the XPointer form '#xpointer(//*[@gml:id='id'])'."""
    match = _XPOINTER_ID.search(href)
    if match:
        return match.group(1)
    return href.rpartition("#")[2]


def _numbers(text: str | None, where: str) -> np.ndarray[Any, np.dtype[np.float64]]:
    if not text:
        return np.empty(0)
    try:
        return np.array(text.replace(",", " ").split(), dtype=np.float64)
    except ValueError as exc:
        raise ValueError(f"coordinates that are not numbers in {where}") from exc


def ring_coordinates(ring: etree._Element, dimension: int) -> np.ndarray[Any, np.dtype[np.float64]]:
    """(n, 3) coordinates of a gml:LinearRing (posList, pos elements or the old coordinates form)."""
    values: list[np.ndarray[Any, np.dtype[np.float64]]] = []
    for child in ring:
        name = local(child.tag)
        if name == "posList":
            dimension = int(child.get("srsDimension") or child.get("dimension") or dimension)
            values.append(_numbers(child.text, "a posList"))
        elif name == "pos":
            values.append(_numbers(child.text, "a pos"))
            if len(values[-1]) == 2:
                dimension = 2
        elif name == "coordinates":
            values.append(_numbers(child.text, "gml:coordinates"))
    flat = np.concatenate(values) if values else np.empty(0)
    if dimension not in (2, 3) or len(flat) % dimension:
        raise ValueError(f"a ring of {len(flat)} numbers is not a list of {dimension}D points")
    points = flat.reshape(-1, dimension)
    if dimension == 2:
        points = np.column_stack([points, np.zeros(len(points))])
    return points


class _BuildingReader:
    """Collects one building's polygons (with its parts') into a ChunkBuilder."""

    def __init__(self, builder: ChunkBuilder, dimension: int) -> None:
        self.builder = builder
        self.dimension = dimension
        # Polygon elements already added (the set keeps their lxml proxies alive, so identity is stable).
        self.read: set[etree._Element] = set()
        self.hrefs: list[tuple[str, int, SurfaceClass]] = []
        self.bad: list[str] = []

    def walk(self, element: etree._Element, lod: int | None, surface: SurfaceClass) -> None:
        """Visit the subtree below `element`, collecting polygons with the LoD and class in effect."""
        for child in element:
            if not len(child) and HREF not in child.attrib:
                continue  # a leaf (an attribute value): no geometry below it
            name = local(child.tag)
            if not name or name in SKIPPED:
                continue
            if name in POLYGON_TAGS:
                self.add(child, lod, surface)
                continue
            child_lod, child_surface = lod, surface
            match = _LOD_PROPERTY.match(name)
            if match:
                child_lod = int(match.group(1)) * 10
                if name.endswith("TerrainIntersection") or name.endswith("MultiCurve"):
                    continue  # curves, never polygons
                if child_surface == SurfaceClass.UNKNOWN and name in LOD0_SURFACES:
                    child_surface = LOD0_SURFACES[name]
            elif name in SURFACE_CLASS:
                child_surface = SURFACE_CLASS[name]
            elif name in OTHER_SURFACES:
                child_surface = SurfaceClass.OTHER
            href = child.get(HREF)
            if href is not None and child_lod is not None:
                self.hrefs.append((href_target(href), child_lod, child_surface))
                continue
            if match and child_lod is not None:
                # A geometry property: below it are only geometry elements, which lxml finds in C.
                for polygon in child.iter(*POLYGON_QNAMES):
                    self.add(polygon, child_lod, child_surface)
                for reference in _REFERENCES(child):
                    self.hrefs.append((href_target(str(reference.get(HREF))), child_lod, child_surface))
                continue
            self.walk(child, child_lod, child_surface)

    def add(self, polygon: etree._Element, lod: int | None, surface: SurfaceClass) -> None:
        """Add one polygon element (once) if it sits below a LoD property."""
        if lod is None or polygon in self.read:
            return
        self.read.add(polygon)
        rings = []
        try:
            for boundary in polygon:
                name = local(boundary.tag)
                if name not in ("exterior", "interior", "outerBoundaryIs", "innerBoundaryIs"):
                    continue
                for ring in boundary:
                    if local(ring.tag) == "LinearRing":
                        rings.append(
                            (name in ("exterior", "outerBoundaryIs"), ring_coordinates(ring, self.dimension))
                        )
        except ValueError as exc:
            self.bad.append(str(exc))
            return
        rings.sort(key=lambda item: not item[0])  # exterior first
        if not rings or not rings[0][0]:
            self.bad.append("a polygon without an exterior ring")
            return
        self.builder.add_polygon([coords for _, coords in rings], surface, lod)

    def resolve(self, building: etree._Element) -> int:
        """Add what the building's xlinks point to; returns how many point to nothing in the building."""
        if not self.hrefs:
            return 0
        # Almost every reference points at a polygon: index those first (lxml finds them by tag, in C), and
        # everything with an id only when a reference is left over.
        index: dict[str, etree._Element] = {}
        for polygon in building.iter(*POLYGON_QNAMES):
            identifier = gml_id(polygon)
            if identifier is not None and identifier not in index:
                index[identifier] = polygon
        if any(target not in index for target, _, _ in self.hrefs):
            for element in building.iter():
                identifier = gml_id(element) if isinstance(element.tag, str) else None
                if identifier is not None and identifier not in index:
                    index[identifier] = element
        dangling = 0
        for target, lod, surface in self.hrefs:
            element = index.get(target)
            if element is None:
                dangling += 1
                continue
            if local(element.tag) in POLYGON_TAGS:
                self.add(element, lod, surface)
            else:  # a whole surface or solid: its polygons (one level of references only)
                for polygon in element.iter():
                    if local(polygon.tag) in POLYGON_TAGS:
                        self.add(polygon, lod, surface)
        return dangling


def _envelope_crs(root: etree._Element) -> str | None:
    for element in root:
        if local(element.tag) == "boundedBy":
            for envelope in element.iter():
                srs = envelope.get("srsName") if isinstance(envelope.tag, str) else None
                if srs:
                    return str(srs)
    return None


def _first_srs_name(building: etree._Element) -> str | None:
    for element in building.iter():
        if isinstance(element.tag, str) and local(element.tag) not in SKIPPED:
            srs = element.get("srsName")
            if srs:
                return str(srs)
    return None


def read_citygml(source: SourceRef) -> Iterator[CityChunk]:
    """The buildings of one CityGML file, in chunks of at most CHUNK_BUILDINGS buildings (at least one chunk).

    InputError naming the source when the file is not well-formed XML.
    """
    builder = ChunkBuilder(source.name)
    seen_ids: set[str] = set()
    count = 0
    crs_known = False
    with source.open() as handle:
        events = etree.iterparse(
            handle, events=("end",), tag=("{*}" + BUILDING,), resolve_entities=False, no_network=True,
            load_dtd=False, huge_tree=True, remove_comments=True,
        )  # fmt: skip
        try:
            for _, element in events:
                parent = element.getparent()
                if parent is None or local(parent.tag) in (PART, "consistsOfBuildingPart"):
                    continue
                if not crs_known:
                    root = element.getroottree().getroot()
                    builder.crs = _envelope_crs(root) or _first_srs_name(element)
                    crs_known = builder.crs is not None
                _read_building(element, builder, seen_ids, source)
                count += 1
                # Free the building and everything before it (other city objects, appearances).
                element.clear(keep_tail=False)
                container = parent.getparent()
                while container is not None and parent.getprevious() is not None:
                    del container[0]
                if len(builder) >= CHUNK_BUILDINGS:
                    yield builder.build()
        except etree.XMLSyntaxError as exc:
            raise InputError(f"{source.name}: not well-formed XML (line {exc.lineno}): {exc.msg}") from exc
        if not crs_known and count == 0:
            builder.crs = _root_crs(events)
    yield builder.build()


def _root_crs(events: Any) -> str | None:
    """The envelope's CRS of a file without buildings (iterparse's root after the whole file was read)."""
    root = getattr(events, "root", None)
    return _envelope_crs(root) if root is not None else None


def _read_building(
    element: etree._Element, builder: ChunkBuilder, seen_ids: set[str], source: SourceRef
) -> None:
    identifier = gml_id(element) or f"{source.file_name}#{len(seen_ids) + 1}"
    if identifier in seen_ids:
        builder.log.skip("duplicate building gml:id (the first is kept)", [identifier])
        return
    seen_ids.add(identifier)
    dimension = 3
    reader = _BuildingReader(builder, dimension)
    reader.walk(element, None, SurfaceClass.UNKNOWN)
    dangling = reader.resolve(element)
    if dangling:
        builder.log.repair("dangling xlink:href (points to nothing in its building) ignored", dangling)
    for problem in sorted(set(reader.bad)):
        builder.log.repair(f"polygon skipped: {problem}", reader.bad.count(problem))
    attributes = building_attributes(element)
    builder.end_building(identifier, attributes)
