"""Writing a layer's tile contents in worker processes.

A layer's contents come in `ContentSet`s: tiles whose buildings are consecutive runs of one sequence of
rows (the leaves: every building once, in tile order; the parents of a city model: the buildings each
parent shows, one run per parent). Each set brings a mesh generator for a run of rows (LoD1 prisms or
city model surfaces, both `twin.tiles.mesh.MeshRun`) and its metadata columns in row order; meshing,
quantizing and GLB encoding then run the same way for every set, in two worker processes for large layers.
"""

from __future__ import annotations

import itertools
import multiprocessing
import os
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from twin.geo.frame import enu_basis
from twin.ingest.rings import Rings
from twin.tiles.extrude import extrude_tiles
from twin.tiles.glb import Compression, Palette, encode_glb
from twin.tiles.mesh import MeshRun, quantize
from twin.tiles.metadata import PropertyColumn
from twin.tiles.surfaces import surface_tiles

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
Progress = Callable[[str, int, int], None]
# (key, lo, hi, bytes) of one written tile: its ENU bounds and its size.
TileSummary = tuple[str, FloatArray, FloatArray, int]

# Below this much work (footprint-prism equivalents) forking workers costs more than it saves.
PARALLEL_MIN_COST = 20_000
RUNS_PER_WORKER = 16


class MeshSource(Protocol):
    """Meshes rows [start, stop) of a content set, split into tiles at `tile_start` (relative to start)."""

    def __call__(self, start: int, stop: int, tile_start: IntArray) -> MeshRun: ...


@dataclass
class Prisms:
    """LoD1 prisms: footprint rings (any metric 2D frame) with each vertex's lon/lat and the heights.

    `base` is the ellipsoidal height of each ring vertex's wall foot (None: 0), `top` each building's roof
    height; the layer's ENU frame is at (lon0, lat0, 0).
    """

    rings: Rings
    lon: FloatArray
    lat: FloatArray
    base: FloatArray | None
    top: FloatArray
    lon0: float
    lat0: float

    def __call__(self, start: int, stop: int, tile_start: IntArray) -> MeshRun:
        rings, v0, v1 = self.rings.slice(start, stop)
        roof = np.take(self.top[start:stop], rings.vertex_building)
        basis = enu_basis(self.lon[v0:v1], self.lat[v0:v1], self.lon0, self.lat0)
        bottom = None if self.base is None else self.base[v0:v1]
        return extrude_tiles(rings, basis, bottom, roof, tile_start)


@dataclass
class Surfaces:
    """City model polygons: rings whose xy are lon/lat (degrees) and z ellipsoidal heights, with classes."""

    rings: Rings
    polygon_class: npt.NDArray[np.uint8]
    lon0: float
    lat0: float

    def __call__(self, start: int, stop: int, tile_start: IntArray) -> MeshRun:
        rings, _, _ = self.rings.slice(start, stop)
        p0, p1 = int(self.rings.building_polygon_start[start]), int(self.rings.building_polygon_start[stop])
        assert rings.z is not None
        basis = enu_basis(rings.xy[:, 0], rings.xy[:, 1], self.lon0, self.lat0)
        east, north, up = basis.at(rings.z)
        enu = Rings(np.column_stack([east, north]), rings.ring_start, rings.polygon_ring_start,
                    rings.building_polygon_start, up)  # fmt: skip
        return surface_tiles(enu, self.polygon_class[p0:p1], tile_start)


@dataclass
class ContentSet:
    """Tiles `keys`, tile t holding rows [tile_start[t], tile_start[t + 1]) of the set's sequence."""

    keys: list[str]
    tile_start: IntArray
    mesh: MeshSource
    columns: list[PropertyColumn]
    palette: Palette = "lod1"
    double_sided: bool = False
    # Work per row relative to a footprint prism (a LoD2 building's surfaces cost about ten), which decides
    # whether worker processes pay off and how runs are split.
    row_cost: float = 1.0

    @property
    def rows(self) -> int:
        """Rows in the sequence."""
        return int(self.tile_start[-1])

    @property
    def cost(self) -> float:
        """The set's work in footprint-prism equivalents."""
        return self.rows * self.row_cost


