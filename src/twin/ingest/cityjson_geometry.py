"""CityJSON geometry objects as polygons in flat arrays: boundaries, semantics, templates and the transform.

Pure functions on parsed JSON (lists and dicts) and numpy arrays; `twin.ingest.cityjson` reads the files.
Coordinates are in the units of the source CRS (usually metres), after the file's "transform". Per-vertex
work stays in C: a geometry's ring indices are collected with `list.extend` and turned into coordinates by
one numpy gather per geometry.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from twin.ingest.citymodel import SurfaceClass, lod_code

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]

# How many list levels lie above the surfaces in each surface geometry's "boundaries" (and "values").
SURFACE_DEPTH = {"MultiSurface": 0, "CompositeSurface": 0, "Solid": 1, "MultiSolid": 2, "CompositeSolid": 2}
# Valid CityJSON geometries without area: nothing to mesh, so they are passed over without a count.
POINT_LINE_TYPES = frozenset({"MultiPoint", "MultiLineString"})
SEMANTIC_CLASS = {
    "RoofSurface": int(SurfaceClass.ROOF),
    "WallSurface": int(SurfaceClass.WALL),
    "GroundSurface": int(SurfaceClass.GROUND),
}  # every other semantic type (closures, openings, floors, ceilings, extensions) is OTHER
_OTHER, _UNKNOWN = int(SurfaceClass.OTHER), int(SurfaceClass.UNKNOWN)
MAX_LOD_CODE = 49  # LoD 4.9: polygon_lod is uint8, and CityJSON has no LoD above 4
INDEX_OUT_OF_RANGE = "vertex index out of range"


class GeometryError(ValueError):
    """A geometry object that cannot be read; the message is the reason the ingest report counts."""


@dataclass
class Polygons:
    """The polygons of one geometry object: open rings as (V, 3) coordinates and counts, a class per polygon."""

    coords: FloatArray
    ring_counts: list[int]
    polygon_ring_counts: list[int]
    classes: list[int]  # SurfaceClass per polygon
    lod: int  # lod_code of the geometry
    dropped_rings: int  # rings with fewer than 3 vertices, left out
    semantics_valid: bool  # False: invalid "semantics", its surfaces are UNKNOWN (classified by orientation)


@dataclass
class Templates:
    """A file's "geometry-templates": template geometries and their vertices (source units, not transformed)."""

    geometries: list[Any]
    vertices: FloatArray
    error: str | None = None  # why the templates cannot be used, reported for each instance


def parse_transform(transform: Any) -> tuple[FloatArray, FloatArray]:
    """(scale, translate) of a CityJSON "transform" (identity when absent); ValueError when malformed."""
    if transform is None:
        return np.ones(3), np.zeros(3)
    if not isinstance(transform, dict):
        raise ValueError("invalid transform (not an object)")
    parts = []
    for key in ("scale", "translate"):
        value = transform.get(key)
        if not (isinstance(value, list) and len(value) == 3 and all(_is_number(v) for v in value)):
            raise ValueError(f"invalid transform ({key} must be three numbers)")
        parts.append(np.asarray(value, dtype=np.float64))
    if not np.isfinite(parts[0]).all() or not np.isfinite(parts[1]).all():
        raise ValueError("invalid transform (not finite)")
    return parts[0], parts[1]


