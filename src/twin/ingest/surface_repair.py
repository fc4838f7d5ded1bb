"""Repair of 3D building polygons on flat arrays: every rule vectorised, stated here, and counted.

Rules, in order, for each polygon of a CityChunk (coordinates in the source CRS, metres):
1. a polygon with a NaN or infinite coordinate is dropped;
2. consecutive vertices closer than 1 mm (the ring's last and first included) are merged;
3. a ring left with fewer than three vertices is dropped: a hole alone, an exterior with its polygon;
4. a polygon whose area is below 1 cm² (collinear or collapsed vertices) is dropped;
5. a polygon whose vertices stray more than 5 cm from its best-fit plane is kept and triangulated in that
   plane (the mesh keeps the true vertices), and counted as non-planar.
Self-touching and self-intersecting rings are left to earcut, which triangulates them without failing.
A building left without polygons is skipped by the pipeline with its reason.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from twin.ingest.citymodel import CityChunk, newell_normals
from twin.ingest.rings import Rings, offsets_from_counts

BoolArray = npt.NDArray[np.bool_]
IntArray = npt.NDArray[np.int64]

REPEATED_VERTEX_TOLERANCE = 0.001  # metres
MIN_POLYGON_AREA = 1e-4  # square metres
PLANARITY_TOLERANCE = 0.05  # metres


def filter_rings(
    rings: Rings, vertex_keep: BoolArray, ring_keep: BoolArray, polygon_keep: BoolArray
) -> Rings:
    """The rings without the dropped vertices, rings and polygons (buildings all stay, maybe empty)."""
    vertex_ring = rings.vertex_ring
    ring_polygon = np.repeat(np.arange(len(rings.polygon_ring_start) - 1), np.diff(rings.polygon_ring_start))
    ring_keep = ring_keep & np.take(polygon_keep, ring_polygon)
    vertex_keep = vertex_keep & np.take(ring_keep, vertex_ring)
    ring_counts = np.bincount(vertex_ring[vertex_keep], minlength=len(ring_keep))[ring_keep]
    polygon_rings = np.bincount(ring_polygon[ring_keep], minlength=len(polygon_keep))[polygon_keep]
    polygon_building = rings.polygon_building
    building_polygons = np.bincount(polygon_building[polygon_keep], minlength=rings.building_count)
    return Rings(
        xy=np.ascontiguousarray(rings.xy[vertex_keep]),
        ring_start=offsets_from_counts(ring_counts),
        polygon_ring_start=offsets_from_counts(polygon_rings),
        building_polygon_start=offsets_from_counts(building_polygons),
        z=None if rings.z is None else np.ascontiguousarray(rings.z[vertex_keep]),
    )


def select_polygons(chunk: CityChunk, polygon_keep: BoolArray) -> CityChunk:
    """The chunk with only the polygons in `polygon_keep` (buildings all stay, maybe without polygons)."""
    rings = chunk.polygons
    everything = np.ones(len(rings.xy), dtype=bool)
    all_rings = np.ones(len(rings.ring_start) - 1, dtype=bool)
    return CityChunk(
        source=chunk.source,
        crs=chunk.crs,
        polygons=filter_rings(rings, everything, all_rings, polygon_keep),
        polygon_class=chunk.polygon_class[polygon_keep],
        polygon_lod=chunk.polygon_lod[polygon_keep],
        ids=chunk.ids,
        attributes=chunk.attributes,
        log=chunk.log,
    )


def repair_polygons(chunk: CityChunk) -> CityChunk:
    """The chunk with its polygons repaired by the rules above; counts go into `chunk.log`."""
    rings = chunk.polygons
    assert rings.z is not None
    n_polygons = len(rings.polygon_ring_start) - 1
    if n_polygons == 0:
        return chunk
    log = chunk.log
    xyz = np.column_stack([rings.xy, rings.z])
    vertex_ring = rings.vertex_ring
    ring_polygon = np.repeat(np.arange(n_polygons), np.diff(rings.polygon_ring_start))
    vertex_polygon = np.take(ring_polygon, vertex_ring)

    finite = np.isfinite(xyz).all(axis=1)
    polygon_keep = np.ones(n_polygons, dtype=bool)
    if not finite.all():
        bad = np.unique(vertex_polygon[~finite])
        polygon_keep[bad] = False
        log.repair("polygon with NaN or infinite coordinates dropped", len(bad))

    nxt = rings.next_in_ring()
    step = np.linalg.norm(xyz[nxt] - xyz, axis=1)
    # A vertex is merged into its successor when they coincide (a ring of one point keeps nothing).
    repeated = step < REPEATED_VERTEX_TOLERANCE
    vertex_keep = ~repeated
    if repeated.any():
        log.repair("repeated vertices merged (closer than 1 mm)", len(np.unique(vertex_polygon[repeated])))
    remaining = np.bincount(vertex_ring[vertex_keep], minlength=len(rings.ring_start) - 1)
    ring_keep = remaining >= 3
    exterior = rings.polygon_ring_start[:-1]
    collapsed = ~ring_keep[exterior] & polygon_keep
    if collapsed.any():
        polygon_keep &= ~collapsed
        log.repair("polygon dropped: fewer than three distinct vertices", int(collapsed.sum()))
    holes = ~ring_keep
    holes[exterior] = False
    if holes.any():
        log.repair("hole dropped: fewer than three distinct vertices", int(holes.sum()))
    cleaned = filter_rings(rings, vertex_keep, ring_keep, polygon_keep)
    kept = np.flatnonzero(polygon_keep)

    normal = newell_normals(cleaned)
    area = 0.5 * np.linalg.norm(normal, axis=1)
    flat = area < MIN_POLYGON_AREA
    if flat.any():
        log.repair("polygon dropped: no area (collinear or collapsed vertices)", int(flat.sum()))
    _count_non_planar(cleaned, normal, area, chunk)
    result = CityChunk(
        source=chunk.source, crs=chunk.crs, polygons=cleaned, polygon_class=chunk.polygon_class[kept],
        polygon_lod=chunk.polygon_lod[kept], ids=chunk.ids, attributes=chunk.attributes, log=log,
    )  # fmt: skip
    return select_polygons(result, ~flat) if flat.any() else result


def _count_non_planar(rings: Rings, normal: npt.NDArray[np.float64], area: npt.NDArray[np.float64],
                      chunk: CityChunk) -> None:  # fmt: skip
    """Count polygons whose vertices stray from the plane through their centroid by more than allowed."""
    assert rings.z is not None
    n_polygons = len(area)
    if not n_polygons:
        return
    counts = np.diff(rings.ring_start[rings.polygon_ring_start])
    vertex_polygon = np.repeat(np.arange(n_polygons), counts)
    unit = np.divide(normal, (2 * area)[:, None], out=np.zeros_like(normal), where=area[:, None] > 0)
    xyz = np.column_stack([rings.xy, rings.z])
    starts = rings.ring_start[rings.polygon_ring_start[:-1]]
    nonempty = counts > 0
    centroid = np.zeros((n_polygons, 3))
    centroid[nonempty] = np.add.reduceat(xyz, starts[nonempty], axis=0) / counts[nonempty, None]
    distance = np.abs(np.einsum("ij,ij->i", xyz - centroid[vertex_polygon], unit[vertex_polygon]))
    worst = np.zeros(n_polygons)
    np.maximum.at(worst, vertex_polygon, distance)
    off = int(np.count_nonzero(worst > PLANARITY_TOLERANCE))
    if off:
        chunk.log.repair("non-planar polygon (> 5 cm off its plane) triangulated in its best-fit plane", off)
