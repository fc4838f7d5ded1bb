"""The ingest pipeline: readers → canonical model → heights and frame → mesh → tiles → atomic publish.

This module wires the parts together; each stage lives in its own package (ingest, geo, tiles, catalog).
"""

from __future__ import annotations

import json
import multiprocessing
import os
import shutil
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import numpy.typing as npt
import shapely

from twin import __version__
from twin.catalog import Catalog, LayerRecord
from twin.errors import GeoidGridMissingError, TwinError
from twin.geo.crs import GeodeticTransform, HeightsMode, VerticalPlan, plan_heights, split_crs
from twin.geo.frame import (
    column_bounds,
    column_major,
    ecef_to_enu,
    enu_to_ecef_matrix,
    geodetic_to_ecef,
    geodetic_to_enu,
)
from twin.ingest.footprints import FootprintOptions, read_footprints
from twin.ingest.model import Footprints, IngestLog
from twin.settings import Settings
from twin.tiles import publish as publishing
from twin.tiles.glb import Compression, TileMesh, encode_glb
from twin.tiles.mesh import Rings, extrude, rings_from_geometries
from twin.tiles.metadata import build_columns, schema
from twin.tiles.quadtree import MAX_BUILDINGS_PER_LEAF, QuadNode, build_quadtree
from twin.tiles.tileset import build_tileset

FloatArray = npt.NDArray[np.float64]
Progress = Callable[[str, int, int], None]
GENERATOR = f"twin {__version__}"


@dataclass(frozen=True)
class IngestOptions:
    """What `twin ingest` was asked to do."""

    layer_id: str
    title: str | None = None
    footprints: FootprintOptions = field(default_factory=FootprintOptions)
    heights: HeightsMode = "auto"
    vertical_crs: str | None = None
    max_buildings_per_tile: int = MAX_BUILDINGS_PER_LEAF
    compression: Compression = "meshopt"
    group: str = ""
    attribution: str = ""
    licence: str = ""


def _no_progress(stage: str, done: int, total: int) -> None:
    return None


