"""`simple_ring_mask` against GEOS: never True where GEOS finds the polygon invalid, True for ordinary shapes."""

from __future__ import annotations

import functools
import math

import geopandas as gpd
import numpy as np
import numpy.typing as npt
import pytest
import shapely
from conftest import shared
from hypothesis import given, settings
from hypothesis import strategies as st

from twin.ingest import simple
from twin.ingest.simple import EXACT_SIZES, MAX_VERTICES, simple_ring_mask

Ring = npt.NDArray[np.float64]  # (n, 2), open: the closing vertex is not repeated

UTM = (612_345.678, 5_712_345.678)  # a typical projected position (EPSG:32630 / 25832 magnitudes)
REPEATED = 0.001  # metres: the caller removes consecutive vertices closer than this


def pack(rings: list[Ring]) -> tuple[Ring, npt.NDArray[np.int64]]:
    """Rings as the flat (xy, ring_start) arrays `simple_ring_mask` takes."""
    start = np.zeros(len(rings) + 1, dtype=np.int64)
    np.cumsum([len(r) for r in rings], out=start[1:])
    xy = np.concatenate([np.asarray(r, dtype=np.float64).reshape(-1, 2) for r in rings]) if rings else None
    return (np.empty((0, 2)) if xy is None else np.ascontiguousarray(xy)), start


def geos_valid(ring: Ring) -> bool:
    """GEOS's verdict on the polygon with this ring as its only (exterior) ring."""
    try:
        with np.errstate(invalid="ignore"):  # NaN coordinates
            return bool(shapely.is_valid(shapely.Polygon(ring)))
    except (ValueError, shapely.errors.GEOSException):
        return False  # too few points to build a ring


def dedupe(ring: Ring) -> Ring:
    """Drop vertices closer than 1 mm to their predecessor, last vertex against the first included."""
    ring = np.asarray(ring, dtype=np.float64)
    while len(ring) > 1:
        repeated = np.flatnonzero(np.hypot(*(ring - np.roll(ring, 1, axis=0)).T) < REPEATED)
        if not len(repeated):
            break
        ring = np.delete(ring, repeated[0], axis=0)  # one at a time: removing one changes the next gap
    return ring


def check_against_geos(rings: list[Ring]) -> tuple[npt.NDArray[np.bool_], npt.NDArray[np.bool_]]:
    """Run both; fail on any ring proven simple that GEOS finds invalid. Returns (proven, valid)."""
    xy, start = pack(rings)
    proven = simple_ring_mask(xy, start)
    assert proven.shape == (len(rings),) and proven.dtype == bool
    valid = np.array([geos_valid(r) for r in rings], dtype=bool)
    wrong = np.flatnonzero(proven & ~valid)
    assert not len(wrong), f"proven simple but invalid for GEOS: {[rings[w].tolist() for w in wrong[:3]]}"
    return proven, valid


# ---- shapes ----------------------------------------------------------------------------------------------


def rotate(ring: Ring, angle: float) -> Ring:
    c, s = math.cos(angle), math.sin(angle)
    return np.asarray(ring, dtype=np.float64) @ np.array([[c, s], [-s, c]])


def place(
    ring: Ring, angle: float = 0.0, scale: float = 1.0, offset: tuple[float, float] = (0.0, 0.0)
) -> Ring:
    return rotate(np.asarray(ring, dtype=np.float64) * scale, angle) + np.asarray(offset)


def regular(n: int, radius: float = 10.0) -> Ring:
    t = 2 * np.pi * np.arange(n) / n
    return np.column_stack([radius * np.cos(t), radius * np.sin(t)])


def subdivide(ring: Ring, pieces: int) -> Ring:
    """Every edge cut into `pieces` collinear parts: the same polygon, more vertices."""
    ring = np.asarray(ring, dtype=np.float64)
    t = np.arange(pieces)[:, None] / pieces
    out = [ring[i] + t * (ring[(i + 1) % len(ring)] - ring[i]) for i in range(len(ring))]
    return np.concatenate(out)


