"""Feature access for OGC API Features: a layer's ``features.parquet`` queried by bbox, attributes and pages.

No web framework here (twin.api.ogc is the thin adapter). The ingest writes one GeoParquet file per published
layer version: footprints in CRS84 (WKB) with ``source_id``, ``height``, ``height_rule`` and the source
attributes. A ``FeatureStore`` reads it once per published version (the cache key is the target of the
``layers/<id>`` symlink and the file's mtime and size, so a re-ingest is picked up on the next request) and
keeps, per layer:

- every footprint's bounds as one (n, 4) float64 array, so a bbox query is four vectorised comparisons,
- the decoded shapely geometries, for the exact intersects test on the few candidates whose bounds cross
  the query box and for writing GeoJSON,
- the attribute table (arrow), from which only the requested page is turned into Python objects.

Results are in file order (the ingest's tile order), which is stable, so offset paging is consistent.
"""

from __future__ import annotations

import json
import math
import os
import threading
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import shapely

from twin.errors import InputError, NotFoundError

FEATURES_FILE = "features.parquet"
ID_COLUMN = "source_id"
DEFAULT_LIMIT = 10
MAX_LIMIT = 10_000
# Query parameters of the items operation itself; every other name must be a property to filter on.
STANDARD_PARAMETERS = ("bbox", "limit", "offset", "datetime", "f")
FORMATS = ("json", "geojson")

BoolArray = npt.NDArray[np.bool_]
IndexArray = npt.NDArray[np.int64]


@dataclass(frozen=True)
class FeatureTable:
    """One published version of a layer's features, ready for queries."""

    path: Path
    ids: list[str]
    id_index: dict[str, int]
    bounds: npt.NDArray[np.float64]  # (n, 4): west, south, east, north, degrees CRS84
    geometries: npt.NDArray[np.object_]  # shapely geometries, CRS84
    attributes: pa.Table  # every column but the geometry, NaN as null
    property_types: dict[str, str]  # name -> JSON-schema-like type: string, integer, number, boolean, ...

    def __len__(self) -> int:
        return len(self.ids)


@dataclass(frozen=True)
class FeatureQuery:
    """A validated items request: bbox (west, south, east, north), equality filters, page."""

    bbox: tuple[float, float, float, float] | None = None
    filters: tuple[tuple[str, Any], ...] = ()
    limit: int = DEFAULT_LIMIT
    offset: int = 0


@dataclass(frozen=True)
class FeaturePage:
    """The features of one page and how many matched in all."""

    indices: IndexArray
    number_matched: int


def _property_type(data_type: pa.DataType) -> str:
    if pa.types.is_dictionary(data_type):
        return _property_type(data_type.value_type)
    if pa.types.is_boolean(data_type):
        return "boolean"
    if pa.types.is_integer(data_type):
        return "integer"
    if pa.types.is_floating(data_type) or pa.types.is_decimal(data_type):
        return "number"
    if pa.types.is_string(data_type) or pa.types.is_large_string(data_type):
        return "string"
    if pa.types.is_date(data_type):
        return "date"
    if pa.types.is_timestamp(data_type):
        return "date-time"
    return "other"


def _geometry_column(schema: pa.Schema) -> str:
    """The primary geometry column named in the GeoParquet metadata (``geometry`` if there is none)."""
    meta = schema.metadata or {}
    if b"geo" in meta:
        try:
            return str(json.loads(meta[b"geo"])["primary_column"])
        except (KeyError, ValueError):
            pass
    return "geometry"