def real_vertices(raw: Any, scale: FloatArray, translate: FloatArray) -> FloatArray:
    """(n, 3) float64 coordinates (source units) from CityJSON vertices: raw * scale + translate."""
    if not isinstance(raw, list):
        raise ValueError("vertices are not a list")
    if not raw:
        return np.empty((0, 3))
    try:
        array = np.asarray(raw, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError("vertices are not [x, y, z] number triples") from exc
    if array.ndim != 2 or array.shape[1] != 3:
        raise ValueError("vertices are not [x, y, z] number triples")
    if (scale == 0).any():
        raise ValueError("transform scale has a zero component: every vertex would collapse")
    return array * scale + translate


def nonfinite_vertices(vertices: FloatArray) -> BoolArray | None:
    """Mask of vertices with a NaN or infinite coordinate, or None when all are finite (the usual case)."""
    nonfinite = np.logical_not(np.isfinite(vertices).all(axis=1))
    return nonfinite if nonfinite.any() else None


def parse_templates(templates: Any) -> Templates | None:
    """The "geometry-templates" member, or None when the file has none."""
    if templates is None:
        return None
    if isinstance(templates, dict) and isinstance(templates.get("templates"), list):
        try:
            vertices = np.asarray(templates.get("vertices-templates"), dtype=np.float64)
        except (TypeError, ValueError):
            vertices = np.empty(0)
        if vertices.ndim == 2 and vertices.shape[1] == 3 and np.isfinite(vertices).all():
            return Templates(templates["templates"], vertices)
    return Templates([], np.empty((0, 3)), error="invalid geometry-templates")


def read_geometry(
    geometry: Any, vertices: FloatArray, nonfinite: BoolArray | None, templates: Templates | None
) -> Polygons | None:
    """A geometry object's polygons (source units) with classes and LoD; None for points and lines.

    Raises GeometryError for anything that makes the geometry unreadable: unknown type, malformed
    boundaries, vertex indices that are not integers or out of range, non-finite coordinates, a bad LoD.
    """
    if not isinstance(geometry, dict):
        raise GeometryError("geometry is not a JSON object")
    kind = geometry.get("type")
    if kind == "GeometryInstance":
        geometry, vertices = _place_instance(geometry, vertices, templates)
        nonfinite = nonfinite_vertices(vertices)
        kind = geometry.get("type")
    if kind in POINT_LINE_TYPES:
        return None
    depth = SURFACE_DEPTH.get(kind) if isinstance(kind, str) else None
    if depth is None or not isinstance(kind, str):
        raise GeometryError(f"unknown geometry type {kind!r}")
    lod = _lod(geometry.get("lod"))
    boundaries = geometry.get("boundaries")
    surfaces = _flatten(boundaries, depth, kind)
    classes, semantics_valid = surface_classes(geometry.get("semantics"), boundaries, depth, len(surfaces))

    flat: list[int] = []
    ring_counts: list[int] = []
    polygon_ring_counts: list[int] = []
    kept_classes: list[int] = []
    dropped = 0
    try:
        for surface, surface_class in zip(surfaces, classes, strict=True):
            # A ring of fewer than 3 vertices bounds no area; without its exterior the surface is gone.
            if not surface or len(surface[0]) < 3:
                dropped += max(len(surface), 1)
                continue
            rings = 0
            for ring in surface:
                count = len(ring)
                if count < 3:
                    dropped += 1
                    continue
                flat.extend(ring)
                ring_counts.append(count)
                rings += 1
            polygon_ring_counts.append(rings)
            kept_classes.append(surface_class)
    except (TypeError, KeyError) as exc:  # a number or an object where a list of rings belongs
        raise GeometryError(f"malformed {kind} boundaries") from exc
    coords = _gather(flat, vertices, nonfinite)
    return Polygons(coords, ring_counts, polygon_ring_counts, kept_classes, lod, dropped, semantics_valid)


def surface_classes(semantics: Any, boundaries: Any, depth: int, count: int) -> tuple[list[int], bool]:
    """The SurfaceClass of each of `count` surfaces from "semantics", and whether the semantics were valid.

    A null value (or no semantics) is UNKNOWN; invalid semantics make every surface UNKNOWN, so that the
    orientation decides rather than a class that may belong to another surface.
    """
    unknown = [_UNKNOWN] * count
    if semantics is None:
        return unknown, True
    if not isinstance(semantics, dict):
        return unknown, False
    values = semantics.get("values")
    if values is None:
        return unknown, True
    surfaces = semantics.get("surfaces")
    flat = _values_per_surface(boundaries, values, depth)
    if not isinstance(surfaces, list) or flat is None or len(flat) != count:
        return unknown, False
    try:
        # Keyed by index: a negative or too large value is a KeyError (a list would wrap around).
        table: dict[Any, int] = {i: SEMANTIC_CLASS.get(s.get("type"), _OTHER) for i, s in enumerate(surfaces)}
        table[None] = _UNKNOWN
        return [table[value] for value in flat], True
    except (KeyError, TypeError, AttributeError):  # index out of range, a list as index, a number as surface
        return unknown, False


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _lod(value: Any) -> int:
    if not isinstance(value, str | int | float) or isinstance(value, bool):
        raise GeometryError("geometry without a valid lod")
    try:
        code = lod_code(value)
    except ValueError as exc:
        raise GeometryError("geometry without a valid lod") from exc
    if not 0 <= code <= MAX_LOD_CODE:
        raise GeometryError("geometry without a valid lod")
    return code


def _flatten(boundaries: Any, depth: int, kind: str) -> list[Any]:
    """The surfaces of a boundaries array: `depth` levels of lists (solids, shells) taken apart."""
    nested = boundaries
    for _ in range(depth):
        if not isinstance(nested, list) or not all(isinstance(group, list) for group in nested):
            raise GeometryError(f"malformed {kind} boundaries")
        nested = [item for group in nested for item in group]
    if not isinstance(nested, list):
        raise GeometryError(f"malformed {kind} boundaries")
    return nested  # its items are checked as they are read


def _values_per_surface(boundaries: Any, values: Any, depth: int) -> list[Any] | None:
    """Semantic values walked in step with the boundaries, one per surface; None when the shapes differ."""
    groups: list[tuple[Any, Any]] = [(boundaries, values)]
    for _ in range(depth + 1):
        deeper: list[tuple[Any, Any]] = []
        for group, group_values in groups:
            if group_values is None:  # a null for a whole shell or solid: none of its surfaces has a value
                group_values = [None] * len(group)
            if not isinstance(group_values, list) or len(group_values) != len(group):
                return None
            deeper.extend(zip(group, group_values, strict=True))
        groups = deeper
    return [value for _, value in groups]


def _gather(flat: list[int], vertices: FloatArray, nonfinite: BoolArray | None) -> FloatArray:
    if not flat:
        return np.empty((0, 3))
    try:
        index = np.asarray(flat)
    except (TypeError, ValueError) as exc:
        raise GeometryError("vertex indices are not integers") from exc
    if index.ndim != 1 or index.dtype.kind not in "iu":
        raise GeometryError("vertex indices are not integers")
    if index.min() < 0 or index.max() >= len(vertices):
        raise GeometryError(INDEX_OUT_OF_RANGE)
    if nonfinite is not None and nonfinite[index].any():
        raise GeometryError("vertex coordinates are not finite (NaN)")
    return vertices[index]


def _place_instance(
    geometry: dict[str, Any], vertices: FloatArray, templates: Templates | None
) -> tuple[dict[str, Any], FloatArray]:
    """A GeometryInstance's template geometry and its vertices: matrix × template vertex + reference point."""
    if templates is None:
        raise GeometryError("GeometryInstance without geometry-templates")
    if templates.error:
        raise GeometryError(templates.error)
    number = geometry.get("template")
    if type(number) is not int or not 0 <= number < len(templates.geometries):
        raise GeometryError("GeometryInstance refers to a missing template")
    template = templates.geometries[number]
    if not isinstance(template, dict) or template.get("type") == "GeometryInstance":
        raise GeometryError("invalid geometry template")
    reference = geometry.get("boundaries")
    if not (isinstance(reference, list) and len(reference) == 1 and type(reference[0]) is int):
        raise GeometryError("GeometryInstance without a reference point")
    if not 0 <= reference[0] < len(vertices):
        raise GeometryError(INDEX_OUT_OF_RANGE)
    matrix = geometry.get("transformationMatrix")
    if not (isinstance(matrix, list) and len(matrix) == 16 and all(_is_number(v) for v in matrix)):
        raise GeometryError("GeometryInstance without a 4×4 transformationMatrix")
    # Row-major 4×4 affine matrix; the projective last row is [0, 0, 0, 1] in every real file.
    m = np.asarray(matrix, dtype=np.float64).reshape(4, 4)
    placed: FloatArray = templates.vertices @ m[:3, :3].T + m[:3, 3] + vertices[reference[0]]
    return template, placed