ORDINARY: dict[str, list[tuple[float, float]]] = {
    "square": [(0, 0), (10, 0), (10, 10), (0, 10)],
    "rectangle": [(0, 0), (24, 0), (24, 9), (0, 9)],
    "triangle": [(0, 0), (12, 0), (3, 8)],
    "right triangle": [(0, 0), (12, 0), (0, 8)],
    "L": [(0, 0), (20, 0), (20, 6), (6, 6), (6, 15), (0, 15)],
    "thin L": [(0, 0), (30, 0), (30, 2), (2, 2), (2, 30), (0, 30)],
    "U": [(0, 0), (30, 0), (30, 20), (22, 20), (22, 7), (8, 7), (8, 20), (0, 20)],
    "T": [(11, 0), (19, 0), (19, 12), (30, 12), (30, 20), (0, 20), (0, 12), (11, 12)],
    "H": [
        (0, 0),
        (6, 0),
        (6, 8),
        (14, 8),
        (14, 0),
        (20, 0),
        (20, 20),
        (14, 20),
        (14, 12),
        (6, 12),
        (6, 20),
        (0, 20),
    ],
    "plus": [
        (5, 0),
        (10, 0),
        (10, 5),
        (15, 5),
        (15, 10),
        (10, 10),
        (10, 15),
        (5, 15),
        (5, 10),
        (0, 10),
        (0, 5),
        (5, 5),
    ],
    "notched rectangle": [(0, 0), (20, 0), (20, 5), (20.4, 5), (20.4, 9), (20, 9), (20, 12), (0, 12)],
    "stepped wall": [(0, 0), (15, 0), (15, 0.6), (25, 0.6), (25, 14), (9, 14), (9, 13.2), (0, 13.2)],
    "courtyard-less block": [(0, 0), (40, 0), (40, 8), (34, 8), (34, 30), (6, 30), (6, 8), (0, 8)],
    "trapezoid": [(0, 0), (20, 0), (15, 7), (5, 7)],
    "pentagon house": [(0, 0), (10, 0), (10, 6), (5, 10), (0, 6)],
}


def comb(teeth: int) -> Ring:
    """A comb with `teeth` teeth: 4 * teeth + 2 vertices, very non-convex."""
    pts = [(0.0, 0.0), (4.0 * teeth, 0.0)]
    for k in range(teeth - 1, -1, -1):
        x = 4.0 * k
        pts += (
            [(x + 3, 5.0), (x + 3, 12.0), (x + 1, 12.0), (x + 1, 5.0)] if k else [(x + 3, 5.0), (x + 3, 12.0)]
        )
    pts += [(0.0, 12.0)]
    return np.array(pts)


def staircase(steps: int) -> Ring:
    pts = [(0.0, 0.0), (2.0 * steps, 0.0)]
    for k in range(steps, 0, -1):
        pts += [(2.0 * k, 2.0 * (steps - k + 1)), (2.0 * (k - 1), 2.0 * (steps - k + 1))]
    return np.array([*pts[:-1], (0.0, 2.0 * steps)])


@functools.cache
def ordinary_shapes() -> list[Ring]:
    """The ordinary shapes above and more, rotated, at the origin and at UTM magnitudes, both orientations."""
    base = [np.array(v, dtype=np.float64) for v in ORDINARY.values()]
    base += [regular(n) for n in (5, 6, 8, 12, 17, 24, 33, 48, MAX_VERTICES)]
    base += [comb(t) for t in (2, 3, 5, 9, 15)] + [staircase(s) for s in (3, 6, 12, 20)]
    base += [subdivide(np.array(ORDINARY["L"]), 3), subdivide(np.array(ORDINARY["rectangle"]), 5)]
    out = []
    for k, ring in enumerate(base):
        assert len(ring) <= MAX_VERTICES
        for angle in (0.0, 0.3 + 0.1 * k, 2.0):
            for offset in ((0.0, 0.0), UTM):
                placed = place(ring, angle, 1.0, offset)
                out += [placed, placed[::-1]]
    return out


def test_ordinary_footprints_are_all_proven() -> None:
    rings = ordinary_shapes()
    proven, valid = check_against_geos(rings)
    assert valid.all()
    assert proven.all(), [rings[i][:4].tolist() for i in np.flatnonzero(~proven)[:5]]


def test_the_proof_survives_the_start_vertex_and_any_grouping() -> None:
    # The same rings in another order, with another first vertex, mixed with other sizes.
    rings = ordinary_shapes()
    rng = np.random.default_rng(7)
    shuffled = [np.roll(r, int(rng.integers(len(r))), axis=0) for r in rings]
    order = rng.permutation(len(shuffled))
    proven, _ = check_against_geos([shuffled[i] for i in order])
    assert proven.all()


