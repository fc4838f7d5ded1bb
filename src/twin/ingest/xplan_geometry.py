"""GML 3.2 / 3.1 geometries of XPlanGML turned into 2D shapely geometries, arcs linearised, polygons made valid.

Read (elements matched by local name, so both GML namespaces work): Point, LineString, Curve with the segments
LineStringSegment, Arc, ArcString, Circle (and Geodesic/GeodesicString, taken as straight), OrientableCurve,
CompositeCurve, LinearRing, Ring of curveMembers, Polygon (exterior/interior, or GML 2's
outerBoundaryIs/innerBoundaryIs), Surface/PolygonPatch (also Triangle, Rectangle), OrientableSurface,
CompositeSurface, MultiSurface, MultiPolygon, MultiCurve, MultiLineString, MultiPoint and MultiGeometry.
Coordinates come from posList, pos, coordinates or coord; a third (z) value is dropped. gml:Envelope is no
geometry (None). A bare LinearRing or Ring (a geometry fragment) is read as the polygon it bounds.

Arcs (circularArc3Points) are linearised through their three points with a chord error of at most 0.05 m, in
at most 64 segments per arc (so very large arcs may deviate more); three collinear points are a straight line.

Repair rule: a polygon that is invalid is repaired with shapely.make_valid (method "structure": shells are
unioned, holes subtracted) keeping only the polygonal parts; the problem note says
"repaired: <shapely.is_valid_reason before>". If nothing polygonal remains the geometry is None and the
note says "skipped: <reason>". Every polygon is oriented (exterior counter-clockwise, holes clockwise;
shapely.orient_polygons), with a note where the source's rings ran the other way; a ring that was not closed is
closed and consecutive repeated vertices are removed, each with a note. Several patches of one Surface (or
members of a CompositeSurface) are unioned, with a note when they overlap. A geometry that cannot be read at all
(too few points, coordinates that are not numbers, an unsupported element) gives None and "skipped: <why>".
Nothing here raises for a bad geometry.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import shapely
from lxml import etree
from shapely.geometry import (
    GeometryCollection,
    LineString,
    MultiLineString,
    MultiPoint,
    MultiPolygon,
    Point,
    Polygon,
)

GML_NAMESPACES = frozenset({"http://www.opengis.net/gml", "http://www.opengis.net/gml/3.2"})
CHORD_ERROR = 0.05  # metres
MAX_ARC_SEGMENTS = 64
POINT_TAGS = frozenset({"Point"})
CURVE_TAGS = frozenset({"LineString", "Curve", "OrientableCurve", "CompositeCurve"})
RING_TAGS = frozenset({"LinearRing", "Ring"})
SURFACE_TAGS = frozenset(
    {"Polygon", "Surface", "PolygonalSurface", "OrientableSurface", "CompositeSurface", "PolygonPatch"}
)
MULTI_TAGS = frozenset(
    {"MultiSurface", "MultiPolygon", "MultiCurve", "MultiLineString", "MultiPoint", "MultiGeometry"}
)
GEOMETRY_TAGS = POINT_TAGS | CURVE_TAGS | RING_TAGS | SURFACE_TAGS | MULTI_TAGS | {"Envelope"}
Coords = np.ndarray[Any, np.dtype[np.float64]]


class GeometryError(ValueError):
    """A geometry element that cannot be read (the feature keeps no geometry)."""


def local(tag: Any) -> str:
    """Local name of an lxml tag ('' for comments and processing instructions)."""
    return tag.rpartition("}")[2] if isinstance(tag, str) else ""


def is_gml_geometry(element: etree._Element) -> bool:
    """True for a GML geometry element (either GML namespace)."""
    tag = element.tag
    if not isinstance(tag, str) or not tag.startswith("{"):
        return False
    namespace, _, name = tag[1:].partition("}")
    return namespace in GML_NAMESPACES and name in GEOMETRY_TAGS


def _children(element: etree._Element) -> list[etree._Element]:
    return [child for child in element if isinstance(child.tag, str)]


def _dimension(element: etree._Element, inherited: int) -> int:
    value = element.get("srsDimension") or element.get("dimension")
    if value is None:
        return inherited
    try:
        return int(value)
    except ValueError as exc:
        raise GeometryError(f"srsDimension '{value}' is not a number") from exc


def _numbers(text: str | None, what: str) -> Coords:
    if not text:
        return np.empty(0)
    try:
        values = np.array(text.split(), dtype=np.float64)
    except ValueError as exc:
        raise GeometryError(f"coordinates that are not numbers in a gml:{what}") from exc
    if not np.isfinite(values).all():
        raise GeometryError(f"coordinates that are not finite numbers (NaN, Inf) in a gml:{what}")
    return values


def _pos_list(element: etree._Element, dimension: int) -> Coords:
    dimension = _dimension(element, dimension)
    flat = _numbers(element.text, "posList")
    if dimension not in (2, 3) or len(flat) % dimension:
        raise GeometryError(f"a gml:posList of {len(flat)} numbers does not fit srsDimension {dimension}")
    return flat.reshape(-1, dimension)[:, :2]


def _coordinates(element: etree._Element) -> Coords:
    """GML 2/3.1 <coordinates>x,y x,y</coordinates> (cs/ts/decimal attributes honoured)."""
    text = element.text or ""
    decimal, cs, ts = element.get("decimal", "."), element.get("cs", ","), element.get("ts")
    if decimal != ".":
        text = text.replace(".", "\0").replace(decimal, ".")
    tuples = text.split(ts) if ts and not ts.isspace() else text.split()
    rows = [[float(value) for value in item.split(cs)[:2]] for item in tuples if item.strip()]
    if any(len(row) != 2 for row in rows):
        raise GeometryError("a gml:coordinates tuple with fewer than 2 values")
    if not all(math.isfinite(value) for row in rows for value in row):
        raise GeometryError("coordinates that are not finite numbers (NaN, Inf) in a gml:coordinates")
    return np.array(rows, dtype=np.float64).reshape(-1, 2)


def _pos(element: etree._Element) -> Coords:
    flat = _numbers(element.text, "pos")
    if len(flat) < 2:
        raise GeometryError("a gml:pos with fewer than 2 values")
    return flat[:2].reshape(1, 2)


def points(element: etree._Element, dimension: int) -> Coords:
    """(n, 2) control points of a LineString, LinearRing, segment or Point."""
    parts: list[Coords] = []
    for child in _children(element):
        name = local(child.tag)
        if name == "posList":
            parts.append(_pos_list(child, dimension))
        elif name == "pos":
            parts.append(_pos(child))
        elif name == "coordinates":
            try:
                parts.append(_coordinates(child))
            except ValueError as exc:
                raise GeometryError(f"unreadable gml:coordinates ({exc})") from exc
        elif name in ("pointProperty", "pointRep"):
            for point in _children(child):
                parts.append(points(point, dimension))
        elif name == "coord":
            values = {local(part.tag): part.text for part in _children(child)}
            parts.append(np.array([[float(values.get("X") or 0), float(values.get("Y") or 0)]]))
    if not parts:
        return np.empty((0, 2))
    return parts[0] if len(parts) == 1 else np.vstack(parts)


def _arc(p0: Coords, p1: Coords, p2: Coords, full: bool = False) -> Coords:
    """Points along the circular arc from p0 through p1 to p2 (the whole circle when full), p0 and p2 included."""
    (ax, ay), (bx, by), (cx, cy) = p0, p1, p2
    cross = (bx - ax) * (cy - by) - (by - ay) * (cx - bx)
    scale = max(abs(bx - ax), abs(by - ay), abs(cx - bx), abs(cy - by), 1e-12)
    if abs(cross) <= 1e-12 * scale * scale:  # collinear: a straight line
        return np.array([p0, p2]) if not full else np.array([p0, p1, p0])
    d = 2 * (ax * (by - cy) + bx * (cy - ay) + cx * (ay - by))
    ux = (
        (ax * ax + ay * ay) * (by - cy) + (bx * bx + by * by) * (cy - ay) + (cx * cx + cy * cy) * (ay - by)
    ) / d
    uy = (
        (ax * ax + ay * ay) * (cx - bx) + (bx * bx + by * by) * (ax - cx) + (cx * cx + cy * cy) * (bx - ax)
    ) / d
    radius = math.hypot(ax - ux, ay - uy)
    start, end = math.atan2(ay - uy, ax - ux), math.atan2(cy - uy, cx - ux)
    ccw = cross > 0
    turn = (end - start) if ccw else (start - end)
    sweep = 2 * math.pi if full else turn % (2 * math.pi)
    step_max = 2 * math.acos(max(-1.0, 1 - CHORD_ERROR / radius)) if radius > CHORD_ERROR else math.pi
    count = min(MAX_ARC_SEGMENTS, max(2, math.ceil(sweep / max(step_max, 1e-9))))
    angles = start + np.linspace(0.0, sweep if ccw else -sweep, count + 1)
    result = np.column_stack((ux + radius * np.cos(angles), uy + radius * np.sin(angles)))
    result[0] = p0
    result[-1] = p0 if full else p2
    return result


def _arcs(control: Coords) -> Coords:
    if len(control) < 3 or len(control) % 2 == 0:
        raise GeometryError(f"a gml:ArcString needs 2n+1 control points, has {len(control)}")
    pieces = [_arc(control[i], control[i + 1], control[i + 2]) for i in range(0, len(control) - 2, 2)]
    return join(pieces)


def join(pieces: list[Coords]) -> Coords:
    """Consecutive pieces of one curve, each piece's first point dropped where it repeats the last one."""
    pieces = [piece for piece in pieces if len(piece)]
    if not pieces:
        return np.empty((0, 2))
    out = [pieces[0]]
    for piece in pieces[1:]:
        out.append(piece[1:] if np.array_equal(out[-1][-1], piece[0]) else piece)
    return np.vstack(out)


