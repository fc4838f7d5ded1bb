"""Where every building mesh meets: tile meshes in the layer's ENU frame, quantized into GLB-ready buffers.

Two generators produce a `MeshRun` for consecutive tiles: `twin.tiles.extrude` (LoD1 prisms from
footprints) and `twin.tiles.surfaces` (LoD1-3 polygons from city models). `quantize` then turns it into
one `TileBuffers` per tile (16-bit positions on a tile grid of at most 1 cm, else float32), which
`twin.tiles.glb` writes. Frames: positions are metres east, north, up at the layer origin; glTF is y-up,
so (e, n, u) is stored as (e, u, -n).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from twin.ingest.citymodel import SurfaceClass

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
UInt32Array = npt.NDArray[np.uint32]

MAX_QUANTIZATION_STEP = 0.01  # metres: a tile is quantized to 16 bits only if the step stays below this
UP_NORMAL = np.uint32(127 << 8)  # glTF (0, 1, 0) as normalized BYTEs (x, y, z, pad) in one little-endian word
SURFACE_CLASSES = len(SurfaceClass) - 1  # UNKNOWN never reaches a mesh


@dataclass
class MeshRun:
    """Triangle meshes of consecutive tiles, before quantization.

    Tile t owns vertices [vertex_start[t], vertex_start[t + 1]) and the triangles in `triangles[t]`:
    indices local to the tile's first vertex, sorted by surface class, with `class_counts[t][c]`
    triangles of class c. `normals` are packed glTF normals (see `pack_normals`), `feature_ids` the
    building of each vertex counted from the tile's first building.

    Positions are given as points (`east`, `north`, `up`; tile t's are [point_start[t], point_start[t+1]))
    and, where vertices repeat points (a prism's wall corners are its roof and base points), the point of
    each vertex in `vertex_point`: points are then quantized once and their words copied. Without
    `vertex_point`, vertex i is point i.
    """

    east: FloatArray
    north: FloatArray
    up: FloatArray
    point_start: IntArray  # (n + 1,)
    normals: UInt32Array
    feature_ids: UInt32Array
    vertex_start: IntArray  # (n + 1,)
    triangles: list[UInt32Array]  # per tile, flattened (3 T,)
    class_counts: list[list[int]]  # per tile, triangles per SurfaceClass
    feature_count: IntArray  # (n,) buildings per tile
    vertex_point: IntArray | None = None


@dataclass
class TileBuffers:
    """One tile's vertex streams and indices as a GLB stores them (glTF axes: x east, y up, z south).

    Quantized tiles: `positions` are uint64 words holding three uint16 (x, y, z, 0) on a grid of `scale`
    metres from `translation`. Others: float32 (n, 3) metres from `translation`. `normals` are uint32
    words holding three normalized int8 (x, y, z, 0); `feature_ids` uint32 (< 65536: a UNSIGNED_SHORT
    with two bytes of padding). `indices` are sorted by surface class, `class_counts` triangles per class.
    `lo`/`hi` bound the tile's ENU positions.
    """

    positions: npt.NDArray[np.uint64] | npt.NDArray[np.float32]
    translation: list[float]
    scale: float | None
    position_max: list[float]
    position_min: list[float]
    normals: UInt32Array
    feature_ids: UInt32Array
    indices: UInt32Array
    class_counts: list[int]
    feature_count: int
    lo: FloatArray
    hi: FloatArray


def pack_normals(east: FloatArray, north: FloatArray, up: FloatArray | None = None) -> UInt32Array:
    """Unit ENU normals as packed glTF normalized bytes (x = east, y = up, z = -north) in one word each."""
    nx = np.rint(east * 127.0).astype(np.int32) & 0xFF
    nz = np.rint(-north * 127.0).astype(np.int32) & 0xFF
    packed = nx | (nz << 16)
    if up is not None:
        packed |= (np.rint(up * 127.0).astype(np.int32) & 0xFF) << 8
    return packed.astype(np.uint32)


def quantize(run: MeshRun) -> list[TileBuffers]:
    """The GLB buffers of every tile of the run; vectorised over tiles, the loop only slices."""
    starts = run.point_start
    n_tiles = len(starts) - 1
    first = starts[:-1]
    counts = np.diff(starts)
    tile_of_point = np.repeat(np.arange(n_tiles), counts)
    nonempty = counts > 0
    # Bounds per tile in ENU and in glTF axes (x = east, y = up, z = -north).
    lo = np.zeros((n_tiles, 3))
    hi = np.zeros((n_tiles, 3))
    for k, values in enumerate((run.east, run.north, run.up)):
        if nonempty.any():
            lo[nonempty, k] = np.minimum.reduceat(values, first[nonempty])
            hi[nonempty, k] = np.maximum.reduceat(values, first[nonempty])
    g_lo = np.column_stack([lo[:, 0], lo[:, 2], -hi[:, 1]])
    g_hi = np.column_stack([hi[:, 0], hi[:, 2], -lo[:, 1]])
    step = (g_hi - g_lo).max(axis=1) / 65535.0
    quantized = step <= MAX_QUANTIZATION_STEP
    step = np.maximum(step, 1e-6)
    inv_tile = 1.0 / step
    # Quantized values are (x - lo) * inv rounded, and rounding is monotonic: the extremes of each tile
    # are those of its bounds, computed with the very same operations (glTF wants them exact).
    q_max = np.clip(np.rint((g_hi - g_lo) * inv_tile[:, None]), 0, 65535)

    # Every point on its tile's grid, as three uint16 and a pad in one 64-bit word.
    n_points = len(run.east)
    inv = np.take(inv_tile, tile_of_point)
    words = np.zeros((n_points, 4), dtype=np.uint16)
    q = np.empty(n_points)
    for axis, (source, sign) in enumerate(((run.east, 1.0), (run.up, 1.0), (run.north, -1.0))):
        p_lo = np.take(np.ascontiguousarray(g_lo[:, axis]), tile_of_point)
        if sign < 0:
            np.negative(source, out=q)
            q -= p_lo
        else:
            np.subtract(source, p_lo, out=q)
        q *= inv
        np.rint(q, out=q)
        np.clip(q, 0, 65535, out=q)
        words[:, axis] = q
    packed = words.view(np.uint64).reshape(-1)
    if run.vertex_point is not None:
        packed = np.take(packed, run.vertex_point)

    out: list[TileBuffers] = []
    for t in range(n_tiles):
        v0, v1 = int(run.vertex_start[t]), int(run.vertex_start[t + 1])
        positions: npt.NDArray[np.uint64] | npt.NDArray[np.float32]
        if quantized[t]:
            positions, translation, scale = packed[v0:v1], g_lo[t].tolist(), float(step[t])
            position_max, position_min = q_max[t].tolist(), [0.0, 0.0, 0.0]
        else:
            # Too large for a 1 cm grid: float32 metres around the tile centre.
            centre = (g_lo[t] + g_hi[t]) / 2
            points = np.arange(v0, v1) if run.vertex_point is None else run.vertex_point[v0:v1]
            positions = np.column_stack([
                np.take(run.east, points) - centre[0], np.take(run.up, points) - centre[1],
                -np.take(run.north, points) - centre[2],
            ]).astype(np.float32)  # fmt: skip
            translation, scale = centre.tolist(), None
            position_max = positions.max(axis=0).astype(float).tolist()
            position_min = positions.min(axis=0).astype(float).tolist()
        out.append(TileBuffers(
            positions, translation, scale, position_max, position_min, run.normals[v0:v1],
            run.feature_ids[v0:v1], run.triangles[t], run.class_counts[t], int(run.feature_count[t]),
            lo[t], hi[t],
        ))  # fmt: skip
    return out
