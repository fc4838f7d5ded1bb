"""LoD1 prisms from footprints: flat roofs and vertical walls with flat normals, vectorised.

Frames: input ring coordinates are in the metric working CRS (used only for triangulation topology);
output positions are metres in the layer's ENU frame (east, north, up at the layer origin).
Walls are quads of four own vertices so that every wall has its own normal (flat shading); the floor is
not written (it faces the ground and is never seen), which saves a sixth of the geometry.
"""

from __future__ import annotations

from dataclasses import dataclass

import mapbox_earcut as earcut
import numpy as np
import numpy.typing as npt
import shapely

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

MIN_WALL_LENGTH = 0.001  # metres: shorter edges get no wall (their quad would have no normal)


@dataclass
class Rings:
    """Footprint rings as flat arrays, ordered by building, polygon part, ring (exterior first), vertex.

    Rings are open (the closing vertex is dropped). `coords` is (V, 3) in the working CRS, z as given
    (0 where the source had none).
    """

    coords: FloatArray
    source_index: IntArray  # (V,) index of each vertex in shapely.get_coordinates(geoms) order
    ring_start: IntArray  # (R + 1,) offsets into coords
    ring_polygon: IntArray  # (R,) polygon index of each ring
    ring_is_exterior: npt.NDArray[np.bool_]
    polygon_building: IntArray  # (P,) building index of each polygon
    polygon_ring_start: IntArray  # (P + 1,) offsets into rings
    building_count: int

    @property
    def vertex_ring(self) -> IntArray:
        """Ring index of every vertex."""
        return np.repeat(np.arange(len(self.ring_polygon)), np.diff(self.ring_start))

    @property
    def vertex_building(self) -> IntArray:
        """Building index of every vertex."""
        return self.polygon_building[self.ring_polygon][self.vertex_ring]

    def slice(self, start: int, stop: int) -> tuple[Rings, int, int]:
        """The rings of buildings [start, stop), renumbered from 0, and their vertex range in `coords`."""
        p0, p1 = np.searchsorted(self.polygon_building, [start, stop])
        r0, r1 = self.polygon_ring_start[p0], self.polygon_ring_start[p1]
        v0, v1 = self.ring_start[r0], self.ring_start[r1]
        sub = Rings(
            coords=self.coords[v0:v1],
            source_index=self.source_index[v0:v1],
            ring_start=self.ring_start[r0 : r1 + 1] - v0,
            ring_polygon=self.ring_polygon[r0:r1] - p0,
            ring_is_exterior=self.ring_is_exterior[r0:r1],
            polygon_building=self.polygon_building[p0:p1] - start,
            polygon_ring_start=self.polygon_ring_start[p0 : p1 + 1] - r0,
            building_count=stop - start,
        )
        return sub, int(v0), int(v1)

    def vertices_per_building(self) -> IntArray:
        """Number of ring vertices per building."""
        return np.bincount(self.vertex_building, minlength=self.building_count)


def rings_from_geometries(geoms: npt.NDArray[np.object_], all_coords: FloatArray | None = None) -> Rings:
    """Flatten (Multi)Polygons into ring arrays (keeps z when present).

    `all_coords`, if given, must be `shapely.get_coordinates(geoms, include_z=True)` (saves extracting twice).
    """
    parts, part_building = shapely.get_parts(geoms, return_index=True)
    rings, ring_polygon = shapely.get_rings(parts, return_index=True)
    counts = shapely.get_num_coordinates(rings)
    coords = shapely.get_coordinates(rings, include_z=True) if all_coords is None else all_coords
    closing = np.cumsum(counts) - 1
    keep = np.ones(len(coords), dtype=bool)
    keep[closing] = False
    source_index = np.flatnonzero(keep)
    coords = np.asarray(coords[keep], dtype=np.float64)
    coords[~np.isfinite(coords[:, 2]), 2] = 0.0
    ring_start = np.zeros(len(rings) + 1, dtype=np.int64)
    np.cumsum(counts - 1, out=ring_start[1:])
    polygon_ring_start = np.zeros(len(parts) + 1, dtype=np.int64)
    np.cumsum(np.bincount(ring_polygon, minlength=len(parts)), out=polygon_ring_start[1:])
    is_exterior = np.zeros(len(rings), dtype=bool)
    is_exterior[polygon_ring_start[:-1]] = True
    return Rings(
        coords=coords,
        source_index=source_index,
        ring_start=ring_start,
        ring_polygon=ring_polygon.astype(np.int64),
        ring_is_exterior=is_exterior,
        polygon_building=part_building.astype(np.int64),
        polygon_ring_start=polygon_ring_start,
        building_count=len(geoms),
    )


