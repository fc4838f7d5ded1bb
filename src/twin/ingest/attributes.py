"""Source ids and building heights from an attribute table (pyarrow, no pandas).

The readers hand over the attributes of one source as a `pyarrow.Table` without its geometry column. This
module finds the id and height columns in it by name, turns ids into strings and heights into metres, with
pyarrow.compute kernels rather than Python loops over the rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol, TypeAlias

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from twin.errors import InputError
from twin.ingest.model import IngestLog

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
MAX_PLAUSIBLE_STOREYS = 300

# The first number in a text such as '12.5 m' (after ',' became '.'); RE2 syntax, named for extract_regex.
_NUMBER = r"(?P<number>-?\d+(?:\.\d+)?)"
# Floats below this magnitude convert to int64 exactly (2**63 itself does not fit).
_INT64_LIMIT = 2.0**63

Column: TypeAlias = pa.Array | pa.ChunkedArray


class HeightOptions(Protocol):
    """What `building_heights` reads from `twin.ingest.footprints.FootprintOptions`."""

    @property
    def height_attr(self) -> str | None: ...
    @property
    def storeys_attr(self) -> str | None: ...
    @property
    def storey_height(self) -> float: ...
    @property
    def default_height(self) -> float: ...


# Height rules, as small codes per row and their labels (the attribute label is filled in per table).
_DEFAULT, _STOREYS, _ATTRIBUTE = 0, 1, 2


def find_column(
    columns: Sequence[str], wanted: str | None, names: Sequence[str], path: Path, what: str
) -> str | None:
    """The column to use: `wanted` if given (exact, else case-insensitive), else the first of `names` present.

    `names` are lower case and matched case-insensitively. A `wanted` column that does not exist is an
    InputError naming the file and listing its attributes; no match among `names` is None.
    """
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


def is_text(kind: pa.DataType) -> bool:
    """string, large_string or string_view."""
    return bool(pa.types.is_string(kind) or pa.types.is_large_string(kind) or pa.types.is_string_view(kind))


def plain_array(column: Column) -> pa.Array:
    """One contiguous array with dictionary encoding resolved (a ChunkedArray's chunks concatenated)."""
    if isinstance(column, pa.ChunkedArray):
        if pa.types.is_dictionary(column.type):
            column = pa.chunked_array(
                [chunk.dictionary_decode() for chunk in column.chunks], type=column.type.value_type
            )
        return column.combine_chunks()
    if pa.types.is_dictionary(column.type):
        return column.dictionary_decode()
    return column


def numeric(column: Column) -> npt.NDArray[np.float64]:
    """Numbers from a column that may hold strings such as '12,5', '12.5 m' or ' 7 '; NaN where there are none.

    Integer, floating and decimal columns are taken as they are; in text the first number counts, with a
    decimal comma read as a point. Booleans and other types are not numbers; nulls are NaN.
    """
    array = plain_array(column)
    kind = array.type
    if pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_decimal(kind):
        floats = pc.cast(array, pa.float64(), safe=False)
    elif is_text(kind):
        text = pc.replace_substring(pc.cast(array, pa.large_string()), ",", ".")
        floats = pc.cast(pc.struct_field(pc.extract_regex(text, _NUMBER), [0]), pa.float64())
    else:
        return np.full(len(array), np.nan)
    return np.asarray(floats.to_numpy(zero_copy_only=False), dtype=np.float64)


def id_text(column: Column) -> pa.Array:
    """Ids as large_string, nulls kept: integers and whole floats as plain decimals ('123', not '123.0')."""
    array = plain_array(column)
    kind = array.type
    text: pa.Array
    if is_text(kind) or pa.types.is_integer(kind) or pa.types.is_decimal(kind) or pa.types.is_null(kind):
        text = pc.cast(array, pa.large_string())
    elif pa.types.is_floating(kind):
        floats = pc.cast(array, pa.float64())
        floats = pc.if_else(pc.is_nan(floats), pa.scalar(None, pa.float64()), floats)
        whole = pc.and_(pc.is_finite(floats), pc.less(pc.abs(floats), _INT64_LIMIT))
        whole = pc.and_(whole, pc.equal(pc.floor(floats), floats))
        integers = pc.cast(pc.if_else(whole, floats, 0.0), pa.int64())
        text = pc.if_else(whole, pc.cast(integers, pa.large_string()), pc.cast(floats, pa.large_string()))
    elif pa.types.is_boolean(kind):
        text = pc.if_else(array, pa.scalar("True", pa.large_string()), pa.scalar("False", pa.large_string()))
    else:
        try:
            text = pc.cast(array, pa.large_string())
        except (pa.ArrowNotImplementedError, pa.ArrowInvalid):
            text = pa.array(
                [None if v is None else str(v) for v in array.to_pylist()], type=pa.large_string()
            )
    return text


def _complete(array: pa.Array) -> bool:
    """No nulls (and, for floats, no NaN): a column that can name every row."""
    if array.null_count:
        return False
    if pa.types.is_floating(array.type):
        return not pc.any(pc.is_nan(pc.cast(array, pa.float64()))).as_py()
    return True


def _distinct(array: pa.Array) -> int:
    """How many distinct values a column without nulls has (pc.unique is twice as fast as count_distinct)."""
    try:
        return len(pc.unique(array))
    except pa.ArrowNotImplementedError:  # nested types cannot be hashed: compare their text
        return len(pc.unique(id_text(array)))


def _fallback_ids(path: Path, count: int) -> pa.Array:
    numbers = pc.cast(pa.array(np.arange(count, dtype=np.int64)), pa.large_string())
    stem = pa.scalar(path.stem, pa.large_string())
    return pc.binary_join_element_wise(stem, numbers, pa.scalar(".", pa.large_string()))


def source_ids(
    table: pa.Table,
    fids: npt.NDArray[Any] | pa.Array | pa.ChunkedArray | None,
    id_attr: str | None,
    path: Path,
    log: IngestLog,
) -> pa.Array:
    """One id string per row (large_string): where each building came from in the source.

    The `--id-attr` column if given (nulls become ''); else the first id-like column (ID_NAMES order) without
    nulls whose values are unique, else one with at least 95 % distinct values (warned); else the
    container's feature ids if unique; else '<file stem>.<row>'.
    """
    columns = table.column_names
    count = table.num_rows

    def column(name: str) -> pa.Array:
        return plain_array(table.column(columns.index(name)))

    if id_attr:
        name = find_column(columns, id_attr, [], path, "--id-attr")
        assert name is not None
        return pc.fill_null(id_text(column(name)), "")
    lowered = {c.lower(): c for c in columns}
    candidates = [(lowered[n], column(lowered[n])) for n in ID_NAMES if n in lowered]
    candidates = [(name, array) for name, array in candidates if _complete(array)]
    distinct = [_distinct(array) for _, array in candidates]
    for (_, array), unique in zip(candidates, distinct, strict=True):
        if unique == count:
            return id_text(array)
    for (name, array), unique in zip(candidates, distinct, strict=True):
        # An id column with a few repeats (OSM multipolygons split into parts) still names the source object.
        if unique >= 0.95 * count:
            log.warn(f"{path}: source ids in '{name}' are not unique ({count - unique} repeats)")
            return id_text(array)
    if fids is not None:
        if len(fids) != count:
            raise ValueError(f"{path}: {len(fids)} feature ids for {count} rows")
        fid_array = id_text(fids if isinstance(fids, pa.Array | pa.ChunkedArray) else pa.array(fids))
        if fid_array.null_count == 0 and _distinct(fid_array) == count:
            return fid_array
    return _fallback_ids(path, count)


def building_heights(
    table: pa.Table, options: HeightOptions, path: Path, log: IngestLog
) -> tuple[npt.NDArray[np.float64], pa.Array]:
    """Height in metres per row and the rule that gave it ("attribute:<column>", "storeys", "default").

    A height attribute counts where it is a positive number up to MAX_PLAUSIBLE_HEIGHT (taller ones are
    warned about and ignored); else storeys (0 < storeys < 300) x `options.storey_height`; else
    `options.default_height`. The rules come back as a large_string array.
    """
    count = table.num_rows
    columns = table.column_names
    height = np.full(count, np.nan)
    codes = np.full(count, _DEFAULT, dtype=np.int8)
    labels = ["default", "storeys", "attribute"]

    height_column = find_column(columns, options.height_attr, HEIGHT_NAMES, path, "--height-attr")
    if height_column is not None:
        values = numeric(table.column(columns.index(height_column)))
        implausible = np.isfinite(values) & (values > MAX_PLAUSIBLE_HEIGHT)
        if implausible.any():
            log.warn(
                f"{int(implausible.sum())} heights in '{height_column}' above {MAX_PLAUSIBLE_HEIGHT:.0f} m ignored"
            )
        missing = ~np.isfinite(values)
        if missing.any():
            # Shapefiles write '*******' where a number overflowed its field; others leave it empty or NaN.
            log.repair(
                f"height in '{height_column}' missing or not a number (empty, NaN, '*******'): next rule used",
                int(missing.sum()),
            )
        ok = np.isfinite(values) & (values > 0) & ~implausible
        height[ok] = values[ok]
        codes[ok] = _ATTRIBUTE
        labels[_ATTRIBUTE] = f"attribute:{height_column}"

    storeys_column = find_column(columns, options.storeys_attr, STOREY_NAMES, path, "--storeys-attr")
    if storeys_column is not None:
        storeys = numeric(table.column(columns.index(storeys_column)))
        ok = np.isnan(height) & np.isfinite(storeys) & (storeys > 0) & (storeys < MAX_PLAUSIBLE_STOREYS)
        height[ok] = storeys[ok] * options.storey_height
        codes[ok] = _STOREYS

    height[np.isnan(height)] = options.default_height
    rule = pa.array(labels, type=pa.large_string()).take(pa.array(codes))
    return height, rule
