"""Reader for 2D/2.5D building footprints: GeoJSON, GeoPackage, Shapefile, GeoParquet, FlatGeobuf.

Produces `Footprints` in a metric working CRS with a height per building from the first rule that applies:
a height attribute, storeys x storey height, or a default height. Arrow from end to end: GeoParquet through
pyarrow, the OGR formats through GDAL's Arrow stream (pyogrio.read_arrow); attributes stay an Arrow table
and geometries flat arrays (`twin.ingest.rings`). pandas and geopandas are not imported: they cost 0.4 s
of start-up alone, a fifth of the time budget for 100,000 buildings (pyogrio imports them, so it is
imported only for the formats that need GDAL).
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.parquet as pq
import shapely
from pyproj import CRS, Transformer

from twin.errors import CRSError, InputError
from twin.geo.crs import is_metric_projected, local_metric_crs, parse_crs, split_crs
from twin.ingest import prefetch
from twin.ingest.attributes import building_heights, source_ids
from twin.ingest.detect import FOOTPRINT_FORMATS, SourceFormat, detect_format
from twin.ingest.model import Footprints, IngestLog, empty_rows, take_rows
from twin.ingest.repair import repair_footprints_parallel, repair_rings_in_halves
from twin.ingest.rings import Rings, rings_from_geometries
from twin.ingest.wkb import as_wkb_array, decode_polygons, decode_shapely, wkb_kinds


@dataclass(frozen=True)
class FootprintOptions:
    """How footprints become buildings (CLI flags of `twin ingest`)."""

    crs: str | None = None
    height_attr: str | None = None
    storeys_attr: str | None = None
    storey_height: float = 3.0
    default_height: float = 10.0
    id_attr: str | None = None
    source_layer: str | None = None


def _geojson_declares_crs(path: Path) -> bool:
    with path.open("rb") as handle:
        head = handle.read(1 << 16).decode("utf-8", errors="replace")
    return re.search(r'"crs"\s*:', head) is not None


POLYGONAL = {"Polygon", "MultiPolygon", "Polygon Z", "MultiPolygon Z", "3D Polygon", "3D MultiPolygon"}


def _choose_layer(path: Path, target: str, wanted: str | None) -> str | None:
    """The layer to read from a multi-layer container: `wanted`, else the only polygon layer."""
    import pyogrio  # imported when needed: it imports geopandas and pandas (0.4 s)

    layers = pyogrio.list_layers(target)
    names = [str(name) for name, _ in layers]
    if wanted is not None:
        if wanted not in names:
            raise InputError(f"{path}: has no layer '{wanted}'; its layers are: {', '.join(names)}")
        return wanted
    if len(layers) <= 1:
        return None
    polygonal = [str(name) for name, kind in layers if kind is not None and str(kind) in POLYGONAL]
    if len(polygonal) == 1:
        return polygonal[0]
    listing = ", ".join(f"{name} ({kind})" for name, kind in layers)
    raise InputError(f"{path}: has {len(layers)} layers ({listing}); choose one with --source-layer")


@dataclass
class SourceTable:
    """One source file as read: attributes, WKB geometries, declared CRS and container feature ids."""

    path: Path
    fmt: SourceFormat
    attributes: pa.Table
    wkb: pa.Array
    crs: CRS | None
    fids: npt.NDArray[np.object_] | None


def _geoparquet_crs(info: dict[str, Any]) -> CRS | None:
    # GeoParquet: a missing "crs" means OGC:CRS84; an explicit null means unknown.
    if "crs" not in info:
        return CRS.from_user_input("OGC:CRS84")
    if info["crs"] is None:
        return None
    value = info["crs"]
    return CRS.from_user_input(json.dumps(value) if isinstance(value, dict) else value)


def _read_geoparquet(path: Path) -> SourceTable:
    handle = pq.ParquetFile(path)
    meta = handle.schema_arrow.metadata or {}
    if b"geo" not in meta:
        raise InputError(f"{path}: Parquet without GeoParquet metadata (no 'geo' key): no geometry column")
    geo = json.loads(meta[b"geo"])
    primary = str(geo["primary_column"])
    info = geo["columns"][primary]
    table = prefetch.take(path)
    if table is None:
        table = handle.read()
    # Geometry columns and their bbox "covering" columns are not attributes.
    drop = set(geo.get("columns", {}))
    for column_info in geo.get("columns", {}).values():
        for spec in (column_info.get("covering") or {}).values():
            for ref in spec.values():
                if isinstance(ref, list) and ref:
                    drop.add(str(ref[0]))
    attributes = table.drop_columns([c for c in table.column_names if c in drop])
    return SourceTable(path, SourceFormat.GEOPARQUET, attributes, as_wkb_array(table.column(primary)),
                       _geoparquet_crs(info), None)  # fmt: skip


def _read_ogr(path: Path, fmt: SourceFormat, source_layer: str | None) -> SourceTable:
    import pyogrio

    target = f"/vsizip/{path}" if fmt == SourceFormat.SHAPEFILE_ZIP else str(path)
    layer = _choose_layer(path, target, source_layer)
    with_fids = fmt in (SourceFormat.GEOPACKAGE, SourceFormat.FLATGEOBUF, SourceFormat.GEOJSON,
                        SourceFormat.GEOJSONSEQ)  # fmt: skip
    try:
        meta, table = pyogrio.read_arrow(target, layer=layer, return_fids=with_fids)
    except (UnicodeDecodeError, pa.ArrowInvalid):
        # dBase files without a .cpg are often Windows-1252, and their 10-byte field names can cut a
        # UTF-8 umlaut in half; read them as Latin-1 rather than not at all.
        meta, table = pyogrio.read_arrow(target, layer=layer, return_fids=with_fids, encoding="latin1")
    geometry_name = meta.get("geometry_name") or "wkb_geometry"
    if geometry_name not in table.column_names:
        raise InputError(f"{path}: has no geometry column")
    fids = None
    # The container's feature ids come as a column named after its FID column ("fid" in a GeoPackage,
    # "OGC_FID" elsewhere): ids, not attributes.
    fid_column = meta.get("fid_column") or "OGC_FID"
    if not with_fids or fid_column not in table.column_names:
        fid_column = None
    if fid_column is not None:
        fids = np.asarray(table.column(fid_column).to_numpy().astype(str), dtype=object)
    wkb = as_wkb_array(table.column(geometry_name))
    attributes = table.drop_columns([c for c in (geometry_name, fid_column) if c is not None])
    crs = CRS.from_user_input(meta["crs"]) if meta.get("crs") else None
    return SourceTable(path, fmt, attributes, wkb, crs, fids)


def read_source(path: Path, source_layer: str | None = None) -> SourceTable:
    """One source file as a SourceTable; InputError naming the file when it cannot be read."""
    fmt = detect_format(path)
    if fmt not in FOOTPRINT_FORMATS:
        raise InputError(f"{path}: {fmt.value} is not supported as building footprints yet")
    try:
        source = (
            _read_geoparquet(path) if fmt == SourceFormat.GEOPARQUET else _read_ogr(path, fmt, source_layer)
        )
    except (InputError, CRSError):
        raise
    except Exception as exc:
        message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise InputError(f"{path}: cannot read as {fmt.value}: {message}") from exc
    if len(source.wkb) == 0:
        raise InputError(f"{path}: contains no features")
    return source


@dataclass
class Decoded:
    """A source's geometries: polygon rows as flat rings, the rest as shapely geometries."""

    rings: Rings  # rows `polygon_rows`, rings as stored (closed)
    polygon_rows: npt.NDArray[np.int64]
    other: npt.NDArray[np.object_]  # rows `other_rows`
    other_rows: npt.NDArray[np.int64]
    has_z: bool

    def total_bounds(self) -> tuple[float, float, float, float]:
        """(minx, miny, maxx, maxy) over the finite coordinates of all rows."""
        xy = self.rings.xy
        if len(self.other):
            xy = np.concatenate([xy, shapely.get_coordinates(self.other)])
        xy = np.compress(np.isfinite(xy[:, 0]) & np.isfinite(xy[:, 1]), xy, axis=0)
        if not len(xy):
            return (0.0, 0.0, 0.0, 0.0)
        return (float(xy[:, 0].min()), float(xy[:, 1].min()), float(xy[:, 0].max()), float(xy[:, 1].max()))