def curve(element: etree._Element, dimension: int) -> Coords:
    """(n, 2) points of a curve or curve segment, arcs linearised."""
    name = local(element.tag)
    dimension = _dimension(element, dimension)
    if name in ("LineString", "LineStringSegment", "LinearRing", "GeodesicString", "Geodesic"):
        return points(element, dimension)
    if name in ("Arc", "ArcString"):
        return _arcs(points(element, dimension))
    if name == "Circle":
        control = points(element, dimension)
        if len(control) != 3:
            raise GeometryError(f"a gml:Circle needs 3 control points, has {len(control)}")
        return _arc(control[0], control[1], control[2], full=True)
    if name == "Curve":
        pieces = [curve(segment, dimension) for child in _children(element) for segment in _children(child)]
        return join(pieces)
    if name == "OrientableCurve":
        base = [curve(inner, dimension) for child in _children(element) for inner in _children(child)]
        coords = join(base)
        return coords[::-1] if element.get("orientation") == "-" else coords
    if name in ("CompositeCurve", "Ring"):
        return join([curve(inner, dimension) for child in _children(element) for inner in _children(child)])
    raise GeometryError(f"unsupported curve element gml:{name}")


def _clean_ring(coords: Coords, notes: list[str]) -> Coords:
    if len(coords) and not np.array_equal(coords[0], coords[-1]):
        notes.append("ring not closed: closed it")
        coords = np.vstack((coords, coords[:1]))
    if len(coords) > 1:
        keep = np.ones(len(coords), dtype=bool)
        keep[1:] = np.any(coords[1:] != coords[:-1], axis=1)
        if not keep.all():
            notes.append(f"removed {int((~keep).sum())} repeated vertices")
            coords = coords[keep]
    return coords


