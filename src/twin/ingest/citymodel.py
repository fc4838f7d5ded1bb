"""The canonical 3D city model that the CityGML and CityJSON readers produce.

Per building: planar 3D polygons (an exterior ring and holes) with a surface class and the level of detail
they belong to, plus the building's typed attributes. Geometry is flat arrays in the `twin.ingest.rings`
layout (building → polygon → ring → vertex, rings open, i.e. without the repeated closing vertex), with a z
per vertex: no Python object per vertex or polygon. BuildingParts are merged into their building: a
building's polygons are its own and its parts' together.

Attribute names are the same whichever format a building came from, so that the viewer labels them once:

    name, class, function, usage, roof_type          codes as text (e.g. AdV '31001_2463', roof '3100')
    measured_height (m), storeys_above_ground, storeys_below_ground, year_of_construction, year_of_demolition
    street, house_number, postcode, locality, address    address parts and a one-line address
    creation_date                                    ISO date text
    building_parts                                   number of BuildingParts merged into the building

Generic attributes (CityGML gen:*, other CityJSON attributes) keep their own names. Values are str, int,
float or bool (nested values as JSON text); a missing value is simply absent from the building's dict.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any

import numpy as np
import numpy.typing as npt

from twin.ingest.model import IngestLog
from twin.ingest.rings import Rings, offsets_from_counts

FloatArray = npt.NDArray[np.float64]
UInt8Array = npt.NDArray[np.uint8]

# How many buildings a reader puts into one chunk at most: bounds the memory of a reader process.
CHUNK_BUILDINGS = 20_000


class SurfaceClass(IntEnum):
    """What a polygon is part of; the value orders a tile's triangles (and its glTF primitives)."""

    ROOF = 0
    WALL = 1
    GROUND = 2
    OTHER = 3  # closure surfaces, openings, floors and ceilings of passages: known but none of the above
    UNKNOWN = 4  # no semantics in the source: `classify_by_orientation` decides


# Surfaces whose normal points up more steeply than this are roofs, down more steeply ground, else walls
# (cosine of the angle to the vertical: 0.17 is about 80°, so walls may lean by 10°).
ROOF_MIN_UP = 0.17


def lod_code(lod: str | int | float) -> int:
    """A level of detail as a small integer that sorts right: CityGML 2 → 20, CityJSON '2.2' → 22."""
    text = str(lod).strip()
    major, _, minor = text.partition(".")
    return int(major) * 10 + (int(minor[:1]) if minor else 0)


def lod_text(code: int) -> str:
    """The inverse of `lod_code`: 20 → '2', 22 → '2.2'."""
    major, minor = divmod(int(code), 10)
    return f"{major}.{minor}" if minor else str(major)


@dataclass
class CityChunk:
    """Buildings read from one source (a file, a zip member or part of a stream), in the source's CRS.

    `polygons` holds 3D coordinates (`xy` and `z`, source units, usually metres); `polygon_class` is a
    SurfaceClass and `polygon_lod` an `lod_code` per polygon. `ids` and `attributes` are per building.
    """

    source: str
    crs: str | None
    polygons: Rings
    polygon_class: UInt8Array
    polygon_lod: UInt8Array
    ids: list[str]
    attributes: list[dict[str, Any]]
    log: IngestLog = field(default_factory=IngestLog)

    def __len__(self) -> int:
        return self.polygons.building_count