def load_features(path: Path) -> FeatureTable:
    """Read one ``features.parquet`` (GeoParquet, WKB in CRS84) into a FeatureTable."""
    table = pq.read_table(path)
    geometry_name = _geometry_column(table.schema)
    wkb = table.column(geometry_name).to_numpy(zero_copy_only=False)
    geometries = shapely.from_wkb(wkb)
    bounds = np.asarray(shapely.bounds(geometries), dtype=np.float64)
    attributes = table.drop_columns([geometry_name]).combine_chunks()
    columns = []
    for name in attributes.column_names:
        column = attributes.column(name)
        if pa.types.is_floating(column.type):
            # NaN and infinities are not JSON: a missing number is null.
            column = pc.if_else(pc.is_finite(column), column, pa.scalar(None, column.type))
        columns.append(column)
    attributes = pa.table(columns, names=attributes.column_names)
    if ID_COLUMN in attributes.column_names:
        ids = [str(value) for value in attributes.column(ID_COLUMN).to_pylist()]
    else:
        ids = [str(i) for i in range(len(geometries))]
    return FeatureTable(
        path=path,
        ids=ids,
        id_index={feature_id: index for index, feature_id in enumerate(ids)},
        bounds=bounds,
        geometries=geometries,
        attributes=attributes,
        property_types={field.name: _property_type(field.type) for field in attributes.schema},
    )


class FeatureStore:
    """Per-process cache of the feature tables of the published layers under one data dir."""

    def __init__(self, data_dir: Path, max_layers: int = 8) -> None:
        self.data_dir = data_dir
        self.max_layers = max_layers
        self._cache: OrderedDict[str, tuple[tuple[str, int, int], FeatureTable]] = OrderedDict()
        self._lock = threading.Lock()
        self._loading: dict[str, threading.Lock] = {}

    def path(self, layer_id: str) -> Path | None:
        """The features file of the layer's current version, if it is published with one (inside the data
        dir: a link that resolves elsewhere is treated as absent)."""
        root = os.path.realpath(self.data_dir)
        target = os.path.realpath(self.data_dir / "layers" / layer_id)
        if os.path.commonpath([root, target]) != root or target == root:
            return None
        path = Path(target) / FEATURES_FILE
        return path if path.is_file() else None

    def has_features(self, layer_id: str) -> bool:
        """Whether the layer is published with a features file."""
        return self.path(layer_id) is not None

    def table(self, layer_id: str) -> FeatureTable:
        """The layer's features (read once per published version); NotFoundError if it has none."""
        path = self.path(layer_id)
        if path is None:
            raise NotFoundError(f"layer '{layer_id}' has no features")
        try:
            stat = path.stat()
        except FileNotFoundError as error:  # re-published between the two calls
            raise NotFoundError(f"layer '{layer_id}' has no features") from error
        key = (str(path), stat.st_mtime_ns, stat.st_size)
        with self._lock:
            cached = self._cached(layer_id, key)
            if cached is not None:
                return cached
            loading = self._loading.setdefault(layer_id, threading.Lock())
        # One reader per layer: concurrent first requests wait for it, requests for other layers do not.
        with loading:
            with self._lock:
                cached = self._cached(layer_id, key)
            if cached is not None:
                return cached
            table = load_features(path)
            with self._lock:
                self._cache[layer_id] = (key, table)
                self._cache.move_to_end(layer_id)
                while len(self._cache) > self.max_layers:
                    self._cache.popitem(last=False)
            return table

    def _cached(self, layer_id: str, key: tuple[str, int, int]) -> FeatureTable | None:
        """The cached table if it is of this published version (call with the lock held)."""
        cached = self._cache.get(layer_id)
        if cached is None or cached[0] != key:
            return None
        self._cache.move_to_end(layer_id)
        return cached[1]


# --- parsing the request --------------------------------------------------------------------------------


def parse_bbox(text: str) -> tuple[float, float, float, float]:
    """``west,south,east,north`` (or with heights: ``west,south,zmin,east,north,zmax``) in CRS84 degrees.

    West greater than east is a box across the antimeridian. InputError if malformed.
    """
    parts = text.split(",")
    try:
        numbers = [float(part) for part in parts]
    except ValueError:
        numbers = []
    if len(numbers) not in (4, 6) or not all(math.isfinite(n) for n in numbers):
        raise InputError(
            f"bbox must be 4 (or 6) comma-separated numbers: west,south,east,north in degrees, got '{text[:100]}'"
        )
    if len(numbers) == 6:
        west, south, _, east, north, _ = numbers
    else:
        west, south, east, north = numbers
    if not (-180 <= west <= 180 and -180 <= east <= 180):
        raise InputError(f"bbox longitudes must be within -180..180, got {west} and {east}")
    if not (-90 <= south <= 90 and -90 <= north <= 90):
        raise InputError(f"bbox latitudes must be within -90..90, got {south} and {north}")
    if south > north:
        raise InputError(f"bbox south ({south}) is greater than north ({north})")
    return west, south, east, north


