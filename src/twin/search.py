"""Search over ingested building layers, and summaries of their attributes, from ``features.parquet``.

No web framework here: the API's search and config routers are thin adapters over these functions.
A layer's parquet file (footprints in CRS84 + attributes, written by the ingest) is read once per published
version and kept in a small in-process cache keyed by the file's path, modification time and size.
"""

from __future__ import annotations

import threading
import unicodedata
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypedDict, TypeVar, cast

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import shapely

FEATURES_FILE = "features.parquet"
LABEL_COLUMNS = ("name", "adresse", "address")
# German footprint exports name address parts in German; city model layers carry twin's canonical names.
SEARCH_COLUMNS = (
    "source_id", "name", "adresse", "address", "strasse", "hausnummer", "plz", "ort", "street", "house_number",
    "postcode", "locality",
)  # fmt: skip
CODE_ATTRIBUTES = frozenset({"gebaeudefunktion", "function", "dachform", "roof_type", "funktion"})
MAX_CATEGORIES = 12
_UMLAUTS = str.maketrans({"ä": "ae", "ö": "oe", "ü": "ue"})


class SearchHit(TypedDict):
    """One search result: a building and where its centre is (degrees CRS84, metres above its base)."""

    id: str
    label: str
    layer: str
    lon: float
    lat: float
    height: float


class PropertySummary(TypedDict, total=False):
    """What the viewer needs to style by one attribute."""

    id: str
    type: str  # "string" | "number" | "boolean"
    kind: str  # "category" (colour per value) | "number" (colour ramp) | "text" (not styleable)
    min: float
    max: float
    categories: list[dict[str, Any]]  # [{"value": ..., "count": n}], most frequent first
    distinct: int  # number of distinct values (categories lists at most MAX_CATEGORIES)


def normalize(text: str) -> str:
    """Text folded for matching: case-folded (ß → ss), umlauts spelled out (ä → ae), other accents dropped."""
    folded = text.casefold().translate(_UMLAUTS)
    decomposed = unicodedata.normalize("NFKD", folded)
    return "".join(c for c in decomposed if not unicodedata.combining(c))


@dataclass(frozen=True)
class LayerIndex:
    """The searchable part of one layer: ids, labels, folded search text and building centres."""

    ids: list[str]
    labels: list[str]
    text: pa.Array
    lon: np.ndarray
    lat: np.ndarray
    height: np.ndarray


T = TypeVar("T")
_CACHE: OrderedDict[tuple[str, str, int, int], object] = OrderedDict()
_CACHE_SIZE = 16
_LOCK = threading.Lock()


def _strings(table: pa.Table, name: str) -> list[str]:
    if name not in table.column_names:
        return [""] * table.num_rows
    column = (
        pc.cast(table.column(name), pa.string()) if table.schema.field(name).type != pa.string() else None
    )
    values = (column if column is not None else table.column(name)).to_pylist()
    return ["" if value is None else str(value) for value in values]


def _labels(table: pa.Table, ids: list[str]) -> list[str]:
    labels = [""] * table.num_rows
    for name in LABEL_COLUMNS:
        for i, value in enumerate(_strings(table, name)):
            if not labels[i] and value:
                labels[i] = value
    streets = _strings(table, "strasse") if "strasse" in table.column_names else _strings(table, "street")
    numbers = (
        _strings(table, "hausnummer")
        if "hausnummer" in table.column_names
        else _strings(table, "house_number")
    )
    return [
        label or f"{street} {number}".strip() or ids[i]
        for i, (label, street, number) in enumerate(zip(labels, streets, numbers, strict=True))
    ]


def summarize_property(name: str, column: pa.ChunkedArray) -> PropertySummary | None:
    """Type, range or top categories of one attribute column; None for columns that cannot be shown."""
    kind = column.type
    valid = pc.drop_null(column)
    count = len(valid)
    if pa.types.is_boolean(kind):
        summary: PropertySummary = {"id": name, "type": "boolean", "kind": "category"}
    elif pa.types.is_integer(kind) or pa.types.is_floating(kind):
        summary = {"id": name, "type": "number", "kind": "number"}
        if pa.types.is_floating(kind):
            valid = pc.filter(valid, pc.is_finite(valid))
            count = len(valid)
    elif pa.types.is_string(kind) or pa.types.is_large_string(kind):
        summary = {"id": name, "type": "string", "kind": "category"}
    else:
        return None
    if count == 0:
        summary["kind"] = "text"
        return summary
    counts = pc.value_counts(valid)
    distinct = len(counts)
    if summary["type"] == "number":
        minmax = pc.min_max(valid)
        summary["min"] = float(minmax["min"].as_py())
        summary["max"] = float(minmax["max"].as_py())
        whole = bool(pc.all(pc.equal(valid, pc.floor(valid))).as_py()) if pa.types.is_floating(kind) else True
        if name.lower() in CODE_ATTRIBUTES and whole:
            summary["kind"] = "category"
    elif (distinct > MAX_CATEGORIES and distinct > 0.2 * count) or distinct == count:
        # Unique or nearly unique strings (ids, addresses, names): searchable, not a colour legend.
        summary["kind"] = "text"
    if summary["kind"] == "category":
        values = counts.field("values").to_pylist()
        numbers = counts.field("counts").to_pylist()
        ranked = sorted(zip(values, numbers, strict=True), key=lambda item: (-item[1], str(item[0])))
        summary["categories"] = [
            {"value": int(v) if isinstance(v, float) and v.is_integer() else v, "count": int(n)}
            for v, n in ranked[:MAX_CATEGORIES]
        ]
        summary["distinct"] = distinct
    return summary


