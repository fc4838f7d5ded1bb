"""Reader for 2D/2.5D building footprints: GeoJSON, GeoPackage, Shapefile, GeoParquet, FlatGeobuf.

Produces `Footprints` in a metric working CRS with a height per building from the first rule that applies:
a height attribute, storeys x storey height, or a default height.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import numpy as np
import numpy.typing as npt
import pandas as pd
import pyogrio
import shapely
from pyproj import CRS, Transformer

from twin.errors import CRSError, InputError
from twin.geo.crs import is_metric_projected, local_metric_crs, parse_crs, split_crs
from twin.ingest.detect import FOOTPRINT_FORMATS, SourceFormat, detect_format
from twin.ingest.model import Footprints, IngestLog
from twin.ingest.repair import repair_footprints_parallel

# Matched case-insensitively against column names, in this order of preference: overall heights first.
HEIGHT_NAMES = [
    "height", "measuredheight", "measured_height", "building_height", "bldg_height", "gebaeudehoehe",
    "gebäudehöhe", "geb_hoehe", "hoehe", "höhe", "hoehe_max", "hoehe_ueber_grund", "hauteur", "height_roof",
    "roof_height", "hoehe_first", "firsthoehe", "max_height", "hmax", "h_max", "z_max", "height_wall",
]  # fmt: skip
STOREY_NAMES = [
    "storeys", "stories", "storeysaboveground", "storeys_above_ground", "building:levels", "building_levels",
    "levels", "nb_lev", "geschosse", "anzahl_geschosse", "anzahlderoberirdischengeschosse",
    "anzahl_der_oberirdischen_geschosse", "anz_geschosse", "anz_gesch", "anzahlgeschosse", "geschosszahl",
    "geschossanzahl", "vollgeschosse", "anzahl_og", "etagen", "floors", "num_floors", "nombre_etages",
    "nb_niveaux",
]  # fmt: skip
ID_NAMES = [
    "gml_id", "id", "objectid", "object_id", "objekt_id", "oid", "uuid", "gmlid", "osm_id", "id_source",
    "identifier", "building_id", "gebaeude_id", "fid",
]  # fmt: skip

MAX_PLAUSIBLE_HEIGHT = 1000.0  # metres; taller values are data errors (mm instead of m, sentinels)


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


def _read_frame(
    path: Path, fmt: SourceFormat, source_layer: str | None = None
) -> tuple[gpd.GeoDataFrame, npt.NDArray[np.object_] | None]:
    """A GeoDataFrame and the per-feature source ids the container keeps (OGR FIDs), if any."""
    try:
        if fmt == SourceFormat.GEOPARQUET:
            frame = gpd.read_parquet(path)
            return frame, None
        target = f"/vsizip/{path}" if fmt == SourceFormat.SHAPEFILE_ZIP else str(path)
        layer = _choose_layer(path, target, source_layer)
        try:
            frame = pyogrio.read_dataframe(target, layer=layer, fid_as_index=True, use_arrow=True)
        except UnicodeDecodeError:
            # dBase files without a .cpg are often Windows-1252, and their 10-byte field names can cut a
            # UTF-8 umlaut in half; read them as Latin-1 rather than not at all.
            frame = pyogrio.read_dataframe(target, layer=layer, fid_as_index=True, encoding="latin1")
    except (InputError, CRSError):
        raise
    except Exception as exc:
        message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise InputError(f"{path}: cannot read as {fmt.value}: {message}") from exc
    if not isinstance(frame, gpd.GeoDataFrame):
        raise InputError(f"{path}: has no geometry column")
    fids = None
    if fmt in (
        SourceFormat.GEOPACKAGE,
        SourceFormat.FLATGEOBUF,
        SourceFormat.GEOJSON,
        SourceFormat.GEOJSONSEQ,
    ):
        fids = np.asarray(frame.index.astype(str), dtype=object)
    frame = frame.reset_index(drop=True)
    return frame, fids


def _resolve_crs(path: Path, fmt: SourceFormat, frame: gpd.GeoDataFrame, override: str | None) -> CRS:
    if override:
        return parse_crs(override)
    declared: CRS | None = frame.crs
    if fmt in (SourceFormat.GEOJSON, SourceFormat.GEOJSONSEQ) and not _geojson_declares_crs(path):
        # RFC 7946: GeoJSON without a crs member is longitude/latitude (CRS84). Municipal exports often
        # carry UTM coordinates without saying so; such files are refused rather than misplaced.
        minx, miny, maxx, maxy = frame.total_bounds if len(frame) else (0, 0, 0, 0)
        if np.all(np.isfinite([minx, miny, maxx, maxy])) and (
            minx < -180 or maxx > 180 or miny < -90 or maxy > 90
        ):
            raise CRSError(
                f"{path}: declares no CRS and its coordinates are not longitude/latitude (RFC 7946); "
                "pass --crs, e.g. --crs EPSG:25832"
            )
        return CRS.from_user_input("OGC:CRS84")
    if declared is None:
        raise CRSError(f"{path}: has no coordinate reference system; pass --crs, e.g. --crs EPSG:25832")
    return CRS.from_user_input(declared)


def _find_column(
    columns: list[str], wanted: str | None, names: list[str], path: Path, what: str
) -> str | None:
    lowered = {column.lower(): column for column in columns}
    if wanted:
        if wanted in columns:
            return wanted
        if wanted.lower() in lowered:
            return lowered[wanted.lower()]
        raise InputError(f"{path}: no attribute '{wanted}' for {what}; attributes are: {', '.join(columns)}")
    for name in names:
        if name in lowered:
            return lowered[name]
    return None


def _numeric(series: pd.Series) -> npt.NDArray[np.float64]:
    """Numbers from a column that may hold strings such as '12,5' or '12.5 m'."""
    if pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series):
        return pd.to_numeric(series, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
    text = series.astype("string").str.replace(",", ".", regex=False).str.extract(r"(-?\d+(?:\.\d+)?)")[0]
    return pd.to_numeric(text, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)


def _source_ids(
    frame: gpd.GeoDataFrame,
    fids: npt.NDArray[np.object_] | None,
    id_attr: str | None,
    path: Path,
    log: IngestLog,
) -> npt.NDArray[np.object_]:
    columns = [c for c in frame.columns if c != frame.geometry.name]
    if id_attr:
        column = _find_column(columns, id_attr, [], path, "--id-attr")
        assert column is not None
        return np.asarray(frame[column].astype("string").fillna("").to_numpy(dtype=object), dtype=object)
    lowered = {c.lower(): c for c in columns}
    candidates = [
        lowered[name] for name in ID_NAMES if name in lowered and frame[lowered[name]].notna().all()
    ]
    for column in candidates:
        if frame[column].is_unique:
            return np.asarray(frame[column].astype("string").to_numpy(dtype=object), dtype=object)
    for column in candidates:
        # An id column with a few repeats (OSM multipolygons split into parts) still names the source object.
        if frame[column].nunique() >= 0.95 * len(frame):
            log.warn(
                f"{path}: source ids in '{column}' are not unique ({frame[column].duplicated().sum()} repeats)"
            )
            return np.asarray(frame[column].astype("string").to_numpy(dtype=object), dtype=object)
    if fids is not None and len(set(fids)) == len(fids):
        return fids
    return np.array([f"{path.stem}.{i}" for i in range(len(frame))], dtype=object)


def read_footprint_file(
    path: Path, options: FootprintOptions, log: IngestLog
) -> tuple[gpd.GeoDataFrame, npt.NDArray[np.object_], CRS]:
    """One source file as (frame, source ids, CRS); InputError/CRSError naming the file on whole-file problems."""
    fmt = detect_format(path)
    if fmt not in FOOTPRINT_FORMATS:
        raise InputError(f"{path}: {fmt.value} is not supported as building footprints yet")
    frame, fids = _read_frame(path, fmt, options.source_layer)
    if len(frame) == 0:
        raise InputError(f"{path}: contains no features")
    crs = _resolve_crs(path, fmt, frame, options.crs)
    ids = _source_ids(frame, fids, options.id_attr, path, log)
    return frame, ids, crs


def _working_crs(crs: CRS, frame: gpd.GeoDataFrame) -> CRS:
    horizontal, _, _ = split_crs(crs)
    if is_metric_projected(horizontal):
        return horizontal
    # Geographic or non-metre projected input: work in a local transverse Mercator so that tolerances,
    # areas and triangulation are in metres.
    to_lonlat = Transformer.from_crs(
        horizontal, horizontal.geodetic_crs or CRS.from_epsg(4326), always_xy=True
    )
    minx, miny, maxx, maxy = frame.total_bounds
    lon, lat = to_lonlat.transform(float(minx + maxx) / 2, float(miny + maxy) / 2)
    if not (np.isfinite(lon) and np.isfinite(lat)):
        raise CRSError(f"coordinates cannot be placed on the Earth in {crs.name}")
    return local_metric_crs(horizontal, float(lon), float(lat))


def _to_working(geoms: npt.NDArray[np.object_], source: CRS, working: CRS) -> npt.NDArray[np.object_]:
    horizontal, _, _ = split_crs(source)
    if horizontal == working:
        return geoms
    transformer = Transformer.from_crs(horizontal, working, always_xy=True)
    has_z = shapely.has_z(geoms)

    def transform(coords: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        x, y = transformer.transform(coords[:, 0], coords[:, 1])
        out = coords.copy()
        out[:, 0], out[:, 1] = x, y
        return out

    result = np.asarray(shapely.transform(geoms, transform, include_z=bool(has_z.any())), dtype=object)
    return result


def read_footprints(paths: list[Path], options: FootprintOptions, log: IngestLog) -> Footprints:
    """Read, repair and attach heights to the footprints of one or more files (same attributes or not)."""
    frames = []
    first_crs: CRS | None = None
    for path in paths:
        frame, ids, crs = read_footprint_file(path, options, log)
        geometry_name = frame.geometry.name
        attributes = pd.DataFrame(frame.drop(columns=[geometry_name]))
        frames.append((path, np.asarray(frame.geometry.array, dtype=object), ids, attributes, crs))
        first_crs = first_crs or crs
    assert first_crs is not None
    first_path, first_geoms = frames[0][0], frames[0][1]
    bounds_frame = gpd.GeoDataFrame(geometry=first_geoms, crs=None)
    try:
        working = _working_crs(first_crs, bounds_frame)
    except CRSError as exc:
        raise CRSError(f"{first_path}: {exc}") from exc

    geoms_parts, ids_parts, attr_parts = [], [], []
    for path, geoms, ids, attributes, crs in frames:
        if split_crs(crs)[1] != split_crs(first_crs)[1]:
            raise CRSError(f"{path}: its vertical CRS differs from {first_path}'s; ingest them separately")
        geoms_parts.append(_to_working(geoms, crs, working))
        ids_parts.append(ids)
        attr_parts.append(attributes)
    geoms = np.concatenate(geoms_parts)
    ids = np.concatenate(ids_parts)
    attributes = pd.concat(attr_parts, ignore_index=True) if len(attr_parts) > 1 else attr_parts[0]
    if len(frames) > 1 and len(set(ids)) != len(ids):
        log.warn("source ids are not unique across the input; duplicates keep their ids")

    geoms, keep = repair_footprints_parallel(geoms, ids, log)
    geoms, ids, attributes = (
        geoms[keep],
        ids[keep],
        attributes.iloc[np.flatnonzero(keep)].reset_index(drop=True),
    )

    has_z = bool(shapely.has_z(geoms).any()) if len(geoms) else False
    if has_z:
        coords, owner = shapely.get_coordinates(geoms, include_z=True, return_index=True)
        z_ok = np.isfinite(coords[:, 2])
        if not z_ok.all():
            # Vertices without z take the lowest z of their building; buildings without any z are skipped.
            has_any = np.bincount(owner[z_ok], minlength=len(geoms)) > 0
            log.skip("z values missing (NaN) for every vertex", list(ids[~has_any]))
            fill = np.full(len(geoms), np.inf)
            np.minimum.at(fill, owner[z_ok], coords[z_ok, 2])
            coords[~z_ok, 2] = fill[owner[~z_ok]]
            log.repair(
                "missing vertex z filled with the building's lowest z",
                len(np.unique(owner[~z_ok & has_any[owner]])),
            )
            geoms = np.asarray(shapely.set_coordinates(geoms.copy(), coords), dtype=object)
            geoms, ids = geoms[has_any], ids[has_any]
            attributes = attributes.iloc[np.flatnonzero(has_any)].reset_index(drop=True)

    height, rule = building_heights(attributes, options, paths[0], log)
    if not len(geoms):
        raise InputError(f"{', '.join(map(str, paths))}: no usable building footprints (all skipped)")
    _, vertical, _ = split_crs(first_crs)
    return Footprints(
        source=paths,
        crs=working if vertical is None else CRS.from_user_input(first_crs),
        geometries=geoms,
        ids=ids,
        attributes=attributes,
        height=height,
        height_rule=rule,
        has_z=has_z,
        vertical_crs=vertical,
        log=log,
    )


def building_heights(
    attributes: pd.DataFrame, options: FootprintOptions, path: Path, log: IngestLog
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.object_]]:
    """Height in metres per building and the rule that gave it ("attribute:<name>", "storeys", "default")."""
    n = len(attributes)
    columns = list(attributes.columns)
    height = np.full(n, np.nan)
    rule = np.full(n, "default", dtype=object)

    height_column = _find_column(columns, options.height_attr, HEIGHT_NAMES, path, "--height-attr")
    if height_column is not None:
        values = _numeric(attributes[height_column])
        implausible = np.isfinite(values) & (values > MAX_PLAUSIBLE_HEIGHT)
        if implausible.any():
            log.warn(
                f"{int(implausible.sum())} heights in '{height_column}' above {MAX_PLAUSIBLE_HEIGHT:.0f} m ignored"
            )
        ok = np.isfinite(values) & (values > 0) & ~implausible
        height[ok] = values[ok]
        rule[ok] = f"attribute:{height_column}"

    storeys_column = _find_column(columns, options.storeys_attr, STOREY_NAMES, path, "--storeys-attr")
    if storeys_column is not None:
        storeys = _numeric(attributes[storeys_column])
        ok = np.isnan(height) & np.isfinite(storeys) & (storeys > 0) & (storeys < 300)
        height[ok] = storeys[ok] * options.storey_height
        rule[ok] = "storeys"

    missing = np.isnan(height)
    height[missing] = options.default_height
    return height, rule
