"""EXT_structural_metadata property tables from source attributes.

Every source attribute becomes a typed property (SCALAR INT32/INT64/FLOAT64, BOOLEAN or STRING); missing
values are written as the property's `noData` value. Columns are encoded once for the whole layer in tile
order; `PropertyColumn.slice` cuts one tile's binary parts out without re-encoding.
"""

from __future__ import annotations

import json
import re
import unicodedata
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow as pa

CLASS_ID = "building"
INT32_NODATA = np.iinfo(np.int32).min
INT64_NODATA = np.iinfo(np.int64).min
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


def _string_column(pid: str, name: str, values: pd.Series, description: str | None = None) -> PropertyColumn:
    missing = values.isna().to_numpy()
    text = values.astype("string").fillna("")
    array = pa.array(text.to_numpy(dtype=object), type=pa.large_string())
    buffers = array.buffers()
    offsets = np.frombuffer(buffers[1], dtype=np.int64)[array.offset : array.offset + len(array) + 1]
    data = buffers[2].to_pybytes() if buffers[2] is not None else b""
    definition: dict[str, Any] = {"name": name, "type": "STRING"}
    if description:
        definition["description"] = description
    if missing.any():
        definition["noData"] = ""
    return PropertyColumn(pid, name, definition, offsets=offsets.astype(np.int64), data=data)


def _sentinel(values: npt.NDArray[Any], candidates: list[Any]) -> Any:
    for candidate in candidates:
        if not np.any(values == candidate):
            return candidate
    return None


def column_for(pid: str, name: str, series: pd.Series) -> PropertyColumn:
    """Encode one attribute column with the narrowest faithful metadata type."""
    missing = series.isna().to_numpy()
    dtype = series.dtype
    if pd.api.types.is_bool_dtype(dtype):
        if not missing.any():
            return PropertyColumn(
                pid, name, {"name": name, "type": "BOOLEAN"}, booleans=series.to_numpy(dtype=bool)
            )
        values = np.where(missing, UINT8_NODATA, series.fillna(False).to_numpy(dtype=np.uint8)).astype(
            np.uint8
        )
        definition = {"name": name, "type": "SCALAR", "componentType": "UINT8", "noData": UINT8_NODATA}
        return PropertyColumn(pid, name, definition, fixed=values)
    if pd.api.types.is_integer_dtype(dtype):
        present = series.dropna().to_numpy(dtype=np.int64)
        lo = int(present.min()) if len(present) else 0
        hi = int(present.max()) if len(present) else 0
        if np.iinfo(np.int32).min < lo and hi <= np.iinfo(np.int32).max:
            values32 = series.fillna(INT32_NODATA).to_numpy(dtype=np.int32)
            definition = {"name": name, "type": "SCALAR", "componentType": "INT32"}
            if missing.any():
                definition["noData"] = int(INT32_NODATA)
            return PropertyColumn(pid, name, definition, fixed=values32)
        values64 = series.fillna(INT64_NODATA).to_numpy(dtype=np.int64)
        definition = {"name": name, "type": "SCALAR", "componentType": "INT64"}
        if missing.any():
            definition["noData"] = int(INT64_NODATA)
        return PropertyColumn(pid, name, definition, fixed=values64)
    if pd.api.types.is_float_dtype(dtype):
        floats = series.to_numpy(dtype=np.float64, na_value=np.nan)
        nan = ~np.isfinite(floats)
        definition = {"name": name, "type": "SCALAR", "componentType": "FLOAT64"}
        if nan.any():
            sentinel = _sentinel(floats, [FLOAT_NODATA, -9999.0, -1e300])
            if sentinel is None:
                return _string_column(pid, name, series)
            floats = np.where(nan, sentinel, floats)
            definition["noData"] = sentinel
        return PropertyColumn(pid, name, definition, fixed=floats.astype(np.float64))
    if pd.api.types.is_datetime64_any_dtype(dtype):
        iso = series.map(lambda v: v.isoformat() if pd.notna(v) else None)
        return _string_column(pid, name, iso)
    if pd.api.types.is_object_dtype(dtype):
        sample = series.dropna()
        if len(sample) and not all(isinstance(v, str) for v in sample.iloc[:100]):
            converted = series.map(
                lambda v: (
                    None
                    if v is None or (isinstance(v, float) and np.isnan(v))
                    else (v if isinstance(v, str) else json.dumps(v, default=str, ensure_ascii=False))
                )
            )
            return _string_column(pid, name, converted)
    return _string_column(pid, name, series)


def build_columns(
    source_ids: npt.NDArray[np.object_],
    height: npt.NDArray[np.float64],
    height_rule: npt.NDArray[np.object_],
    attributes: pd.DataFrame,
) -> list[PropertyColumn]:
    """twin's own properties (source_id, height, height_rule) followed by every source attribute."""
    taken = {"source_id", "height", "height_rule"}
    columns = [
        _string_column("source_id", "source id", pd.Series(source_ids, dtype="string"), "id of the source feature"),
        PropertyColumn(
            "height", "height", {"name": "height (m)", "type": "SCALAR", "componentType": "FLOAT32",
                                 "description": "building height used for the model, metres"},
            fixed=height.astype(np.float32),
        ),
        _string_column("height_rule", "height rule", pd.Series(height_rule, dtype="string"),
                       "where the height came from: attribute:<name>, storeys or default"),
    ]  # fmt: skip
    for name in attributes.columns:
        pid = property_id(str(name), taken)
        columns.append(column_for(pid, str(name), attributes[name]))
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