def _ring(element: etree._Element, dimension: int, notes: list[str]) -> Coords:
    coords = _clean_ring(curve(element, dimension), notes)
    if len(coords) < 4:
        raise GeometryError(f"a ring with {len(coords)} points (at least 4 needed)")
    return coords


def _polygon(element: etree._Element, dimension: int, notes: list[str]) -> Polygon:
    shell: Coords | None = None
    holes: list[Coords] = []
    for child in _children(element):
        name = local(child.tag)
        for ring in _children(child):
            if name in ("exterior", "outerBoundaryIs"):
                shell = _ring(ring, dimension, notes)
            elif name in ("interior", "innerBoundaryIs"):
                try:
                    holes.append(_ring(ring, dimension, notes))
                except GeometryError as exc:
                    notes.append(f"dropped an interior ring: {exc}")
    if shell is None:
        raise GeometryError("a polygon without exterior ring")
    if _signed_area(shell) < 0 or any(_signed_area(hole) > 0 for hole in holes):
        notes.append("ring orientation fixed (exterior must be counter-clockwise, holes clockwise)")
    return Polygon(shell, holes)


def _signed_area(ring: Coords) -> float:
    """Shoelace area of a closed ring: positive when counter-clockwise."""
    x, y = ring[:, 0] - ring[0, 0], ring[:, 1] - ring[0, 1]
    return float(np.dot(x[:-1], y[1:]) - np.dot(x[1:], y[:-1])) / 2


def _union(polygons: list[Polygon], what: str, notes: list[str]) -> shapely.Geometry:
    if len(polygons) == 1:
        return polygons[0]
    fixed = [part if part.is_valid else shapely.make_valid(part, method="structure") for part in polygons]
    merged = shapely.union_all(fixed)
    overlap = sum(part.area for part in fixed) - merged.area
    if overlap > 0.01:
        notes.append(f"{what} overlap by {overlap:.2f} m²: merged")
    return merged