def decode(source: SourceTable) -> Decoded:
    """Decode the WKB column: numpy + geoarrow for (Multi)Polygons, shapely for everything else."""
    kinds = wkb_kinds(source.wkb)
    polygonal = kinds.polygonal
    polygon_rows = np.flatnonzero(polygonal)
    other_rows = np.flatnonzero(~polygonal)
    has_z = bool(kinds.has_z[polygonal].any())
    rings = decode_polygons(source.wkb, polygon_rows, has_z, source.path)
    other = decode_shapely(source.wkb, other_rows, source.path) if len(other_rows) else np.empty(0, object)
    if len(other):
        has_z = has_z or bool(shapely.has_z(other).any())
    if has_z and rings.z is None:
        rings.z = np.full(len(rings.xy), np.nan)
    return Decoded(rings, polygon_rows, other, other_rows, has_z)


def _resolve_crs(source: SourceTable, decoded: Decoded, override: str | None) -> CRS:
    path = source.path
    if override:
        return parse_crs(override)
    if source.fmt in (SourceFormat.GEOJSON, SourceFormat.GEOJSONSEQ) and not _geojson_declares_crs(path):
        # RFC 7946: GeoJSON without a crs member is longitude/latitude (CRS84). Municipal exports often
        # carry UTM coordinates without saying so; such files are refused rather than misplaced.
        minx, miny, maxx, maxy = decoded.total_bounds()
        if minx < -180 or maxx > 180 or miny < -90 or maxy > 90:
            raise CRSError(
                f"{path}: declares no CRS and its coordinates are not longitude/latitude (RFC 7946); "
                "pass --crs, e.g. --crs EPSG:25832"
            )
        return CRS.from_user_input("OGC:CRS84")
    if source.crs is None:
        raise CRSError(f"{path}: has no coordinate reference system; pass --crs, e.g. --crs EPSG:25832")
    return source.crs


