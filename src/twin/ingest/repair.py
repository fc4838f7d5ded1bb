"""Vectorised footprint repair with shapely 2: every rule counted, nothing silently lost.

Rules, in order: drop empty and non-polygonal geometries; drop features with NaN or infinite coordinates;
remove repeated vertices (closer than 1 mm); make invalid polygons valid (self-intersections, bow ties,
wrong nesting) and keep their polygonal parts; orient rings (exterior counter-clockwise, holes clockwise);
drop polygon parts and holes below a minimum area. MultiPolygons stay one feature; holes stay holes.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import numpy.typing as npt
import shapely

from twin.ingest.model import IngestLog

GeomArray = npt.NDArray[np.object_]

REPEATED_POINT_TOLERANCE = 0.001  # metres
MIN_PART_AREA = 0.5  # square metres: below this a part is a sliver, not a building


def polygonal_part(geoms: GeomArray) -> GeomArray:
    """Keep only polygons of each geometry (collections from make_valid can hold lines and points)."""
    out = geoms.copy()
    types = shapely.get_type_id(geoms)
    collections = np.flatnonzero(types == shapely.GeometryType.GEOMETRYCOLLECTION)
    for i in collections:  # rare: only geometries make_valid turned into collections
        parts = [
            p
            for p in shapely.get_parts(geoms[i])
            if shapely.get_type_id(p) in (3, 6)  # Polygon, MultiPolygon
        ]
        polys = []
        for part in parts:
            polys.extend(shapely.get_parts(part))
        out[i] = shapely.multipolygons(polys) if polys else shapely.Polygon()
    return out


def _drop_small_holes(geom: shapely.Geometry, min_area: float) -> shapely.Geometry:
    polys = []
    for poly in shapely.get_parts(geom):
        holes = [ring for ring in poly.interiors if shapely.Polygon(ring).area >= min_area]
        polys.append(shapely.Polygon(poly.exterior, holes))
    return polys[0] if len(polys) == 1 else shapely.MultiPolygon(polys)


def repair_footprints(
    geoms: GeomArray, ids: npt.NDArray[np.object_], log: IngestLog
) -> tuple[GeomArray, npt.NDArray[np.bool_]]:
    """Repaired geometries (metric CRS) and a mask of the features kept; reasons go into `log`."""
    n = len(geoms)
    keep = np.ones(n, dtype=bool)
    geoms = np.asarray(geoms, dtype=object).copy()

    missing = shapely.is_missing(geoms) | shapely.is_empty(geoms)
    log.skip("empty or missing geometry", list(ids[missing]))
    keep &= ~missing

    types = shapely.get_type_id(geoms)
    polygonal = np.isin(types, [3, 6, 7])  # Polygon, MultiPolygon, GeometryCollection
    bad_type = keep & ~polygonal
    log.skip("not a polygon (point or line geometry)", list(ids[bad_type]))
    keep &= ~bad_type

    idx = np.flatnonzero(keep)
    coords, owner = shapely.get_coordinates(geoms[idx], include_z=True, return_index=True)
    xy_bad = ~np.isfinite(coords[:, :2]).all(axis=1)
    bad_owner = np.zeros(len(idx), dtype=bool)
    bad_owner[np.unique(owner[xy_bad])] = True
    log.skip("NaN or infinite coordinates", list(ids[idx[bad_owner]]))
    keep[idx[bad_owner]] = False

    idx = np.flatnonzero(keep)
    sub = geoms[idx]
    sub = polygonal_part(sub)
    before = shapely.get_num_coordinates(sub)
    sub = shapely.remove_repeated_points(sub, tolerance=REPEATED_POINT_TOLERANCE)
    log.repair("repeated vertices removed", int(np.count_nonzero(shapely.get_num_coordinates(sub) < before)))

    invalid = ~shapely.is_valid(sub)
    if invalid.any():
        fixed = shapely.make_valid(sub[invalid], method="structure", keep_collapsed=False)
        sub[invalid] = polygonal_part(np.asarray(fixed, dtype=object))
        log.repair(
            "invalid polygon made valid (self-intersection, bow tie or bad ring nesting)", int(invalid.sum())
        )

    # One pass over all polygon parts serves the hole, area and orientation rules.
    parts, owner = shapely.get_parts(sub, return_index=True)
    holes = shapely.get_num_interior_rings(parts)
    areas = shapely.area(parts)
    clockwise = ~shapely.is_ccw(shapely.get_exterior_ring(parts))

    # Holes below the minimum area are slivers, not courtyards (only buildings with holes are looked at).
    dropped_holes = 0
    for i in np.unique(owner[holes > 0]):
        before_holes = int(holes[owner == i].sum())
        sub[i] = _drop_small_holes(sub[i], MIN_PART_AREA)
        dropped_holes += before_holes - int(shapely.get_num_interior_rings(shapely.get_parts(sub[i])).sum())
    log.repair("degenerate holes dropped", dropped_holes)

    # Drop degenerate parts; a feature with no part left is skipped.
    good = areas >= MIN_PART_AREA
    part_count = np.bincount(owner, minlength=len(sub))
    good_count = np.bincount(owner[good], minlength=len(sub))
    partly = np.flatnonzero((good_count > 0) & (good_count < part_count))
    log.repair(
        "degenerate parts dropped from multi-part buildings", int((part_count - good_count)[partly].sum())
    )
    for i in partly:
        kept = shapely.get_parts(sub[i])
        kept = kept[shapely.area(kept) >= MIN_PART_AREA]
        sub[i] = kept[0] if len(kept) == 1 else shapely.multipolygons(kept)
    nothing_left = good_count == 0
    log.skip(
        f"zero or tiny area (below {MIN_PART_AREA} m²) or collapsed polygon", list(ids[idx[nothing_left]])
    )
    keep[idx[nothing_left]] = False

    # Exterior rings counter-clockwise, holes clockwise (seen from above): walls then face outwards.
    log.repair("ring orientation fixed", len(np.unique(owner[clockwise & good & ~nothing_left[owner]])))
    sub = shapely.orient_polygons(sub, exterior_cw=False)

    geoms[idx] = sub
    return geoms, keep


PARALLEL_MIN_FEATURES = 20_000


def repair_footprints_parallel(
    geoms: GeomArray, ids: npt.NDArray[np.object_], log: IngestLog
) -> tuple[GeomArray, npt.NDArray[np.bool_]]:
    """`repair_footprints` over chunks in threads: shapely's vectorised calls release the GIL."""
    workers = min(2, os.cpu_count() or 1)
    if len(geoms) < PARALLEL_MIN_FEATURES or workers < 2:
        return repair_footprints(geoms, ids, log)
    bounds = np.linspace(0, len(geoms), workers + 1).astype(int)
    logs = [IngestLog() for _ in range(workers)]
    with ThreadPoolExecutor(workers) as pool:
        results = list(pool.map(
            lambda k: repair_footprints(geoms[bounds[k] : bounds[k + 1]], ids[bounds[k] : bounds[k + 1]], logs[k]),
            range(workers),
        ))  # fmt: skip
    for part in logs:
        log.merge(part)
    return np.concatenate([r[0] for r in results]), np.concatenate([r[1] for r in results])
