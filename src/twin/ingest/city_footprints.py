"""Footprints of 3D buildings: what the OGC API serves for them and what their LoD1 boxes stand on.

A building's footprint is its ground surfaces; without any, the outline of its roofs (every polygon that
is not a wall, seen from above); without those, the convex hull of its vertices. The pieces are joined
and made valid by the footprint repair (`twin.ingest.repair.repair_rings`: parts of BuildingParts that
share an edge become one outline), in a metric 2D frame (metres east and north at the layer origin).
"""

from __future__ import annotations

from collections import Counter

import numpy as np
import numpy.typing as npt
import shapely

from twin.ingest.citymodel import SurfaceClass, newell_normals
from twin.ingest.model import IngestLog
from twin.ingest.repair import repair_rings
from twin.ingest.rings import Rings, rings_from_geometries
from twin.ingest.surface_repair import filter_rings

IntArray = npt.NDArray[np.int64]
# Polygons steeper than this (the up component of their unit normal below it) are walls, not outline.
WALL_MAX_UP = 0.1


def _closed(rings: Rings) -> Rings:
    """The rings with their first vertex repeated at the end, as the footprint repair expects."""
    index, closed_start = rings.closed_vertex_index()
    return Rings(np.take(rings.xy, index, axis=0), closed_start, rings.polygon_ring_start,
                 rings.building_polygon_start)  # fmt: skip


def city_footprints(
    polygons: Rings, polygon_class: npt.NDArray[np.uint8], ids: npt.NDArray[np.object_]
) -> tuple[Rings, Counter[str]]:
    """Every building's footprint as 2D rings (open, exteriors counter-clockwise), and how each was made.

    `polygons` are the buildings' 3D polygons in a metric frame (xy east and north, z up).
    """
    n_buildings = polygons.building_count
    polygon_building = polygons.polygon_building
    normal = newell_normals(polygons)
    length = np.linalg.norm(normal, axis=1)
    up = np.divide(np.abs(normal[:, 2]), length, out=np.zeros(len(length)), where=length > 0)
    ground = polygon_class == SurfaceClass.GROUND
    has_ground = np.bincount(polygon_building[ground], minlength=n_buildings) > 0
    outline = (up > WALL_MAX_UP) & ~np.take(has_ground, polygon_building)
    chosen = (ground | outline) & (length > 0)
    flat = Rings(
        polygons.xy, polygons.ring_start, polygons.polygon_ring_start, polygons.building_polygon_start
    )
    pieces = filter_rings(
        flat, np.ones(len(flat.xy), dtype=bool), np.ones(len(flat.ring_start) - 1, dtype=bool), chosen
    )
    repaired, kept = repair_rings(_closed(pieces), ids, IngestLog())
    # The repair returns its buildings in the order it settled them (numpy first, then GEOS): sort back.
    by_building = np.argsort(kept, kind="stable")
    repaired, kept = repaired.take(by_building), kept[by_building]
    how: Counter[str] = Counter()
    how["ground surfaces"] = int(np.count_nonzero(has_ground[kept]))
    how["roof outline"] = len(kept) - how["ground surfaces"]
    missing = np.setdiff1d(np.arange(n_buildings), kept)
    if not len(missing):
        return repaired, how
    # The rest: the convex hull of all their vertices (a building of walls only, or of slivers).
    hulls = []
    for building in missing.tolist():
        start, stop = polygons.building_vertex_start[building], polygons.building_vertex_start[building + 1]
        hulls.append(shapely.convex_hull(shapely.multipoints(polygons.xy[start:stop])))
    hull_rings = rings_from_geometries(np.asarray(hulls, dtype=object))
    fixed, hull_kept = repair_rings(_closed(hull_rings), ids[missing], IngestLog())
    by_building = np.argsort(hull_kept, kind="stable")
    fixed, hull_kept = fixed.take(by_building), hull_kept[by_building]
    how["convex hull"] = len(hull_kept)
    order = np.argsort(np.concatenate([kept, missing[hull_kept]]), kind="stable")
    joined = Rings.concat([repaired, fixed]).take(order)
    if joined.building_count < n_buildings:
        # Nothing with area at all (a building collapsed to a line): a 1 m square at its first vertex, so
        # that every building has a footprint to be found by; counted.
        present = np.zeros(n_buildings, dtype=bool)
        present[np.concatenate([kept, missing[hull_kept]])] = True
        how["placeholder square"] = int(np.count_nonzero(~present))
        corners = polygons.xy[polygons.building_vertex_start[np.flatnonzero(~present)]]
        squares = shapely.box(corners[:, 0], corners[:, 1], corners[:, 0] + 1.0, corners[:, 1] + 1.0)
        square_rings = rings_from_geometries(np.asarray(squares, dtype=object))
        order = np.argsort(np.concatenate([np.flatnonzero(present), np.flatnonzero(~present)]), kind="stable")
        joined = Rings.concat([joined, square_rings]).take(order)
    return joined, how