def _next_in_ring(rings: Rings) -> IntArray:
    """Index of each vertex's successor within its (open) ring."""
    n = len(rings.coords)
    nxt = np.arange(1, n + 1, dtype=np.int64)
    ends = rings.ring_start[1:]
    starts = rings.ring_start[:-1]
    nonempty = ends > starts
    nxt[ends[nonempty] - 1] = starts[nonempty]
    return nxt


def triangulate_roofs(rings: Rings) -> IntArray:
    """Triangles (T, 3) over ring-vertex indices covering every polygon, holes excluded.

    Convex single-ring polygons (most footprints) get a vectorised fan; the rest go through earcut one
    polygon at a time, which is the only per-polygon Python loop of the mesh.
    """
    xy = rings.coords[:, :2]
    n_poly = len(rings.polygon_building)
    poly_vstart = rings.ring_start[rings.polygon_ring_start[:-1]]
    poly_vend = rings.ring_start[rings.polygon_ring_start[1:]]
    poly_nvert = poly_vend - poly_vstart
    single_ring = np.diff(rings.polygon_ring_start) == 1

    # Convexity per vertex: the turn to the next edge is never to the right (rings are counter-clockwise).
    nxt = _next_in_ring(rings)
    prv = np.empty_like(nxt)
    prv[nxt] = np.arange(len(nxt))
    e1 = xy - xy[prv]
    e2 = xy[nxt] - xy
    cross = e1[:, 0] * e2[:, 1] - e1[:, 1] * e2[:, 0]
    scale = np.hypot(e1[:, 0], e1[:, 1]) * np.hypot(e2[:, 0], e2[:, 1])
    reflex = cross < -1e-9 * np.maximum(scale, 1e-12)
    vertex_polygon = np.repeat(np.arange(n_poly), poly_nvert)
    reflex_count = np.bincount(vertex_polygon[reflex], minlength=n_poly)
    convex = single_ring & (reflex_count == 0) & (poly_nvert >= 3)

    # Fan triangles for convex polygons: (v0, vi, vi+1) for i in 1..n-2.
    fan_polys = np.flatnonzero(convex)
    fan_count = poly_nvert[fan_polys] - 2
    fan_owner = np.repeat(fan_polys, fan_count)
    fan_first = np.repeat(poly_vstart[fan_polys], fan_count)
    offsets = np.arange(len(fan_owner)) - np.repeat(np.cumsum(fan_count) - fan_count, fan_count)
    fan = np.stack([fan_first, fan_first + offsets + 1, fan_first + offsets + 2], axis=1)

    # earcut for the rest (concave outlines and polygons with courtyards).
    rest = np.flatnonzero(~convex & (poly_nvert >= 3))
    pieces: list[IntArray] = [fan]
    owners: list[IntArray] = [fan_owner]
    # Plain Python ints, a contiguous coordinate array and ring ends precomputed relative to their
    # polygon keep the per-polygon overhead near earcut's own cost.
    xy_c = np.ascontiguousarray(xy)
    prs = rings.polygon_ring_start
    ring_end_rel = (rings.ring_start[1:] - np.repeat(poly_vstart, np.diff(prs))).astype(np.uint32)
    starts = poly_vstart[rest].tolist()
    ends = poly_vend[rest].tolist()
    first_ring = prs[rest].tolist()
    last_ring = prs[rest + 1].tolist()
    triangulate = earcut.triangulate_float64
    chunks = [
        triangulate(xy_c[starts[k] : ends[k]], ring_end_rel[first_ring[k] : last_ring[k]])
        for k in range(len(rest))
    ]
    if chunks:
        counts = np.fromiter((len(c) for c in chunks), dtype=np.int64, count=len(chunks)) // 3
        local = np.concatenate(chunks).astype(np.int64)
        local += np.repeat(poly_vstart[rest], counts * 3)
        pieces.append(local.reshape(-1, 3))
        owners.append(np.repeat(rest, counts))
    triangles = np.concatenate(pieces) if pieces else np.empty((0, 3), dtype=np.int64)
    owner = np.concatenate(owners)
    order = np.argsort(owner, kind="stable")
    triangles = triangles[order]

    # Orient every roof triangle counter-clockwise seen from above (normal up).
    a, b, c = xy[triangles[:, 0]], xy[triangles[:, 1]], xy[triangles[:, 2]]
    area2 = (b[:, 0] - a[:, 0]) * (c[:, 1] - a[:, 1]) - (b[:, 1] - a[:, 1]) * (c[:, 0] - a[:, 0])
    flip = area2 < 0
    triangles[flip] = triangles[flip][:, [0, 2, 1]]
    return triangles