def ingest(
    paths: list[Path], options: IngestOptions, settings: Settings, progress: Progress = _no_progress
) -> dict[str, Any]:
    """Ingest footprint files as a 3D Tiles layer, publish it atomically, register it; return the report.

    On any error nothing is published and the previous version of the layer stays current.
    """
    started = time.perf_counter()
    timings: dict[str, float] = {}

    def lap(name: str, since: float) -> float:
        now = time.perf_counter()
        timings[name] = round(now - since, 3)
        return now

    layer_id = publishing.check_layer_id(options.layer_id)
    log = IngestLog()
    progress("read", 0, 1)
    footprints = read_footprints(paths, options.footprints, log)
    read_count = len(footprints) + sum(log.skipped.values())
    t = lap("read_and_repair", started)
    progress("read", 1, 1)

    horizontal, _, _ = split_crs(footprints.crs)
    plan = plan_heights(
        footprints.crs, footprints.has_z, options.heights, options.vertical_crs, log, paths[0]
    )
    try:
        geodetic = GeodeticTransform(horizontal, plan, settings.grid_dirs, paths[0])
    except GeoidGridMissingError as exc:
        if options.heights != "auto":
            raise
        # "auto" takes the best it can do, and says so loudly: on the ground, without the z values.
        log.warn(
            f"{exc.message.removesuffix(' Or ingest with --heights ground.')} The z values were NOT used: every "
            "building stands on the ground (base at ellipsoidal height 0). Install the grid and ingest again to "
            "use them; --heights source makes this an error."
        )
        plan = VerticalPlan("ground", None, "ground: z values ignored because the geoid grid is missing")
        geodetic = GeodeticTransform(horizontal, plan, settings.grid_dirs, paths[0])

    # Layer origin and a tile order from building centres (cheap: one point per building).
    bounds = shapely.bounds(footprints.geometries)
    cx = (bounds[:, 0] + bounds[:, 2]) / 2
    cy = (bounds[:, 1] + bounds[:, 3]) / 2
    lon_c, lat_c, _ = geodetic(cx, cy, np.zeros(len(cx)))
    lon0 = float((lon_c.min() + lon_c.max()) / 2)
    lat0 = float((lat_c.min() + lat_c.max()) / 2)
    centres = ecef_to_enu(geodetic_to_ecef(lon_c, lat_c, np.zeros(len(cx))), lon0, lat0)[:, :2]
    vertex_estimate = np.asarray(shapely.get_num_coordinates(footprints.geometries), dtype=np.int64) * 5
    tree = build_quadtree(centres, vertex_estimate, max_buildings=options.max_buildings_per_tile)
    leaves = tree.leaves()
    order = np.concatenate([leaf.buildings for leaf in leaves if leaf.buildings is not None])
    position = 0
    for leaf in leaves:
        assert leaf.buildings is not None
        leaf.start, leaf.stop = position, position + len(leaf.buildings)
        position = leaf.stop
    buildings = footprints.take(order)
    t = lap("tiling", t)

    # Exact per-vertex transform, then bottom and top of every wall in the layer's ENU frame.
    all_coords = shapely.get_coordinates(buildings.geometries, include_z=True)
    z = all_coords[:, 2] if plan.mode == "source" else None
    lon, lat, h = geodetic(all_coords[:, 0], all_coords[:, 1], z)
    rings = rings_from_geometries(buildings.geometries, all_coords)
    v_lon, v_lat, v_h = lon[rings.source_index], lat[rings.source_index], h[rings.source_index]
    vertex_building = rings.vertex_building
    if plan.mode == "source":
        # Vertices are grouped by building, so a reduceat over the groups' starts gives each lowest base.
        starts = np.searchsorted(vertex_building, np.arange(len(buildings)))
        base = np.minimum.reduceat(v_h, starts)
    else:
        base = np.zeros(len(buildings))
    roof = base + buildings.height
    bottom, top = geodetic_to_enu(v_lon, v_lat, [v_h, roof[vertex_building]], lon0, lat0)
    t = lap("transform", t)

    staging = publishing.new_staging_dir(settings.data_dir, layer_id)
    try:
        report = _write_layer(
            staging,
            buildings,
            rings,
            bottom,
            top,
            tree,
            leaves,
            roof - base,
            lon0,
            lat0,
            progress,
            options.compression,
            # The footprints for the OGC API are written by this process while the workers write tiles.
            meanwhile=lambda: _write_features(staging / "features.parquet", buildings, lon, lat),
        )
        t = lap("mesh_tiles_and_features", t)
        report.update(
            layer=layer_id,
            sources=[str(p) for p in paths],
            crs=horizontal.to_string(),
            heights=plan.description,
            transform=geodetic.description,
            features_read=read_count,
            features_written=len(buildings),
            skipped=dict(log.skipped),
            skipped_examples=log.skipped_examples,
            repaired=dict(log.repaired),
            height_rules=dict(Counter(str(r) for r in buildings.height_rule)),
            warnings=log.warnings,
            origin={"lon": lon0, "lat": lat0, "height": 0.0},
            generator=GENERATOR,
        )
        lonlat_bbox = [float(lon.min()), float(lat.min()), float(lon.max()), float(lat.max())]
        report["bbox"] = lonlat_bbox
        report["timings_s"] = timings
        report["duration_s"] = round(time.perf_counter() - started, 3)
        (staging / "report.json").write_text(
            json.dumps(report, indent=2, ensure_ascii=False), encoding="utf-8"
        )
        _register(settings, staging, layer_id, options, report, lonlat_bbox)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return report


