"""Meshes of 3D city model buildings (LoD1-3 polygons with their surface classes), vectorised.

Each polygon is projected onto its own plane (the Newell normal's: the best fit for a polygon that is not
quite planar) and triangulated there (`twin.tiles.triangulate`: fans where provably right, earcut with
holes for the rest); the triangles keep the polygon's true 3D vertices. Every polygon has vertices of its
own, lit with the polygon's normal (flat shading, as walls and roof planes are). Frames: positions are
metres east, north, up at the layer origin.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from twin.ingest.citymodel import newell_normals
from twin.ingest.rings import Rings
from twin.tiles.mesh import SURFACE_CLASSES, MeshRun, pack_normals
from twin.tiles.triangulate import polygon_triangles

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


def plane_coordinates(rings: Rings, normal: FloatArray, vertex_polygon: IntArray) -> FloatArray:
    """(V, 2) coordinates of every vertex in its polygon's plane, seen from the side `normal` points to.

    `rings` holds 3D points (xy and z); `normal` (P, 3) unit normals. The in-plane axes (a, b) with
    b = n × a make (a, b, n) right-handed, so a ring that turns counter-clockwise around n does so in 2D.
    """
    assert rings.z is not None
    # a: the horizontal direction in the plane (n × up), or east for (nearly) horizontal planes.
    a = np.column_stack([-normal[:, 1], normal[:, 0], np.zeros(len(normal))])
    length = np.hypot(a[:, 0], a[:, 1])
    flat = length < 1e-6
    a[flat] = (1.0, 0.0, 0.0)
    length[flat] = 1.0
    a /= length[:, None]
    b = np.cross(normal, a)
    first = np.take(rings.ring_start[rings.polygon_ring_start[:-1]], vertex_polygon)
    # Relative to the polygon's first vertex, for precision far from the origin.
    dx = rings.xy[:, 0] - rings.xy[first, 0]
    dy = rings.xy[:, 1] - rings.xy[first, 1]
    dz = rings.z - rings.z[first]
    pa = a[vertex_polygon]
    pb = b[vertex_polygon]
    return np.column_stack(
        [dx * pa[:, 0] + dy * pa[:, 1] + dz * pa[:, 2], dx * pb[:, 0] + dy * pb[:, 1] + dz * pb[:, 2]]
    )


def surface_tiles(rings: Rings, polygon_class: npt.NDArray[np.uint8], tile_start: IntArray) -> MeshRun:
    """The meshes of consecutive tiles: tile t holds buildings [tile_start[t], tile_start[t+1]) of `rings`.

    `rings` holds every vertex in the layer's ENU frame (xy = east, north; z = up). Polygons without area
    (which the readers already dropped, so none but rounding-level slivers) get no triangles.
    """
    n_tiles = len(tile_start) - 1
    normal = newell_normals(rings)
    length = np.linalg.norm(normal, axis=1)
    usable = length > 1e-12
    unit = np.zeros_like(normal)
    unit[usable] = normal[usable] / length[usable, None]
    vertex_polygon = np.repeat(np.arange(len(normal)), np.diff(rings.ring_start[rings.polygon_ring_start]))
    plane = Rings(plane_coordinates(rings, unit, vertex_polygon), rings.ring_start, rings.polygon_ring_start,
                  rings.building_polygon_start)  # fmt: skip
    runs = polygon_triangles(plane)
    triangles = np.concatenate([tri for tri, _ in runs])
    polygon = np.concatenate([owner for _, owner in runs])
    keep = np.take(usable, polygon)
    triangles, polygon = triangles[keep], polygon[keep]

    building_of_polygon = rings.polygon_building
    tile_of_building = np.repeat(np.arange(n_tiles), np.diff(tile_start))
    tile_of_triangle = np.take(tile_of_building, np.take(building_of_polygon, polygon))
    surface = np.take(polygon_class, polygon).astype(np.int64)
    order = np.argsort(tile_of_triangle * SURFACE_CLASSES + surface, kind="stable")
    triangles = triangles[order]
    tile_of_triangle = tile_of_triangle[order]
    surface = surface[order]

    vertex_start = rings.building_vertex_start[tile_start]
    local = (triangles - np.take(vertex_start, tile_of_triangle)[:, None]).astype(np.uint32).reshape(-1)
    tile_bounds = np.searchsorted(tile_of_triangle, np.arange(n_tiles + 1))
    counts = np.bincount(tile_of_triangle * SURFACE_CLASSES + surface, minlength=n_tiles * SURFACE_CLASSES)
    class_counts = counts.reshape(n_tiles, SURFACE_CLASSES).tolist()

    vertex_unit = unit[vertex_polygon]
    normals = pack_normals(vertex_unit[:, 0], vertex_unit[:, 1], vertex_unit[:, 2])
    vertex_building = rings.vertex_building
    vertex_tile = np.take(tile_of_building, vertex_building)
    feature_ids = (vertex_building - np.take(tile_start, vertex_tile)).astype(np.uint32)
    return MeshRun(
        east=np.ascontiguousarray(rings.xy[:, 0]), north=np.ascontiguousarray(rings.xy[:, 1]),
        up=np.ascontiguousarray(rings.z), point_start=vertex_start, normals=normals,
        feature_ids=feature_ids, vertex_start=vertex_start,
        triangles=[local[3 * tile_bounds[t] : 3 * tile_bounds[t + 1]] for t in range(n_tiles)],
        class_counts=class_counts, feature_count=np.diff(tile_start),
    )  # fmt: skip
