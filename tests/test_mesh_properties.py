"""Property tests of the LoD1 mesh: roofs cover exactly the footprint, walls face outwards, holes stay holes."""

from __future__ import annotations

import numpy as np
import shapely
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from twin.ingest.model import IngestLog
from twin.ingest.repair import repair_rings
from twin.ingest.rings import rings_from_geometries
from twin.tiles.extrude import Prisms, extrude


@st.composite
def footprints(draw: st.DrawFn) -> shapely.Geometry:
    """Star-shaped (often concave) polygons in metres, sometimes with a courtyard, sometimes two parts."""

    def star(cx: float, cy: float, scale: float) -> list[tuple[float, float]]:
        n = draw(st.integers(3, 14))
        # Angles at least ~2 degrees apart: no zero-width spikes (repair's job, tested with real data).
        gaps = np.array(draw(st.lists(st.floats(0.05, 1.0), min_size=n, max_size=n)))
        angles = np.cumsum(gaps) / gaps.sum() * 2 * np.pi * 0.999
        radii = draw(st.lists(st.floats(0.5, 1.0), min_size=n, max_size=n))
        return [
            (cx + scale * r * np.cos(a), cy + scale * r * np.sin(a))
            for a, r in zip(angles, radii, strict=True)
        ]

    x0 = draw(st.floats(-1e5, 1e5))
    y0 = draw(st.floats(-1e5, 1e5))
    size = draw(st.floats(5, 200))
    shell = star(x0, y0, size)
    holes = []
    if draw(st.booleans()):
        # A courtyard well inside the shell: every shell vertex is at least 0.5 * size from the centre.
        holes.append(star(x0, y0, size * 0.35))
    parts = [shapely.Polygon(shell, holes)]
    if draw(st.booleans()):
        parts.append(shapely.Polygon(star(x0 + 3 * size, y0, size * 0.5)))
    return parts[0] if len(parts) == 1 else shapely.MultiPolygon(parts)


def _mesh(geom: shapely.Geometry, height: float = 12.0) -> tuple[shapely.Geometry, Prisms]:
    # The ingest's own path: flat rings, repaired by numpy or GEOS (whichever the footprint needs).
    rings, kept = repair_rings(
        rings_from_geometries(np.array([geom])), np.array(["a"], dtype=object), IngestLog()
    )
    if not len(kept):
        assume(False)  # slivers below the minimum area are skipped by design (tested elsewhere)
    bottom = np.column_stack([rings.xy, np.zeros(len(rings.xy))])
    top = bottom.copy()
    top[:, 2] = height
    return rings.to_shapely()[0], extrude(rings, bottom, top)


def _triangle_areas(positions: np.ndarray, triangles: np.ndarray) -> np.ndarray:
    a, b, c = (positions[triangles[:, k]] for k in range(3))
    return 0.5 * np.cross(b - a, c - a)


@settings(max_examples=60, deadline=None)
@given(footprints())
def test_roof_triangles_cover_exactly_the_footprint(geom: shapely.Geometry) -> None:
    footprint, prisms = _mesh(geom)
    normals = _triangle_areas(prisms.roof_positions, prisms.roof_triangles)
    # Every roof triangle faces up (counter-clockwise from above) ...
    assert np.all(normals[:, 2] >= -1e-9)
    # ... their areas add up to the footprint's, holes excluded ...
    assert np.isclose(normals[:, 2].sum(), footprint.area, rtol=1e-9, atol=1e-6)
    # ... and they lie inside it: no triangle in a courtyard or outside the outline.
    tri = prisms.roof_positions[prisms.roof_triangles][:, :, :2]
    polygons = shapely.polygons(np.concatenate([tri, tri[:, :1]], axis=1))
    union = shapely.union_all(polygons[shapely.area(polygons) > 1e-9])
    assert np.isclose(shapely.area(shapely.intersection(union, footprint)), footprint.area, rtol=1e-7)
    assert shapely.area(shapely.difference(union, footprint.buffer(1e-6))) < 1e-6 * footprint.area


@settings(max_examples=60, deadline=None)
@given(footprints())
def test_wall_normals_point_outwards_and_holes_stay_holes(geom: shapely.Geometry) -> None:
    footprint, prisms = _mesh(geom)
    quads = prisms.wall_positions.reshape(-1, 4, 3)
    normals = prisms.wall_normals.reshape(-1, 4, 3)[:, 0]
    assert np.allclose(np.linalg.norm(normals, axis=1), 1.0)
    assert np.allclose(normals[:, 2], 0.0)
    middle = quads.mean(axis=1)[:, :2]
    step = 1e-4  # metres: far below any wall length or building width the strategy makes
    outside = shapely.points(middle + step * normals[:, :2])
    inside = shapely.points(middle - step * normals[:, :2])
    # Every wall has the building on its back side and open air (street or courtyard) in front of it.
    assert not np.any(shapely.contains(footprint, outside))
    assert np.all(shapely.contains(footprint, inside))
    # Winding agrees with the normal, so back-face culling keeps the outside faces.
    winding = np.cross(quads[:, 1] - quads[:, 0], quads[:, 2] - quads[:, 0])
    assert np.all(np.einsum("ij,ij->i", winding, normals) > 0)
    # Every footprint edge, courtyard edges included, got one wall.
    boundary_length = shapely.length(shapely.boundary(footprint))
    wall_length = np.linalg.norm(quads[:, 1, :2] - quads[:, 0, :2], axis=1).sum()
    assert np.isclose(wall_length, boundary_length, rtol=1e-9)


def test_courtyard_is_open_from_above() -> None:
    block = shapely.Polygon([(0, 0), (40, 0), (40, 30), (0, 30)], [[(10, 10), (10, 20), (30, 20), (30, 10)]])
    _, prisms = _mesh(block)
    tri = prisms.roof_positions[prisms.roof_triangles][:, :, :2]
    centroids = shapely.points(tri.mean(axis=1))
    courtyard = shapely.Polygon([(10, 10), (30, 10), (30, 20), (10, 20)])
    assert not np.any(shapely.contains(courtyard, centroids))
    assert np.isclose(_triangle_areas(prisms.roof_positions, prisms.roof_triangles)[:, 2].sum(), 1200 - 200)
    # 4 outer + 4 courtyard walls
    assert len(prisms.wall_positions) == 8 * 4