def _polygons(geometry: shapely.Geometry) -> list[Polygon]:
    if isinstance(geometry, Polygon):
        return [geometry]
    if isinstance(geometry, MultiPolygon | GeometryCollection):
        return [part for sub in geometry.geoms for part in _polygons(sub)]
    return []


def _members(element: etree._Element) -> list[etree._Element]:
    """The geometries inside a Multi*/Composite* element (singular or plural member properties)."""
    return [inner for child in _children(element) for inner in _children(child)]


def geometry(element: etree._Element, dimension: int, notes: list[str]) -> shapely.Geometry | None:
    """The 2D shapely geometry of a GML geometry element (not yet repaired); GeometryError when unreadable."""
    name = local(element.tag)
    dimension = _dimension(element, dimension)
    if name == "Envelope":
        return None
    if name == "Point":
        coords = points(element, dimension)
        if len(coords) != 1:
            raise GeometryError(f"a gml:Point with {len(coords)} positions")
        return Point(coords[0])
    if name in CURVE_TAGS:
        coords = curve(element, dimension)
        if len(coords) < 2:
            raise GeometryError(f"a gml:{name} with {len(coords)} points")
        return LineString(coords)
    if name in RING_TAGS:  # a bare ring (geometry fragment): the polygon it bounds
        return Polygon(_ring(element, dimension, notes))
    if name in ("Polygon", "PolygonPatch", "Triangle", "Rectangle"):
        return _polygon(element, dimension, notes)
    if name in ("Surface", "PolygonalSurface"):
        patches = [_polygon(patch, dimension, notes) for patch in _members(element)]
        if not patches:
            raise GeometryError("a gml:Surface without patches")
        return _union(patches, "patches", notes)
    if name in ("OrientableSurface", "CompositeSurface"):
        parts = [geometry(inner, dimension, notes) for inner in _members(element)]
        polygons = [polygon for part in parts if part is not None for polygon in _polygons(part)]
        if not polygons:
            raise GeometryError(f"a gml:{name} without surfaces")
        return _union(polygons, "surfaces", notes)
    if name in MULTI_TAGS:
        members = [geometry(inner, dimension, notes) for inner in _members(element)]
        parts = [member for member in members if member is not None and not member.is_empty]
        if not parts:
            raise GeometryError(f"a gml:{name} without members")
        if name in ("MultiSurface", "MultiPolygon") or all(
            isinstance(p, Polygon | MultiPolygon) for p in parts
        ):
            return MultiPolygon([polygon for part in parts for polygon in _polygons(part)])
        if all(isinstance(part, LineString) for part in parts):
            return MultiLineString(parts)
        if all(isinstance(part, Point) for part in parts):
            return MultiPoint(parts)
        return GeometryCollection(parts)
    raise GeometryError(f"unsupported geometry gml:{name}")


def repair(geom: shapely.Geometry) -> tuple[shapely.Geometry | None, str | None]:
    """The repair rule of the module docstring: (geometry or None, note or None)."""
    if not isinstance(geom, Polygon | MultiPolygon):
        if geom.is_empty:
            return None, "skipped: empty geometry"
        return geom, None
    note = None
    if not geom.is_valid:
        reason = shapely.is_valid_reason(geom)
        fixed = shapely.make_valid(geom, method="structure", keep_collapsed=False)
        polygons = [part for part in _polygons(fixed) if not part.is_empty and part.area > 0]
        if not polygons:
            return None, f"skipped: {reason} (nothing polygonal remains after make_valid)"
        geom = polygons[0] if len(polygons) == 1 else MultiPolygon(polygons)
        note = f"repaired: {reason}"
    elif geom.is_empty or geom.area <= 0:
        return None, "skipped: polygon without area"
    return shapely.orient_polygons(geom, exterior_cw=False), note


def read_geometry(element: etree._Element, dimension: int = 2) -> tuple[shapely.Geometry | None, list[str]]:
    """A GML geometry element as a repaired 2D shapely geometry, with notes; never raises for bad geometry."""
    notes: list[str] = []
    try:
        geom = geometry(element, dimension, notes)
    except (GeometryError, ValueError, shapely.errors.GEOSException) as exc:
        return None, [*notes, f"skipped: {exc}"]
    if geom is None:
        return None, notes
    fixed, note = repair(geom)
    if note is not None:
        notes.append(note)
    return fixed, notes