class ChunkBuilder:
    """Collects buildings one polygon at a time into the flat arrays of a CityChunk.

    Readers call `add_polygon` for each polygon of the current building (or `add_polygons` for several
    already flat) and `end_building` once per building; coordinates arrive as (n, 3) arrays per ring. GML
    rings are opened here (a closing vertex equal to the first is dropped), the only per-ring work.
    """

    def __init__(self, source: str, crs: str | None = None) -> None:
        self.source = source
        self.crs = crs
        self._reset()

    def _reset(self) -> None:
        self._coords: list[FloatArray] = []
        self._ring_counts: list[int] = []
        self._polygon_ring_counts: list[int] = []
        self._building_polygon_counts: list[int] = []
        self._classes: list[int] = []
        self._lods: list[int] = []
        self._open_polygons = 0
        self.ids: list[str] = []
        self.attributes: list[dict[str, Any]] = []
        self.log = IngestLog()

    def add_polygon(
        self, rings: list[FloatArray], surface: SurfaceClass, lod: int, closed: bool = True
    ) -> None:
        """One polygon: its exterior ring first, then its holes, each an (n, 3) array.

        `closed`: the format repeats the first vertex at the end (GML); a ring that does not is closed
        by joining its last vertex to its first, and counted. Open formats (CityJSON) pass False.
        """
        for ring in rings:
            if closed and len(ring) > 1:
                first, last = ring[0], ring[-1]
                if first[0] == last[0] and first[1] == last[1] and first[2] == last[2]:
                    ring = ring[:-1]
                else:
                    self.log.repair("ring not closed: closed by joining its last vertex to its first", 1)
            self._coords.append(ring)
            self._ring_counts.append(len(ring))
        self._polygon_ring_counts.append(len(rings))
        self._classes.append(int(surface))
        self._lods.append(lod)
        self._open_polygons += 1

    def add_polygons(
        self, coords: FloatArray, ring_counts: list[int], polygon_ring_counts: list[int], classes: list[int],
        lod: int,
    ) -> None:  # fmt: skip
        """Several polygons of the current building at once, already flat: open rings as one (V, 3) array
        with the vertex count of every ring and the ring count and SurfaceClass of every polygon."""
        self._coords.append(coords)
        self._ring_counts.extend(ring_counts)
        self._polygon_ring_counts.extend(polygon_ring_counts)
        self._classes.extend(classes)
        self._lods.extend([lod] * len(polygon_ring_counts))
        self._open_polygons += len(polygon_ring_counts)

    def end_building(self, building_id: str, attributes: dict[str, Any]) -> None:
        """Close the current building (it may have no polygons: `build` then drops it with a reason)."""
        self._building_polygon_counts.append(self._open_polygons)
        self._open_polygons = 0
        self.ids.append(building_id)
        self.attributes.append(attributes)

    def __len__(self) -> int:
        return len(self.ids)

    def build(self) -> CityChunk:
        """The chunk of the buildings ended so far (surfaces without semantics classified by orientation);
        the builder starts empty again."""
        xyz = np.concatenate(self._coords) if self._coords else np.empty((0, 3))
        polygons = Rings(
            xy=np.ascontiguousarray(xyz[:, :2], dtype=np.float64),
            ring_start=offsets_from_counts(self._ring_counts),
            polygon_ring_start=offsets_from_counts(self._polygon_ring_counts),
            building_polygon_start=offsets_from_counts(self._building_polygon_counts),
            z=np.ascontiguousarray(xyz[:, 2], dtype=np.float64),
        )
        chunk = CityChunk(
            source=self.source,
            crs=self.crs,
            polygons=polygons,
            polygon_class=np.asarray(self._classes, dtype=np.uint8),
            polygon_lod=np.asarray(self._lods, dtype=np.uint8),
            ids=self.ids,
            attributes=self.attributes,
            log=self.log,
        )
        classify_by_orientation(chunk)
        self._reset()
        return chunk


def newell_normals(rings: Rings) -> FloatArray:
    """(P, 3) unnormalised Newell normal of every polygon's exterior ring; length = twice its area.

    Works in whatever metric frame `rings` is in (xy and z). The normal points to the side from which
    the exterior ring turns counter-clockwise.
    """
    assert rings.z is not None
    x, y, z = rings.xy[:, 0], rings.xy[:, 1], rings.z
    nxt = rings.next_in_ring()
    # Relative to each ring's first vertex: the sums are exact for planar rings far from the origin.
    first = np.repeat(rings.ring_start[:-1], np.diff(rings.ring_start))
    x = x - x[first]
    y = y - y[first]
    z = z - z[first]
    xn, yn, zn = x[nxt], y[nxt], z[nxt]
    terms = np.column_stack([(y - yn) * (z + zn), (z - zn) * (x + xn), (x - xn) * (y + yn)])
    exterior = rings.polygon_ring_start[:-1]
    cumulative = np.zeros((len(terms) + 1, 3))
    np.cumsum(terms, axis=0, out=cumulative[1:])
    return cumulative[rings.ring_start[exterior + 1]] - cumulative[rings.ring_start[exterior]]


def classify_by_orientation(chunk: CityChunk) -> None:
    """Give every UNKNOWN polygon a class from its normal: up-facing roof, down-facing ground, else wall."""
    unknown = np.flatnonzero(chunk.polygon_class == SurfaceClass.UNKNOWN)
    if not len(unknown):
        return
    normal = newell_normals(chunk.polygons)[unknown]
    length = np.linalg.norm(normal, axis=1)
    up = np.divide(normal[:, 2], length, out=np.zeros(len(unknown)), where=length > 0)
    classes = np.full(len(unknown), SurfaceClass.WALL, dtype=np.uint8)
    classes[up > ROOF_MIN_UP] = SurfaceClass.ROOF
    classes[up < -ROOF_MIN_UP] = SurfaceClass.GROUND
    chunk.polygon_class[unknown] = classes