def _parse_count(name: str, text: str, minimum: int) -> int:
    try:
        value = int(text)
    except ValueError:
        raise InputError(f"{name} must be a whole number, got '{text[:50]}'") from None
    if value < minimum:
        raise InputError(f"{name} must be at least {minimum}, got {value}")
    return value


def _check_datetime(text: str) -> None:
    """Validate an RFC 3339 instant or interval (``a/b``, open ends ``..``)."""
    for part in text.split("/") if "/" in text else [text]:
        if part in ("..", "") and "/" in text:
            continue
        try:
            datetime.fromisoformat(part.replace("Z", "+00:00"))
        except ValueError:
            raise InputError(
                f"datetime must be an RFC 3339 date-time or interval, got '{text[:80]}'"
            ) from None


def _typed_value(name: str, kind: str, text: str) -> Any:
    try:
        if kind == "integer":
            return int(text)
        if kind == "number":
            value = float(text)
            if not math.isfinite(value):
                raise ValueError
            return value
        if kind == "boolean":
            lowered = text.lower()
            if lowered not in ("true", "false", "1", "0"):
                raise ValueError
            return lowered in ("true", "1")
        if kind == "date":
            return date.fromisoformat(text)
        if kind == "date-time":
            return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise InputError(f"'{name}' is a property of type {kind}; '{text[:50]}' is not one") from None
    if kind == "string":
        return text
    raise InputError(f"property '{name}' cannot be filtered on")


def parse_query(params: Iterable[tuple[str, str]], table: FeatureTable) -> FeatureQuery:
    """Validate an items request's query parameters against the layer's properties.

    ``bbox``, ``limit`` (default 10; larger than 10,000 means 10,000, as OGC API Features permits),
    ``offset``, ``datetime`` (validated; building layers have no temporal property, so it selects all) and
    ``f`` (json/geojson); any other name must be a property, compared for equality, typed by its column.
    Unknown names are refused (OGC API Features /req/core/query-param-unknown). InputError on any problem.
    """
    seen: dict[str, str] = {}
    for name, value in params:
        if name in seen:
            raise InputError(f"query parameter '{name}' is given more than once")
        seen[name] = value
    bbox = parse_bbox(seen["bbox"]) if "bbox" in seen else None
    limit = min(_parse_count("limit", seen["limit"], 1), MAX_LIMIT) if "limit" in seen else DEFAULT_LIMIT
    offset = _parse_count("offset", seen["offset"], 0) if "offset" in seen else 0
    if "datetime" in seen:
        _check_datetime(seen["datetime"])
    if "f" in seen and seen["f"] not in FORMATS:
        raise InputError(
            f"f must be one of {', '.join(FORMATS)} (GeoJSON is the only format), got '{seen['f']}'"
        )
    filters = []
    for name, value in seen.items():
        if name in STANDARD_PARAMETERS:
            continue
        kind = table.property_types.get(name)
        if kind is None:
            allowed = ", ".join([*STANDARD_PARAMETERS, *table.property_types])
            raise InputError(f"unknown query parameter '{name[:64]}'; this collection accepts: {allowed}")
        filters.append((name, _typed_value(name, kind, value)))
    return FeatureQuery(bbox=bbox, filters=tuple(filters), limit=limit, offset=offset)


# --- querying -------------------------------------------------------------------------------------------


