"""Make a large footprint file for benchmarks by tiling real OSM footprints over a grid of offsets.

The 2,506 OpenStreetMap building footprints of a Breton town (../shared/data/footprints/osm-brittany,
EPSG:32630, ODbL) are copied side by side, each copy shifted by the dataset's extent plus a gap, until ``n``
footprints exist: shapes, vertex counts and attributes stay real, and no two copies overlap. Ids are made
unique by suffixing the copy index (``ID_SOURCE`` ``w144655681-17``; the few ways split into several
footprints in the source get ``.1``, ``.2`` before it) and renumbering ``ID_BUILD`` 1..n.

    python bench/make_footprints.py OUT.parquet [--n 100000]

The format follows the suffix of OUT: ``.parquet`` (GeoParquet), ``.gpkg``, ``.geojson`` or ``.fgb``.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

SOURCE = (
    Path(__file__).resolve().parents[2]
    / "shared"
    / "data"
    / "footprints"
    / "osm-brittany"
    / "BUILDING.geojson"
)
CRS = "EPSG:32630"
GAP_M = 200.0  # between copies, metres
DRIVERS = {".gpkg": "GPKG", ".geojson": "GeoJSON", ".json": "GeoJSON", ".fgb": "FlatGeobuf"}


def copy_offsets(copies: int, width: float, height: float, gap: float = GAP_M) -> np.ndarray:
    """Offsets (copies, 2) in metres that place copies on a near-square grid, row by row."""
    columns = math.ceil(math.sqrt(copies))
    index = np.arange(copies)
    return np.column_stack([(index % columns) * (width + gap), (index // columns) * (height + gap)])


def replicate(base: gpd.GeoDataFrame, n: int, gap: float = GAP_M) -> gpd.GeoDataFrame:
    """``n`` footprints made of shifted copies of ``base`` (the last copy partial), with unique ids."""
    if n < 1:
        raise ValueError(f"n must be at least 1, got {n}")
    count = len(base)
    copies = math.ceil(n / count)
    xmin, ymin, xmax, ymax = base.total_bounds
    offsets = copy_offsets(copies, xmax - xmin, ymax - ymin, gap)

    row = np.arange(n) % count
    copy = np.arange(n) // count
    geoms = base.geometry.to_numpy()[row]
    # One offset per coordinate, in the order shapely hands coordinates to the transformation.
    per_vertex = np.repeat(offsets[copy], shapely.get_num_coordinates(geoms), axis=0)
    shifted = shapely.transform(geoms, lambda xy: xy + per_vertex)

    attributes = pd.DataFrame(base.drop(columns=base.geometry.name)).iloc[row].reset_index(drop=True)
    if "ID_SOURCE" in attributes:
        # A few OSM ways are split into several footprints in the source: number those parts (".1", ".2").
        source_id = base["ID_SOURCE"].astype(str)
        part = source_id.groupby(source_id).cumcount().to_numpy()
        unique_id = np.where(part > 0, source_id + "." + part.astype(str), source_id)
        attributes["ID_SOURCE"] = pd.Series(unique_id[row]) + "-" + copy.astype(str)
    if "ID_BUILD" in attributes:
        attributes["ID_BUILD"] = np.arange(1, n + 1, dtype=np.int64)
    return gpd.GeoDataFrame(attributes, geometry=gpd.GeoSeries(shifted, crs=base.crs), crs=base.crs)


def write_footprints(frame: gpd.GeoDataFrame, out: Path) -> Path:
    """Write footprints in the format given by the file suffix (GeoParquet, GPKG, GeoJSON, FlatGeobuf)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    suffix = out.suffix.lower()
    if suffix in (".parquet", ".geoparquet"):
        frame.to_parquet(out, index=False)
    elif suffix in DRIVERS:
        out.unlink(missing_ok=True)
        frame.to_file(out, driver=DRIVERS[suffix], engine="pyogrio")
    else:
        raise ValueError(f"unknown output format {out.suffix!r}: use .parquet, .gpkg, .geojson or .fgb")
    return out


def make_footprints(n: int, out: Path, source: Path = SOURCE) -> Path:
    """Write ``n`` realistic, non-overlapping footprints (EPSG:32630) to ``out`` and return its path."""
    if not Path(source).is_file():
        raise FileNotFoundError(f"footprints to replicate not found: {source} (pass another with --source)")
    base = gpd.read_file(source, engine="pyogrio")
    if base.crs is None or base.crs.to_epsg() != 32630:
        base = base.set_crs(CRS, allow_override=True) if base.crs is None else base.to_crs(CRS)
    return write_footprints(replicate(base, n), Path(out))


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: write the footprints and print how long it took."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("out", type=Path, help="output file (.parquet, .gpkg, .geojson or .fgb)")
    parser.add_argument("--n", type=int, default=100_000, help="number of footprints (default %(default)s)")
    parser.add_argument(
        "--source", type=Path, default=SOURCE, help="footprints to replicate (default: OSM Brittany)"
    )
    args = parser.parse_args(argv)
    started = time.perf_counter()
    path = make_footprints(args.n, args.out, args.source)
    seconds = time.perf_counter() - started
    print(f"{args.n:,} footprints -> {path} ({path.stat().st_size / 1e6:.1f} MB) in {seconds:.2f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
