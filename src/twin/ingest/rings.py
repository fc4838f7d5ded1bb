"""Footprints as flat arrays: vertices, rings, polygons and buildings as offsets (the GeoArrow layout).

The ingest works on these arrays from the reader to the tiles: one numpy operation covers every building,
and GEOS (through shapely) is asked only about the few footprints the vectorised checks cannot settle
(see `twin.ingest.repair`). Frames: coordinates are metres in the metric working CRS unless said otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
import numpy.typing as npt
import shapely

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]


def ragged_gather(starts: npt.ArrayLike, counts: npt.ArrayLike) -> IntArray:
    """The indices start_0 .. start_0+count_0-1, start_1 .. : the elements of several ranges, in order."""
    starts = np.asarray(starts, dtype=np.int64)
    counts = np.asarray(counts, dtype=np.int64)
    firsts = np.cumsum(counts) - counts
    return np.arange(int(counts.sum()), dtype=np.int64) + np.repeat(starts - firsts, counts)


def offsets_from_counts(counts: npt.ArrayLike) -> IntArray:
    """(n + 1,) offsets of consecutive ranges with these lengths."""
    counts = np.asarray(counts, dtype=np.int64)
    out = np.zeros(len(counts) + 1, dtype=np.int64)
    np.cumsum(counts, out=out[1:])
    return out


@dataclass
class Rings:
    """Building footprints as flat arrays, ordered by building, polygon, ring (exterior first), vertex.

    Rings are open (the closing vertex is not repeated) unless made by `closed` for output. `z` holds the
    source heights per vertex when the source had them.
    """

    xy: FloatArray  # (V, 2), C-contiguous
    ring_start: IntArray  # (R + 1,) offsets into xy
    polygon_ring_start: IntArray  # (P + 1,) offsets into rings
    building_polygon_start: IntArray  # (B + 1,) offsets into polygons
    z: FloatArray | None = None  # (V,)

    @property
    def building_count(self) -> int:
        """Number of buildings."""
        return len(self.building_polygon_start) - 1

    def __len__(self) -> int:
        return self.building_count

    @cached_property
    def polygon_building(self) -> IntArray:
        """Building index of every polygon."""
        return np.repeat(np.arange(self.building_count), np.diff(self.building_polygon_start))

    @cached_property
    def building_vertex_start(self) -> IntArray:
        """(B + 1,) offsets of every building's vertices."""
        return self.ring_start[self.polygon_ring_start[self.building_polygon_start]]

    @cached_property
    def building_ring_start(self) -> IntArray:
        """(B + 1,) offsets of every building's rings."""
        return self.polygon_ring_start[self.building_polygon_start]

    @cached_property
    def vertex_building(self) -> IntArray:
        """Building index of every vertex."""
        return np.repeat(np.arange(self.building_count), np.diff(self.building_vertex_start))

    @cached_property
    def vertex_ring(self) -> IntArray:
        """Ring index of every vertex."""
        return np.repeat(np.arange(len(self.ring_start) - 1), np.diff(self.ring_start))

    def next_in_ring(self) -> IntArray:
        """Index of each vertex's successor within its (open) ring."""
        n = len(self.xy)
        nxt = np.arange(1, n + 1, dtype=np.int64)
        starts, ends = self.ring_start[:-1], self.ring_start[1:]
        nonempty = ends > starts
        nxt[ends[nonempty] - 1] = starts[nonempty]
        return nxt

    def slice(self, start: int, stop: int) -> tuple[Rings, int, int]:
        """Buildings [start, stop), renumbered from 0, and their vertex range [v0, v1) in `xy`."""
        p0, p1 = int(self.building_polygon_start[start]), int(self.building_polygon_start[stop])
        r0, r1 = int(self.polygon_ring_start[p0]), int(self.polygon_ring_start[p1])
        v0, v1 = int(self.ring_start[r0]), int(self.ring_start[r1])
        sub = Rings(
            xy=self.xy[v0:v1],
            ring_start=self.ring_start[r0 : r1 + 1] - v0,
            polygon_ring_start=self.polygon_ring_start[p0 : p1 + 1] - r0,
            building_polygon_start=self.building_polygon_start[start : stop + 1] - p0,
            z=None if self.z is None else self.z[v0:v1],
        )
        return sub, v0, v1

    def vertex_index(self, buildings: IntArray) -> IntArray:
        """Indices of the vertices of these buildings, in the order `take(buildings)` lays them out."""
        buildings = np.asarray(buildings, dtype=np.int64)
        starts = self.building_vertex_start
        return ragged_gather(
            np.take(starts, buildings), np.take(starts, buildings + 1) - np.take(starts, buildings)
        )

    def polygon_index(self, buildings: IntArray) -> IntArray:
        """Indices of the polygons of these buildings, in the order `take(buildings)` lays them out."""
        buildings = np.asarray(buildings, dtype=np.int64)
        starts = self.building_polygon_start
        return ragged_gather(
            np.take(starts, buildings), np.take(starts, buildings + 1) - np.take(starts, buildings)
        )

    def take(self, buildings: IntArray, reverse: npt.NDArray[np.bool_] | None = None) -> Rings:
        """The buildings at these indices, in this order; `reverse` flags buildings whose rings turn round."""
        buildings = np.asarray(buildings, dtype=np.int64)
        bps, prs, rs = self.building_polygon_start, self.polygon_ring_start, self.ring_start
        polygons = ragged_gather(bps[buildings], bps[buildings + 1] - bps[buildings])
        rings = ragged_gather(prs[polygons], prs[polygons + 1] - prs[polygons])
        ring_len = rs[rings + 1] - rs[rings]
        vertices = ragged_gather(rs[rings], ring_len)
        if reverse is not None and reverse.any():
            # Vertex v of a reversed ring [s, e) is taken from s + e - 1 - (v - s) instead.
            per_ring = np.repeat(reverse, np.diff(self.building_ring_start)[buildings])
            flip = np.repeat(per_ring, ring_len)
            mirror = np.repeat(rs[rings] + rs[rings + 1] - 1, ring_len)
            vertices[flip] = mirror[flip] - vertices[flip]
        return Rings(
            xy=np.take(self.xy, vertices, axis=0),
            ring_start=offsets_from_counts(ring_len),
            polygon_ring_start=offsets_from_counts(prs[polygons + 1] - prs[polygons]),
            building_polygon_start=offsets_from_counts(bps[buildings + 1] - bps[buildings]),
            z=None if self.z is None else np.take(self.z, vertices),
        )

    @staticmethod
    def concat(parts: list[Rings]) -> Rings:
        """The buildings of several Rings one after the other."""
        if len(parts) == 1:
            return parts[0]
        has_z = any(p.z is not None for p in parts)

        def chain(arrays: list[IntArray]) -> IntArray:
            out = [arrays[0]]
            for a in arrays[1:]:
                out.append(a[1:] + out[-1][-1])
            return np.concatenate(out)

        return Rings(
            xy=np.ascontiguousarray(np.concatenate([p.xy for p in parts])),
            ring_start=chain([p.ring_start for p in parts]),
            polygon_ring_start=chain([p.polygon_ring_start for p in parts]),
            building_polygon_start=chain([p.building_polygon_start for p in parts]),
            z=(
                np.concatenate([p.z if p.z is not None else np.full(len(p.xy), np.nan) for p in parts])
                if has_z
                else None
            ),
        )

    @staticmethod
    def empty(has_z: bool = False) -> Rings:
        """No buildings."""
        zero = np.zeros(1, dtype=np.int64)
        return Rings(np.empty((0, 2)), zero, zero.copy(), zero.copy(), np.empty(0) if has_z else None)

    def closed_vertex_index(self, min_vertices: int = 0) -> tuple[IntArray, IntArray]:
        """Vertex indices that close every ring (first vertex repeated at the end) and the new ring offsets.

        Rings with fewer than `min_vertices` vertices (but at least one) get their last vertex repeated up
        to that number, as GEOS wants four coordinates in a ring even where it is degenerate.
        """
        starts, ends = self.ring_start[:-1], self.ring_start[1:]
        counts = ends - starts
        size = np.maximum(counts, np.minimum(min_vertices, np.maximum(counts, 1) * min_vertices))
        index = ragged_gather(starts, size + 1)
        closed_start = offsets_from_counts(size + 1)
        if (size > counts).any():
            # Positions beyond a short ring's end repeat its last vertex.
            last = np.repeat(ends - 1, size + 1)
            index = np.minimum(index, last)
        # The extra last element of each ring ran one past its end: point it back at the ring's start.
        index[closed_start[1:] - 1] = starts
        return index, closed_start

    def bounds(self) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray]:
        """Per building (minx, miny, maxx, maxy); buildings must have vertices."""
        starts = self.building_vertex_start[:-1]
        x = np.ascontiguousarray(self.xy[:, 0])
        y = np.ascontiguousarray(self.xy[:, 1])
        return (
            np.minimum.reduceat(x, starts),
            np.minimum.reduceat(y, starts),
            np.maximum.reduceat(x, starts),
            np.maximum.reduceat(y, starts),
        )

    def to_shapely(self) -> npt.NDArray[np.object_]:
        """Every building as a shapely MultiPolygon (rings closed, degenerate ones padded), for GEOS."""
        index, closed_start = self.closed_vertex_index(min_vertices=3)
        xy = np.take(self.xy, index, axis=0)
        coords = xy if self.z is None else np.column_stack([xy, np.take(self.z, index)])
        geoms = shapely.from_ragged_array(
            shapely.GeometryType.MULTIPOLYGON,
            coords,
            (closed_start, self.polygon_ring_start, self.building_polygon_start),
        )
        return np.asarray(geoms, dtype=object)


def rings_from_geometries(geoms: npt.NDArray[np.object_], include_z: bool = False) -> Rings:
    """Flatten shapely (Multi)Polygons into open rings (the closing vertex dropped)."""
    geoms = np.asarray(geoms, dtype=object)
    parts, part_building = shapely.get_parts(geoms, return_index=True)
    rings, ring_polygon = shapely.get_rings(parts, return_index=True)
    counts = shapely.get_num_coordinates(rings).astype(np.int64)
    coords = shapely.get_coordinates(rings, include_z=include_z)
    closing = np.cumsum(counts) - 1
    keep = np.ones(len(coords), dtype=bool)
    keep[closing] = False
    coords = np.compress(keep, coords, axis=0)
    return Rings(
        xy=np.ascontiguousarray(coords[:, :2], dtype=np.float64),
        ring_start=offsets_from_counts(counts - 1),
        polygon_ring_start=offsets_from_counts(np.bincount(ring_polygon, minlength=len(parts))),
        building_polygon_start=offsets_from_counts(np.bincount(part_building, minlength=len(geoms))),
        z=np.ascontiguousarray(coords[:, 2]) if include_z else None,
    )
