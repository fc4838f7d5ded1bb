"""Geometry columns as flat arrays: WKB headers read with numpy, polygons decoded by geoarrow-c.

Readers hand over a WKB column (GeoParquet, or GDAL's Arrow stream for GeoPackage, Shapefile, GeoJSON,
FlatGeobuf). Polygons and MultiPolygons (2D or Z) are decoded in one call of geoarrow-c into GeoArrow's
offsets-and-coordinates layout (17 ms for 100,000 footprints, against 156 ms for shapely.from_wkb followed by
0.27 s for shapely.to_ragged_array); every other geometry type takes the shapely path and its rules (points
and lines are skipped, polygons are taken out of collections).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import geoarrow.pyarrow as ga
import numpy as np
import numpy.typing as npt
import pyarrow as pa
import shapely

from twin.errors import InputError
from twin.ingest.rings import Rings

IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

POLYGON, MULTIPOLYGON = 3, 6
EWKB_Z, EWKB_M, EWKB_SRID = 0x80000000, 0x40000000, 0x20000000


@dataclass
class WkbKinds:
    """Per row of a WKB column: geometry type (1..17, 0 for null or unreadable), and Z / M flags."""

    base: npt.NDArray[np.uint32]
    has_z: BoolArray
    has_m: BoolArray

    @property
    def polygonal(self) -> BoolArray:
        """Polygon or MultiPolygon, 2D or Z (no M): the rows geoarrow decodes."""
        return ((self.base == POLYGON) | (self.base == MULTIPOLYGON)) & ~self.has_m


def as_wkb_array(column: pa.Array | pa.ChunkedArray) -> pa.Array:
    """A plain binary/large_binary array of WKB from a column (extension types unwrapped, chunks joined)."""
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks() if column.num_chunks != 1 else column.chunk(0)
    if isinstance(column.type, pa.ExtensionType):
        storage = column.storage
        if pa.types.is_binary(storage.type) or pa.types.is_large_binary(storage.type):
            return storage
        # A native GeoArrow encoding (GeoParquet 1.1 'polygon', 'multipolygon', ...): to WKB.
        return ga.as_wkb(column).storage
    if pa.types.is_binary(column.type) or pa.types.is_large_binary(column.type):
        return column
    raise TypeError(f"not a WKB column: {column.type}")


def wkb_kinds(wkb: pa.Array) -> WkbKinds:
    """Read the 5-byte header of every WKB value (ISO and EWKB flavours, either byte order)."""
    n = len(wkb)
    buffers = wkb.buffers()
    offset_type = np.int64 if pa.types.is_large_binary(wkb.type) else np.int32
    offsets = np.frombuffer(buffers[1], dtype=offset_type)[wkb.offset : wkb.offset + n + 1].astype(np.int64)
    data = np.frombuffer(buffers[2], dtype=np.uint8) if buffers[2] is not None else np.zeros(0, np.uint8)
    valid = wkb.is_valid().to_numpy(zero_copy_only=False) if wkb.null_count else np.ones(n, dtype=bool)
    ok = valid & (np.diff(offsets) >= 5)
    start = offsets[:-1][ok]
    b = [data[start + k].astype(np.uint32) for k in range(5)]
    little = b[0] == 1
    code = np.where(
        little,
        b[1] | (b[2] << 8) | (b[3] << 16) | (b[4] << 24),
        b[4] | (b[3] << 8) | (b[2] << 16) | (b[1] << 24),
    ).astype(np.uint32)
    ewkb_z = (code & EWKB_Z) != 0
    ewkb_m = (code & EWKB_M) != 0
    code = code & ~np.uint32(EWKB_Z | EWKB_M | EWKB_SRID)
    iso = code // 1000
    base = np.zeros(n, dtype=np.uint32)
    has_z = np.zeros(n, dtype=bool)
    has_m = np.zeros(n, dtype=bool)
    base[ok] = code % 1000
    has_z[ok] = ewkb_z | (iso == 1) | (iso == 3)
    has_m[ok] = ewkb_m | (iso == 2) | (iso == 3)
    return WkbKinds(base, has_z, has_m)


def decode_polygons(wkb: pa.Array, rows: IntArray, with_z: bool, path: Path) -> Rings:
    """The Polygon/MultiPolygon rows of a WKB column as Rings (rings as stored: usually closed)."""
    if len(rows) == 0:
        return Rings.empty(with_z)
    subset = wkb if len(rows) == len(wkb) else wkb.take(pa.array(rows))
    wrapper = ga.large_wkb() if pa.types.is_large_binary(subset.type) else ga.wkb()
    target = ga.multipolygon()
    if with_z:
        target = target.with_dimensions(ga.Dimensions.XYZ)
    try:
        native = ga.as_geoarrow(wrapper.wrap_array(subset), type=target)
    except Exception as exc:  # geoarrow-c raises a plain Exception naming the bad value
        raise InputError(f"{path}: unreadable polygon geometry (WKB): {exc}") from exc
    storage = native.storage if hasattr(native, "storage") else native
    polygons = storage.values
    rings = polygons.values
    coords = rings.values
    x = coords.field(0).to_numpy()
    y = coords.field(1).to_numpy()
    return Rings(
        xy=np.column_stack([x, y]),
        ring_start=rings.offsets.to_numpy().astype(np.int64),
        polygon_ring_start=polygons.offsets.to_numpy().astype(np.int64),
        building_polygon_start=storage.offsets.to_numpy().astype(np.int64),
        z=coords.field(2).to_numpy().copy() if with_z else None,
    )


def decode_shapely(wkb: pa.Array, rows: IntArray, path: Path) -> npt.NDArray[np.object_]:
    """Rows of a WKB column as shapely geometries (the rare types geoarrow is not asked to decode)."""
    values = wkb.take(pa.array(rows)).to_numpy(zero_copy_only=False)
    try:
        return np.asarray(shapely.from_wkb(values, on_invalid="fix"), dtype=object)
    except Exception as exc:
        raise InputError(f"{path}: unreadable geometry (WKB): {str(exc).splitlines()[0]}") from exc