def _working_crs(crs: CRS, total_bounds: Callable[[], tuple[float, float, float, float]]) -> CRS:
    horizontal, _, _ = split_crs(crs)
    if is_metric_projected(horizontal):
        return horizontal
    # Geographic or non-metre projected input: work in a local transverse Mercator so that tolerances,
    # areas and triangulation are in metres.
    to_lonlat = Transformer.from_crs(
        horizontal, horizontal.geodetic_crs or CRS.from_epsg(4326), always_xy=True
    )
    minx, miny, maxx, maxy = total_bounds()
    lon, lat = to_lonlat.transform((minx + maxx) / 2, (miny + maxy) / 2)
    if not (np.isfinite(lon) and np.isfinite(lat)):
        raise CRSError(f"coordinates cannot be placed on the Earth in {crs.name}")
    return local_metric_crs(horizontal, float(lon), float(lat))


def _to_working(decoded: Decoded, source: CRS, working: CRS) -> None:
    """Transform the decoded geometries into the working CRS, in place."""
    horizontal, _, _ = split_crs(source)
    if horizontal == working:
        return
    transformer = Transformer.from_crs(horizontal, working, always_xy=True)
    xy = decoded.rings.xy
    if len(xy):
        x, y = transformer.transform(xy[:, 0], xy[:, 1])
        decoded.rings.xy = np.column_stack([x, y])
    if len(decoded.other):

        def transform(coords: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
            out = coords.copy()
            out[:, 0], out[:, 1] = transformer.transform(coords[:, 0], coords[:, 1])
            return out

        has_z = bool(shapely.has_z(decoded.other).any())
        decoded.other = np.asarray(shapely.transform(decoded.other, transform, include_z=has_z), dtype=object)


def _repair(
    decoded: Decoded, ids: npt.NDArray[np.object_], log: IngestLog
) -> tuple[Rings, npt.NDArray[np.int64]]:
    """Repaired open rings of one source and the source row of each kept building."""
    rings, kept = repair_rings_in_halves(decoded.rings, ids[decoded.polygon_rows], log)
    parts, rows = [rings], [decoded.polygon_rows[kept]]
    if len(decoded.other):
        repaired, keep = repair_footprints_parallel(decoded.other, ids[decoded.other_rows], log)
        parts.append(rings_from_geometries(repaired[keep], include_z=decoded.has_z))
        rows.append(decoded.other_rows[keep])
    return Rings.concat(parts), np.concatenate(rows)


def _fill_missing_z(rings: Rings, ids: npt.NDArray[np.object_], log: IngestLog) -> npt.NDArray[np.bool_]:
    """Vertices without z take the lowest z of their building; returns the buildings that have any z."""
    assert rings.z is not None
    z = rings.z
    ok = np.isfinite(z)
    if ok.all():
        return np.ones(rings.building_count, dtype=bool)
    owner = rings.vertex_building
    has_any = np.bincount(owner[ok], minlength=rings.building_count) > 0
    log.skip("z values missing (NaN) for every vertex", list(ids[~has_any]))
    fill = np.full(rings.building_count, np.inf)
    np.minimum.at(fill, owner[ok], z[ok])
    log.repair(
        "missing vertex z filled with the building's lowest z", len(np.unique(owner[~ok & has_any[owner]]))
    )
    z[~ok] = fill[owner[~ok]]
    return has_any


def read_footprints(paths: list[Path], options: FootprintOptions, log: IngestLog) -> Footprints:
    """Read, repair and attach heights to the footprints of one or more files (same attributes or not)."""
    sources: list[tuple[SourceTable, Decoded, CRS, pa.Array]] = []
    t = time.perf_counter()
    for path in paths:
        source = read_source(path, options.source_layer)
        t = log.lap("read", t)
        decoded = decode(source)
        crs = _resolve_crs(source, decoded, options.crs)
        t = log.lap("decode", t)
        ids = source_ids(source.attributes, source.fids, options.id_attr, path, log)
        t = log.lap("attributes", t)
        sources.append((source, decoded, crs, ids))
    first_source, first_decoded, first_crs, _ = sources[0]
    try:
        working = _working_crs(first_crs, first_decoded.total_bounds)
    except CRSError as exc:
        raise CRSError(f"{first_source.path}: {exc}") from exc

    ring_parts, row_parts, tables, id_parts = [], [], [], []
    offset = 0
    for source, decoded, crs, ids in sources:
        if split_crs(crs)[1] != split_crs(first_crs)[1]:
            raise CRSError(
                f"{source.path}: its vertical CRS differs from {first_source.path}'s; ingest them separately"
            )
        _to_working(decoded, crs, working)
        t = log.lap("decode", t)
        ids_np = np.asarray(ids.to_numpy(zero_copy_only=False), dtype=object)
        rings, rows = _repair(decoded, ids_np, log)
        t = log.lap("repair", t)
        ring_parts.append(rings)
        row_parts.append(rows + offset)
        tables.append(source.attributes)
        id_parts.append(ids)
        offset += len(source.wkb)
    has_z = any(d.has_z for _, d, _, _ in sources)
    rings = Rings.concat(ring_parts)  # NaN z for the vertices of files without z
    rows = np.concatenate(row_parts)
    if len(tables) == 1:
        table = tables[0]
    elif all(t.num_columns == 0 for t in tables):
        table = empty_rows(sum(t.num_rows for t in tables))
    else:
        # A file without attributes gets nulls in a column of the others, so that its rows are kept.
        model = next(t for t in tables if t.num_columns).schema.field(0)
        filled = [
            t if t.num_columns else pa.table({model.name: pa.nulls(t.num_rows, model.type)}) for t in tables
        ]
        table = pa.concat_tables(filled, promote_options="permissive")
    all_ids = (
        id_parts[0] if len(id_parts) == 1 else pa.concat_arrays([i.cast(pa.large_string()) for i in id_parts])
    )
    if len(paths) > 1 and pa.compute.count_distinct(all_ids).as_py() != len(all_ids):
        log.warn("source ids are not unique across the input; duplicates keep their ids")

    if has_z and rings.building_count:
        ids_kept = np.asarray(all_ids.take(pa.array(rows)).to_numpy(zero_copy_only=False), dtype=object)
        has_any = _fill_missing_z(rings, ids_kept, log)
        if not has_any.all():
            keep = np.flatnonzero(has_any)
            rings, rows = rings.take(keep), rows[keep]

    if not rings.building_count:
        raise InputError(f"{', '.join(map(str, paths))}: no usable building footprints (all skipped)")
    index = pa.array(rows)
    attributes = take_rows(table, index)
    height, rule = building_heights(attributes, options, paths[0], log)
    log.lap("attributes", t)
    _, vertical, _ = split_crs(first_crs)
    return Footprints(
        source=paths,
        crs=working if vertical is None else CRS.from_user_input(first_crs),
        rings=rings,
        rows=rows,
        ids=all_ids.take(index),
        attributes=attributes,
        height=height,
        height_rule=rule,
        has_z=has_z,
        vertical_crs=vertical,
        log=log,
    )
