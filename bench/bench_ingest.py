"""Benchmark ``twin ingest`` end to end: throughput, peak memory and tile sizes against the project's targets.

    python bench/bench_ingest.py [--n 100000] [--keep]
    python bench/bench_ingest.py --source FILE [--crs EPSG:25832]

Without ``--source`` it first makes ``--n`` real footprints (bench/make_footprints.py, not timed), then runs
the real CLI ``twin ingest FILE --layer bench [--crs ...]`` ``--runs`` times as a child process, each with
``TWIN_DATA_DIR`` set to a fresh temporary folder, measures wall times and peak memory (throughput from the
median run, peak memory the highest), and inspects what the median run wrote: the layer folder
``layers/bench/`` with ``tileset.json``, the tile content files below it (GLB or other 3D Tiles containers,
gzip-compressed on disk or not) and ``report.json``. It prints the figures next to the targets and exits
non-zero only if the ingest failed (non-zero exit, or no tileset written); missing a target is reported, not
an error.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import re
import resource
import shlex
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from make_footprints import make_footprints

TARGET_BUILDINGS_PER_S = 50_000
TARGET_GZIP_BYTES_PER_BUILDING = 250
TARGET_PEAK_MB = 2048
GZIP_MAGIC = b"\x1f\x8b"
TILE_MAGIC = {b"glTF": "glb", b"b3dm": "b3dm", b"i3dm": "i3dm", b"pnts": "pnts", b"cmpt": "cmpt"}
SUBTREE_MAGIC = b"subt"
# Report keys that hold the number of buildings written into tiles, most specific first.
WRITTEN_KEYS = ("features_written", "buildings_written", "buildings_in_tiles", "features_tiled", "written")
READ_KEYS = ("features_read", "buildings_read", "features_in", "read")


@dataclass
class TileStats:
    """Sizes of the tile content files of a layer, in bytes (raw = uncompressed GLB/b3dm/... bytes)."""

    files: int = 0
    raw_bytes: int = 0
    gzip_bytes: int = 0  # gzip level 6 of each file, or the file itself if it is gzip on disk
    disk_bytes: int = 0
    largest_raw: int = 0
    largest_disk: int = 0
    gzipped_on_disk: int = 0
    subtrees: int = 0
    kinds: dict[str, int] = field(default_factory=dict)


@dataclass
class IngestRun:
    """One run of the CLI: exit code, wall time (s), peak RSS (MB) and its output."""

    command: list[str]
    returncode: int
    seconds: float
    maxrss_mb: float  # getrusage(RUSAGE_CHILDREN).ru_maxrss: the largest single waited-for descendant
    tree_peak_mb: float | None  # sampled PSS sum over the child and its descendants (Linux), None elsewhere
    stdout: str
    stderr: str


class TreeRssSampler(threading.Thread):
    """Polls the memory of a process and all its descendants (Linux /proc) and keeps the peak of the sum.

    Each process counts with its proportional set size (PSS: shared pages split among the processes sharing
    them), so forked workers are not counted twice; resident size (RSS) where PSS is unavailable.
    """

    def __init__(self, pid: int, interval: float = 0.25) -> None:
        super().__init__(daemon=True)
        self.pid = pid
        self.interval = interval
        self.peak_bytes = 0
        self.available = Path("/proc/self/statm").exists()
        self._stop_event = threading.Event()
        self._page = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096

    def run(self) -> None:
        """Sample until stopped."""
        while self.available and not self._stop_event.is_set():
            self.peak_bytes = max(self.peak_bytes, self._tree_rss())
            self._stop_event.wait(self.interval)

    def stop(self) -> None:
        """Stop sampling and wait for the thread."""
        self._stop_event.set()
        self.join()

    def _tree_rss(self) -> int:
        children: dict[int, list[int]] = {}
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                text = stat.read_text()
            except OSError:
                continue
            ppid = int(text[text.rindex(")") + 2 :].split()[1])
            children.setdefault(ppid, []).append(int(stat.parent.name))
        total, todo = 0, [self.pid]
        while todo:
            pid = todo.pop()
            todo.extend(children.get(pid, []))
            total += self._process_bytes(pid)
        return total

    def _process_bytes(self, pid: int) -> int:
        try:
            for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
                if line.startswith("Pss:"):
                    return int(line.split()[1]) * 1024
        except (OSError, ValueError, IndexError):
            pass
        try:
            return int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * self._page
        except (OSError, ValueError, IndexError):
            return 0


def default_twin_command() -> str:
    """The ``twin`` console script next to the running Python (the project's virtual environment)."""
    return str(Path(sys.executable).parent / "twin")


def count_features(path: Path) -> int | None:
    """Number of features in a source file, or None if it cannot be told cheaply."""
    try:
        if path.suffix.lower() in (".parquet", ".geoparquet"):
            import pyarrow.parquet as pq

            return int(pq.ParquetFile(path).metadata.num_rows)
        import pyogrio

        count = int(pyogrio.read_info(path, force_feature_count=True)["features"])
        return count if count >= 0 else None
    except Exception:
        return None


def run_ingest(
    command: list[str], env: dict[str, str], timeout: float | None, sample_interval: float = 0.25
) -> IngestRun:
    """Run the CLI once as a child process and measure wall time and peak memory.

    ``sample_interval`` is the period of the process-tree memory sampler in seconds (0 turns it off).
    """
    sampler: TreeRssSampler | None = None
    started = time.perf_counter()
    try:
        with subprocess.Popen(
            command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        ) as proc:
            if sample_interval > 0:
                sampler = TreeRssSampler(proc.pid, sample_interval)
                sampler.start()
            try:
                stdout, stderr = proc.communicate(timeout=timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                stdout, stderr = proc.communicate()
                stderr += f"\nbench: killed after the {timeout} s timeout"
            returncode = proc.returncode
    except OSError as exc:
        return IngestRun(command, 127, 0.0, 0.0, None, "", f"bench: cannot run {command[0]}: {exc}")
    finally:
        if sampler is not None:
            sampler.stop()
    seconds = time.perf_counter() - started
    maxrss_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss  # kilobytes on Linux
    scale = 1 / 1024 / 1024 if sys.platform == "darwin" else 1 / 1024  # bytes on macOS
    tree = sampler.peak_bytes / 1024 / 1024 if sampler is not None and sampler.available else None
    return IngestRun(command, returncode, seconds, maxrss_kb * scale, tree, stdout, stderr)


def find_layer_dir(data_dir: Path, layer: str) -> Path | None:
    """The published layer folder: ``layers/<layer>`` if it has a tileset, else wherever one was written."""
    expected = data_dir / "layers" / layer
    if (expected / "tileset.json").is_file():
        return expected
    found = sorted(data_dir.rglob("tileset.json"), key=lambda p: (layer not in p.parts, len(p.parts)))
    return found[0].parent if found else None


def tile_stats(layer_dir: Path) -> TileStats:
    """Count and size the tile content files under a layer folder, recognised by magic bytes, not names."""
    stats = TileStats()
    kinds: Counter[str] = Counter()
    for path in sorted(p for p in layer_dir.rglob("*") if p.is_file()):
        with path.open("rb") as handle:
            head = handle.read(4)
        if head[:2] == GZIP_MAGIC:
            data = path.read_bytes()
            try:
                raw = gzip.decompress(data)
            except (OSError, EOFError):
                continue
            if raw[:4] == SUBTREE_MAGIC:
                stats.subtrees += 1
            if raw[:4] not in TILE_MAGIC:
                continue
            compressed, on_disk = len(data), True
        elif head in TILE_MAGIC:
            raw = path.read_bytes()
            compressed, on_disk = len(gzip.compress(raw, compresslevel=6)), False
        else:
            if head == SUBTREE_MAGIC:
                stats.subtrees += 1
            continue
        disk = path.stat().st_size
        kinds[TILE_MAGIC[raw[:4]]] += 1
        stats.files += 1
        stats.raw_bytes += len(raw)
        stats.gzip_bytes += compressed
        stats.disk_bytes += disk
        stats.largest_raw = max(stats.largest_raw, len(raw))
        stats.largest_disk = max(stats.largest_disk, disk)
        stats.gzipped_on_disk += on_disk
    stats.kinds = dict(kinds)
    return stats


def flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    """Leaves of nested JSON as dotted keys (lists are kept whole)."""
    if isinstance(value, dict):
        items: dict[str, Any] = {}
        for key, inner in value.items():
            items.update(flatten(inner, f"{prefix}{key}."))
        return items
    return {prefix.rstrip("."): value}


def pick_count(report: dict[str, Any], preferred: Sequence[str], pattern: str) -> tuple[str, int] | None:
    """A count from the report: a preferred key at any depth, else the first integer whose name matches."""
    numbers = {k: v for k, v in flatten(report).items() if isinstance(v, int) and not isinstance(v, bool)}
    for wanted in preferred:
        for key, value in numbers.items():
            if key.split(".")[-1] == wanted:
                return key, value
    regex = re.compile(pattern, re.IGNORECASE)
    for key, value in numbers.items():
        name = key.split(".")[-1]
        if regex.search(name) and not re.search(r"skip|byte|time|second|size", name, re.IGNORECASE):
            return key, value
    return None


def read_report(layer_dir: Path | None, data_dir: Path) -> tuple[Path | None, dict[str, Any]]:
    """The ingest report (``report.json`` in the layer folder, else anywhere in the data dir)."""
    candidates = [layer_dir / "report.json"] if layer_dir else []
    candidates += sorted(data_dir.rglob("report.json"))
    for path in candidates:
        if path.is_file():
            try:
                report = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                continue
            if isinstance(report, dict):
                return path, report
    return None, {}


def verdict(ok: bool | None) -> str:
    """Short mark for a target check."""
    return "n/a" if ok is None else ("ok" if ok else "MISSED")


def tail(text: str, lines: int = 20) -> str:
    """The last lines of a text, indented."""
    return "\n".join("    " + line for line in text.strip().splitlines()[-lines:])


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark; see the module docstring."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--n", type=int, default=100_000, help="footprints to generate (default %(default)s)")
    parser.add_argument("--source", type=Path, help="benchmark this file instead of generated footprints")
    parser.add_argument(
        "--crs", help="passed to twin ingest --crs (default EPSG:32630 for generated footprints)"
    )
    parser.add_argument("--format", default="parquet", choices=["parquet", "gpkg", "geojson", "fgb"])
    parser.add_argument("--layer", default="bench", help="layer id (default %(default)s)")
    parser.add_argument(
        "--twin-cmd", default=default_twin_command(), help="command that runs twin (default: %(default)s)"
    )
    parser.add_argument("--timeout", type=float, help="kill the ingest after this many seconds")
    parser.add_argument(
        "--runs",
        type=int,
        default=5,
        help="ingest this many times, each into a fresh data dir; throughput from the median (default %(default)s)",
    )
    parser.add_argument(
        "--sample-interval",
        type=float,
        default=0.25,
        help="seconds between samples of the process tree's memory, 0 for none (default %(default)s)",
    )
    parser.add_argument(
        "--keep", action="store_true", help="keep the temporary folder (footprints, data dir)"
    )
    parser.add_argument("--json", type=Path, help="also write the figures to this JSON file")
    args = parser.parse_args(argv)

    workdir = Path(tempfile.mkdtemp(prefix="twin-bench-"))
    try:
        return bench(args, workdir)
    finally:
        if args.keep:
            print(f"kept: {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)


def bench(args: argparse.Namespace, workdir: Path) -> int:
    """Make or take the source, run the ingest, inspect and print; return the exit code."""
    if args.source is not None:
        source, crs = args.source.resolve(), args.crs
        if not source.exists():
            print(f"bench: no such file: {source}", file=sys.stderr)
            return 2
    else:
        crs = args.crs or "EPSG:32630"
        started = time.perf_counter()
        source = make_footprints(args.n, workdir / f"footprints.{args.format}")
        print(f"made {args.n:,} footprints in {time.perf_counter() - started:.2f} s (not timed): {source}")
    buildings_in = count_features(source)

    command = [*shlex.split(args.twin_cmd), "ingest", str(source), "--layer", args.layer]
    if crs:
        command += ["--crs", crs]
    load = ", ".join(f"{v:.2f}" for v in os.getloadavg()) if hasattr(os, "getloadavg") else "unknown"
    print(f"machine: {os.cpu_count()} CPUs, load average {load} (figures vary with other load)")
    runs: list[IngestRun] = []
    for index in range(max(1, args.runs)):
        # Every run starts from nothing: a fresh data dir and catalog, as a first ingest would.
        data_dir = workdir / f"data-{index}"
        env = {**os.environ, "TWIN_DATA_DIR": str(data_dir)}
        env.pop("TWIN_DATABASE_URL", None)  # the catalog goes into the temporary data dir
        print(f"run {index + 1}/{args.runs}: TWIN_DATA_DIR={data_dir} {shlex.join(command)}")
        run = run_ingest(command, env, args.timeout, args.sample_interval)
        if run.returncode != 0:
            print(f"ingest FAILED with exit code {run.returncode} after {run.seconds:.1f} s", file=sys.stderr)
            print(tail(run.stderr, 40), file=sys.stderr)
            return 1
        print(f"  {run.seconds:.2f} s")
        runs.append(run)
    # The median run stands for the machine (a single run swings with other load); its output is inspected.
    ordered = sorted(range(len(runs)), key=lambda i: runs[i].seconds)
    median_index = ordered[len(ordered) // 2]
    run = runs[median_index]
    data_dir = workdir / f"data-{median_index}"
    if run.stdout.strip():
        print("twin output (median run):\n" + tail(run.stdout))
    wall_times = [round(r.seconds, 3) for r in runs]
    peak_all = max(max(r.maxrss_mb, r.tree_peak_mb or 0.0) for r in runs)

    layer_dir = find_layer_dir(data_dir, args.layer)
    if layer_dir is None:
        print(f"ingest FAILED: exit code 0 but no tileset.json under {data_dir}", file=sys.stderr)
        print(tail(run.stderr, 40), file=sys.stderr)
        return 1
    if layer_dir != data_dir / "layers" / args.layer:
        print(f"note: layer written to {layer_dir}, not {data_dir / 'layers' / args.layer}")
    tiles = tile_stats(layer_dir)
    report_path, report = read_report(layer_dir, data_dir)
    if report_path is None:
        print("note: no report.json found")
    else:
        print(f"report {report_path.relative_to(data_dir)}: keys {', '.join(report)}")
    written = pick_count(report, WRITTEN_KEYS, r"written|tiled|in_tiles|output")
    read = pick_count(report, READ_KEYS, r"read|input")
    if buildings_in is None and read is not None:
        buildings_in = read[1]
    buildings_out = written[1] if written else None
    per_building = buildings_out or buildings_in

    rate = per_building / run.seconds if per_building and run.seconds > 0 else None
    raw_per = tiles.raw_bytes / per_building if per_building else None
    gz_per = tiles.gzip_bytes / per_building if per_building else None
    peak_mb = peak_all
    figures: dict[str, Any] = {
        "source": str(source),
        "buildings_in": buildings_in,
        "buildings_in_tiles": buildings_out,
        "buildings_in_tiles_key": written[0] if written else None,
        "features_read_report": read[1] if read else None,
        "wall_s": round(run.seconds, 3),
        "wall_s_runs": wall_times,
        "buildings_per_s": round(rate) if rate else None,
        "tiles": asdict(tiles),
        "mean_tile_bytes": round(tiles.raw_bytes / tiles.files) if tiles.files else None,
        "bytes_per_building_raw": round(raw_per, 1) if raw_per else None,
        "bytes_per_building_gzip": round(gz_per, 1) if gz_per else None,
        "peak_rss_mb": round(run.maxrss_mb, 1),
        "peak_rss_tree_mb": round(run.tree_peak_mb, 1) if run.tree_peak_mb is not None else None,
        "report_timings_s": report.get("timings_s"),
        "targets": {
            "buildings_per_s": TARGET_BUILDINGS_PER_S,
            "bytes_per_building_gzip": TARGET_GZIP_BYTES_PER_BUILDING,
            "peak_mb": TARGET_PEAK_MB,
        },
    }

    def fmt(value: float | int | None, unit: str = "", digits: int = 0) -> str:
        return "unknown" if value is None else f"{value:,.{digits}f}{unit}"

    written_label = f"(report.json: {written[0]})" if written else "(not in report.json)"
    gz_note = f", {tiles.gzipped_on_disk} gzip on disk" if tiles.gzipped_on_disk else ""
    rows = [
        ("buildings in", fmt(buildings_in), ""),
        ("buildings in tiles", fmt(buildings_out), written_label),
        (
            "wall time",
            fmt(run.seconds, " s", 2),
            f"end to end, CLI start to exit; median of {len(runs)} runs: {', '.join(f'{t:.2f}' for t in wall_times)}",
        ),
        (
            "buildings/s",
            fmt(rate),
            f"target >= {TARGET_BUILDINGS_PER_S:,}: "
            f"{verdict(None if rate is None else rate >= TARGET_BUILDINGS_PER_S)}",
        ),
        ("tiles (content files)", fmt(tiles.files), f"{tiles.kinds or 'none found'}{gz_note}"),
        ("largest tile", fmt(tiles.largest_raw, " B"), f"{tiles.largest_disk:,} B on disk"),
        ("mean tile", fmt(figures["mean_tile_bytes"], " B"), ""),
        ("bytes/building raw", fmt(raw_per, " B", 1), "sum of uncompressed tile bytes / buildings"),
        (
            "bytes/building gzipped",
            fmt(gz_per, " B", 1),
            f"target <= {TARGET_GZIP_BYTES_PER_BUILDING}: "
            f"{verdict(None if gz_per is None else gz_per <= TARGET_GZIP_BYTES_PER_BUILDING)}",
        ),
        (
            "peak memory",
            fmt(peak_mb, " MB", 1),
            f"target < {TARGET_PEAK_MB:,} MB: {verdict(peak_mb < TARGET_PEAK_MB)} (highest of the runs; median run: "
            f"largest process {run.maxrss_mb:,.1f} MB, process tree PSS {fmt(run.tree_peak_mb, ' MB', 1)})",
        ),
    ]
    if tiles.subtrees:
        rows.append(("subtree files", fmt(tiles.subtrees), "implicit tiling"))
    if report.get("timings_s"):
        stages = ", ".join(f"{k} {v} s" for k, v in report["timings_s"].items())
        rows.append(("ingest stages", f"{report.get('duration_s', '?')} s", f"report.json: {stages}"))
    print()
    for name, value, note in rows:
        print(f"{name:24s} {value:>14s}   {note}")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2), encoding="utf-8")
        print(f"figures written to {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
