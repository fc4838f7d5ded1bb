"""The ingest pipeline: readers → canonical model → heights and frame → mesh → tiles → atomic publish.

This module wires the parts together for both kinds of building input: 2D footprints (extruded to LoD1
prisms, here) and 3D city models (CityGML, CityJSON: `twin.city_pipeline`). Both end in the same writer
(`twin.layer_writer`), tileset, features file and publish step (`publish_layer`).
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc
from pyproj import CRS

from twin import __version__
from twin.errors import GeoidGridMissingError, InputError
from twin.features import FEATURES_FILE
from twin.features_parquet import LayerFeatures, write_features
from twin.geo.crs import (
    DHHN92,
    DHHN2016,
    GeodeticTransform,
    HeightsMode,
    VerticalPlan,
    epsg_code,
    plan_heights,
    split_crs,
)
from twin.geo.frame import column_major, enu_to_ecef_matrix
from twin.ingest.city_reader import CityOptions, input_format
from twin.ingest.detect import FOOTPRINT_FORMATS, SourceFormat
from twin.ingest.footprints import FootprintOptions, read_footprints
from twin.ingest.model import IngestLog
from twin.ingest.sources import expand_sources
from twin.layer_writer import ContentSet, Prisms, TileSummary, write_contents
from twin.registrar import Registrar, large_input, open_catalog, register
from twin.settings import Settings
from twin.tiles import publish as publishing
from twin.tiles.glb import Compression
from twin.tiles.metadata import PropertyColumn, build_columns, schema
from twin.tiles.quadtree import MAX_BUILDINGS_PER_LEAF, QuadNode, build_quadtree
from twin.tiles.tileset import build_tileset, geometric_errors

FloatArray = npt.NDArray[np.float64]
Progress = Callable[[str, int, int], None]
GENERATOR = f"twin {__version__}"


@dataclass(frozen=True)
class IngestOptions:
    """What `twin ingest` was asked to do."""

    layer_id: str
    title: str | None = None
    footprints: FootprintOptions = field(default_factory=FootprintOptions)
    city: CityOptions = field(default_factory=CityOptions)
    heights: HeightsMode = "auto"
    vertical_crs: str | None = None
    max_buildings_per_tile: int = MAX_BUILDINGS_PER_LEAF
    compression: Compression = "meshopt"
    group: str = ""
    attribution: str = ""
    licence: str = ""
    kind: Literal["buildings", "planning"] = "buildings"
    metadata: Path | None = None  # planning metadata (JSON/TOML) for --kind planning


class Timings(dict[str, float]):
    """Seconds per ingest stage, for the report."""

    def lap(self, stage: str, since: float) -> float:
        """Record the time since `since` (a time.perf_counter value) as `stage`; return the time now."""
        now = time.perf_counter()
        self[stage] = round(now - since, 3)
        return now


def _no_progress(stage: str, done: int, total: int) -> None:
    return None


def ingest(
    paths: Sequence[Path | str],
    options: IngestOptions,
    settings: Settings,
    progress: Progress = _no_progress,
    registrar: Registrar | None = None,
) -> dict[str, Any]:
    """Ingest building files (footprints or city models) as a 3D Tiles layer, publish it, register it.

    `paths` may name files, folders, glob patterns and zip archives. On any error nothing is published and
    the previous version of the layer stays current. `registrar`, if given, is a helper process already
    preparing the catalog for these settings (the CLI starts one before its imports); large inputs get one
    anyway. Returns the ingest report.
    """
    started = time.perf_counter()
    layer_id = publishing.check_layer_id(options.layer_id)
    sources = expand_sources(paths)
    files = sorted({source.path for source in sources})
    if registrar is None and large_input(files):
        registrar = Registrar(settings)
    try:
        formats = [input_format(source) for source in sources]
        if options.kind == "planning" and SourceFormat.XPLANGML not in formats:
            if not _are_footprints(formats):
                raise InputError(
                    "--kind planning takes XPlanGML or footprint formats (GeoJSON, GeoPackage, ...)"
                )
            from twin.planning.generic import ingest_planning_data

            return ingest_planning_data(files, options, settings, layer_id, options.metadata, started)
        if SourceFormat.XPLANGML in formats:
            if set(formats) != {SourceFormat.XPLANGML}:
                raise InputError("plans (XPlanGML) and other inputs cannot be ingested into one layer")
            from twin.planning.pipeline import ingest_plans

            return ingest_plans(sources, options, settings, progress, layer_id, started)
        if _are_footprints(formats):
            return _ingest_footprints(files, options, settings, progress, layer_id, registrar, started)
        from twin.city_pipeline import ingest_city_models

        return ingest_city_models(sources, formats, options, settings, progress, layer_id, registrar, started)
    finally:
        if registrar is not None:
            registrar.close()


def _are_footprints(formats: list[SourceFormat]) -> bool:
    """True when every input is a footprint format, False when none is; InputError when mixed."""
    kinds = {fmt in FOOTPRINT_FORMATS for fmt in formats}
    if len(kinds) > 1:
        raise InputError("footprints (GeoJSON, GeoPackage, ...) and city models (CityGML, CityJSON) cannot be "
                         "ingested into one layer; ingest them as two layers")  # fmt: skip
    return kinds == {True}


def geodetic_transform(
    horizontal: Any, plan: VerticalPlan, options: IngestOptions, settings: Settings, path: Path | str,
    log: IngestLog,
) -> tuple[GeodeticTransform, VerticalPlan]:  # fmt: skip
    """The transform to longitude, latitude and ellipsoidal height that `plan` asks for.

    With --heights auto and the geoid grid missing, the best that can be done instead, said loudly: the
    buildings on the ground.
    """
    try:
        return GeodeticTransform(horizontal, plan, settings.grid_dirs, Path(path)), plan
    except GeoidGridMissingError as exc:
        if plan.vertical_crs is not None and epsg_code(plan.vertical_crs) == DHHN92:
            # PROJ knows no exact transformation from DHHN92 to ellipsoidal heights (only a "ballpark" one
            # that ignores the geoid); DHHN2016 differs from DHHN92 by a few centimetres, and with the
            # GCG2016 grid its heights are exact.
            modern = VerticalPlan("source", CRS.from_epsg(DHHN2016), plan.description + ", read as DHHN2016")
            try:
                geodetic = GeodeticTransform(horizontal, modern, settings.grid_dirs, Path(path))
            except GeoidGridMissingError:
                pass
            else:
                log.warn(f"{path}: DHHN92 heights taken as DHHN2016 (they differ by a few centimetres): PROJ "
                         "has no exact transformation from DHHN92 to ellipsoidal heights")  # fmt: skip
                return geodetic, modern
        if options.heights != "auto":
            raise
        log.warn(
            f"{exc.message.removesuffix(' Or ingest with --heights ground.')} The z values were NOT used: every "
            "building stands on the ground (its lowest point at ellipsoidal height 0). Install the grid and "
            "ingest again to use them; --heights source makes this an error."
        )
        plan = VerticalPlan("ground", None, "ground: z values ignored because the geoid grid is missing")
        return GeodeticTransform(horizontal, plan, settings.grid_dirs, Path(path)), plan


def _ingest_footprints(
    paths: list[Path],
    options: IngestOptions,
    settings: Settings,
    progress: Progress,
    layer_id: str,
    registrar: Registrar | None,
    started: float,
) -> dict[str, Any]:
    timings = Timings()
    lap = timings.lap
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
    geodetic, plan = geodetic_transform(horizontal, plan, options, settings, paths[0], log)

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
        leaves = number_leaves(tree)
        order = np.concatenate([leaf.buildings for leaf in leaves if leaf.buildings is not None])
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

    columns = build_columns(buildings.ids, buildings.height, buildings.height_rule, buildings.attributes)
    leaf_set = ContentSet(
        keys=[leaf.key for leaf in leaves],
        tile_start=np.array([0, *(leaf.stop for leaf in leaves)], dtype=np.int64),
        mesh=Prisms(rings, lon, lat, v_h if np.any(v_h) else None, roof, lon0, lat0),
        columns=columns,
    )
    heights_of = {leaf.key: float(buildings.height[leaf.start : leaf.stop].max()) for leaf in leaves}

    def tileset(summaries: list[TileSummary]) -> dict[str, Any]:
        bounds = node_bounds(tree, summaries)
        tallest = subtree_max(tree, heights_of)
        errors = geometric_errors(tree, bounds, tallest)
        uris = {key: f"content/{key}.glb" for key, _, _, _ in summaries}
        transform = column_major(enu_to_ecef_matrix(lon0, lat0, 0.0))
        return dict(build_tileset(tree, bounds, errors, tallest[tree.key], uris, transform, GENERATOR))

    report = {
        "sources": [str(p) for p in paths],
        "crs": horizontal.to_string(),
        "heights": plan.description,
        "transform": geodetic.description,
        "features_read": read_count,
        "origin": {"lon": lon0, "lat": lat0, "height": 0.0},
        "ground_height": round(float(np.median(base)), 3),
        "height_rules": {str(k): int(v) for k, v in value_counts(buildings.height_rule).items()},
    }
    return publish_layer(
        layer_id, options, settings, registrar, log, report, [leaf_set], columns, tileset,
        LayerFeatures(rings, lon, lat, buildings.ids, buildings.height, buildings.height_rule,
                      buildings.attributes),
        progress, started, timings, t,
    )  # fmt: skip


def number_leaves(tree: QuadNode) -> list[QuadNode]:
    """The leaves in tile order, each given its range [start, stop) in the tile-ordered building sequence."""
    leaves = tree.leaves()
    position = 0
    for leaf in leaves:
        assert leaf.buildings is not None
        leaf.start, leaf.stop = position, position + len(leaf.buildings)
        position = leaf.stop
    return leaves


def node_bounds(tree: QuadNode, summaries: list[TileSummary]) -> dict[str, tuple[FloatArray, FloatArray]]:
    """ENU bounds of every node: its own content's and its children's together."""
    bounds: dict[str, tuple[FloatArray, FloatArray]] = {key: (lo, hi) for key, lo, hi, _ in summaries}

    def fill(node: QuadNode) -> None:
        if node.is_leaf:
            return
        for child in node.children:
            fill(child)
        parts = [bounds[c.key] for c in node.children] + ([bounds[node.key]] if node.key in bounds else [])
        bounds[node.key] = (
            np.min([lo for lo, _ in parts], axis=0),
            np.max([hi for _, hi in parts], axis=0),
        )

    fill(tree)
    return bounds


def subtree_max(tree: QuadNode, leaf_values: dict[str, float]) -> dict[str, float]:
    """Per node, the largest of its leaves' values."""
    out: dict[str, float] = {}

    def visit(node: QuadNode) -> float:
        value = leaf_values[node.key] if node.is_leaf else max(visit(c) for c in node.children)
        out[node.key] = value
        return value

    visit(tree)
    return out