def _register(
    settings: Settings,
    staging: Path,
    layer_id: str,
    options: IngestOptions,
    report: dict[str, Any],
    bbox: list[float],
) -> None:
    """Publish the staging folder and register the layer in one step: both happen or neither."""
    catalog = Catalog(settings.catalog_url)
    previous = publishing.current_version(settings.data_dir, layer_id)
    try:
        existing = catalog.get(layer_id)
    except TwinError:
        existing = None
    # A re-ingest replaces what the data determines and keeps what people curated (planning metadata,
    # links, style, visibility, extra keys of their own).
    extra = dict(existing.extra) if existing else {}
    extra.update(
        tileset=f"/tiles/{layer_id}/tileset.json",
        report=f"/tiles/{layer_id}/report.json",
        properties=report.get("properties", []),
    )
    record = LayerRecord(
        id=layer_id,
        title=options.title or (existing.title if existing else layer_id),
        description=existing.description if existing else "",
        kind="3dtiles",
        group=options.group or (existing.group if existing else ""),
        attribution=options.attribution or (existing.attribution if existing else ""),
        licence=options.licence or (existing.licence if existing else ""),
        bbox=bbox,
        feature_count=int(report["features_written"]),
        source=", ".join(Path(s).name for s in report["sources"]),
        visible=existing.visible if existing else True,
        opacity=existing.opacity if existing else 1.0,
        style=existing.style if existing else None,
        planning=existing.planning if existing else None,
        url=existing.url if existing else None,
        extra=extra,
    )
    with catalog.session() as session:
        catalog.upsert(record, session)
        try:
            publishing.publish(staging, settings.data_dir, layer_id)
        except BaseException:
            publishing.restore(settings.data_dir, layer_id, previous)
            raise


# Leaves are meshed and written by worker processes forked from the ingest; they read their inputs from
# this module-level slot (inherited through fork, so nothing large is pickled) and return small summaries.
_JOB: dict[str, Any] = {}
PARALLEL_MIN_BUILDINGS = 20_000
LeafSummary = tuple[str, FloatArray, FloatArray, float, int]


def _write_leaf_range(first: int, last: int) -> list[LeafSummary]:
    """Mesh and write leaves [first, last) of the job in `_JOB`; return (key, lo, hi, tallest, bytes) each."""
    job = _JOB
    leaves: list[QuadNode] = job["leaves"][first:last]
    if not leaves:
        return []
    a0, b0 = leaves[0].start, leaves[-1].stop
    rings, v0, v1 = job["rings"].slice(a0, b0)
    prisms = extrude(rings, job["bottom"][v0:v1], job["top"][v0:v1])
    count = b0 - a0
    rv_start = np.searchsorted(prisms.roof_vertex_building, np.arange(count + 1))
    rt_start = np.searchsorted(prisms.roof_triangle_building, np.arange(count + 1))
    wv_start = np.searchsorted(prisms.wall_vertex_building, np.arange(count + 1))
    wt_start = np.searchsorted(prisms.wall_triangle_building, np.arange(count + 1))
    folder: Path = job["folder"]
    height: FloatArray = job["height"]
    up = np.array([0.0, 0.0, 1.0])
    out: list[LeafSummary] = []
    for leaf in leaves:
        a, b = leaf.start - a0, leaf.stop - a0
        roof_pos = prisms.roof_positions[rv_start[a] : rv_start[b]]
        wall_pos = prisms.wall_positions[wv_start[a] : wv_start[b]]
        n_roof = len(roof_pos)
        positions = np.concatenate([roof_pos, wall_pos])
        normals = np.concatenate(
            [np.broadcast_to(up, roof_pos.shape), prisms.wall_normals[wv_start[a] : wv_start[b]]]
        )
        feature_ids = np.concatenate([
            prisms.roof_vertex_building[rv_start[a] : rv_start[b]],
            prisms.wall_vertex_building[wv_start[a] : wv_start[b]],
        ]) - a  # fmt: skip
        triangles = np.concatenate([
            prisms.roof_triangles[rt_start[a] : rt_start[b]] - rv_start[a],
            prisms.wall_triangles[wt_start[a] : wt_start[b]] - wv_start[a] + n_roof,
        ])  # fmt: skip
        mesh = TileMesh(positions, normals, feature_ids, triangles, feature_count=b - a)
        data = encode_glb(
            mesh, job["columns"], leaf.start, leaf.stop, job["schema"], GENERATOR, job["compression"]
        )
        (folder / f"content/{leaf.key}.glb").write_bytes(data)
        lo, hi = column_bounds(positions)
        out.append((leaf.key, lo, hi, float(height[leaf.start : leaf.stop].max()), len(data)))
    return out


