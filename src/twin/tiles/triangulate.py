"""Triangulation of 2D polygons with holes: a vectorised fan where it is provably right, earcut for the rest.

Used for LoD1 roofs (footprints seen from above) and for LoD2 surfaces projected onto their own plane
(`twin.tiles.surfaces`). Coordinates are metres in any 2D frame; only the topology is computed here.
"""

from __future__ import annotations

import mapbox_earcut as earcut
import numpy as np
import numpy.typing as npt

from twin.ingest.rings import Rings

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


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


def triangulate(rings: Rings) -> IntArray:
    """Triangles (T, 3) over ring-vertex indices covering every polygon, holes excluded (see `polygon_triangles`)."""
    runs = polygon_triangles(rings)
    return np.concatenate([triangles for triangles, _ in runs])


def polygon_triangles(rings: Rings) -> list[tuple[IntArray, IntArray]]:
    """Triangles over ring-vertex indices of 2D polygons, counter-clockwise, holes excluded.

    Returned as two runs, (triangles (T, 3), polygon of each), each in polygon order: the fanned polygons,
    then the rest. Exteriors must turn counter-clockwise (holes may turn either way). A single-ring polygon is fanned
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
    # Orient earcut's triangles counter-clockwise (seen from above for roofs: normal up).
    px, py = np.take(x, ear[:, 0]), np.take(y, ear[:, 0])
    qx, qy = np.take(x, ear[:, 1]) - px, np.take(y, ear[:, 1]) - py
    rx, ry = np.take(x, ear[:, 2]) - px, np.take(y, ear[:, 2]) - py
    flip = qx * ry - qy * rx < 0
    ear[flip] = ear[flip][:, [0, 2, 1]]
    return [*runs, (ear, np.repeat(rest, counts))]