def bbox_mask(table: FeatureTable, bbox: tuple[float, float, float, float]) -> BoolArray:
    """Which features intersect the box (degrees CRS84; west > east crosses the antimeridian), exactly."""
    west, south, east, north = bbox
    boxes = (
        [(west, south, east, north)]
        if west <= east
        else [(west, south, 180.0, north), (-180.0, south, east, north)]
    )
    b = table.bounds
    mask = np.zeros(len(table), dtype=bool)
    for x0, y0, x1, y1 in boxes:
        overlaps = (b[:, 0] <= x1) & (b[:, 2] >= x0) & (b[:, 1] <= y1) & (b[:, 3] >= y0)
        # Features whose bounds lie inside the box intersect it; only those crossing its edge need GEOS.
        inside = (b[:, 0] >= x0) & (b[:, 2] <= x1) & (b[:, 1] >= y0) & (b[:, 3] <= y1)
        edge = np.flatnonzero(overlaps & ~inside)
        mask |= inside
        if len(edge):
            query_box = shapely.box(x0, y0, x1, y1)
            mask[edge[shapely.intersects(table.geometries[edge], query_box)]] = True
    return mask


def filter_mask(table: FeatureTable, name: str, value: Any) -> BoolArray:
    """Which features have property ``name`` equal to ``value`` (nulls never match)."""
    column = table.attributes.column(name)
    scalar_type = column.type.value_type if pa.types.is_dictionary(column.type) else column.type
    if pa.types.is_dictionary(column.type):
        column = column.cast(scalar_type)
    equal = pc.fill_null(pc.equal(column, pa.scalar(value, type=scalar_type)), False)
    return np.asarray(equal.to_numpy(zero_copy_only=False), dtype=bool)


def query(table: FeatureTable, request: FeatureQuery) -> FeaturePage:
    """The page of features matching a query, in file order, and the number matched in all."""
    mask: BoolArray | None = None
    if request.bbox is not None:
        mask = bbox_mask(table, request.bbox)
    for name, value in request.filters:
        selected = filter_mask(table, name, value)
        mask = selected if mask is None else mask & selected
    if mask is None:
        matched = len(table)
        stop = min(request.offset + request.limit, matched)
        indices = np.arange(min(request.offset, matched), stop, dtype=np.int64)
    else:
        hits = np.flatnonzero(mask)
        matched = len(hits)
        indices = hits[request.offset : request.offset + request.limit].astype(np.int64)
    return FeaturePage(indices=indices, number_matched=matched)


# --- GeoJSON --------------------------------------------------------------------------------------------


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, np.generic):
        return value.item()
    return str(value)


def features_json(table: FeatureTable, indices: Sequence[int] | IndexArray) -> list[str]:
    """GeoJSON Feature objects (as JSON text) of the given features: id = source_id, CRS84 coordinates."""
    index_array = np.asarray(indices, dtype=np.int64)
    if len(index_array) == 0:
        return []
    geometries = shapely.to_geojson(table.geometries[index_array])
    rows = table.attributes.take(pa.array(index_array)).to_pylist()
    out: list[str] = []
    for position, row in zip(index_array.tolist(), rows, strict=True):
        out.append(
            '{"type":"Feature","id":'
            + json.dumps(table.ids[position], ensure_ascii=False)
            + ',"geometry":'
            + str(geometries[len(out)])
            + ',"properties":'
            + json.dumps(row, ensure_ascii=False, default=_json_default, allow_nan=False)
            + "}"
        )
    return out


def feature_collection_json(
    table: FeatureTable, page: FeaturePage, time_stamp: str, links: list[dict[str, str]]
) -> str:
    """A GeoJSON FeatureCollection of one page, with OGC API's numberMatched/numberReturned/timeStamp/links."""
    head = {
        "type": "FeatureCollection",
        "timeStamp": time_stamp,
        "numberMatched": page.number_matched,
        "numberReturned": len(page.indices),
        "links": links,
    }
    return (
        json.dumps(head, ensure_ascii=False)[:-1]
        + ',"features":['
        + ",".join(features_json(table, page.indices))
        + "]}"
    )


def feature_json(table: FeatureTable, feature_id: str, links: list[dict[str, str]]) -> str:
    """One feature as a GeoJSON Feature with links; NotFoundError if no feature has this id."""
    index = table.id_index.get(feature_id)
    if index is None:
        raise NotFoundError(f"feature '{feature_id[:100]}' does not exist")
    [text] = features_json(table, [index])
    return text[:-1] + ',"links":' + json.dumps(links, ensure_ascii=False) + "}"
