"""EXT_structural_metadata property tables from source attributes.

Every source attribute becomes a typed property (SCALAR INT32/INT64/FLOAT64, BOOLEAN or STRING); missing
values are written as the property's `noData` value. Columns are encoded once for the whole layer in tile
order; `PropertyColumn.slice` cuts one tile's binary parts out without re-encoding.

The input is Arrow (no pandas). Number, boolean, string and temporal columns are encoded with
pyarrow.compute and from the Arrow buffers; only nested and unusual types (lists, structs, binary...) go
through Python, one JSON text per value.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import unicodedata
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from twin.ingest.attributes import Column, is_text, plain_array
from twin.ingest.rings import ragged_gather

CLASS_ID = "building"
INT32_MIN = int(np.iinfo(np.int32).min)
INT32_MAX = int(np.iinfo(np.int32).max)
INT64_MAX = int(np.iinfo(np.int64).max)
INT32_NODATA = INT32_MIN
INT64_NODATA = int(np.iinfo(np.int64).min)
FLOAT_NODATA = -3.4028234663852886e38
UINT8_NODATA = 255


@dataclass
class PropertyColumn:
    """One metadata property for the whole layer, encoded in tile order."""

    id: str
    name: str
    definition: dict[str, Any]  # the class property in the schema
    fixed: npt.NDArray[Any] | None = None  # fixed-width values
    booleans: npt.NDArray[np.bool_] | None = None
    offsets: npt.NDArray[np.int64] | None = None  # strings: (n + 1) byte offsets into `data`
    data: bytes = b""

    def slice(self, start: int, stop: int) -> dict[str, bytes]:
        """The binary parts of rows [start, stop): {'values': ..., 'stringOffsets': ...}."""
        if self.fixed is not None:
            return {"values": self.fixed[start:stop].tobytes()}
        if self.booleans is not None:
            return {"values": np.packbits(self.booleans[start:stop], bitorder="little").tobytes()}
        assert self.offsets is not None
        first, last = int(self.offsets[start]), int(self.offsets[stop])
        offsets = (self.offsets[start : stop + 1] - first).astype(np.uint32)
        return {"values": self.data[first:last], "stringOffsets": offsets.tobytes()}

    def take(self, rows: npt.NDArray[np.int64]) -> PropertyColumn:
        """The column of these rows, in this order (rows may repeat)."""
        if self.fixed is not None:
            return replace(self, fixed=self.fixed[rows])
        if self.booleans is not None:
            return replace(self, booleans=self.booleans[rows])
        assert self.offsets is not None
        lengths = self.offsets[rows + 1] - self.offsets[rows]
        data = np.frombuffer(self.data, dtype=np.uint8)
        picked = data[ragged_gather(self.offsets[rows], lengths)].tobytes()
        offsets = np.zeros(len(rows) + 1, dtype=np.int64)
        np.cumsum(lengths, out=offsets[1:])
        return replace(self, offsets=offsets, data=picked)


_TRANSLITERATION = str.maketrans(
    {"ä": "ae", "ö": "oe", "ü": "ue", "Ä": "Ae", "Ö": "Oe", "Ü": "Ue", "ß": "ss"}
)


def property_id(name: str, taken: set[str]) -> str:
    """A schema identifier (^[a-zA-Z_][a-zA-Z0-9_]*$) for a column name, unique within `taken`.

    German umlauts are transliterated (Gebäudehöhe → Gebaeudehoehe), other accents dropped; the original
    name stays in the property's `name`.
    """
    ascii_name = unicodedata.normalize("NFKD", name.strip().translate(_TRANSLITERATION))
    ascii_name = ascii_name.encode("ascii", "ignore").decode("ascii")
    ident = re.sub(r"[^0-9a-zA-Z_]", "_", ascii_name) or "attribute"
    if not re.match(r"[a-zA-Z_]", ident[0]):
        ident = "_" + ident
    candidate, k = ident, 2
    while candidate.lower() in {t.lower() for t in taken}:
        candidate = f"{ident}_{k}"
        k += 1
    taken.add(candidate)
    return candidate


def _string_buffers(text: pa.Array) -> tuple[npt.NDArray[np.int64], bytes]:
    """(n + 1) byte offsets starting at 0 and the UTF-8 bytes of a large_string array without nulls."""
    count = len(text)
    _, offsets_buffer, data_buffer = text.buffers()
    if offsets_buffer is None or count == 0:
        return np.zeros(count + 1, dtype=np.int64), b""
    offsets = np.frombuffer(offsets_buffer, dtype=np.int64, count=count + 1, offset=text.offset * 8)
    first, last = int(offsets[0]), int(offsets[-1])
    data = data_buffer.slice(first, last - first).to_pybytes() if data_buffer is not None else b""
    return (offsets - first if first else offsets), data


def _string_column(pid: str, name: str, values: Column, description: str | None = None) -> PropertyColumn:
    """A STRING property; nulls are written as '' and declared as noData."""
    text = plain_array(values)
    if not pa.types.is_large_string(text.type):
        text = pc.cast(text, pa.large_string())
    missing = text.null_count > 0
    if missing:
        text = pc.fill_null(text, "")
    offsets, data = _string_buffers(text)
    definition: dict[str, Any] = {"name": name, "type": "STRING"}
    if description:
        definition["description"] = description
    if missing:
        definition["noData"] = ""
    return PropertyColumn(pid, name, definition, offsets=offsets, data=data)


def _sentinel(values: npt.NDArray[Any], candidates: list[Any]) -> Any:
    for candidate in candidates:
        if not np.any(values == candidate):
            return candidate
    return None


def _iso(array: pa.Array) -> pa.Array:
    """ISO-8601 text of timestamps, dates and times ('2024-05-01T12:30:00+02:00'); nulls stay null."""
    text = pc.cast(array, pa.large_string())
    if pa.types.is_timestamp(array.type) or pa.types.is_time(array.type):
        # Arrow writes as many fraction digits as the unit has; an all-zero fraction is left out.
        text = pc.replace_substring_regex(text, r"\.0+($|[+-])", r"\1")
    if pa.types.is_timestamp(array.type):
        text = pc.replace_substring(text, " ", "T", max_replacements=1)
        if array.type.tz is not None:
            text = pc.replace_substring_regex(text, r"([+-]\d\d)(\d\d)$", r"\1:\2")
    return text


def _json_default(value: Any) -> Any:
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    return str(value)


def _json_text(value: Any) -> str | None:
    """A nested value as JSON text; a scalar JSON has no type for (bytes as hex, UUID, duration) as plain text."""
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, dict | list | tuple | bool | int | float):
        return json.dumps(value, default=_json_default, ensure_ascii=False)
    return str(_json_default(value))


def column_for(pid: str, name: str, column: Column) -> PropertyColumn:
    """Encode one attribute column with the narrowest faithful metadata type."""
    array = plain_array(column)
    kind = array.type
    missing = array.null_count > 0
    if pa.types.is_boolean(kind):
        if not missing:
            booleans = np.asarray(array.to_numpy(zero_copy_only=False), dtype=bool)
            return PropertyColumn(pid, name, {"name": name, "type": "BOOLEAN"}, booleans=booleans)
        values = pc.fill_null(pc.cast(array, pa.uint8()), UINT8_NODATA).to_numpy()
        definition = {"name": name, "type": "SCALAR", "componentType": "UINT8", "noData": UINT8_NODATA}
        return PropertyColumn(pid, name, definition, fixed=np.asarray(values, dtype=np.uint8))
    if pa.types.is_integer(kind):
        extremes = pc.min_max(array)
        lo = extremes["min"].as_py()
        hi = extremes["max"].as_py()
        lo, hi = (0, 0) if lo is None else (lo, hi)
        if lo > INT32_MIN and hi <= INT32_MAX:
            target, nodata, component = pa.int32(), INT32_NODATA, "INT32"
        elif hi <= INT64_MAX:
            target, nodata, component = pa.int64(), INT64_NODATA, "INT64"
        else:  # uint64 beyond int64: no metadata integer type holds it faithfully
            return _string_column(pid, name, array)
        integers = pc.cast(array, target)
        definition = {"name": name, "type": "SCALAR", "componentType": component}
        if missing:
            integers = pc.fill_null(integers, nodata)
            definition["noData"] = nodata
        fixed = np.asarray(integers.to_numpy(zero_copy_only=False), dtype=target.to_pandas_dtype())
        return PropertyColumn(pid, name, definition, fixed=fixed)
    if pa.types.is_floating(kind):
        floats = np.asarray(pc.cast(array, pa.float64()).to_numpy(zero_copy_only=False), dtype=np.float64)
        bad = ~np.isfinite(floats)
        definition = {"name": name, "type": "SCALAR", "componentType": "FLOAT64"}
        if bad.any():
            sentinel = _sentinel(floats, [FLOAT_NODATA, -9999.0, -1e300])
            if sentinel is None:
                # Every sentinel is a real value: text, with NaN and null as '' (infinities stay 'inf').
                return _string_column(pid, name, pa.array(floats, from_pandas=True))
            floats = np.where(bad, sentinel, floats)
            definition["noData"] = sentinel
        return PropertyColumn(pid, name, definition, fixed=floats)
    if pa.types.is_timestamp(kind) or pa.types.is_date(kind) or pa.types.is_time(kind):
        return _string_column(pid, name, _iso(array))
    if is_text(kind) or pa.types.is_decimal(kind) or pa.types.is_null(kind):
        return _string_column(pid, name, array)
    text = pa.array([_json_text(value) for value in array.to_pylist()], type=pa.large_string())
    return _string_column(pid, name, text)


def build_columns(
    source_ids: Column,
    height: npt.NDArray[np.float64],
    height_rule: Column,
    attributes: pa.Table,
) -> list[PropertyColumn]:
    """twin's own properties (source_id, height, height_rule) followed by every source attribute.

    All inputs are aligned row by row and already in tile order.
    """
    taken = {"source_id", "height", "height_rule"}
    columns = [
        _string_column("source_id", "source id", source_ids, "id of the source feature"),
        PropertyColumn(
            "height", "height", {"name": "height (m)", "type": "SCALAR", "componentType": "FLOAT32",
                                 "description": "building height used for the model, metres"},
            fixed=np.asarray(height, dtype=np.float32),
        ),
        _string_column("height_rule", "height rule", height_rule,
                       "where the height came from: attribute:<name>, storeys or default"),
    ]  # fmt: skip
    for index, name in enumerate(attributes.column_names):
        pid = property_id(str(name), taken)
        columns.append(column_for(pid, str(name), attributes.column(index)))
    return columns


def schema(columns: list[PropertyColumn]) -> dict[str, Any]:
    """The EXT_structural_metadata schema with one class for buildings."""
    return {
        "id": "twin_buildings",
        "classes": {
            CLASS_ID: {
                "name": "Building",
                "properties": {column.id: column.definition for column in columns},
            }
        },
    }