def _write_layer(
    folder: Path,
    buildings: Footprints,
    rings: Rings,
    bottom: FloatArray,
    top: FloatArray,
    tree: QuadNode,
    leaves: list[QuadNode],
    height: FloatArray,
    lon0: float,
    lat0: float,
    progress: Progress,
    compression: Compression,
    meanwhile: Callable[[], None] = lambda: None,
) -> dict[str, Any]:
    """Mesh and write every leaf's GLB (in two processes for large layers) and the tileset.json."""
    (folder / "content").mkdir()
    columns = build_columns(buildings.ids, buildings.height, buildings.height_rule, buildings.attributes)
    _JOB.update(
        folder=folder,
        rings=rings,
        bottom=bottom,
        top=top,
        leaves=leaves,
        height=height,
        columns=columns,
        schema=schema(columns),
        compression=compression,
    )
    try:
        workers = min(2, os.cpu_count() or 1) if len(buildings) >= PARALLEL_MIN_BUILDINGS else 1
        # Split the leaves into runs of about equal building counts, a few per worker for progress.
        runs = max(1, workers * 4) if workers > 1 else 1
        cuts = np.searchsorted(
            np.array([leaf.stop for leaf in leaves]),
            np.linspace(0, len(buildings), runs + 1)[1:-1],
            side="left",
        )
        bounds_idx = [0, *sorted(set(int(c) + 1 for c in cuts)), len(leaves)]
        jobs = [
            (bounds_idx[i], bounds_idx[i + 1])
            for i in range(len(bounds_idx) - 1)
            if bounds_idx[i] < bounds_idx[i + 1]
        ]
        summaries: list[LeafSummary] = []
        if workers > 1 and len(jobs) > 1:
            context = multiprocessing.get_context("fork")
            # Forked before any other thread exists in this process (map submits, and so forks, at once).
            with ProcessPoolExecutor(workers, mp_context=context) as pool:
                results = pool.map(_write_leaf_range, *zip(*jobs, strict=True))
                meanwhile()
                for result in results:
                    summaries.extend(result)
                    progress("tiles", len(summaries), len(leaves))
        else:
            meanwhile()
            for first, last in jobs:
                summaries.extend(_write_leaf_range(first, last))
                progress("tiles", len(summaries), len(leaves))
    finally:
        _JOB.clear()

    bounds: dict[str, tuple[FloatArray, FloatArray]] = {}
    tallest: dict[str, float] = {}
    uris: dict[str, str] = {}
    sizes: list[int] = []
    for key, lo, hi, tall, size in summaries:
        bounds[key] = (lo, hi)
        tallest[key] = tall
        uris[key] = f"content/{key}.glb"
        sizes.append(size)

    def fill(node: QuadNode) -> None:
        if node.is_leaf:
            return
        for child in node.children:
            fill(child)
        los = np.array([bounds[c.key][0] for c in node.children])
        his = np.array([bounds[c.key][1] for c in node.children])
        bounds[node.key] = (los.min(axis=0), his.max(axis=0))
        tallest[node.key] = max(tallest[c.key] for c in node.children)

    fill(tree)
    transform = column_major(enu_to_ecef_matrix(lon0, lat0, 0.0))
    tileset = build_tileset(tree, bounds, tallest, uris, transform, GENERATOR)
    (folder / "tileset.json").write_text(json.dumps(tileset, separators=(",", ":")), encoding="utf-8")
    properties = [
        {
            "id": c.id,
            "name": c.name,
            "type": c.definition["type"],
            "componentType": c.definition.get("componentType"),
        }
        for c in columns
    ]
    return {
        "tiles": len(leaves),
        "tile_bytes_total": int(sum(sizes)),
        "tile_bytes_max": int(max(sizes)),
        "tile_bytes_mean": int(np.mean(sizes)),
        "properties": properties,
    }


def _write_features(path: Path, buildings: Footprints, lon: FloatArray, lat: FloatArray) -> None:
    """Footprints in CRS84 with their attributes, for the OGC API Features endpoints."""
    lonlat = np.column_stack([lon, lat])
    geoms = shapely.set_coordinates(shapely.force_2d(buildings.geometries.copy()), lonlat)
    frame = gpd.GeoDataFrame(buildings.attributes.copy(), geometry=geoms, crs="OGC:CRS84")
    frame.insert(0, "source_id", buildings.ids.astype(str))
    frame.insert(1, "height", buildings.height)
    frame.insert(2, "height_rule", buildings.height_rule.astype(str))
    frame.to_parquet(path, index=False)


__all__ = ["IngestOptions", "ingest"]
