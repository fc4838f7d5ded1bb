"""`twin ingest --kind planning`: other planning data (GeoJSON, GeoPackage, Shapefile, ... of e.g.
Sanierungsgebiete, Gewerbeflächen, Erhaltungssatzungen) as a features layer with plan metadata.

Every feature keeps its attributes; its id is ``--id-attr`` or its row number. The metadata (legal status,
number, dates, office, documents, colours per value of an attribute) come from ``--metadata FILE`` (JSON or
TOML with the keys of the catalog's PlanningInfo, checked) or a sidecar ``<source>.planning.json`` /
``<source>.planning.toml`` next to the first source. Any geometry type is kept; polygons are repaired by the
same rule as plans (make_valid, polygonal parts kept), counted in the report.
"""

from __future__ import annotations

import json
import time
import tomllib
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import shapely

from twin.errors import InputError
from twin.tiles import publish as publishing

if TYPE_CHECKING:
    from twin.catalog.schema import PlanningInfo
    from twin.pipeline import IngestOptions
    from twin.settings import Settings

SIDECAR_SUFFIXES = (".planning.json", ".planning.toml")


def read_metadata(path: Path) -> PlanningInfo:
    """A PlanningInfo from a JSON or TOML file; InputError naming the file and the key on any problem."""
    from pydantic import ValidationError

    from twin.catalog.schema import PlanningInfo

    try:
        text = path.read_text(encoding="utf-8")
        data = tomllib.loads(text) if path.suffix == ".toml" else json.loads(text)
    except OSError as exc:
        raise InputError(f"{path}: cannot be read ({exc.strerror or exc})") from None
    except (ValueError, tomllib.TOMLDecodeError) as exc:
        raise InputError(f"{path}: not valid {'TOML' if path.suffix == '.toml' else 'JSON'}: {exc}") from None
    try:
        return PlanningInfo.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        raise InputError(f"{path}: {where}: {first['msg']}") from None


def sidecar(source: Path) -> Path | None:
    """The metadata file beside ``source`` (``gebiete.gpkg.planning.json`` or ``gebiete.planning.json``)."""
    for suffix in SIDECAR_SUFFIXES:
        for candidate in (source.with_name(source.name + suffix), source.with_suffix(suffix)):
            if candidate.is_file():
                return candidate
    return None


def ingest_planning_data(
    files: list[Path], options: IngestOptions, settings: Settings, layer_id: str, metadata: Path | None,
    started: float,
) -> dict[str, Any]:  # fmt: skip
    """Publish footprint-format files as a planning features layer."""
    import geopandas as gpd
    import pandas as pd

    from twin.features_parquet import write_feature_table
    from twin.planning.pipeline import publish_features

    frames = []
    for path in files:
        try:
            frame = gpd.read_file(path, layer=options.footprints.source_layer)
        except Exception as exc:  # pyogrio raises its own errors for unreadable files
            raise InputError(f"{path}: cannot be read as planning data: {exc}") from None
        crs = options.footprints.crs or frame.crs
        if crs is None:
            raise InputError(f"{path}: no CRS in the file; give it with --crs, e.g. EPSG:25832")
        frames.append(frame.set_crs(crs, allow_override=True).to_crs("OGC:CRS84"))
    frame = gpd.GeoDataFrame(pd.concat(frames, ignore_index=True), crs="OGC:CRS84")
    geometries = np.asarray(frame.geometry.array, dtype=object)
    skipped: Counter[str] = Counter()
    repaired = 0
    keep = np.ones(len(frame), dtype=bool)
    for index, geometry in enumerate(geometries):
        if geometry is None or geometry.is_empty:
            keep[index] = False
            skipped["no geometry"] += 1
        elif not geometry.is_valid:
            fixed = shapely.make_valid(geometry)
            if shapely.get_type_id(geometry) in (3, 6):
                fixed = shapely.union_all([part for part in shapely.get_parts(fixed) if part.area > 0])
            geometries[index] = fixed
            repaired += 1
    frame, geometries = frame[keep], geometries[keep]
    id_attr = options.footprints.id_attr
    if id_attr and id_attr not in frame.columns:
        raise InputError(
            f"{files[0]}: no attribute '{id_attr}' (--id-attr); it has: {', '.join(map(str, frame.columns))}"
        )
    ids = frame[id_attr].astype(str).tolist() if id_attr else [str(i + 1) for i in range(len(frame))]
    attributes = pa.Table.from_pandas(frame.drop(columns=[frame.geometry.name]), preserve_index=False)
    columns = pa.table({"source_id": pa.array(ids, type=pa.string())})
    for name in attributes.column_names:
        if name != "source_id":
            columns = columns.append_column(name, attributes.column(name))
    planning = read_metadata(metadata) if metadata else None
    if planning is None and (found := sidecar(files[0])) is not None:
        planning = read_metadata(found)
    staging = publishing.new_staging_dir(settings.data_dir, layer_id)
    bbox = [float(v) for v in shapely.total_bounds(geometries)] if len(geometries) else None
    report = {
        "layer": layer_id, "kind": "features", "sources": [str(f) for f in files],
        "features_read": len(keep), "features_written": len(geometries), "skipped": dict(skipped),
        "repaired": {"geometry": repaired}, "problems": [], "plans": [], "envelopes": 0, "height_rules": {},
        "tiles": 0, "tile_bytes_total": 0, "notes": [], "warnings": [], "bbox": bbox,
        "duration_s": 0.0,
    }  # fmt: skip
    try:
        write_feature_table(staging / "features.parquet", geometries, columns)
        report["duration_s"] = round(time.perf_counter() - started, 3)
        publish_features(settings, staging, layer_id, options, report, bbox, planning, {})
    except BaseException:
        import shutil

        shutil.rmtree(staging, ignore_errors=True)
        raise
    return report
