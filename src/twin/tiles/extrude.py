"""LoD1 prisms from footprints: flat roofs and vertical walls with flat normals, vectorised.

Frames: ring coordinates are in any metric 2D frame (used only for triangulation topology); positions are
metres in the layer's ENU frame (east, north, up at the layer origin), given per ring vertex for the wall
bottom and the roof. Walls are quads of four own vertices so that every wall has its own normal (flat
shading); the floor is not written (it faces the ground and is never seen), which saves a sixth of the
geometry.

`extrude_tiles` builds the meshes of many tiles at once as a `twin.tiles.mesh.MeshRun` (the per-tile work
is slicing); `extrude` is the same mesh in float64 (for the property tests); both lay out walls with
`wall_corners`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from twin.geo.frame import EnuBasis
from twin.ingest.citymodel import SurfaceClass
from twin.ingest.rings import Rings
from twin.tiles.mesh import UP_NORMAL, MeshRun, pack_normals
from twin.tiles.triangulate import polygon_triangles, triangulate

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

MIN_WALL_LENGTH = 0.001  # metres: shorter edges get no wall (their quad would have no normal)
WALL_QUAD = np.array([[0, 1, 2], [0, 2, 3]], dtype=np.int64)


@dataclass
class Walls:
    """The wall quads of a set of rings: one per edge of at least MIN_WALL_LENGTH."""

    start: IntArray  # (W,) ring vertex where the wall starts
    end: IntArray  # (W,) ring vertex where it ends (the next in the ring)
    normal: FloatArray  # (W, 2) outward unit normal (east, north)


def walls_of(rings: Rings, east: FloatArray, north: FloatArray) -> Walls:
    """Walls along every ring edge; outward normals from the edge direction in the ENU frame."""
    nxt = rings.next_in_ring()
    e = np.ascontiguousarray(east)
    n = np.ascontiguousarray(north)
    de = np.take(e, nxt) - e
    dn = np.take(n, nxt) - n
    length = np.sqrt(de * de + dn * dn)
    walls = np.flatnonzero(length >= MIN_WALL_LENGTH)
    inv = 1.0 / np.take(length, walls)
    # Outward: right of the edge for counter-clockwise exteriors (and clockwise holes, whose right side
    # is the courtyard), horizontal in the ENU frame.
    normal = np.column_stack([np.take(dn, walls) * inv, -np.take(de, walls) * inv])
    return Walls(walls, np.take(nxt, walls), normal)


def wall_corners(bottom: npt.NDArray[Any], top: npt.NDArray[Any], walls: Walls) -> npt.NDArray[Any]:
    """The four corners of every wall quad, (W, 4, ...): bottom start, bottom end, top end, top start.

    With WALL_QUAD, the triangles then wind counter-clockwise seen from outside. `bottom` and `top` hold
    a value per ring vertex (positions, or packed quantized positions).
    """
    return np.stack(
        [np.take(bottom, walls.start, axis=0), np.take(bottom, walls.end, axis=0),
         np.take(top, walls.end, axis=0), np.take(top, walls.start, axis=0)], axis=1,
    )  # fmt: skip


@dataclass
class Prisms:
    """Vertex and triangle arrays of LoD1 buildings in float64, in building order.

    Positions and normals are in the layer's ENU frame. Roof vertices come first (one per ring vertex),
    then walls (four per wall edge); each array has the building index of every element.
    """

    roof_positions: FloatArray  # (Vr, 3)
    roof_triangles: IntArray  # (Tr, 3) into roof_positions
    roof_vertex_building: IntArray
    wall_positions: FloatArray  # (Vw, 3)
    wall_normals: FloatArray  # (Vw, 3)
    wall_triangles: IntArray  # (Tw, 3) into wall_positions
    wall_vertex_building: IntArray
    building_count: int


def extrude(rings: Rings, bottom_enu: FloatArray, top_enu: FloatArray) -> Prisms:
    """LoD1 prisms from ring vertices whose bottom and top ENU positions are given per ring vertex."""
    vertex_building = rings.vertex_building
    walls = walls_of(rings, top_enu[:, 0], top_enu[:, 1])
    n_walls = len(walls.start)
    wall_positions = wall_corners(bottom_enu, top_enu, walls)
    wall_normals = np.zeros((n_walls, 4, 3))
    wall_normals[:, :, :2] = walls.normal[:, None, :]
    base = (np.arange(n_walls, dtype=np.int64) * 4)[:, None, None]
    wall_triangles = (base + WALL_QUAD[None, :, :]).reshape(-1, 3)
    return Prisms(
        roof_positions=top_enu,
        roof_triangles=triangulate(rings),
        roof_vertex_building=vertex_building,
        wall_positions=wall_positions.reshape(-1, 3),
        wall_normals=wall_normals.reshape(-1, 3),
        wall_triangles=wall_triangles,
        wall_vertex_building=np.repeat(vertex_building[walls.start], 4),
        building_count=rings.building_count,
    )


def extrude_tiles(
    rings: Rings, basis: EnuBasis, bottom_h: FloatArray | None, top_h: FloatArray, tile_start: IntArray
) -> MeshRun:
    """The LoD1 meshes of consecutive tiles: tile t holds buildings [tile_start[t], tile_start[t+1]).

    Ring vertex i stands at ENU `basis` point i, its wall from ellipsoidal height `bottom_h[i]` (None: 0)
    to `top_h[i]`. Each tile's vertices are its roof vertices (one per ring vertex), then its wall quads.
    """
    n_tiles = len(tile_start) - 1
    n_vertices = len(rings.xy)
    vertex_building = rings.vertex_building
    tile_vstart = rings.building_vertex_start[tile_start]
    tile_vcount = np.diff(tile_vstart)
    tile_of_vertex = np.repeat(np.arange(n_tiles), tile_vcount)
    top = basis.at(top_h)  # east, north, up
    bottom = basis.at(bottom_h)
    walls = walls_of(rings, top[0], top[1])
    n_walls = len(walls.start)
    tile_wstart = np.searchsorted(walls.start, tile_vstart)
    wall_tile = np.take(tile_of_vertex, walls.start)

    # Where each vertex goes in the run (tile by tile: roof vertices, then four corners per wall) and which
    # of [top; bottom] it copies: roof vertex k lands at k + 4 * (walls before its tile), the corners of
    # wall w at (the end of its tile's roof vertices) + 4 w.
    # Points, tile by tile: the tile's roof points (one per ring vertex), then its base points. Vertices,
    # tile by tile: its roof vertices (the roof points), then four corners per wall: roof vertex k lands at
    # k + 4 * (walls before its tile), the corners of wall w at (the end of its tile's roof vertices) + 4 w.
    top_dest = np.arange(n_vertices) + np.take(tile_vstart, tile_of_vertex)
    base_dest = top_dest + np.take(tile_vcount, tile_of_vertex)
    points = []
    for top_axis, base_axis in zip(top, bottom, strict=True):
        axis = np.empty(2 * n_vertices)
        axis[top_dest] = top_axis
        axis[base_dest] = base_axis
        points.append(axis)
    roof_dest = np.arange(n_vertices) + 4 * np.take(tile_wstart, tile_of_vertex)
    wall_dest = (np.take(tile_vstart, wall_tile + 1) + 4 * np.arange(n_walls))[:, None] + np.arange(4)
    wall_dest = wall_dest.reshape(-1)
    vertex_point = np.empty(n_vertices + 4 * n_walls, dtype=np.int64)
    vertex_point[roof_dest] = top_dest
    vertex_point[wall_dest] = wall_corners(base_dest, top_dest, walls).reshape(-1)
    normals = np.empty(len(vertex_point), dtype=np.uint32)
    normals[roof_dest] = UP_NORMAL
    normals[wall_dest] = np.repeat(pack_normals(walls.normal[:, 0], walls.normal[:, 1]), 4)
    building = np.empty(len(vertex_point), dtype=np.int64)
    building[roof_dest] = vertex_building
    building[wall_dest] = np.repeat(np.take(vertex_building, walls.start), 4)
    vertex_start = tile_vstart + 4 * tile_wstart
    feature_ids = (building - np.repeat(tile_start[:-1], np.diff(vertex_start))).astype(np.uint32)

    # Roof triangles come in runs (fans, earcut), each in building order: a tile takes its part of each.
    polygon_building = rings.polygon_building
    roof_runs = []
    for triangles, polygon in polygon_triangles(rings):
        owner = np.take(polygon_building, polygon)
        bounds = np.searchsorted(owner, tile_start)
        tile_of = np.repeat(np.arange(n_tiles), np.diff(bounds))
        local = (triangles - np.take(tile_vstart, tile_of)[:, None]).astype(np.uint32)
        roof_runs.append((local, bounds))
    # Wall quads come after the tile's roof vertices.
    wall_local_base = 4 * (np.arange(n_walls, dtype=np.int64) - np.take(tile_wstart, wall_tile))
    wall_local_base += np.take(tile_vcount, wall_tile)
    wall_local = (wall_local_base[:, None, None] + WALL_QUAD[None, :, :]).reshape(-1).astype(np.uint32)
    triangles_per_tile = []
    class_counts = []
    for t in range(n_tiles):
        w0, w1 = int(tile_wstart[t]), int(tile_wstart[t + 1])
        roofs = [local[bounds[t] : bounds[t + 1]].reshape(-1) for local, bounds in roof_runs]
        indices = np.concatenate([*roofs, wall_local[6 * w0 : 6 * w1]])
        counts = [0] * len(SurfaceClass)
        counts[SurfaceClass.ROOF] = sum(len(r) for r in roofs) // 3
        counts[SurfaceClass.WALL] = 2 * (w1 - w0)
        triangles_per_tile.append(indices)
        class_counts.append(counts[: SurfaceClass.UNKNOWN])
    return MeshRun(
        east=points[0], north=points[1], up=points[2], point_start=2 * tile_vstart, normals=normals,
        feature_ids=feature_ids, vertex_start=vertex_start, triangles=triangles_per_tile,
        class_counts=class_counts, feature_count=np.diff(tile_start), vertex_point=vertex_point,
    )  # fmt: skip
