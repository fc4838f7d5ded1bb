"""The ingest pipeline: readers → canonical model → heights and frame → mesh → tiles → atomic publish.

This module wires the parts together; each stage lives in its own package (ingest, geo, tiles, catalog).
"""

from __future__ import annotations

import json
import multiprocessing
import os
import shutil
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from twin import __version__
from twin.errors import GeoidGridMissingError
from twin.features import FEATURES_FILE
from twin.features_parquet import write_features
from twin.geo.crs import GeodeticTransform, HeightsMode, VerticalPlan, plan_heights, split_crs
from twin.geo.frame import column_major, enu_basis, enu_to_ecef_matrix
from twin.ingest.footprints import FootprintOptions, read_footprints
from twin.ingest.model import Footprints, IngestLog
from twin.registrar import Registrar, large_input, open_catalog, register
from twin.settings import Settings
from twin.tiles import publish as publishing
from twin.tiles.extrude import extrude_tiles
from twin.tiles.glb import Compression, encode_glb
from twin.tiles.mesh import quantize
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
    paths: list[Path],
    options: IngestOptions,
    settings: Settings,
    progress: Progress = _no_progress,
    registrar: Registrar | None = None,
) -> dict[str, Any]:
    """Ingest footprint files as a 3D Tiles layer, publish it atomically, register it; return the report.

    On any error nothing is published and the previous version of the layer stays current. `registrar`,
    if given, is a helper process already preparing the catalog for these settings (the CLI starts one
    before its imports); large inputs get one anyway.
    """
    started = time.perf_counter()
    timings: dict[str, float] = {}
    layer_id = publishing.check_layer_id(options.layer_id)
    # A large ingest prepares the catalog in a helper process while this one reads (see twin.registrar).
    if registrar is None and large_input(paths):
        registrar = Registrar(settings)
    try:
        return _ingest(paths, options, settings, progress, layer_id, registrar, started, timings)
    finally:
        if registrar is not None:
            registrar.close()


def _ingest(
    paths: list[Path],
    options: IngestOptions,
    settings: Settings,
    progress: Progress,
    layer_id: str,
    registrar: Registrar | None,
    started: float,
    timings: dict[str, float],
) -> dict[str, Any]:
    def lap(name: str, since: float) -> float:
        now = time.perf_counter()
        timings[name] = round(now - since, 3)
        return now

    log = IngestLog()
    progress("read", 0, 1)
    footprints = read_footprints(paths, options.footprints, log)
    read_count = len(footprints) + sum(log.skipped.values())
    t = lap("read_and_repair", started)
    timings.update({f"read_and_repair.{stage}": seconds for stage, seconds in log.timings.items()})
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

    # The exact per-vertex transform to longitude, latitude and ellipsoidal height runs in PROJ's threads
    # (they release the GIL) while this thread orders the buildings into tiles.
    rings = footprints.rings
    z = rings.z if plan.mode == "source" else None
    with ThreadPoolExecutor(1) as pool:
        transformed = pool.submit(geodetic, rings.xy[:, 0], rings.xy[:, 1], z)
        # Tile order from building centres in the metric working CRS (the quadtree only groups buildings;
        # bounding volumes come from the transformed vertices).
        minx, miny, maxx, maxy = rings.bounds()
        centres = np.column_stack([(minx + maxx) / 2, (miny + maxy) / 2])
        vertex_counts = np.diff(rings.building_vertex_start) * 5  # one roof and four wall vertices per corner
        tree = build_quadtree(centres, vertex_counts, max_buildings=options.max_buildings_per_tile)
        leaves = tree.leaves()
        order = np.concatenate([leaf.buildings for leaf in leaves if leaf.buildings is not None])
        position = 0
        for leaf in leaves:
            assert leaf.buildings is not None
            leaf.start, leaf.stop = position, position + len(leaf.buildings)
            position = leaf.stop
        vertex_order = rings.vertex_index(order)
        buildings = footprints.take(order)
        t = lap("tiling", t)
        lon, lat, v_h = (np.take(values, vertex_order) for values in transformed.result())
    rings = buildings.rings
    if plan.mode == "source":
        # The lowest vertex of each building is its base (vertices are grouped by building).
        base = np.minimum.reduceat(v_h, rings.building_vertex_start[:-1])
    else:
        base = np.zeros(len(buildings))
    roof = base + buildings.height
    lon0 = float((lon.min() + lon.max()) / 2)
    lat0 = float((lat.min() + lat.max()) / 2)
    t = lap("transform", t)

    staging = publishing.new_staging_dir(settings.data_dir, layer_id)
    catalog: list[Any] = []

    def meanwhile() -> None:
        # While the workers write tiles: the footprints for the OGC API, and (without a registrar) the
        # catalog opened and migrated if need be, so that only the registration is left for the end.
        write_features(staging / FEATURES_FILE, buildings, lon, lat)
        if registrar is None:
            catalog.append(open_catalog(settings))

    try:
        report = _write_layer(
            staging, buildings, lon, lat, v_h, roof, tree, leaves, lon0, lat0, progress, options.compression,
            meanwhile,
        )  # fmt: skip
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
            height_rules={str(k): int(v) for k, v in _value_counts(buildings.height_rule).items()},
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
        fields = {
            "title": options.title, "group": options.group, "attribution": options.attribution,
            "licence": options.licence,
        }  # fmt: skip
        if registrar is not None:
            registrar.register(staging, layer_id, fields, report, lonlat_bbox)
        else:
            register(catalog[0], settings, staging, layer_id, fields, report, lonlat_bbox)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return report