def test_what_is_never_proven() -> None:
    square = np.array([(0.0, 0.0), (10.0, 0.0), (10.0, 10.0), (0.0, 10.0)]) + UTM
    cases = {
        "empty": np.empty((0, 2)),
        "one vertex": square[:1],
        "two vertices": square[:2],
        "collinear": np.array([(0.0, 0.0), (5.0, 0.0), (10.0, 0.0), (3.0, 0.0)]),
        "flat triangle": np.array([(0.0, 0.0), (10.0, 0.0), (5.0, 1e-7)]) + UTM,
        "sliver": np.array([(0.0, 0.0), (10.0, 0.0), (10.0, 5e-7), (0.0, 5e-7)]) + UTM,
        "bow tie": np.array([(0.0, 0.0), (10.0, 10.0), (10.0, 0.0), (0.0, 10.0)]) + UTM,
        "pentagram": regular(5)[[0, 2, 4, 1, 3]] + UTM,
        "spike": np.array(
            [(0.0, 0.0), (10.0, 0.0), (10.0, 10.0), (5.0, 10.0), (5.0, 15.0), (5.0, 12.0), (0.0, 10.0)]
        ),
        "vertex on an edge": np.array([(0.0, 0.0), (10.0, 0.0), (10.0, 10.0), (5.0, 0.0), (0.0, 10.0)]),
        "passes a vertex twice": np.array(
            [(0.0, 0.0), (4.0, 2.0), (8.0, 0.0), (8.0, 4.0), (4.0, 2.0), (0.0, 4.0)]
        ),
        "NaN": np.array([(0.0, 0.0), (10.0, 0.0), (np.nan, 10.0), (0.0, 10.0)]),
        "infinite": np.array([(0.0, 0.0), (np.inf, 0.0), (10.0, 10.0), (0.0, 10.0)]),
        "too many vertices": place(regular(MAX_VERTICES + 1), offset=UTM),
        "repeated vertex": np.array([(0.0, 0.0), (10.0, 0.0), (10.0, 0.0), (10.0, 10.0), (0.0, 10.0)]),
        "too wide": regular(6, radius=1e7),
    }
    proven, _ = check_against_geos(list(cases.values()))
    assert not proven.any(), [name for name, p in zip(cases, proven, strict=True) if p]
    assert simple_ring_mask(np.empty((0, 2)), np.zeros(1, dtype=np.int64)).shape == (0,)
    with pytest.raises(ValueError):
        simple_ring_mask(np.zeros((4, 3)), np.array([0, 4]))


# ---- random rings ----------------------------------------------------------------------------------------

KINDS = [
    "star",
    "twice around",
    "soup",
    "grid soup",
    "bow tie",
    "touch",
    "twice",
    "spike",
    "collinear",
    "ordinary",
    "near miss",
]


def random_ring(kind: str, n: int, rng: np.random.Generator) -> Ring:
    """One ring of this kind with about n vertices, in unit-ish coordinates."""
    if kind == "star":  # star-shaped around the origin: simple unless radii or angles are degenerate
        t = np.sort(rng.uniform(0, 2 * np.pi, n))
        r = rng.uniform(rng.choice([0.0, 0.2, 0.8]), 1.0, n)
        return np.column_stack([r * np.cos(t), r * np.sin(t)])
    if kind == "twice around":  # star-shaped turns, but winding twice around the centre
        t = np.sort(rng.uniform(0, 4 * np.pi, max(n, 5)))
        r = rng.uniform(0.5, 1.0, len(t))
        return np.column_stack([r * np.cos(t), r * np.sin(t)])
    if kind == "soup":  # vertices anywhere: usually self-intersecting
        return rng.uniform(-1, 1, (n, 2))
    if kind == "grid soup":  # on a coarse grid: exact collinearities, touching vertices and edges
        return rng.integers(0, 4, (n, 2)).astype(np.float64)
    if kind == "bow tie":
        ring = np.array([(0.0, 0.0), (1.0, 1.0), (1.0, 0.0), (0.0, 1.0)]) + rng.normal(0, 0.05, (4, 2))
        return subdivide(ring, int(rng.integers(1, 4)))
    base = random_ring("star", max(n, 4), rng)
    m = len(base)
    if kind == "touch":  # a vertex moved onto a non-adjacent edge
        k = int(rng.integers(m))
        e = (k + int(rng.integers(2, m - 1))) % m
        t = rng.choice([0.5, rng.uniform(0.01, 0.99)])
        base[k] = base[e] + t * (base[(e + 1) % m] - base[e])
        return base
    if kind == "twice":  # the ring passes through one of its vertices again
        k = int(rng.integers(m))
        e = (k + int(rng.integers(2, m - 1))) % m
        return np.insert(base, e + 1, base[k], axis=0)
    if kind == "spike":  # out along a line and back on it, fully or partly
        k = int(rng.integers(m))
        d = rng.normal(0, 1, 2)
        length = rng.uniform(0.1, 2.0)
        back = rng.choice([0.0, 0.3, 0.999999, 1.0, 1.5])
        spike = [base[k] + length * d, base[k] + (1 - back) * length * d]
        return np.insert(base, k + 1, spike, axis=0)
    if kind == "collinear":  # extra vertices on an edge, in order (fine) or doubling back (not)
        k = int(rng.integers(m))
        ts = rng.uniform(0, 1, int(rng.integers(1, 5)))
        ts = np.sort(ts) if rng.random() < 0.5 else ts
        extra = base[k] + ts[:, None] * (base[(k + 1) % m] - base[k])
        return np.insert(base, k + 1, extra, axis=0)
    if kind == "ordinary":
        shapes = ordinary_shapes()
        return shapes[int(rng.integers(len(shapes)))] - shapes[0][0]
    # "near miss": a vertex put close to a non-adjacent edge, on either side, at distances around the tolerance
    k = int(rng.integers(m))
    e = (k + int(rng.integers(2, m - 1))) % m
    a, b = base[e], base[(e + 1) % m]
    normal = np.array([a[1] - b[1], b[0] - a[0]]) / max(float(np.hypot(*(b - a))), 1e-300)
    gap = float(rng.choice([-1.0, 1.0])) * 10.0 ** float(rng.uniform(-13, -3))
    base[k] = a + rng.uniform(0, 1) * (b - a) + gap * normal
    return base