def value_counts(values: pa.Array) -> dict[str, int]:
    """How often each value occurs."""
    counts = pc.value_counts(values).to_pylist()
    return {str(item["values"]): int(item["counts"]) for item in counts}


def _property_summary(column: PropertyColumn) -> dict[str, Any]:
    definition = column.definition
    return {"id": column.id, "name": column.name, "type": definition["type"],
            "componentType": definition.get("componentType")}  # fmt: skip


def publish_layer(
    layer_id: str,
    options: IngestOptions,
    settings: Settings,
    registrar: Registrar | None,
    log: IngestLog,
    report: dict[str, Any],
    sets: list[ContentSet],
    columns: list[PropertyColumn],
    tileset: Callable[[list[TileSummary]], dict[str, Any]],
    features: LayerFeatures | None,
    progress: Progress,
    started: float,
    timings: dict[str, float],
    since: float,
) -> dict[str, Any]:
    """Write the tiles, tileset.json, features and report into a staging folder, then publish and register.

    `tileset` makes tileset.json from the written tiles' summaries; `features` are the buildings for the OGC
    API (None: an empty layer). On any error the staging folder is removed and the
    previous version stays.
    """
    staging = publishing.new_staging_dir(settings.data_dir, layer_id)
    catalog: list[Any] = []

    def meanwhile() -> None:
        # While the workers write tiles: the footprints for the OGC API, and (without a registrar) the
        # catalog opened and migrated if need be, so that only the registration is left for the end.
        if features is not None:
            write_features(staging / FEATURES_FILE, features)
        if registrar is None:
            catalog.append(open_catalog(settings))

    try:
        schema_json = json.dumps(schema(columns), separators=(",", ":"), allow_nan=False)
        summaries, cpu = write_contents(
            staging, sets, schema_json, GENERATOR, options.compression, progress, meanwhile
        )
        document = tileset(summaries)
        (staging / "tileset.json").write_text(json.dumps(document, separators=(",", ":")), encoding="utf-8")
        timings["mesh_tiles_and_features"] = round(time.perf_counter() - since, 3)
        sizes = [size for _, _, _, size in summaries]
        lon, lat = (features.lon, features.lat) if features is not None else (np.zeros(0), np.zeros(0))
        bbox = [float(lon.min()), float(lat.min()), float(lon.max()), float(lat.max())] if len(lon) else None
        report = {
            "layer": layer_id,
            **report,
            "features_written": len(features) if features is not None else 0,
            "skipped": dict(log.skipped),
            "skipped_examples": log.skipped_examples,
            "repaired": dict(log.repaired),
            "notes": log.notes,
            "warnings": log.warnings,
            "mesh_cpu_s": round(cpu, 3),
            "tiles": len(summaries),
            "tile_bytes_total": int(sum(sizes)),
            "tile_bytes_max": int(max(sizes, default=0)),
            "tile_bytes_mean": int(np.mean(sizes)) if sizes else 0,
            "properties": [_property_summary(c) for c in columns],
            "bbox": bbox,
            "generator": GENERATOR,
            "timings_s": timings,
            "duration_s": round(time.perf_counter() - started, 3),
        }
        (staging / "report.json").write_text(
            json.dumps(report, indent=2, ensure_ascii=False), encoding="utf-8"
        )
        fields = {
            "title": options.title, "group": options.group, "attribution": options.attribution,
            "licence": options.licence,
        }  # fmt: skip
        if registrar is not None:
            registrar.register(staging, layer_id, fields, report, bbox)
        else:
            register(catalog[0], settings, staging, layer_id, fields, report, bbox)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return report


__all__ = ["IngestOptions", "ingest"]