# Worker processes are forked from the ingest and read their inputs from this module-level slot (inherited
# through fork, so nothing large is pickled); they return small summaries.
_JOB: dict[str, Any] = {}


def _write_range(set_index: int, first: int, last: int) -> tuple[list[TileSummary], float]:
    """Mesh and write tiles [first, last) of content set `set_index`; the CPU seconds this took."""
    cpu = time.process_time()
    content: ContentSet = _JOB["sets"][set_index]
    a0, b0 = int(content.tile_start[first]), int(content.tile_start[last])
    relative = content.tile_start[first : last + 1] - a0
    tiles = quantize(content.mesh(a0, b0, relative))
    folder: Path = _JOB["folder"]
    out: list[TileSummary] = []
    for k, tile in enumerate(tiles):
        t = first + k
        data = encode_glb(
            tile, content.columns, int(content.tile_start[t]), int(content.tile_start[t + 1]), _JOB["schema"],
            _JOB["generator"], _JOB["compression"], content.palette, content.double_sided,
        )  # fmt: skip
        (folder / f"content/{content.keys[t]}.glb").write_bytes(data)
        out.append((content.keys[t], tile.lo, tile.hi, len(data)))
    return out, time.process_time() - cpu


def _jobs(sets: list[ContentSet], runs: int) -> list[tuple[int, int, int]]:
    """(set, first tile, last tile) runs of about equal work, `runs` in all."""
    total = sum(content.cost for content in sets) or 1.0
    jobs: list[tuple[int, int, int]] = []
    for index, content in enumerate(sets):
        n_tiles = len(content.keys)
        pieces = max(1, round(runs * content.cost / total))
        cuts = np.searchsorted(content.tile_start[1:], np.linspace(0, content.rows, pieces + 1)[1:-1])
        bounds = [0, *sorted({int(c) + 1 for c in cuts if int(c) + 1 < n_tiles}), n_tiles]
        jobs.extend((index, a, b) for a, b in itertools.pairwise(bounds) if a < b)
    return jobs


def write_contents(
    folder: Path,
    sets: list[ContentSet],
    schema_json: str,
    generator: str,
    compression: Compression,
    progress: Progress,
    meanwhile: Callable[[], None] = lambda: None,
) -> tuple[list[TileSummary], float]:
    """Write every tile of every set into `folder/content/`; `meanwhile` runs while workers write.

    Returns the tiles' summaries and the CPU seconds the meshing and encoding took.
    """
    (folder / "content").mkdir(exist_ok=True)
    cost = sum(content.cost for content in sets)
    n_tiles = sum(len(content.keys) for content in sets)
    workers = min(2, os.cpu_count() or 1) if cost >= PARALLEL_MIN_COST else 1
    jobs = _jobs(sets, workers * RUNS_PER_WORKER if workers > 1 else 1)
    _JOB.update(folder=folder, sets=sets, schema=schema_json, generator=generator, compression=compression)
    summaries: list[TileSummary] = []
    cpu = 0.0
    try:
        if workers > 1 and len(jobs) > 1:
            context = multiprocessing.get_context("fork")
            # Forked before any other thread exists in this process (map submits, and so forks, at once).
            with ProcessPoolExecutor(workers, mp_context=context) as pool:
                results = pool.map(_write_range, *zip(*jobs, strict=True))
                meanwhile()
                for result, seconds in results:
                    summaries.extend(result)
                    cpu += seconds
                    progress("tiles", len(summaries), n_tiles)
        else:
            for job in jobs:
                result, seconds = _write_range(*job)
                summaries.extend(result)
                cpu += seconds
                progress("tiles", len(summaries), n_tiles)
            meanwhile()
    finally:
        _JOB.clear()
    return summaries, cpu
