"""The ingest of 3D city models (CityGML, CityJSON): buildings with real roofs as a 3D Tiles layer.

Reading and repair: `twin.ingest.city_reader`. Here: every vertex to longitude, latitude and ellipsoidal
height (per source CRS, NHN through the GCG2016 grid), footprints, the quadtree, the parents' LoD1 boxes
(`twin.tiles.hlod`), then the same writer, tileset, features file and publish step as footprint layers.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
from pyproj import Transformer

from twin.errors import CRSError
from twin.features_parquet import LayerFeatures
from twin.geo.crs import add_grid_dirs, crs_label, parse_crs, plan_heights, prepare_transform, split_crs
from twin.geo.frame import column_major, enu_basis, enu_to_ecef_matrix
from twin.geo.srsname import parse_srs_name, sniff_srs_name
from twin.ingest.city_footprints import city_footprints
from twin.ingest.city_reader import CityBuildings, read_city_buildings
from twin.ingest.citymodel import SurfaceClass, lod_text
from twin.ingest.detect import SourceFormat
from twin.ingest.model import IngestLog
from twin.ingest.repair import ring_areas
from twin.ingest.rings import Rings
from twin.ingest.sources import SourceRef
from twin.layer_writer import ContentSet, Prisms, Surfaces, TileSummary
from twin.pipeline import (
    GENERATOR,
    IngestOptions,
    Progress,
    Timings,
    geodetic_transform,
    node_bounds,
    number_leaves,
    publish_layer,
    subtree_max,
)
from twin.registrar import Registrar
from twin.settings import Settings
from twin.tiles.hlod import ParentContents, parent_contents
from twin.tiles.metadata import PropertyColumn, build_columns
from twin.tiles.quadtree import build_quadtree, collapse_chains
from twin.tiles.tileset import build_tileset, geometric_errors

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


def _place(
    city: CityBuildings, options: IngestOptions, settings: Settings, log: IngestLog
) -> tuple[FloatArray, FloatArray, FloatArray, list[str], list[str]]:
    """lon, lat (degrees) and ellipsoidal height (metres) of every vertex; the heights rules and transforms.

    Heights from the source z values through PROJ (with the geoid grid for NHN heights); in ground mode
    (asked for, or the best --heights auto can do) each building's lowest point at height 0.
    """
    rings = city.polygons
    assert rings.z is not None
    n = len(rings.xy)
    lon, lat, h = np.empty(n), np.empty(n), np.empty(n)
    vertex_crs = np.take(city.building_crs, rings.vertex_building)
    heights: list[str] = []
    transforms: list[str] = []
    for index, crs in enumerate(city.crs):
        selected = np.flatnonzero(vertex_crs == index) if len(city.crs) > 1 else slice(None)
        where = city.crs_sources[index]
        horizontal, _, _ = split_crs(crs)
        plan = plan_heights(crs, True, options.heights, options.vertical_crs, log, Path(where))
        geodetic, plan = geodetic_transform(horizontal, plan, options, settings, where, log)
        x, y, z = rings.xy[selected, 0], rings.xy[selected, 1], rings.z[selected]
        lon[selected], lat[selected], h[selected] = geodetic(x, y, z if plan.mode == "source" else None)
        outside = ~(np.isfinite(lon[selected]) & np.isfinite(lat[selected]) & np.isfinite(h[selected]))
        if outside.any():
            raise CRSError(
                f"{where}: {int(outside.sum())} of {outside.size} vertices cannot be transformed from "
                f"{crs_label(crs)}: they lie outside what it (or the geoid grid its heights need) covers; check --crs"
            )
        if plan.mode == "ground":
            lowest = np.minimum.reduceat(rings.z, rings.building_vertex_start[:-1])
            h[selected] = (rings.z - np.take(lowest, rings.vertex_building))[selected]
        heights.append(plan.description)
        transforms.append(geodetic.description)
    return lon, lat, h, heights, transforms


def _roof_relief(
    polygons: Rings, polygon_class: npt.NDArray[np.uint8], h: FloatArray, top: FloatArray
) -> FloatArray:
    """Per building, how far its highest point is above its lowest roof vertex (0 without roofs), metres."""
    roof_vertex = np.repeat(
        polygon_class == SurfaceClass.ROOF, np.diff(polygons.ring_start[polygons.polygon_ring_start])
    )
    low = np.full(polygons.building_count, np.inf)
    np.minimum.at(low, polygons.vertex_building[roof_vertex], h[roof_vertex])
    return np.where(np.isfinite(low), top - low, 0.0)


def _footprint_areas(rings: Rings) -> FloatArray:
    """Per building, the area of its footprint (holes subtracted), square metres."""
    ring_building = np.repeat(np.arange(rings.building_count), np.diff(rings.building_ring_start))
    areas = ring_areas(rings.xy, rings.ring_start)
    return np.abs(np.bincount(ring_building, weights=areas, minlength=rings.building_count))


def _to_lonlat(
    east: FloatArray, north: FloatArray, lon0: float, lat0: float
) -> tuple[FloatArray, FloatArray]:
    """lon/lat (degrees) of points on the ellipsoid given in metres east and north of (lon0, lat0).

    The ellipsoid drops below the tangent plane by about d²/2R at a distance d; putting the points there
    (rather than on the plane) keeps the error in millimetres even 50 km from the origin.
    """
    matrix = enu_to_ecef_matrix(lon0, lat0, 0.0)
    drop = -(east * east + north * north) / (2 * 6_371_000.0)
    ecef = np.column_stack([east, north, drop]) @ matrix[:3, :3].T + matrix[:3, 3]
    to_geodetic = Transformer.from_crs("EPSG:4978", "EPSG:4979", always_xy=True)
    lon, lat, _ = to_geodetic.transform(ecef[:, 0], ecef[:, 1], ecef[:, 2])
    return np.asarray(lon), np.asarray(lat)


def _prepare_transform(source: SourceRef, options: IngestOptions, settings: Settings) -> None:
    """Build the PROJ transform that `_place` will ask for, for the CRS the first input names."""
    try:
        name = options.city.crs or sniff_srs_name(source.head(1 << 16))
        if name is None:
            return
        crs = parse_crs(name) if options.city.crs else parse_srs_name(name)
        plan = plan_heights(crs, True, options.heights, options.vertical_crs, IngestLog(), Path(source.name))
        prepare_transform(split_crs(crs)[0], plan, settings.grid_dirs)
    except Exception:  # whatever fails here fails again, and is reported, where it matters
        return


def ingest_city_models(
    sources: list[SourceRef],
    formats: list[SourceFormat],
    options: IngestOptions,
    settings: Settings,
    progress: Progress,
    layer_id: str,
    registrar: Registrar | None,
    started: float,
) -> dict[str, Any]:
    """Ingest city model inputs as one building layer; returns the report (see `twin.pipeline.ingest`)."""
    timings = Timings()
    lap = timings.lap
    log = IngestLog()
    # PROJ prepares the transform of the first input's CRS (most ingests have one) while workers parse.
    add_grid_dirs(settings.grid_dirs)  # in this thread first: PROJ reads its search path per thread
    preparing = threading.Thread(target=_prepare_transform, args=(sources[0], options, settings), daemon=True)
    preparing.start()
    city = read_city_buildings(sources, formats, options.city, log, progress)
    preparing.join()
    read_count = len(city) + sum(log.skipped.values())
    t = lap("read_and_repair", started)
    for empty in city.empty_sources:
        log.warn(f"{empty}: holds no buildings")
    report: dict[str, Any] = {
        "sources": [source.name for source in sources],
        "features_read": read_count,
        "crs": "; ".join(crs_label(crs) for crs in city.crs),
    }
    if not len(city):
        log.warn("no buildings in the input: the layer is empty")
        return _publish_empty(layer_id, options, settings, registrar, log, report, progress, started, timings)

    lon, lat, h, heights, transforms = _place(city, options, settings, log)
    lon0 = float((lon.min() + lon.max()) / 2)
    lat0 = float((lat.min() + lat.max()) / 2)
    basis = enu_basis(lon, lat, lon0, lat0)
    east, north, up = basis.at(h)
    t = lap("transform", t)

    # Footprints and tile order in the layer's metric frame.
    polygons = city.polygons
    enu = Rings(np.column_stack([east, north]), polygons.ring_start, polygons.polygon_ring_start,
                polygons.building_polygon_start, up)  # fmt: skip
    ids = np.asarray(city.ids.to_numpy(zero_copy_only=False), dtype=object)
    footprints, how = city_footprints(enu, city.polygon_class, ids)
    del basis, east, north, up, enu, ids  # the per-vertex frame was for the footprints only: memory back
    minx, miny, maxx, maxy = footprints.bounds()
    centres = np.column_stack([(minx + maxx) / 2, (miny + maxy) / 2])
    vertex_counts = np.diff(polygons.building_vertex_start)
    tree = collapse_chains(
        build_quadtree(centres, vertex_counts, max_buildings=options.max_buildings_per_tile)
    )
    leaves = number_leaves(tree)
    order = np.concatenate([leaf.buildings for leaf in leaves if leaf.buildings is not None])
    vertex_order = polygons.vertex_index(order)
    polygon_class = city.polygon_class[polygons.polygon_index(order)]
    polygons = polygons.take(order)
    lon, lat, h = lon[vertex_order], lat[vertex_order], h[vertex_order]
    del vertex_order
    footprints = footprints.take(order)
    attributes = city.attributes.take(pa.array(order))
    building_ids = city.ids.take(pa.array(order))
    lods = Counter(city.lod.tolist())
    del city  # everything it held is reordered above: its copies can go
    base = np.minimum.reduceat(h, polygons.building_vertex_start[:-1])
    top = np.maximum.reduceat(h, polygons.building_vertex_start[:-1])
    height = top - base
    t = lap("tiling", t)

    foot_lon, foot_lat = _to_lonlat(footprints.xy[:, 0], footprints.xy[:, 1], lon0, lat0)
    rule = pa.array(np.full(len(order), "geometry", dtype=object), type=pa.string())
    features = LayerFeatures(footprints, foot_lon, foot_lat, building_ids, height, rule, attributes)
    columns = build_columns(features.ids, height, rule, attributes)
    leaf_set = ContentSet(
        keys=[leaf.key for leaf in leaves],
        tile_start=np.array([0, *(leaf.stop for leaf in leaves)], dtype=np.int64),
        mesh=Surfaces(Rings(np.column_stack([lon, lat]), polygons.ring_start, polygons.polygon_ring_start,
                            polygons.building_polygon_start, h), polygon_class, lon0, lat0),
        columns=columns, palette="city", double_sided=True, row_cost=10.0,
    )  # fmt: skip
    sets = [leaf_set]
    content_error: dict[str, float] = {}
    if not tree.is_leaf:
        relief = _roof_relief(polygons, polygon_class, h, top)
        size = np.maximum(height, np.sqrt(_footprint_areas(footprints)))
        parents = parent_contents(
            tree, size, centres[order], 5 * np.diff(footprints.building_vertex_start), relief
        )
        content_error = parents.content_error
        sets.append(_parent_set(parents, features, columns, base, top, lon0, lat0))
    heights_of = {leaf.key: float(height[leaf.start : leaf.stop].max()) for leaf in leaves}

    def tileset(summaries: list[TileSummary]) -> dict[str, Any]:
        bounds = node_bounds(tree, summaries)
        errors = geometric_errors(tree, bounds, content_error)
        uris = {key: f"content/{key}.glb" for key, _, _, _ in summaries}
        transform = column_major(enu_to_ecef_matrix(lon0, lat0, 0.0))
        tallest = subtree_max(tree, heights_of)[tree.key]
        return dict(build_tileset(tree, bounds, errors, tallest, uris, transform, GENERATOR, "REPLACE"))

    report.update(
        heights="; ".join(dict.fromkeys(heights)),
        transform="; ".join(dict.fromkeys(transforms)),
        origin={"lon": lon0, "lat": lat0, "height": 0.0},
        ground_height=round(float(np.median(base)), 3),
        lod={f"LoD{lod_text(code)}": count for code, count in sorted(lods.items())},
        polygons=len(polygon_class),
        footprints=dict(how),
        height_rules={"geometry": len(order)},
    )
    return publish_layer(
        layer_id, options, settings, registrar, log, report, sets, columns, tileset,
        features, progress, started, timings, t,
    )  # fmt: skip


def _parent_set(
    parents: ParentContents, features: LayerFeatures, columns: list[PropertyColumn], base: FloatArray,
    top: FloatArray, lon0: float, lat0: float,
) -> ContentSet:  # fmt: skip
    """The parents' tiles: LoD1 boxes of the buildings each shows, from base to top (ellipsoidal, metres)."""
    rows = parents.rows
    footprints = features.rings.take(rows)
    vertices = features.rings.vertex_index(rows)
    base_per_vertex = np.take(base[rows], footprints.vertex_building)
    return ContentSet(
        keys=parents.keys,
        tile_start=parents.tile_start,
        mesh=Prisms(
            footprints, features.lon[vertices], features.lat[vertices], base_per_vertex, top[rows], lon0, lat0
        ),
        columns=[column.take(rows) for column in columns],
        palette="city",
    )


def _publish_empty(
    layer_id: str, options: IngestOptions, settings: Settings, registrar: Registrar | None, log: IngestLog,
    report: dict[str, Any], progress: Progress, started: float, timings: dict[str, float],
) -> dict[str, Any]:  # fmt: skip
    """Publish a layer without buildings: a tileset whose root has no content (and no place on Earth)."""

    def tileset(summaries: list[TileSummary]) -> dict[str, Any]:
        root = {"boundingVolume": {"sphere": [0.0, 0.0, 0.0, 1.0]}, "geometricError": 0.0, "refine": "ADD"}
        return {"asset": {"version": "1.1", "generator": GENERATOR}, "geometricError": 0.0, "root": root}

    report.update(heights="none (no buildings)", transform="none (no buildings)", height_rules={})
    columns = build_columns(pa.array([], pa.string()), np.zeros(0), pa.array([], pa.string()), pa.table({}))
    return publish_layer(
        layer_id, options, settings, registrar, log, report, [], columns, tileset, None, progress, started,
        timings, time.perf_counter(),
    )  # fmt: skip
