"""LoD1 prisms from footprints: flat roofs and vertical walls with flat normals, vectorised.

Frames: ring coordinates are in the metric working CRS (used only for triangulation topology); positions
are metres in the layer's ENU frame (east, north, up at the layer origin), given per ring vertex for the
wall bottom and the roof. Walls are quads of four own vertices so that every wall has its own normal (flat
shading); the floor is not written (it faces the ground and is never seen), which saves a sixth of the
geometry.

`tile_buffers` builds the vertex streams of many tiles at once in their final form (16-bit quantized
positions, 8-bit normals, feature ids, local indices), so the per-tile work is slicing and encoding;
`extrude` is the same mesh in float64 (for the property tests); both lay out walls with `wall_corners`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import mapbox_earcut as earcut
import numpy as np
import numpy.typing as npt

from twin.geo.frame import EnuBasis
from twin.ingest.rings import Rings

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

MIN_WALL_LENGTH = 0.001  # metres: shorter edges get no wall (their quad would have no normal)
MAX_QUANTIZATION_STEP = 0.01  # metres: a tile is quantized to 16 bits only if the step stays below this
UP_NORMAL = np.uint32(127 << 8)  # glTF (0, 1, 0) as normalized BYTEs (x, y, z, pad) in one little-endian word
WALL_QUAD = np.array([[0, 1, 2], [0, 2, 3]], dtype=np.int64)


def _turns(rings: Rings) -> tuple[FloatArray, FloatArray]:
    """(cross, scale) per vertex: the turn at each vertex of its ring and the product of its edge lengths."""
    x = np.ascontiguousarray(rings.xy[:, 0])
    y = np.ascontiguousarray(rings.xy[:, 1])
    nxt = rings.next_in_ring()
    prv = np.empty_like(nxt)
    prv[nxt] = np.arange(len(nxt))
    # np.take, not fancy indexing: 4x faster on these sizes (numpy 2.3, measured).
    e1x, e1y = x - np.take(x, prv), y - np.take(y, prv)
    e2x, e2y = np.take(x, nxt) - x, np.take(y, nxt) - y
    cross = e1x * e2y - e1y * e2x
    scale = np.sqrt((e1x * e1x + e1y * e1y) * (e2x * e2x + e2y * e2y))
    return cross, scale


def triangulate_roofs(rings: Rings) -> IntArray:
    """Triangles (T, 3) over ring-vertex indices covering every polygon, holes excluded (see `roof_triangles`)."""
    runs = roof_triangles(rings)
    return np.concatenate([triangles for triangles, _ in runs])


def roof_triangles(rings: Rings) -> list[tuple[IntArray, IntArray]]:
    """Roof triangles over ring-vertex indices, counter-clockwise seen from above, holes excluded.

    Returned as two runs, (triangles (T, 3), polygon of each), each in polygon order: the fanned polygons,
    then the rest. Rings must be oriented (exteriors counter-clockwise). A single-ring polygon is fanned
    from its first reflex vertex (from its first vertex when convex); the fan is kept when all its
    triangles face up, which for a simple polygon proves it a triangulation (each point inside is then
    covered as often as the ring winds around it: once). That settles convex outlines and most L, T and
    notched ones (62 % of the OSM footprints; other apexes would add 2 %); the rest (courtyards, outlines
    no vertex sees whole) go through earcut one polygon at a time, the only per-polygon Python loop of the
    mesh (3.8 µs per polygon, earcut's own cost included).
    """
    xy = rings.xy
    prs = rings.polygon_ring_start
    n_poly = len(prs) - 1
    empty = (np.empty((0, 3), dtype=np.int64), np.empty(0, dtype=np.int64))
    if n_poly == 0 or len(xy) == 0:
        return [empty, empty]
    poly_vstart = rings.ring_start[prs[:-1]]
    poly_vend = rings.ring_start[prs[1:]]
    poly_n = poly_vend - poly_vstart
    single = (np.diff(prs) == 1) & (poly_n >= 3)

    cross, scale = _turns(rings)
    reflex = cross < -1e-9 * np.maximum(scale, 1e-12)
    local = np.arange(len(xy), dtype=np.int64) - np.repeat(poly_vstart, poly_n)
    # Apex: the first reflex vertex of each polygon, or its first vertex when it has none.
    big = np.iinfo(np.int64).max
    candidate = np.where(reflex, local, big)
    nonempty = poly_n > 0
    apex = np.zeros(n_poly, dtype=np.int64)
    apex[nonempty] = np.minimum.reduceat(candidate, poly_vstart[nonempty])
    apex[apex == big] = 0

    fan_polys = np.flatnonzero(single)
    count = np.take(poly_n, fan_polys) - 2
    owner = np.repeat(fan_polys, count)
    step = np.arange(int(count.sum()), dtype=np.int64) - np.repeat(np.cumsum(count) - count - 1, count)
    start = np.take(poly_vstart, owner)
    size = np.take(poly_n, owner)
    top = np.take(apex, owner)
    i1 = top + step
    i1[i1 >= size] -= size[i1 >= size]
    i2 = i1 + 1
    i2[i2 >= size] -= size[i2 >= size]
    i0 = start + top
    i1 += start
    i2 += start
    x = np.ascontiguousarray(xy[:, 0])
    y = np.ascontiguousarray(xy[:, 1])
    ax, ay = np.take(x, i0), np.take(y, i0)
    abx, aby = np.take(x, i1) - ax, np.take(y, i1) - ay
    acx, acy = np.take(x, i2) - ax, np.take(y, i2) - ay
    area2 = abx * acy - aby * acx
    tolerance = 1e-9 * (abx * abx + aby * aby + acx * acx + acy * acy)
    bad = np.zeros(n_poly, dtype=bool)
    bad[owner[area2 < -tolerance]] = True
    fan_ok = single & ~bad
    keep_fan = np.take(fan_ok, owner)
    # Fan triangles are (apex, i, i+1); a (rounding-level) clockwise one swaps its last two corners.
    flip = area2 < 0
    if flip.any():
        i1, i2 = np.where(flip, i2, i1), np.where(flip, i1, i2)
    fan = np.column_stack([i0[keep_fan], i1[keep_fan], i2[keep_fan]])
    runs = [(fan, owner[keep_fan])]

    rest = np.flatnonzero(~fan_ok & (poly_n >= 3))
    if not len(rest):
        return [*runs, empty]
    # Plain Python ints, a contiguous coordinate array and ring ends precomputed relative to their
    # polygon keep the per-polygon overhead near earcut's own cost.
    xy_c = np.ascontiguousarray(xy)
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
    counts = np.fromiter((len(ch) for ch in chunks), dtype=np.int64, count=len(chunks)) // 3
    ear = np.concatenate(chunks).astype(np.int64).reshape(-1, 3)
    ear += np.repeat(poly_vstart[rest], counts)[:, None]
    # Orient earcut's triangles counter-clockwise seen from above (normal up).
    px, py = np.take(x, ear[:, 0]), np.take(y, ear[:, 0])
    qx, qy = np.take(x, ear[:, 1]) - px, np.take(y, ear[:, 1]) - py
    rx, ry = np.take(x, ear[:, 2]) - px, np.take(y, ear[:, 2]) - py
    flip = qx * ry - qy * rx < 0
    ear[flip] = ear[flip][:, [0, 2, 1]]
    return [*runs, (ear, np.repeat(rest, counts))]


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
        roof_triangles=triangulate_roofs(rings),
        roof_vertex_building=vertex_building,
        wall_positions=wall_positions.reshape(-1, 3),
        wall_normals=wall_normals.reshape(-1, 3),
        wall_triangles=wall_triangles,
        wall_vertex_building=np.repeat(vertex_building[walls.start], 4),
        building_count=rings.building_count,
    )


@dataclass
class TileBuffers:
    """One tile's vertex streams and indices as a GLB stores them (glTF axes: x east, y up, z south).

    Quantized tiles: `positions` are uint64 words holding three uint16 (x, y, z, 0) on a grid of `scale`
    metres from `translation`. Others: float32 (n, 3) metres from `translation`. `normals` are uint32
    words holding three normalized int8 (x, y, z, 0); `feature_ids` uint32 (< 65536: a UNSIGNED_SHORT
    with two bytes of padding). `lo`/`hi` bound the tile's ENU positions.
    """

    positions: npt.NDArray[np.uint64] | npt.NDArray[np.float32]
    translation: list[float]
    scale: float | None
    position_max: list[float]
    position_min: list[float]
    normals: npt.NDArray[np.uint32]
    feature_ids: npt.NDArray[np.uint32]
    indices: npt.NDArray[np.uint32]
    feature_count: int
    lo: FloatArray
    hi: FloatArray


def _pack_normals(normal: FloatArray) -> npt.NDArray[np.uint32]:
    """Horizontal ENU normals (east, north) as packed glTF normalized bytes (x=east, y=0, z=-north)."""
    nx = np.rint(normal[:, 0] * 127.0).astype(np.int32) & 0xFF
    nz = np.rint(-normal[:, 1] * 127.0).astype(np.int32) & 0xFF
    return (nx | (nz << 16)).astype(np.uint32)


def tile_buffers(
    rings: Rings, basis: EnuBasis, bottom_h: FloatArray | None, top_h: FloatArray, tile_start: IntArray
) -> list[TileBuffers]:
    """The mesh of consecutive tiles: tile t holds buildings [tile_start[t], tile_start[t+1]) of `rings`.

    Ring vertex i stands at ENU `basis` point i, its wall from ellipsoidal height `bottom_h[i]` (None: 0)
    to `top_h[i]`. Work is done for all tiles at once; the loop over tiles only slices and joins.
    """
    n_tiles = len(tile_start) - 1
    n_vertices = len(rings.xy)
    vertex_building = rings.vertex_building
    tile_vstart = rings.building_vertex_start[tile_start]
    tile_vcount = np.diff(tile_vstart)
    tile_of_vertex = np.repeat(np.arange(n_tiles), tile_vcount)
    starts = tile_vstart[:-1]

    top = basis.at(top_h)  # east, north, up
    bottom = basis.at(bottom_h)
    walls = walls_of(rings, top[0], top[1])
    # Wall bottoms exist only where a wall starts or ends (all vertices, unless an edge was too short).
    used = np.zeros(n_vertices, dtype=bool)
    used[walls.start] = True
    used[walls.end] = True
    all_used = bool(used.all())

    # Bounds per tile over the vertices drawn, in ENU and in glTF axes (x = east, y = up, z = -north).
    lo = np.empty((n_tiles, 3))
    hi = np.empty((n_tiles, 3))
    for k in range(3):
        b_lo = b_hi = bottom[k]
        if not all_used:
            b_lo, b_hi = np.where(used, bottom[k], np.inf), np.where(used, bottom[k], -np.inf)
        lo[:, k] = np.minimum(np.minimum.reduceat(b_lo, starts), np.minimum.reduceat(top[k], starts))
        hi[:, k] = np.maximum(np.maximum.reduceat(b_hi, starts), np.maximum.reduceat(top[k], starts))
    g_lo = np.column_stack([lo[:, 0], lo[:, 2], -hi[:, 1]])
    g_hi = np.column_stack([hi[:, 0], hi[:, 2], -lo[:, 1]])
    step = (g_hi - g_lo).max(axis=1) / 65535.0
    quantized = step <= MAX_QUANTIZATION_STEP
    step = np.maximum(step, 1e-6)
    inv_tile = 1.0 / step
    # Quantized values are (x - lo) * inv rounded, and rounding is monotonic: the extremes of each tile
    # are those of its bounds, computed with the very same operations (glTF wants them exact).
    q_max = np.clip(np.rint((g_hi - g_lo) * inv_tile[:, None]), 0, 65535)

    # Every ring vertex at the wall bottom and at the roof on its tile's grid, as three uint16 and a pad
    # in one 64-bit word.
    inv = np.take(inv_tile, tile_of_vertex)
    v_lo = [np.take(np.ascontiguousarray(g_lo[:, axis]), tile_of_vertex) for axis in range(3)]

    def pack(enu: list[FloatArray]) -> npt.NDArray[np.uint64]:
        words = np.zeros((n_vertices, 4), dtype=np.uint16)
        q = np.empty(n_vertices)
        for axis, (source, sign) in enumerate(((enu[0], 1.0), (enu[2], 1.0), (enu[1], -1.0))):
            if sign < 0:
                np.negative(source, out=q)
                q -= v_lo[axis]
            else:
                np.subtract(source, v_lo[axis], out=q)
            q *= inv
            np.rint(q, out=q)
            np.clip(q, 0, 65535, out=q)
            words[:, axis] = q
        return words.view(np.uint64).reshape(-1)

    q_top = pack(top)
    q_bottom = pack(bottom)

    # Roof triangles come in runs (fans, earcut), each in building order: a tile takes its part of each.
    polygon_building = rings.polygon_building
    roof_runs = []
    for triangles, polygon in roof_triangles(rings):
        building = np.take(polygon_building, polygon)
        bounds = np.searchsorted(building, tile_start)
        tile_of = np.repeat(np.arange(n_tiles), np.diff(bounds))
        local = (triangles - np.take(tile_vstart, tile_of)[:, None]).astype(np.uint32)
        roof_runs.append((local, bounds))
    tile_wstart = np.searchsorted(walls.start, tile_vstart)
    tile_first = tile_start[:-1]

    wall_positions = wall_corners(q_bottom, q_top, walls).reshape(-1)
    wall_normals = np.repeat(_pack_normals(walls.normal), 4)
    wall_tile = np.take(tile_of_vertex, walls.start)
    wall_fids = np.repeat(
        (np.take(vertex_building, walls.start) - np.take(tile_first, wall_tile)).astype(np.uint32), 4
    )
    roof_fids = (vertex_building - np.take(tile_first, tile_of_vertex)).astype(np.uint32)
    # Wall quads come after the tile's roof vertices.
    wall_base = 4 * (np.arange(len(walls.start), dtype=np.int64) - np.take(tile_wstart, wall_tile))
    wall_base += np.take(tile_vcount, wall_tile)
    wall_local = (wall_base[:, None, None] + WALL_QUAD[None, :, :]).reshape(-1).astype(np.uint32)

    out: list[TileBuffers] = []
    for t in range(n_tiles):
        v0, v1 = int(tile_vstart[t]), int(tile_vstart[t + 1])
        w0, w1 = int(tile_wstart[t]), int(tile_wstart[t + 1])
        count = int(tile_start[t + 1] - tile_start[t])
        n_roof = v1 - v0
        normals = np.concatenate([np.full(n_roof, UP_NORMAL, dtype=np.uint32), wall_normals[4 * w0 : 4 * w1]])
        fids = np.concatenate([roof_fids[v0:v1], wall_fids[4 * w0 : 4 * w1]])
        indices = np.concatenate([
            *(local[bounds[t] : bounds[t + 1]].reshape(-1) for local, bounds in roof_runs),
            wall_local[6 * w0 : 6 * w1],
        ])  # fmt: skip
        if quantized[t]:
            positions: npt.NDArray[np.uint64] | npt.NDArray[np.float32] = np.concatenate(
                [q_top[v0:v1], wall_positions[4 * w0 : 4 * w1]]
            )
            out.append(TileBuffers(
                positions, g_lo[t].tolist(), float(step[t]), q_max[t].tolist(), [0.0, 0.0, 0.0],
                normals, fids, indices, count, lo[t], hi[t],
            ))  # fmt: skip
            continue
        # Too large for a 1 cm grid: float32 metres around the tile centre.
        centre = (g_lo[t] + g_hi[t]) / 2
        tile_walls = Walls(walls.start[w0:w1], walls.end[w0:w1], walls.normal[w0:w1])
        gltf = np.empty((n_roof + 4 * (w1 - w0), 3))
        for axis, (component, sign) in enumerate(((0, 1.0), (2, 1.0), (1, -1.0))):
            corners = wall_corners(bottom[component], top[component], tile_walls).reshape(-1)
            gltf[:, axis] = sign * np.concatenate([top[component][v0:v1], corners]) - centre[axis]
        local_f = gltf.astype(np.float32)
        out.append(TileBuffers(
            local_f, centre.tolist(), None, local_f.max(axis=0).astype(float).tolist(),
            local_f.min(axis=0).astype(float).tolist(), normals, fids, indices, count, lo[t], hi[t],
        ))  # fmt: skip
    return out