def _build_index(path: Path) -> LayerIndex:
    table = pq.read_table(path)
    ids = _strings(table, "source_id")
    labels = _labels(table, ids)
    parts = [_strings(table, name) for name in SEARCH_COLUMNS if name in table.column_names]
    text = pa.array([normalize(" ".join(values)) for values in zip(*parts, strict=True)], type=pa.string())
    if "geometry" in table.column_names:
        geometries = shapely.from_wkb(np.asarray(table.column("geometry").to_pylist(), dtype=object))
        centres = shapely.get_coordinates(shapely.point_on_surface(geometries))
        lon, lat = centres[:, 0], centres[:, 1]
    else:
        lon = lat = np.full(table.num_rows, np.nan)
    heights = (
        table.column("height").to_numpy() if "height" in table.column_names else np.zeros(table.num_rows)
    )
    return LayerIndex(ids, labels, text, np.asarray(lon), np.asarray(lat), np.asarray(heights, float))


def _build_properties(path: Path) -> list[PropertySummary]:
    names = [name for name in pq.read_schema(path).names if name != "geometry"]
    table = pq.read_table(path, columns=names)
    return [
        summary for name in names if (summary := summarize_property(name, table.column(name))) is not None
    ]


def _cached(kind: str, path: Path, build: Callable[[Path], T]) -> T:
    """``build(path)``, cached per file version (path, modification time, size) and kind."""
    stat = path.stat()
    key = (kind, str(path.resolve()), stat.st_mtime_ns, stat.st_size)
    with _LOCK:
        if key in _CACHE:
            _CACHE.move_to_end(key)
            return cast(T, _CACHE[key])
    value = build(path)
    with _LOCK:
        _CACHE[key] = value
        while len(_CACHE) > _CACHE_SIZE:
            _CACHE.popitem(last=False)
    return value


def layer_index(path: Path) -> LayerIndex:
    """The (cached) search index of one layer's features.parquet; a re-published file is read again."""
    return _cached("index", path, _build_index)


def features_path(layers_dir: Path, layer_id: str) -> Path | None:
    """``layers/<id>/features.parquet`` when the layer has one."""
    path = layers_dir / layer_id / FEATURES_FILE
    return path if path.is_file() else None


def layer_properties(layers_dir: Path, layer_id: str) -> list[PropertySummary]:
    """Attribute summaries (type, min/max or top categories) of a layer; [] without features.parquet."""
    path = features_path(layers_dir, layer_id)
    return _cached("properties", path, _build_properties) if path else []


def search_layer(index: LayerIndex, layer_id: str, query: str, limit: int) -> list[tuple[int, SearchHit]]:
    """Buildings of one layer whose id, name or address contains every word of ``query``, with a rank."""
    tokens = [token for token in normalize(query).split() if token]
    if not tokens or limit <= 0:
        return []
    mask = pc.match_substring(index.text, tokens[0])
    for token in tokens[1:]:
        mask = pc.and_(mask, pc.match_substring(index.text, token))
    rows = np.flatnonzero(mask.to_numpy(zero_copy_only=False))
    whole = normalize(query).strip()
    hits: list[tuple[int, SearchHit]] = []
    for row in rows:
        label = index.labels[row]
        folded = normalize(label)
        rank = 0 if normalize(index.ids[row]) == whole else 1 if folded.startswith(whole) else 2
        hits.append(
            (
                rank,
                {
                    "id": index.ids[row],
                    "label": label,
                    "layer": layer_id,
                    "lon": round(float(index.lon[row]), 7),
                    "lat": round(float(index.lat[row]), 7),
                    "height": round(float(index.height[row]), 2),
                },
            )
        )
    hits.sort(key=lambda item: (item[0], normalize(item[1]["label"])))
    return hits[:limit]


def search(layers_dir: Path, layer_ids: list[str], query: str, limit: int = 10) -> list[SearchHit]:
    """Search every listed layer that has features.parquet; best matches first (exact id, label prefix, rest)."""
    ranked: list[tuple[int, SearchHit]] = []
    for layer_id in layer_ids:
        path = features_path(layers_dir, layer_id)
        if path is not None:
            ranked.extend(search_layer(layer_index(path), layer_id, query, limit))
    ranked.sort(key=lambda item: (item[0], normalize(item[1]["label"])))
    return [hit for _, hit in ranked[:limit]]