def _value_counts(values: pa.Array) -> dict[str, int]:
    counts = pc.value_counts(values).to_pylist()
    return {str(item["values"]): int(item["counts"]) for item in counts}


# Leaves are meshed and written by worker processes forked from the ingest; they read their inputs from
# this module-level slot (inherited through fork, so nothing large is pickled) and return small summaries.
_JOB: dict[str, Any] = {}
PARALLEL_MIN_BUILDINGS = 20_000
RUNS_PER_WORKER = 16
LeafSummary = tuple[str, FloatArray, FloatArray, float, int]


def _write_leaf_range(first: int, last: int) -> tuple[list[LeafSummary], float]:
    """Mesh and write leaves [first, last) of the job in `_JOB`.

    Returns (key, lo, hi, tallest, bytes) for each leaf, and the CPU seconds this took.
    """
    cpu = time.process_time()
    job = _JOB
    leaves: list[QuadNode] = job["leaves"][first:last]
    if not leaves:
        return [], 0.0
    a0, b0 = leaves[0].start, leaves[-1].stop
    rings, v0, v1 = job["rings"].slice(a0, b0)
    roof = np.take(job["roof"][a0:b0], rings.vertex_building)
    basis = enu_basis(job["lon"][v0:v1], job["lat"][v0:v1], job["lon0"], job["lat0"])
    bottom = None if job["v_h"] is None else job["v_h"][v0:v1]
    tile_start = np.array([leaf.start - a0 for leaf in leaves] + [b0 - a0], dtype=np.int64)
    tiles = quantize(extrude_tiles(rings, basis, bottom, roof, tile_start))
    folder: Path = job["folder"]
    height: FloatArray = job["height"]
    out: list[LeafSummary] = []
    for leaf, tile in zip(leaves, tiles, strict=True):
        data = encode_glb(
            tile, job["columns"], leaf.start, leaf.stop, job["schema"], GENERATOR, job["compression"]
        )
        (folder / f"content/{leaf.key}.glb").write_bytes(data)
        out.append((leaf.key, tile.lo, tile.hi, float(height[leaf.start : leaf.stop].max()), len(data)))
    return out, time.process_time() - cpu


def _write_layer(
    folder: Path,
    buildings: Footprints,
    lon: FloatArray,
    lat: FloatArray,
    v_h: FloatArray,
    roof: FloatArray,
    tree: QuadNode,
    leaves: list[QuadNode],
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
        rings=buildings.rings,
        lon=lon,
        lat=lat,
        v_h=v_h if np.any(v_h) else None,
        roof=roof,
        lon0=lon0,
        lat0=lat0,
        leaves=leaves,
        height=buildings.height,
        columns=columns,
        schema=json.dumps(schema(columns), separators=(",", ":"), allow_nan=False),
        compression=compression,
    )
    try:
        workers = min(2, os.cpu_count() or 1) if len(buildings) >= PARALLEL_MIN_BUILDINGS else 1
        # Split the leaves into runs of about equal building counts, a few per worker for progress.
        runs = max(1, workers * RUNS_PER_WORKER) if workers > 1 else 1
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
        cpu = 0.0
        if workers > 1 and len(jobs) > 1:
            context = multiprocessing.get_context("fork")
            # Forked before any other thread exists in this process (map submits, and so forks, at once).
            with ProcessPoolExecutor(workers, mp_context=context) as pool:
                results = pool.map(_write_leaf_range, *zip(*jobs, strict=True))
                meanwhile()
                for result, seconds in results:
                    summaries.extend(result)
                    cpu += seconds
                    progress("tiles", len(summaries), len(leaves))
        else:
            for first, last in jobs:
                result, seconds = _write_leaf_range(first, last)
                summaries.extend(result)
                cpu += seconds
                progress("tiles", len(summaries), len(leaves))
            meanwhile()
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
        "mesh_cpu_s": round(cpu, 3),
        "tiles": len(leaves),
        "tile_bytes_total": int(sum(sizes)),
        "tile_bytes_max": int(max(sizes)),
        "tile_bytes_mean": int(np.mean(sizes)),
        "properties": properties,
    }


__all__ = ["IngestOptions", "ingest"]