@st.composite
def ring_batches(draw: st.DrawFn) -> list[Ring]:
    """A few rings of mixed kinds and sizes (so that several size groups, padded ones included, run)."""
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    rings = []
    for _ in range(draw(st.integers(1, 8))):
        kind = draw(st.sampled_from(KINDS))
        n = draw(st.one_of(st.integers(3, 12), st.integers(EXACT_SIZES - 2, MAX_VERTICES + 2)))
        ring = random_ring(kind, n, rng)
        scale = draw(st.sampled_from([1e-2, 1.0, 20.0, 1e3, 1e5]))
        offset = draw(st.sampled_from([(0.0, 0.0), UTM, (-3.3e6, 9.9e6), (1.5e5, -2.5e5)]))
        ring = place(ring, draw(st.floats(0, 2 * np.pi)), scale, offset)
        if draw(st.booleans()):
            ring = ring[::-1]
        rings.append(dedupe(ring))
    return rings


@settings(max_examples=300, derandomize=True, deadline=None)
@given(ring_batches())
def test_never_proves_a_ring_geos_finds_invalid(rings: list[Ring]) -> None:
    check_against_geos(rings)


@settings(max_examples=100, derandomize=True, deadline=None)
@given(ring_batches())
def test_padding_long_rings_changes_no_verdict(rings: list[Ring]) -> None:
    # Rings longer than EXACT_SIZES are grouped by padding them with copies of their last vertex; grouping
    # every ring by its exact vertex count must give the same answers.
    xy, start = pack(rings)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(simple, "EXACT_SIZES", MAX_VERTICES)
        unpadded = simple_ring_mask(xy, start)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(simple, "EXACT_SIZES", 3)
        padded = simple_ring_mask(xy, start)
    np.testing.assert_array_equal(padded, unpadded)


@settings(max_examples=100, derandomize=True, deadline=None)
@given(st.integers(0, 2**32 - 1), st.sampled_from([(0.0, 0.0), UTM]), st.sampled_from([0.5, 30.0, 400.0]))
def test_random_star_shaped_rings_are_proven(seed: int, offset: tuple[float, float], scale: float) -> None:
    # Rings star-shaped around the origin (before re-centring on their bounding box), vertices well apart:
    # simple and far from degenerate, so the star test or the pair test must prove every one.
    rng = np.random.default_rng(seed)
    rings = []
    for n in (3, 4, 7, 12, 16, 23, 40, MAX_VERTICES):
        gaps = rng.uniform(0.5, 1.0, n)
        t = np.cumsum(gaps) / gaps.sum() * 2 * np.pi
        r = rng.uniform(0.6, 1.0, n)
        ring = np.column_stack([r * np.cos(t), r * np.sin(t)])
        ring -= 0.5 * (ring.min(0) + ring.max(0))
        rings.append(place(ring, float(rng.uniform(0, 6.3)), scale, offset))
    proven, valid = check_against_geos(rings)
    assert valid.all()
    assert proven.all()


# ---- real data -------------------------------------------------------------------------------------------


def test_osm_brittany_rings_agree_with_geos() -> None:
    source = shared("footprints/osm-brittany/BUILDING.geojson")
    polygons = shapely.get_parts(gpd.read_file(source).geometry.to_numpy())
    exteriors = shapely.get_exterior_ring(polygons[shapely.get_type_id(polygons) == 3])
    rings = [dedupe(shapely.get_coordinates(ring)[:-1]) for ring in exteriors]
    assert len(rings) >= 2506
    proven, valid = check_against_geos(rings)
    share = proven[valid].mean()
    print(f"OSM Brittany: {len(rings)} rings, {valid.sum()} valid, {share:.2%} of those proven simple")
    assert share >= 0.95
