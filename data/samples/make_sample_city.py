"""Make the synthetic sample city ``halle-altstadt.gpkg``: building footprints around Halle's Marktplatz.

The district is invented by this script (it is not cadastre data): perimeter blocks (Blockrandbebauung) of
single buildings around open courtyards along a slightly irregular street grid, an open market square with a
few landmarks, Gründerzeit blocks with side wings and light wells, GDR slab estates (Plattenbau) and villas on
the edges. Attributes follow the ALKIS building model (AdV codes for Gebäudefunktion and Dachform). The
output is deterministic for a given seed. Licence of the generated data: CC0-1.0 (see README.md).

Run ``python data/samples/make_sample_city.py`` to regenerate ``halle-altstadt.gpkg`` beside this file and
print a summary of the checks (validity, overlaps, areas, attribute coverage).
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import shapely
import shapely.affinity
from numpy.typing import NDArray
from pyproj import Transformer

SEED = 5106  # any fixed number; 5106 is a nod to the postcode prefix of Halle (06108)
CRS = "EPSG:25832"
LAYER = "gebaeude"
CENTRE_LONLAT = (11.969, 51.482)  # Marktplatz, Halle (Saale)
GRID_ROTATION_DEG = -8.0  # the whole street grid, counter-clockwise from east
EXTENT_M = 900.0  # half width of the district around the centre, metres
OUTPUT = Path(__file__).with_name("halle-altstadt.gpkg")
# Fixed timestamp for gpkg_contents so that regenerating yields the same file.
GPKG_TIMESTAMP = "2025-01-01T00:00:00.000Z"

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]
BoolArray = NDArray[np.bool_]
GeomArray = NDArray[np.object_]

# AdV Gebäudefunktion (AX_Gebaeude.gebaeudefunktion, GeoInfoDok AAA 7.1) used in this district.
GEBAEUDEFUNKTION: dict[int, str] = {
    1010: "Wohnhaus",
    1020: "Wohnheim",
    1100: "Gemischt genutztes Gebäude mit Wohnen",
    1120: "Wohngebäude mit Handel und Dienstleistungen",
    1123: "Wohn- und Geschäftsgebäude",
    2010: "Gebäude für Handel und Dienstleistungen",
    2020: "Bürogebäude",
    2030: "Kreditinstitut",
    2050: "Geschäftsgebäude",
    2052: "Einkaufszentrum",
    2055: "Kiosk",
    2056: "Apotheke",
    2071: "Hotel, Motel, Pension",
    2081: "Gaststätte, Restaurant",
    2120: "Werkstatt",
    2143: "Lagerhalle, Lagerschuppen, Lagerhaus",
    2461: "Parkhaus",
    2463: "Garage",
    3010: "Verwaltungsgebäude",
    3012: "Rathaus",
    3015: "Gericht",
    3021: "Allgemein bildende Schule",
    3023: "Hochschulgebäude (Fachhochschule, Universität)",
    3024: "Forschungsinstitut",
    3034: "Museum",
    3037: "Bibliothek, Bücherei",
    3041: "Kirche",
    3051: "Krankenhaus",
    3065: "Kinderkrippe, Kindergarten, Kindertagesstätte",
}

# AdV Dachform (AX_Gebaeude.dachform): code -> (label, roof height above the eaves in metres, min and max).
DACHFORM: dict[int, tuple[str, float, float]] = {
    1000: ("Flachdach", 0.3, 1.2),
    2100: ("Pultdach", 1.5, 3.0),
    3100: ("Satteldach", 3.5, 6.5),
    3200: ("Walmdach", 3.0, 5.5),
    3300: ("Krüppelwalmdach", 3.5, 5.5),
    3400: ("Mansardendach", 3.5, 5.0),
    3500: ("Zeltdach", 3.0, 5.0),
    4000: ("Turmdach", 8.0, 15.0),
}

ORT = "Halle (Saale)"

# Real street names of Halle (Saale); their placement on the synthetic grid is invented.
CORE_STREETS = [
    "Rathausstraße",
    "Große Klausstraße",
    "Brüderstraße",
    "Oleariusstraße",
    "Große Märkerstraße",
    "Große Brauhausstraße",
    "Kleine Ulrichstraße",
    "Barfüßerstraße",
    "Große Nikolaistraße",
    "Dachritzstraße",
    "Kleine Klausstraße",
    "Mittelstraße",
    "Kleine Brauhausstraße",
    "Talamtstraße",
    "Rannische Straße",
]
RING_STREETS = {"W": "Moritzburgring", "E": "Hansering", "N": "Universitätsring", "S": "Waisenhausring"}
OUTER_STREETS = [
    "Ludwig-Wucherer-Straße",
    "Bernburger Straße",
    "Reilstraße",
    "Magdeburger Straße",
    "Merseburger Straße",
    "Geiststraße",
    "Mansfelder Straße",
    "Glauchaer Straße",
    "Torstraße",
    "Lessingstraße",
    "Richard-Wagner-Straße",
    "August-Bebel-Straße",
    "Reichardtstraße",
    "Burgstraße",
    "Puschkinstraße",
    "Volkmannstraße",
    "Delitzscher Straße",
    "Dessauer Straße",
    "Steinweg",
    "Franckestraße",
    "Böllberger Weg",
    "Huttenstraße",
    "Kantstraße",
    "Wittekindstraße",
    "Advokatenweg",
    "Ankerstraße",
    "Thomasiusstraße",
    "Händelstraße",
    "Seebener Straße",
    "Mühlweg",
]
DIAGONAL_STREETS = {"Leipziger Straße": ((90.0, -75.0), -36.0), "Große Ulrichstraße": ((-120.0, 75.0), 142.0)}
DIAGONAL_WIDTH_M = 15.0
MARKET = (-120.0, -75.0, 90.0, 75.0)  # the open square: xmin, ymin, xmax, ymax in the local frame (metres)
# Streets that end at the square, splitting the long blocks beside it: axis, position, names (+ side, - side).
MARKET_STREETS = (
    ("x", -15.0, "Große Steinstraße", "Große Nikolaistraße"),
    ("y", 0.0, "Kleinschmieden", "Schmeerstraße"),
)
MARKET_STREET_WIDTH_M = 10.0


# ------------------------------------------------------------------------------------------------------------
# Zones and attribute categories
# ------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BlockProfile:
    """How perimeter blocks of one zone are cut into buildings (metres)."""

    depth: tuple[float, float]  # building depth from the street front
    width_mean: float  # mean parcel (facade) width
    width_jitter: float  # relative spread of parcel widths
    corner_ext: tuple[float, float]  # how far a corner building reaches along each street beyond the corner
    depth_var: float  # rear facades vary by up to this much
    wing_p: float  # share of parcels with a side wing (Seitenflügel) into the courtyard
    wing_len: tuple[float, float]
    gap_p: float  # share of empty parcels (Baulücken)
    lichthof_p: float  # share of wide parcels with a light well (a hole in the footprint)
    court_max: int  # most outbuildings in one courtyard
    min_mid: float = 4.0  # smallest street front left between two corner buildings' reach
    min_court: float = 120.0  # smallest courtyard area, m²


CORE = BlockProfile((10.0, 13.0), 9.5, 0.4, (5.0, 9.0), 2.5, 0.22, (4.0, 9.0), 0.02, 0.05, 2)
GRUENDERZEIT = BlockProfile((13.0, 16.0), 17.0, 0.3, (7.0, 12.0), 2.0, 0.45, (7.0, 15.0), 0.04, 0.12, 3)


@dataclass(frozen=True)
class Category:
    """Attribute distributions of one kind of building.

    Codes are (value, weight) choices; construction years a mixture of (weight, from, to) periods.
    """

    funktion: tuple[tuple[int, float], ...]
    storeys: tuple[tuple[int, float], ...]
    storey_height: tuple[float, float]  # metres per storey
    dachform: tuple[tuple[int, float], ...]
    baujahr: tuple[tuple[float, int, int], ...]


ALT = Category(
    funktion=(
        (1123, 0.30),
        (1010, 0.22),
        (1100, 0.10),
        (2050, 0.10),
        (2020, 0.07),
        (2081, 0.06),
        (1120, 0.04),
        (2071, 0.03),
        (2010, 0.03),
        (2030, 0.015),
        (2056, 0.015),
        (3034, 0.01),
        (3037, 0.01),
    ),
    storeys=((2, 0.12), (3, 0.40), (4, 0.35), (5, 0.13)),
    storey_height=(2.9, 3.3),
    dachform=((3100, 0.55), (3200, 0.12), (3400, 0.12), (1000, 0.10), (3300, 0.06), (2100, 0.05)),
    baujahr=(
        (0.25, 1380, 1600),
        (0.35, 1601, 1800),
        (0.15, 1801, 1899),
        (0.07, 1970, 1989),
        (0.18, 1991, 2022),
    ),
)
GZ = Category(
    funktion=(
        (1010, 0.58),
        (1123, 0.18),
        (1100, 0.07),
        (2020, 0.05),
        (2050, 0.04),
        (1120, 0.03),
        (1020, 0.02),
        (2081, 0.02),
        (3065, 0.01),
    ),
    storeys=((3, 0.08), (4, 0.37), (5, 0.40), (6, 0.15)),
    storey_height=(3.2, 3.6),
    dachform=((3100, 0.35), (3400, 0.30), (3200, 0.15), (1000, 0.12), (3300, 0.08)),
    baujahr=((0.78, 1868, 1914), (0.08, 1919, 1939), (0.06, 1950, 1989), (0.08, 1991, 2023)),
)
CORNER_FUNKTION = ((1123, 0.50), (1010, 0.28), (2081, 0.09), (2050, 0.09), (2030, 0.02), (2056, 0.02))
CATEGORIES: dict[str, Category] = {
    "alt": ALT,
    "alt_corner": Category(CORNER_FUNKTION, ALT.storeys, ALT.storey_height, ALT.dachform, ALT.baujahr),
    "gz": GZ,
    "gz_corner": Category(CORNER_FUNKTION, GZ.storeys, GZ.storey_height, GZ.dachform, GZ.baujahr),
    "hinterhaus": Category(
        ((1010, 0.85), (1100, 0.15)),
        ((2, 0.2), (3, 0.4), (4, 0.4)),
        (3.0, 3.4),
        ((3100, 0.5), (2100, 0.3), (1000, 0.2)),
        ((0.8, 1870, 1914), (0.2, 1991, 2020)),
    ),
    "garage": Category(
        ((2463, 1.0),),
        ((1, 1.0),),
        (2.5, 2.8),
        ((1000, 0.8), (2100, 0.2)),
        ((0.5, 1925, 1939), (0.3, 1960, 1989), (0.2, 1991, 2015)),
    ),
    "werkstatt": Category(
        ((2120, 0.6), (2143, 0.4)),
        ((1, 0.6), (2, 0.4)),
        (3.0, 4.0),
        ((2100, 0.5), (3100, 0.3), (1000, 0.2)),
        ((0.6, 1880, 1930), (0.4, 1950, 1989)),
    ),
    "institution": Category(
        (
            (3021, 0.25),
            (3023, 0.20),
            (3010, 0.15),
            (2020, 0.12),
            (3015, 0.08),
            (3024, 0.08),
            (2071, 0.07),
            (3051, 0.05),
        ),
        ((3, 0.3), (4, 0.45), (5, 0.25)),
        (3.6, 4.2),
        ((3200, 0.35), (1000, 0.30), (3400, 0.20), (3100, 0.15)),
        ((0.6, 1880, 1914), (0.15, 1920, 1939), (0.25, 1993, 2016)),
    ),
    "platte": Category(
        ((1010, 1.0),),
        ((5, 0.45), (6, 0.25), (10, 0.10), (11, 0.20)),
        (2.75, 2.85),
        ((1000, 1.0),),
        ((1.0, 1962, 1989),),
    ),
    "punkthochhaus": Category(
        ((1010, 1.0),), ((16, 0.5), (18, 0.3), (22, 0.2)), (2.75, 2.85), ((1000, 1.0),), ((1.0, 1972, 1988),)
    ),
    "kaufhalle": Category(((2050, 1.0),), ((1, 1.0),), (4.0, 5.0), ((1000, 1.0),), ((1.0, 1975, 1989),)),
    "kita": Category(((3065, 1.0),), ((2, 1.0),), (3.0, 3.3), ((1000, 1.0),), ((1.0, 1968, 1986),)),
    "schule": Category(
        ((3021, 1.0),), ((3, 0.5), (4, 0.5)), (3.3, 3.6), ((1000, 1.0),), ((1.0, 1965, 1988),)
    ),
    "villa": Category(
        ((1010, 1.0),),
        ((1, 0.25), (2, 0.60), (3, 0.15)),
        (2.9, 3.2),
        ((3200, 0.30), (3100, 0.30), (3500, 0.15), (1000, 0.15), (3300, 0.10)),
        ((0.35, 1922, 1938), (0.65, 1992, 2023)),
    ),
    "einkaufszentrum": Category(
        ((2052, 1.0),), ((2, 0.6), (3, 0.4)), (4.5, 5.5), ((1000, 1.0),), ((1.0, 1996, 2012),)
    ),
    "parkhaus": Category(
        ((2461, 1.0),), ((4, 0.5), (5, 0.5)), (2.8, 3.0), ((1000, 1.0),), ((1.0, 1996, 2012),)
    ),
    "buero": Category(
        ((2020, 0.7), (3010, 0.2), (2030, 0.1)),
        ((5, 0.4), (6, 0.4), (7, 0.2)),
        (3.5, 3.9),
        ((1000, 1.0),),
        ((1.0, 1994, 2018),),
    ),
    "landmark": ALT,  # placeholder; landmarks get explicit attributes
}

# Landmarks on the market square (local frame, metres): explicit attributes, never randomly blanked.
LANDMARKS: list[dict[str, Any]] = [
    {
        "name": "Marktkirche",
        "funktion": 3041,
        "geschosse": None,
        "hoehe": 31.5,
        "baujahr": 1554,
        "dachform": 3100,
        "shell": [(-90, 5), (-36, 5), (-28, 9), (-25, 18), (-28, 27), (-36, 31), (-90, 31)],
    },
    {
        "name": "Marktkirche, Westtürme",
        "funktion": 3041,
        "geschosse": None,
        "hoehe": 62.0,
        "baujahr": 1551,
        "dachform": 4000,
        "parts": [
            [(-100, 5), (-90, 5), (-90, 14), (-100, 14)],
            [(-100, 22), (-90, 22), (-90, 31), (-100, 31)],
        ],
    },
    {
        "name": "Glockenturm",
        "funktion": 3041,
        "geschosse": None,
        "hoehe": 76.0,
        "baujahr": 1506,
        "dachform": 4000,
        "shell": [(-4, -14), (4, -14), (6, -12), (6, -4), (4, -2), (-4, -2), (-6, -4), (-6, -12)],
    },
    {
        "name": "Rathaus",
        "funktion": 3012,
        "geschosse": 4,
        "hoehe": 24.5,
        "baujahr": 1929,
        "dachform": 3200,
        "shell": [(30, -62), (74, -62), (74, -28), (30, -28)],
        "hole": [(40, -52), (40, -38), (64, -38), (64, -52)],
    },
    {
        "name": "Stadthaus",
        "funktion": 3010,
        "geschosse": 3,
        "hoehe": 21.0,
        "baujahr": 1894,
        "dachform": 3400,
        "shell": [(20, 32), (64, 32), (64, 58), (50, 58), (50, 44), (20, 44)],
    },
    {
        "name": "Stadtmuseum",
        "funktion": 3034,
        "geschosse": 3,
        "hoehe": 17.5,
        "baujahr": 1595,
        "dachform": 3100,
        "shell": [(-82, -62), (-60, -62), (-60, -44), (-82, -44)],
    },
    {
        "name": "Kiosk am Markt",
        "funktion": 2055,
        "geschosse": 1,
        "hoehe": 3.2,
        "baujahr": 2009,
        "dachform": 1000,
        "shell": [(-20, -30), (-16, -30), (-16, -27), (-20, -27)],
    },
]


# ------------------------------------------------------------------------------------------------------------
# Collected footprints
# ------------------------------------------------------------------------------------------------------------


@dataclass
class Footprints:
    """Buildings generated so far in the local frame (metres, x along the grid's east axis, origin: Markt).

    ``anchor`` is the point used to find a building's street (its street facade midpoint, else its centroid);
    ``group`` ties buildings that share storeys, height and year (sections of one slab); ``addressed`` is
    False for outbuildings without an address of their own.
    """

    geoms: list[GeomArray] = field(default_factory=list)
    category: list[NDArray[np.str_]] = field(default_factory=list)
    anchor: list[FloatArray] = field(default_factory=list)
    group: list[IntArray] = field(default_factory=list)
    addressed: list[BoolArray] = field(default_factory=list)
    landmark: dict[int, dict[str, Any]] = field(default_factory=dict)
    count: int = 0
    groups: int = 0

    def add(
        self,
        geoms: GeomArray,
        category: str | Sequence[str],
        anchor: FloatArray | None = None,
        *,
        group: IntArray | None = None,
        addressed: bool = True,
    ) -> IntArray:
        """Append buildings and return their row numbers; ``group`` holds block-local group numbers."""
        geoms = np.asarray(geoms, dtype=object)
        k = len(geoms)
        if k == 0:
            return np.empty(0, dtype=np.int64)
        if anchor is None:
            anchor = shapely.get_coordinates(shapely.centroid(geoms))
        local = np.arange(k, dtype=np.int64) if group is None else np.asarray(group, dtype=np.int64)
        self.geoms.append(geoms)
        self.category.append(np.broadcast_to(np.asarray(category, dtype=str), (k,)).copy())
        self.anchor.append(np.asarray(anchor, dtype=np.float64).reshape(k, 2))
        self.group.append(self.groups + local)
        self.addressed.append(np.full(k, addressed))
        self.groups += int(local.max()) + 1
        rows = self.count + np.arange(k, dtype=np.int64)
        self.count += k
        return rows

    def all_geoms(self) -> GeomArray:
        """Every geometry collected so far, as one array."""
        return np.concatenate(self.geoms) if self.geoms else np.empty(0, dtype=object)


# ------------------------------------------------------------------------------------------------------------
# Geometry helpers (local frame, metres)
# ------------------------------------------------------------------------------------------------------------


def edge_frames(ring: FloatArray) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Lengths, unit directions and inward unit normals of the edges of a counter-clockwise ring (n, 2)."""
    delta = np.roll(ring, -1, axis=0) - ring
    length = np.hypot(delta[:, 0], delta[:, 1])
    direction = delta / length[:, None]
    normal = np.column_stack([-direction[:, 1], direction[:, 0]])
    return length, direction, normal


def mitre_inset(ring: FloatArray, normal: FloatArray, depth: float) -> FloatArray:
    """Vertices of the ring moved inwards so that every edge lies ``depth`` metres inside (mitred corners)."""
    previous = np.roll(normal, 1, axis=0)
    mitre = (previous + normal) / (1.0 + np.sum(previous * normal, axis=1))[:, None]
    return ring + depth * mitre


def edge_points(
    ring: FloatArray,
    direction: FloatArray,
    normal: FloatArray,
    edge: IntArray,
    along: FloatArray | float,
    inward: FloatArray | float,
) -> FloatArray:
    """Points ``along`` metres from the start of ring edge ``edge`` and ``inward`` metres inside it.

    Arguments broadcast against each other. Every point on an edge is computed by this one expression, so
    neighbouring buildings share exact coordinates.
    """
    along_a, inward_a, edge_a = np.broadcast_arrays(
        np.asarray(along, dtype=np.float64), np.asarray(inward, dtype=np.float64), np.asarray(edge)
    )
    return ring[edge_a] + along_a[..., None] * direction[edge_a] + inward_a[..., None] * normal[edge_a]


def ccw_ring(polygon: shapely.Polygon) -> FloatArray:
    """The exterior of a polygon as a counter-clockwise (n, 2) array without the closing vertex."""
    coords = np.asarray(polygon.exterior.coords, dtype=np.float64)[:-1]
    return coords if polygon.exterior.is_ccw else coords[::-1].copy()


def place(template: FloatArray, centres: FloatArray, angles: FloatArray) -> FloatArray:
    """Template rings, (m, 2) or one per copy (k, m, 2), rotated by ``angles`` (radians) onto ``centres``."""
    template = np.broadcast_to(template, (len(centres), *template.shape[-2:]))
    cos, sin = np.cos(angles)[:, None], np.sin(angles)[:, None]
    x, y = template[..., 0], template[..., 1]
    return np.stack([cos * x - sin * y, sin * x + cos * y], axis=-1) + centres[:, None, :]


def rectangle(length: float, width: float) -> FloatArray:
    """A counter-clockwise rectangle ring centred on the origin, ``length`` along x."""
    half_l, half_w = length / 2.0, width / 2.0
    return np.array([[-half_l, -half_w], [half_l, -half_w], [half_l, half_w], [-half_l, half_w]])


def conflicts(candidates: GeomArray, fixed: GeomArray, clearance: float = 0.0) -> BoolArray:
    """Which candidates overlap a fixed geometry or an earlier candidate, or are nearer than ``clearance``."""
    bad = np.zeros(len(candidates), dtype=bool)
    if len(candidates) == 0:
        return bad
    for others, same in ((fixed, False), (candidates, True)):
        if len(others) == 0:
            continue
        tree = shapely.STRtree(others)
        if clearance > 0:
            cand, other = tree.query(candidates, predicate="dwithin", distance=clearance)
        else:
            cand, other = tree.query(candidates, predicate="intersects")
            area = shapely.area(shapely.intersection(candidates[cand], others[other]))
            cand, other = cand[area > 1e-6], other[area > 1e-6]
        if same:
            keep = other < cand  # the later of two clashing candidates gives way
            cand = cand[keep]
        bad[cand] = True
    return bad


def sample_points(area: shapely.Geometry, k: int, rng: np.random.Generator) -> FloatArray:
    """Up to ``k`` random points inside ``area``."""
    if k <= 0 or area.is_empty:
        return np.empty((0, 2))
    xmin, ymin, xmax, ymax = area.bounds
    xy = rng.uniform((xmin, ymin), (xmax, ymax), size=(12 * k, 2))
    inside = shapely.contains_xy(area, xy[:, 0], xy[:, 1])
    return xy[inside][:k]


# ------------------------------------------------------------------------------------------------------------
# Blocks
# ------------------------------------------------------------------------------------------------------------


def perimeter_block(
    block: shapely.Polygon, profile: BlockProfile, zone: str, rng: np.random.Generator, out: Footprints
) -> bool:
    """Fill a convex block with a closed row of buildings along its streets around a shared courtyard.

    Corner buildings are L-shaped (they reach along both streets); parcels between them are cut at right
    angles to the street, some with a side wing into the courtyard or a light well; outbuildings stand in some
    courtyards. Returns False (adding nothing) when the block is too small or too sharp for a courtyard.
    """
    ring = ccw_ring(block)
    n = len(ring)
    length, direction, normal = edge_frames(ring)
    depth = rng.uniform(*profile.depth)
    inner = mitre_inset(ring, normal, depth)
    court = shapely.Polygon(inner)
    start = np.sum((inner - ring) * direction, axis=1)  # where the full-depth part of each edge begins
    end = np.sum((np.roll(inner, -1, axis=0) - ring) * direction, axis=1)
    if (
        np.any(end - start < profile.min_mid)
        or not court.is_valid
        or not court.exterior.is_ccw
        or court.area < profile.min_court
        or not shapely.contains(block, court)
    ):
        return False

    def at(edge: IntArray, along: FloatArray | float, inward: FloatArray | float) -> FloatArray:
        return edge_points(ring, direction, normal, edge, along, inward)

    # How far each corner building reaches along its two streets; short fronts are shared by the two corners.
    room = end - start
    reach_start = rng.uniform(*profile.corner_ext, n)
    reach_end = rng.uniform(*profile.corner_ext, n)
    no_middle = room - reach_start - reach_end < 0.6 * profile.width_mean
    first = np.where(no_middle, start + room / 2.0, start + reach_start)
    last = np.where(no_middle, first, end - reach_end)

    corner = np.arange(n)
    before = (corner - 1) % n  # the edge that ends at this corner
    corner_rings = np.stack(
        [
            at(before, last[before], 0.0),
            ring[corner],
            at(corner, first, 0.0),
            at(corner, first, depth),
            inner[corner],
            at(before, last[before], depth),
        ],
        axis=1,
    )
    corners = shapely.polygons(corner_rings)
    corner_anchor = at(before, (last[before] + length[before]) / 2.0, 0.0)

    # Parcels between the corner buildings: widths drawn per edge, then one array for the whole block.
    cut_lists: list[tuple[FloatArray, FloatArray, IntArray]] = []
    for edge in np.flatnonzero(~no_middle & (last > first)):
        span = last[edge] - first[edge]
        k = max(1, round(span / profile.width_mean))
        widths = profile.width_mean * (1.0 + profile.width_jitter * rng.uniform(-1.0, 1.0, k))
        cuts = first[edge] + np.concatenate([[0.0], np.cumsum(widths / widths.sum() * span)])
        cuts[0], cuts[-1] = first[edge], last[edge]
        cut_lists.append((cuts[:-1], cuts[1:], np.full(k, edge)))
    t0 = np.concatenate([c[0] for c in cut_lists]) if cut_lists else np.empty(0)
    t1 = np.concatenate([c[1] for c in cut_lists]) if cut_lists else np.empty(0)
    p_edge = np.concatenate([c[2] for c in cut_lists]) if cut_lists else np.empty(0, dtype=np.int64)
    k = len(t0)
    d = depth - rng.uniform(0.0, profile.depth_var, k)
    zero = np.zeros(k)
    rect = at(p_edge[:, None], np.stack([t0, t1, t1, t0], axis=1), np.stack([zero, zero, d, d], axis=1))
    width = t1 - t0
    gap = rng.random(k) < profile.gap_p
    lichthof = ~gap & (width >= 15.0) & (d >= 12.5) & (rng.random(k) < profile.lichthof_p)
    wing = ~gap & ~lichthof & (width >= 9.0) & (rng.random(k) < profile.wing_p)
    ring_polys = np.concatenate([corners, shapely.polygons(rect[~gap])]) if k else corners

    # Side wings (Seitenflügel) into the courtyard, kept only where they clash with nothing.
    w_idx = np.flatnonzero(wing)
    left = rng.random(len(w_idx)) < 0.5
    wing_w = np.clip(width[w_idx] * rng.uniform(0.35, 0.5, len(w_idx)), 4.5, 8.0)
    wing_l = rng.uniform(*profile.wing_len, len(w_idx))
    a, b, dd = t0[w_idx], t1[w_idx], d[w_idx]
    ws, we = np.where(left, a, b - wing_w), np.where(left, a + wing_w, b)
    wing_rects = at(
        p_edge[w_idx][:, None],
        np.stack([ws, we, we, ws], axis=1),
        np.stack([dd, dd, dd + wing_l, dd + wing_l], axis=1),
    )
    wing_geoms = shapely.polygons(wing_rects) if len(w_idx) else np.empty(0, dtype=object)
    keep = shapely.contains(block, wing_geoms) & ~conflicts(wing_geoms, ring_polys)
    wing[w_idx[~keep]] = False

    # Footprints: rectangles, L-shapes (front range plus wing), rectangles with a light well (a hole).
    geoms = np.empty(k, dtype=object)
    plain = ~gap & ~wing & ~lichthof
    geoms[plain] = shapely.polygons(rect[plain])
    if keep.any():
        idx, lf = w_idx[keep], left[keep][:, None]
        a, b, s, e, dd, ll = t0[idx], t1[idx], ws[keep], we[keep], d[idx], wing_l[keep]
        z = np.zeros(len(idx))
        along = np.where(lf, np.stack([a, b, b, e, e, a], axis=1), np.stack([a, b, b, s, s, a], axis=1))
        inward = np.where(
            lf,
            np.stack([z, z, dd, dd, dd + ll, dd + ll], axis=1),
            np.stack([z, z, dd + ll, dd + ll, dd, dd], axis=1),
        )
        geoms[idx] = shapely.polygons(at(p_edge[idx][:, None], along, inward))
    if lichthof.any():
        idx = np.flatnonzero(lichthof)
        mid_t, mid_d = (t0[idx] + t1[idx]) / 2.0, d[idx] / 2.0
        half = rng.uniform(1.8, 2.6, len(idx))
        along = np.stack([mid_t - half, mid_t - half, mid_t + half, mid_t + half], axis=1)  # clockwise hole
        inward = np.stack([mid_d - half, mid_d + half, mid_d + half, mid_d - half], axis=1)
        holes = shapely.linearrings(at(p_edge[idx][:, None], along, inward))
        geoms[idx] = shapely.polygons(rect[idx], holes=holes.reshape(-1, 1))

    front_anchor = at(p_edge, (t0 + t1) / 2.0, 0.0)
    out.add(corners, f"{zone}_corner", corner_anchor)
    out.add(geoms[~gap], zone, front_anchor[~gap])

    # Outbuildings in the courtyard, at least 2 m clear of everything else.
    yard = court.buffer(-3.0, join_style="mitre")
    centres = sample_points(yard, int(rng.integers(0, profile.court_max + 1)), rng)
    if len(centres):
        m = len(centres)
        kinds = rng.choice(["garage", "werkstatt", "hinterhaus"], size=m, p=[0.35, 0.3, 0.35])
        size = {
            "garage": np.column_stack([3.0 * rng.integers(3, 8, m), np.full(m, 6.0)]),
            "werkstatt": rng.uniform((8.0, 6.0), (16.0, 10.0), (m, 2)),
            "hinterhaus": rng.uniform((10.0, 9.0), (15.0, 12.0), (m, 2)),
        }
        dims = np.select([kinds[:, None] == kind for kind in size], list(size.values()))
        quarter_turns = rng.integers(0, 2, m).astype(np.float64)
        angle = math.atan2(direction[0, 1], direction[0, 0]) + (math.pi / 2) * quarter_turns
        yard_geoms = shapely.polygons(place(rectangle(1.0, 1.0) * dims[:, None, :], centres, angle))
        fixed = np.concatenate([ring_polys, geoms[wing]])
        ok = shapely.contains(yard, yard_geoms) & ~conflicts(yard_geoms, fixed, clearance=2.0)
        for kind in size:
            sel = ok & (kinds == kind)
            out.add(yard_geoms[sel], kind, addressed=kind == "hinterhaus")
    return True


def courtyard_building(
    block: shapely.Polygon, depth: float, category: str, rng: np.random.Generator, out: Footprints
) -> bool:
    """One building filling the block's edge with a closed inner courtyard (a polygon with a hole)."""
    ring = ccw_ring(block)
    length, _, normal = edge_frames(ring)
    inner = mitre_inset(ring, normal, depth)
    court = shapely.Polygon(inner)
    if not court.is_valid or court.area < 150.0 or not shapely.contains(block.buffer(-1.0), court):
        return False
    building = shapely.Polygon(ring, holes=[inner[::-1]])
    longest = int(np.argmax(length))
    anchor = (ring[longest] + ring[(longest + 1) % len(ring)]) / 2.0
    out.add(np.array([building], dtype=object), category, anchor[None, :])
    return True


def solid_block(
    block: shapely.Polygon, width_mean: float, category: str, rng: np.random.Generator, out: Footprints
) -> None:
    """Fill a small block completely: strips across its longest edge, two rows back to back if it is deep."""
    ring = ccw_ring(block)
    length, direction, normal = edge_frames(ring)
    e = int(np.argmax(length))
    u, v = direction[e], normal[e]
    rel = ring - ring[e]
    t, s = rel @ u, rel @ v
    tmin, tmax, smax = float(t.min()), float(t.max()), float(s.max())
    rows = [(-5.0, smax / 2.0), (smax / 2.0, smax + 5.0)] if smax > 28.0 else [(-5.0, smax + 5.0)]
    pieces: list[GeomArray] = []
    anchors: list[FloatArray] = []
    for s0, s1 in rows:
        k = max(1, round((tmax - tmin) / width_mean))
        widths = rng.uniform(0.7, 1.3, k)
        cuts = tmin + np.concatenate([[0.0], np.cumsum(widths / widths.sum() * (tmax - tmin))])
        cuts[0], cuts[-1] = tmin - 5.0, tmax + 5.0
        along = np.stack([cuts[:-1], cuts[1:], cuts[1:], cuts[:-1]], axis=1)
        inward = np.tile([s0, s0, s1, s1], (k, 1))
        strips = shapely.polygons(ring[e] + along[..., None] * u + inward[..., None] * v)
        parts = shapely.intersection(block, strips)
        parts = parts[(shapely.get_type_id(parts) == 3) & (shapely.area(parts) > 25.0)]
        pieces.append(parts)
        facing = ring[e] + ((cuts[:-1] + cuts[1:]) / 2.0)[:, None] * u + (s0 if s0 < 0 else smax) * v
        anchors.append(
            facing[: len(parts)] if len(parts) == k else shapely.get_coordinates(shapely.centroid(parts))
        )
    geoms = np.concatenate(pieces)
    out.add(geoms, category, np.concatenate(anchors))


KITA_H = np.array(
    [
        [-18, -18],
        [-6, -18],
        [-6, -5],
        [6, -5],
        [6, -18],
        [18, -18],
        [18, 18],
        [6, 18],
        [6, 5],
        [-6, 5],
        [-6, 18],
        [-18, 18],
    ],
    dtype=np.float64,
)
SCHOOL_WINGS = [rectangle(60.0, 13.0) + np.array([0.0, -13.5]), rectangle(60.0, 13.0) + np.array([0.0, 13.5])]
# Buildings between the slabs of an estate: category, probability per estate, parts of the footprint.
ESTATE_EXTRAS: list[tuple[str, float, list[FloatArray]]] = [
    ("punkthochhaus", 0.5, [rectangle(24.0, 21.0)]),
    ("kita", 0.45, [KITA_H]),
    ("kaufhalle", 0.35, [rectangle(42.0, 30.0)]),
    ("schule", 0.3, SCHOOL_WINGS),
]


def slab_estate(block: shapely.Polygon, rng: np.random.Generator, out: Footprints) -> None:
    """A GDR housing estate: parallel slabs cut into sections, with a point tower, Kita, Kaufhalle or school.

    The school is one feature of two separate wings (a MultiPolygon).
    """
    ring = ccw_ring(block)
    length, direction, normal = edge_frames(ring)
    e = int(np.argmax(length))
    u, v = direction[e], normal[e]
    if rng.random() < 0.3:  # slabs across the block instead of along it
        u, v = v, -u
    rel = ring - ring[e]
    t, s = rel @ u, rel @ v
    inner = block.buffer(-9.0, join_style="mitre")
    if inner.is_empty:
        return
    angle = math.atan2(u[1], u[0])

    # The extras first, each clear of the others; the slabs then leave room around them.
    placed: list[shapely.Geometry] = []
    for category, p, parts in ESTATE_EXTRAS:
        if rng.random() >= p:
            continue
        centres = sample_points(inner, 40, rng)
        if not len(centres):
            continue
        angles = np.full(len(centres), angle)
        candidates = [shapely.polygons(place(part, centres, angles)) for part in parts]
        outline = candidates[0] if len(parts) == 1 else shapely.union(candidates[0], candidates[1])
        ok = shapely.contains(inner, outline) & ~conflicts(
            outline, np.array(placed, dtype=object), clearance=15.0
        )
        if not ok.any():
            continue
        i = int(np.flatnonzero(ok)[0])
        geom = candidates[0][i] if len(parts) == 1 else shapely.MultiPolygon([c[i] for c in candidates])
        out.add(np.array([geom], dtype=object), category)
        placed.append(outline[i])
    extras = np.array(placed, dtype=object)

    pos = float(s.min()) + 10.0
    group = 0
    while pos + 12.0 <= float(s.max()) - 10.0:
        along = np.array([t.min() - 1, t.max() + 1, t.max() + 1, t.min() - 1])
        inward = np.array([pos, pos, pos + 12.0, pos + 12.0])
        band = shapely.Polygon(ring[e] + along[:, None] * u + inward[:, None] * v)
        pos += 12.0 + rng.uniform(24.0, 34.0)
        slab = shapely.intersection(inner, band)
        if slab.geom_type == "MultiPolygon":
            slab = max(slab.geoms, key=lambda g: g.area)
        if slab.geom_type != "Polygon" or slab.area < 12.0 * 30.0:
            continue
        st = (shapely.get_coordinates(slab) - ring[e]) @ u
        k = max(1, round((st.max() - st.min()) / rng.uniform(16.0, 21.0)))
        cuts = np.linspace(st.min(), st.max(), k + 1)
        cuts[0], cuts[-1] = st.min() - 1.0, st.max() + 1.0
        along = np.stack([cuts[:-1], cuts[1:], cuts[1:], cuts[:-1]], axis=1)
        inward = np.tile([pos - 50.0, pos - 50.0, pos + 50.0, pos + 50.0], (k, 1))
        boxes = shapely.polygons(ring[e] + along[..., None] * u + inward[..., None] * v)
        sections = shapely.intersection(slab, boxes)
        sections = sections[(shapely.get_type_id(sections) == 3) & (shapely.area(sections) > 40.0)]
        if len(extras):
            near, _ = shapely.STRtree(extras).query(sections, predicate="dwithin", distance=10.0)
            sections = np.delete(sections, np.unique(near))
        out.add(sections, "platte", group=np.zeros(len(sections), dtype=np.int64))
        group += 1


def villa_block(block: shapely.Polygon, rng: np.random.Generator, out: Footprints) -> None:
    """Detached houses in gardens along the block's long sides, some with a separate garage (MultiPolygon)."""
    ring = ccw_ring(block)
    length, direction, normal = edge_frames(ring)
    e = int(np.argmax(length))
    u, v = direction[e], normal[e]
    rel = ring - ring[e]
    t, s = rel @ u, rel @ v
    tmin, tmax, smax = float(t.min()), float(t.max()), float(s.max())
    lot = block.buffer(-1.0, join_style="mitre")
    sides = [(0.0, 1.0)] + ([(smax, -1.0)] if smax > 50.0 else [])
    for origin, sign in sides:
        k = max(1, int((tmax - tmin - 8.0) // 22.0))
        widths = rng.uniform(18.0, 27.0, k)
        cuts = tmin + 4.0 + np.concatenate([[0.0], np.cumsum(widths / widths.sum() * (tmax - tmin - 8.0))])
        p0, p1 = cuts[:-1], cuts[1:]
        garage = rng.random(k) < 0.35
        side_gap = np.where(garage, rng.uniform(4.5, 5.5, k), rng.uniform(3.0, 5.0, k))
        setback = rng.uniform(5.0, 8.0, k)
        house_d = rng.uniform(9.0, 12.5, k)
        h0, h1 = p0 + side_gap, p1 - rng.uniform(3.0, 5.0, k)
        house_w = np.minimum(h1 - h0, rng.uniform(10.0, 16.0, k))
        h1 = h0 + house_w
        lshape = rng.random(k) < 0.3
        wing_w = house_w * rng.uniform(0.35, 0.5, k)
        wing_l = rng.uniform(4.0, 7.0, k)
        z = np.zeros(k)
        s_front, s_back = setback, setback + house_d
        along = np.where(
            lshape[:, None],
            np.stack([h0, h1, h1, h0 + wing_w, h0 + wing_w, h0], axis=1),
            np.stack([h0, h1, h1, h1, h0, h0], axis=1),
        )
        depth = np.where(
            lshape[:, None],
            np.stack([s_front, s_front, s_back, s_back, s_back + wing_l, s_back + wing_l], axis=1),
            np.stack([s_front, s_front, s_back, s_back, s_back, s_back], axis=1),
        )
        inward = origin + sign * depth
        points = ring[e] + along[..., None] * u + inward[..., None] * v
        if sign < 0:
            points = points[:, ::-1]
        houses = shapely.remove_repeated_points(shapely.polygons(points))
        g_along = np.stack([p0 + 0.5, p0 + 3.5, p0 + 3.5, p0 + 0.5], axis=1)
        g_depth = np.stack([s_front + 1.0, s_front + 1.0, s_front + 7.0, s_front + 7.0], axis=1)
        g_points = ring[e] + g_along[..., None] * u + (origin + sign * g_depth)[..., None] * v
        if sign < 0:
            g_points = g_points[:, ::-1]
        garages = shapely.polygons(g_points)
        ok = shapely.contains(lot, houses) & (house_w >= 8.0)
        with_garage = ok & garage & shapely.contains(lot, garages)
        geoms = houses.copy()
        if with_garage.any():
            idx = np.flatnonzero(with_garage)
            parts = np.concatenate([houses[idx], garages[idx]])
            order = np.argsort(np.concatenate([np.arange(len(idx)), np.arange(len(idx))]), kind="stable")
            indices = np.concatenate([np.arange(len(idx)), np.arange(len(idx))])[order]
            geoms[idx] = shapely.multipolygons(parts[order], indices=indices)
        anchors = ring[e] + ((h0 + h1) / 2.0)[:, None] * u + (origin + sign * z)[:, None] * v
        out.add(geoms[ok], "villa", anchors[ok])


def commercial_block(block: shapely.Polygon, rng: np.random.Generator, out: Footprints) -> None:
    """A shopping centre with an entrance plaza cut out of one corner, and a multi-storey car park beside."""
    ring = ccw_ring(block)
    length, direction, normal = edge_frames(ring)
    e = int(np.argmax(length))
    u, v = direction[e], normal[e]
    rel = ring - ring[e]
    t, s = rel @ u, rel @ v
    inner = block.buffer(-8.0, join_style="mitre")
    if inner.is_empty or inner.area < 2000:
        return
    cut = float(t.min() + 0.62 * (t.max() - t.min()))
    lo, hi = float(s.min()) - 10, float(s.max()) + 10

    def band(a: float, b: float, c: float = lo, d: float = hi) -> shapely.Polygon:
        along = np.array([a, b, b, a])
        inward = np.array([c, c, d, d])
        return shapely.Polygon(ring[e] + along[:, None] * u + inward[:, None] * v)

    mall = shapely.intersection(inner, band(float(t.min()) - 10, cut - 7))
    plaza = band(float(t.min()) - 10, float(t.min()) + 8 + 22, lo, 8 + 22)
    mall = shapely.difference(mall, plaza)
    parking = shapely.intersection(inner, band(cut + 7, float(t.max()) + 10))
    for geom, category in ((mall, "einkaufszentrum"), (parking, "parkhaus")):
        if geom.geom_type == "Polygon" and geom.area > 400:
            out.add(np.array([geom], dtype=object), category)


# ------------------------------------------------------------------------------------------------------------
# The district
# ------------------------------------------------------------------------------------------------------------


def grid_lines(
    lo: float, hi: float, ring_at: float, rng: np.random.Generator
) -> tuple[FloatArray, FloatArray]:
    """Street centrelines across one axis, outwards from the square's edges ``lo`` and ``hi``, and widths."""

    def spacing(r: float) -> float:
        if r < ring_at:
            return float(rng.uniform(58.0, 82.0))
        if r < 640.0:
            return float(rng.uniform(95.0, 125.0))
        return float(rng.uniform(125.0, 165.0))

    up = [hi]
    while up[-1] < EXTENT_M:
        up.append(up[-1] + spacing(up[-1]))
    down = [lo]
    while down[-1] > -EXTENT_M:
        down.append(down[-1] - spacing(-down[-1]))
    centres = np.array(sorted(down + up))
    r = np.abs(centres)
    widths = np.where(r < ring_at, rng.uniform(9.0, 12.0, len(r)), rng.uniform(14.0, 20.0, len(r)))
    widths[(centres == lo) | (centres == hi)] = 12.0
    # The inner ring road (on the line of the old town wall) is the first line beyond ``ring_at`` each side.
    outside = np.flatnonzero(centres >= ring_at)
    inside = np.flatnonzero(centres <= -ring_at)
    if len(outside):
        widths[outside[0]] = 28.0
    if len(inside):
        widths[inside[-1]] = 28.0
    return centres, widths


@dataclass(frozen=True)
class Street:
    """A named street centreline in the local frame; ``loop`` streets (the square) are numbered in one run."""

    name: str
    line: shapely.LineString
    loop: bool = False


def make_blocks(rng: np.random.Generator) -> tuple[list[tuple[shapely.Polygon, str]], list[Street]]:
    """The district's blocks with their zone, and the named streets, in the local frame."""
    xmin, ymin, xmax, ymax = MARKET
    xs, wx = grid_lines(xmin, xmax, 330.0, rng)
    ys, wy = grid_lines(ymin, ymax, 330.0, rng)
    ring_x = (xs[xs <= -330.0].max(), xs[xs >= 330.0].min())
    ring_y = (ys[ys <= -330.0].max(), ys[ys >= 330.0].min())
    span = EXTENT_M + 200.0

    streets: list[Street] = [Street("Marktplatz", shapely.box(xmin, ymin, xmax, ymax).exterior, loop=True)]
    core_names = iter(CORE_STREETS)
    outer_names = iter(OUTER_STREETS)
    ring_side = {("x", ring_x[0]): "W", ("x", ring_x[1]): "E", ("y", ring_y[0]): "S", ("y", ring_y[1]): "N"}
    for axis, centres in (("x", xs), ("y", ys)):
        for c in sorted(centres, key=abs):
            if (axis, c) in ring_side:
                name = RING_STREETS[ring_side[(axis, c)]]
            elif abs(c) < 330.0:
                name = next(core_names)
            else:
                name = next(outer_names)
            coords = [(c, -span), (c, span)] if axis == "x" else [(-span, c), (span, c)]
            streets.append(Street(name, shapely.LineString(coords)))
    for axis, c, plus_name, minus_name in MARKET_STREETS:
        lo, hi = (ymin, ymax) if axis == "x" else (xmin, xmax)
        for name, a, b in ((plus_name, hi, span), (minus_name, lo, -span)):
            coords = [(c, a), (c, b)] if axis == "x" else [(a, c), (b, c)]
            streets.append(Street(name, shapely.LineString(coords)))
        if axis == "x":
            order = np.argsort(np.append(xs, c))
            xs, wx = np.append(xs, c)[order], np.append(wx, MARKET_STREET_WIDTH_M)[order]
        else:
            order = np.argsort(np.append(ys, c))
            ys, wy = np.append(ys, c)[order], np.append(wy, MARKET_STREET_WIDTH_M)[order]
    diagonals = []
    for name, ((x0, y0), heading) in DIAGONAL_STREETS.items():
        rad = math.radians(heading)
        line = shapely.LineString([(x0, y0), (x0 + 1600 * math.cos(rad), y0 + 1600 * math.sin(rad))])
        streets.append(Street(name, line))
        diagonals.append(line.buffer(DIAGONAL_WIDTH_M / 2.0, cap_style="flat"))
    cut_by = shapely.union_all(diagonals)

    blocks: list[tuple[shapely.Polygon, str]] = []
    for ix in range(len(xs) - 1):
        for iy in range(len(ys) - 1):
            if xmin <= xs[ix] < xmax and ymin <= ys[iy] < ymax:
                continue  # the market square
            x0, x1 = xs[ix] + wx[ix] / 2.0, xs[ix + 1] - wx[ix + 1] / 2.0
            y0, y1 = ys[iy] + wy[iy] / 2.0, ys[iy + 1] - wy[iy + 1] / 2.0
            cx, cy = (x0 + x1) / 2.0, (y0 + y1) / 2.0
            if max(abs(cx), abs(cy)) > EXTENT_M:
                continue
            if ring_x[0] < cx < ring_x[1] and ring_y[0] < cy < ring_y[1]:
                zone = "alt"
            elif max(abs(cx), abs(cy)) < 640.0:
                zone = "gz"
            else:
                zone = outer_zone(math.degrees(math.atan2(cy, cx)), rng)
            cell = shapely.box(x0, y0, x1, y1)
            pieces = shapely.get_parts(shapely.difference(cell, cut_by))
            whole = len(pieces) == 1 and shapely.equals(pieces[0], cell)
            jitter = 1.0 if zone == "alt" else 2.0
            turn = 1.0 if zone == "alt" else 1.5
            for piece in pieces:
                if piece.area < 600.0:
                    continue
                piece = shapely.simplify(piece, 1.0)
                if whole:
                    piece = shapely.Polygon(ccw_ring(piece) + rng.uniform(-jitter, jitter, (4, 2)))
                centre = piece.centroid
                piece = shapely.affinity.rotate(piece, rng.uniform(-turn, turn), origin=centre)
                blocks.append((piece, zone))
    return blocks, streets


def outer_zone(heading_deg: float, rng: np.random.Generator) -> str:
    """Zone of a block beyond the Gründerzeit ring by direction: slab estates west and east, villas south."""
    if -45.0 <= heading_deg < 45.0:
        options, p = ["platte", "commercial", "gz"], [0.6, 0.2, 0.2]
    elif 45.0 <= heading_deg < 135.0:
        options, p = ["gz", "institution", "villa"], [0.65, 0.1, 0.25]
    elif -135.0 <= heading_deg < -45.0:
        options, p = ["villa", "gz", "commercial"], [0.65, 0.2, 0.15]
    else:
        options, p = ["platte", "gz"], [0.75, 0.25]
    return str(rng.choice(options, p=p))


def build_district(rng: np.random.Generator) -> tuple[Footprints, list[Street]]:
    """Every building of the district (local frame) and the streets they face."""
    out = Footprints()
    for spec in LANDMARKS:
        if "parts" in spec:
            geom: shapely.Geometry = shapely.MultiPolygon([shapely.Polygon(p) for p in spec["parts"]])
        else:
            geom = shapely.Polygon(spec["shell"], holes=[spec["hole"]] if "hole" in spec else None)
        rows = out.add(np.array([geom], dtype=object), "landmark")
        out.landmark[int(rows[0])] = spec
    blocks, streets = make_blocks(rng)
    square = shapely.box(*MARKET)
    for block, zone in blocks:
        if zone in ("alt", "gz"):
            profile = CORE if zone == "alt" else GRUENDERZEIT
            on_square = block.distance(square) < 20.0  # the square keeps a frontage of narrow town houses
            if (
                rng.random() < 0.06
                and not on_square
                and courtyard_building(block, rng.uniform(12.0, 16.0), "institution", rng, out)
            ):
                continue
            if not perimeter_block(block, profile, zone, rng, out):
                solid_block(block, profile.width_mean * 1.3, zone, rng, out)
        elif zone == "institution":
            if not courtyard_building(block, rng.uniform(13.0, 17.0), "institution", rng, out):
                solid_block(block, 25.0, "institution", rng, out)
        elif zone == "platte":
            slab_estate(block, rng, out)
        elif zone == "villa":
            villa_block(block, rng, out)
        elif zone == "commercial" and (
            rng.random() < 0.5 or not courtyard_building(block, 16.0, "buero", rng, out)
        ):
            commercial_block(block, rng, out)
    return out, streets


# ------------------------------------------------------------------------------------------------------------
# Attributes
# ------------------------------------------------------------------------------------------------------------


def choose(options: tuple[tuple[int, float], ...], size: int, rng: np.random.Generator) -> IntArray:
    """Weighted random choice of integer codes."""
    values = np.array([v for v, _ in options], dtype=np.int64)
    weights = np.array([w for _, w in options], dtype=np.float64)
    return rng.choice(values, size=size, p=weights / weights.sum())


def years(mixture: tuple[tuple[float, int, int], ...], size: int, rng: np.random.Generator) -> IntArray:
    """Construction years from a mixture of uniform periods."""
    weights = np.array([w for w, _, _ in mixture])
    which = rng.choice(len(mixture), size=size, p=weights / weights.sum())
    lo = np.array([a for _, a, _ in mixture])[which]
    hi = np.array([b for _, _, b in mixture])[which]
    return rng.integers(lo, hi + 1)


def alkis_ids(size: int, rng: np.random.Generator) -> NDArray[np.str_]:
    """Unique ALKIS-style object ids: 'DESTLI' and ten base-36 characters (16 characters, as in ALKIS)."""
    alphabet = np.frombuffer(b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ", dtype=np.uint8)
    values = pd.unique(rng.integers(0, 36**10, size=2 * size + 16))[:size]
    digits = (values[:, None] // (36 ** np.arange(9, -1, -1))) % 36
    chars = alphabet[digits].astype(np.uint8).copy().view("S10").ravel()
    return np.char.add("DESTLI", chars.astype(str))


def assign_attributes(fp: Footprints, rng: np.random.Generator) -> pd.DataFrame:
    """Function, storeys, height, year and roof of every building (shared within a group), with gaps."""
    category = np.concatenate(fp.category)
    group = np.concatenate(fp.group)
    n, n_groups = len(category), fp.groups
    group_cat = np.empty(n_groups, dtype=object)
    group_cat[group] = category
    g_funktion = np.zeros(n_groups, dtype=np.int64)
    g_storeys = np.zeros(n_groups, dtype=np.int64)
    g_storey_h = np.zeros(n_groups)
    g_dach = np.zeros(n_groups, dtype=np.int64)
    g_year = np.zeros(n_groups, dtype=np.int64)
    for name, cat in CATEGORIES.items():
        sel = np.flatnonzero(group_cat == name)
        if not len(sel):
            continue
        g_funktion[sel] = choose(cat.funktion, len(sel), rng)
        g_storeys[sel] = choose(cat.storeys, len(sel), rng)
        g_storey_h[sel] = rng.uniform(*cat.storey_height, len(sel))
        g_dach[sel] = choose(cat.dachform, len(sel), rng)
        g_year[sel] = years(cat.baujahr, len(sel), rng)
    roof_codes = np.array(sorted(DACHFORM))
    which = np.searchsorted(roof_codes, g_dach)
    roof_lo = np.array([DACHFORM[c][1] for c in roof_codes])[which]
    roof_hi = np.array([DACHFORM[c][2] for c in roof_codes])[which]
    socle = rng.uniform(0.2, 0.8, n_groups)
    g_height = np.round(g_storeys * g_storey_h + rng.uniform(roof_lo, roof_hi) + socle, 1)

    funktion = g_funktion[group]
    storeys = pd.array(g_storeys[group], dtype="Int64")
    height = pd.array(g_height[group], dtype="Float64")
    baujahr = pd.array(g_year[group], dtype="Int64")
    dachform = pd.array(g_dach[group], dtype="Int64")
    landmark_name = pd.array([None] * n, dtype="string")

    # Gaps as in real cadastre extracts: no height for ~10 % (a few of those without storeys too), no storeys
    # for ~5 % more, unknown year for ~12 %, unknown roof for ~4 %. Landmarks keep their values.
    is_landmark = category == "landmark"
    no_height = (rng.random(n) < 0.10) & ~is_landmark
    no_storeys = ((no_height & (rng.random(n) < 0.12)) | (~no_height & (rng.random(n) < 0.05))) & ~is_landmark
    height[no_height] = pd.NA
    storeys[no_storeys] = pd.NA
    baujahr[(rng.random(n) < np.where(category == "garage", 0.4, 0.12)) & ~is_landmark] = pd.NA
    dachform[(rng.random(n) < 0.04) & ~is_landmark] = pd.NA
    for row, spec in fp.landmark.items():
        funktion[row] = spec["funktion"]
        storeys[row] = pd.NA if spec["geschosse"] is None else spec["geschosse"]
        height[row] = spec["hoehe"]
        baujahr[row] = spec["baujahr"]
        dachform[row] = spec["dachform"]
        landmark_name[row] = spec["name"]

    return pd.DataFrame(
        {
            "gml_id": alkis_ids(n, rng),
            "gebaeudefunktion": funktion.astype(np.int32),
            "funktion_text": pd.Series(funktion).map(GEBAEUDEFUNKTION).to_numpy(dtype=object),
            "name": landmark_name,
            "geschosse": storeys,
            "hoehe": height,
            "baujahr": baujahr,
            "dachform": dachform,
        }
    )


def assign_addresses(fp: Footprints, geoms: GeomArray, streets: list[Street]) -> pd.DataFrame:
    """Street, house number, postcode and full address from each building's anchor and the nearest street.

    Numbers run from the end of a street nearer the centre, odd on the left and even on the right (a loop
    street is numbered in one run); rear buildings share the number of the nearest front building; garages and
    workshops have no address of their own.
    """
    anchor = np.concatenate(fp.anchor)
    addressed = np.concatenate(fp.addressed)
    category = np.concatenate(fp.category)
    n = len(anchor)
    lines = np.array([s.line for s in streets], dtype=object)
    points = shapely.points(anchor)
    dist = shapely.distance(points[:, None], lines[None, :])
    dist[:, 0] -= 0.5  # the square wins over the grid line along its edge
    nearest = np.argmin(dist, axis=1)

    start = shapely.get_coordinates(shapely.get_point(lines, 0))
    stop = shapely.get_coordinates(shapely.get_point(lines, -1))
    reverse = np.hypot(*stop.T) < np.hypot(*start.T)
    line_len = shapely.length(lines)
    pos = shapely.line_locate_point(lines[nearest], points)
    pos = np.where(reverse[nearest], line_len[nearest] - pos, pos)
    d = stop - start
    rel = anchor - start[nearest]
    cross = d[nearest, 0] * rel[:, 1] - d[nearest, 1] * rel[:, 0]
    left = (cross > 0) != reverse[nearest]
    loop = np.array([s.loop for s in streets])[nearest]

    frame = pd.DataFrame({"street": nearest, "side": np.where(loop, 0, np.where(left, 1, 2)), "pos": pos})
    frame = frame[addressed & (category != "hinterhaus")]
    frame = frame.sort_values(["street", "side", "pos"], kind="stable")
    rank = frame.groupby(["street", "side"]).cumcount().to_numpy()
    side = frame["side"].to_numpy()
    number = np.where(side == 0, rank + 1, np.where(side == 1, 2 * rank + 1, 2 * rank + 2))
    hausnummer = np.full(n, None, dtype=object)
    street_of = np.full(n, -1, dtype=np.int64)
    hausnummer[frame.index.to_numpy()] = number.astype(str)
    street_of[frame.index.to_numpy()] = frame["street"].to_numpy()

    rear = np.flatnonzero(category == "hinterhaus")
    fronts = np.flatnonzero(street_of >= 0)
    if len(rear) and len(fronts):
        tree = shapely.STRtree(geoms[fronts])
        which, hit = tree.query_nearest(geoms[rear], all_matches=False)
        hausnummer[rear[which]] = hausnummer[fronts[hit]]
        street_of[rear[which]] = street_of[fronts[hit]]

    names = np.array([s.name for s in streets], dtype=object)
    strasse = names[np.maximum(street_of, 0)]
    strasse[street_of < 0] = None
    heading = np.degrees(np.arctan2(anchor[:, 1], anchor[:, 0]))
    radius = np.hypot(anchor[:, 0], anchor[:, 1])
    plz = np.select(
        [radius < 450.0, (heading >= 45) & (heading < 135), (heading >= -45) & (heading < 45), heading < -45],
        ["06108", "06114", "06112", "06110"],
        default="06108",
    )
    frame_out = pd.DataFrame(
        {
            "strasse": pd.array(strasse, dtype="string"),
            "hausnummer": pd.array(hausnummer, dtype="string"),
            "plz": plz,
            "ort": ORT,
        }
    )
    frame_out["adresse"] = frame_out["strasse"] + " " + frame_out["hausnummer"] + ", " + plz + " " + ORT
    return frame_out


# ------------------------------------------------------------------------------------------------------------
# Assembly, checks, output
# ------------------------------------------------------------------------------------------------------------


def to_utm(geoms: GeomArray) -> GeomArray:
    """Rotate the local frame by the grid rotation and place its origin on the Marktplatz (EPSG:25832)."""
    to_25832 = Transformer.from_crs("EPSG:4326", CRS, always_xy=True)
    east, north = to_25832.transform(*CENTRE_LONLAT)
    angle = math.radians(GRID_ROTATION_DEG)
    rot = np.array([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]])
    offset = np.array([east, north])
    return shapely.transform(geoms, lambda xy: xy @ rot.T + offset)


def make_sample_city(seed: int = SEED) -> gpd.GeoDataFrame:
    """The synthetic district as a GeoDataFrame in EPSG:25832 (2D footprints, ALKIS-style attributes)."""
    rng = np.random.default_rng(seed)
    fp, streets = build_district(rng)
    local = fp.all_geoms()
    attributes = assign_attributes(fp, rng)
    addresses = assign_addresses(fp, local, streets)
    geoms = shapely.orient_polygons(to_utm(local))
    frame = pd.concat([attributes, addresses], axis=1)
    return gpd.GeoDataFrame(frame, geometry=gpd.GeoSeries(geoms, crs=CRS), crs=CRS)


def check_sample_city(city: gpd.GeoDataFrame) -> dict[str, Any]:
    """Check the district (valid, no overlaps, sane areas, unique ids) and return summary figures.

    Raises ValueError if a check fails. Overlap means an intersection of more than 0.001 m² between two
    buildings; buildings may share walls (touching edges).
    """
    geoms = city.geometry.to_numpy()
    valid = shapely.is_valid(geoms)
    if not valid.all():
        raise ValueError(
            f"{int((~valid).sum())} invalid footprints, e.g. {shapely.is_valid_reason(geoms[~valid][:3])}"
        )
    if shapely.has_z(geoms).any():
        raise ValueError("footprints must be 2D")
    tree = shapely.STRtree(geoms)
    left, right = tree.query(geoms, predicate="intersects")
    pair = left < right
    left, right = left[pair], right[pair]
    shared = shapely.area(shapely.intersection(geoms[left], geoms[right]))
    overlapping = shared > 1e-3
    if overlapping.any():
        worst = int(np.argmax(shared))
        raise ValueError(
            f"{int(overlapping.sum())} overlapping pairs, worst {shared[worst]:.3f} m² between rows "
            f"{left[worst]} and {right[worst]}"
        )
    area = shapely.area(geoms)
    if area.min() < 10.0 or area.max() > 20000.0:
        raise ValueError(f"implausible footprint areas: {area.min():.1f} .. {area.max():.1f} m²")
    if not city["gml_id"].is_unique:
        raise ValueError("gml_id is not unique")
    type_id = shapely.get_type_id(geoms)
    parts = shapely.get_num_geometries(geoms)
    holes = shapely.get_num_interior_rings(shapely.get_parts(geoms))
    hoehe, geschosse = city["hoehe"], city["geschosse"]
    return {
        "buildings": len(city),
        "polygons / multipolygons": f"{int((type_id == 3).sum())} / {int((type_id == 6).sum())}",
        "features with 2+ parts": int((parts > 1).sum()),
        "polygons with holes (courtyards)": int((holes > 0).sum()),
        "valid": "all",
        "touching pairs": f"{len(left)} (largest shared area {shared.max(initial=0.0):.1e} m²)",
        "overlapping pairs (> 0.001 m²)": 0,
        "area m² min / median / max": f"{area.min():.0f} / {np.median(area):.0f} / {area.max():.0f}",
        "hoehe present": f"{hoehe.notna().mean():.1%}",
        "geschosse present": f"{geschosse.notna().mean():.1%}",
        "hoehe missing, geschosse present": int((hoehe.isna() & geschosse.notna()).sum()),
        "hoehe and geschosse missing": int((hoehe.isna() & geschosse.isna()).sum()),
        "hoehe m min / median / max": f"{hoehe.min():.1f} / {hoehe.median():.1f} / {hoehe.max():.1f}",
        "baujahr present": f"{city['baujahr'].notna().mean():.1%}",
        "adresse present": f"{city['adresse'].notna().mean():.1%}",
        "bounds EPSG:25832": ", ".join(f"{v:.0f}" for v in city.total_bounds),
    }


def write_sample_city(city: gpd.GeoDataFrame, path: Path) -> None:
    """Write the district as GeoPackage layer ``gebaeude`` (MultiPolygon, EPSG:25832), replacing the file."""
    path.unlink(missing_ok=True)
    pyogrio.set_gdal_config_options({"OGR_CURRENT_DATE": GPKG_TIMESTAMP})
    try:
        city.to_file(path, layer=LAYER, driver="GPKG", engine="pyogrio", promote_to_multi=True)
    finally:
        pyogrio.set_gdal_config_options({"OGR_CURRENT_DATE": None})


def main(argv: Sequence[str] | None = None) -> int:
    """Generate, check and write the sample city; print a summary."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--out", type=Path, default=OUTPUT, help=f"output GeoPackage (default {OUTPUT.name})")
    parser.add_argument("--seed", type=int, default=SEED, help="random seed (default %(default)s)")
    args = parser.parse_args(argv)
    city = make_sample_city(args.seed)
    summary = check_sample_city(city)
    write_sample_city(city, args.out)
    summary["most common functions"] = ", ".join(
        f"{label} {count}" for label, count in city["funktion_text"].value_counts().head(5).items()
    )
    summary["written"] = f"{args.out} ({args.out.stat().st_size / 1e6:.2f} MB, layer {LAYER!r})"
    for key, value in summary.items():
        print(f"{key:34s} {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