@dataclass
class Prisms:
    """Vertex and triangle arrays of LoD1 buildings, in building order.

    Positions and normals are in the layer's ENU frame. Roof vertices come first (one per ring vertex),
    then walls (four per wall edge); each array has the building index of every element.
    """

    roof_positions: FloatArray  # (Vr, 3)
    roof_triangles: IntArray  # (Tr, 3) into roof_positions
    roof_vertex_building: IntArray
    roof_triangle_building: IntArray
    wall_positions: FloatArray  # (Vw, 3)
    wall_normals: FloatArray  # (Vw, 3)
    wall_triangles: IntArray  # (Tw, 3) into wall_positions
    wall_vertex_building: IntArray
    wall_triangle_building: IntArray
    building_count: int


def extrude(rings: Rings, bottom_enu: FloatArray, top_enu: FloatArray) -> Prisms:
    """LoD1 prisms from ring vertices whose bottom and top ENU positions are given per ring vertex.

    `bottom_enu[i]` and `top_enu[i]` belong to ring vertex i (same plan position, base and roof height).
    """
    vertex_building = rings.vertex_building
    roof_triangles = triangulate_roofs(rings)
    roof_triangle_building = vertex_building[roof_triangles[:, 0]]

    nxt = _next_in_ring(rings)
    edge = top_enu[nxt] - top_enu
    length = np.hypot(edge[:, 0], edge[:, 1])
    walls = np.flatnonzero(length >= MIN_WALL_LENGTH)
    w_next = nxt[walls]
    n_walls = len(walls)
    wall_positions = np.empty((n_walls, 4, 3))
    wall_positions[:, 0] = bottom_enu[walls]
    wall_positions[:, 1] = bottom_enu[w_next]
    wall_positions[:, 2] = top_enu[w_next]
    wall_positions[:, 3] = top_enu[walls]
    # Outward normal: right of the edge for counter-clockwise exteriors (and clockwise holes, whose
    # right side is the courtyard), horizontal in the ENU frame.
    wall_normals = np.zeros((n_walls, 4, 3))
    wall_normals[:, :, 0] = (edge[walls, 1] / length[walls])[:, None]
    wall_normals[:, :, 1] = (-edge[walls, 0] / length[walls])[:, None]
    base = (np.arange(n_walls, dtype=np.int64) * 4)[:, None]
    quad = np.array([[0, 1, 2], [0, 2, 3]], dtype=np.int64)
    wall_triangles = (base[:, None, :] + quad[None, :, :]).reshape(-1, 3)
    wall_building = vertex_building[walls]
    return Prisms(
        roof_positions=top_enu,
        roof_triangles=roof_triangles,
        roof_vertex_building=vertex_building,
        roof_triangle_building=roof_triangle_building,
        wall_positions=wall_positions.reshape(-1, 3),
        wall_normals=wall_normals.reshape(-1, 3),
        wall_triangles=wall_triangles,
        wall_vertex_building=np.repeat(wall_building, 4),
        wall_triangle_building=np.repeat(wall_building, 2),
        building_count=rings.building_count,
    )
