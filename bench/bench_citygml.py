"""Benchmark the city model ingest (CityGML/CityJSON to 3D Tiles) end to end against the project's targets.

    python bench/bench_citygml.py [--tiles 200] [--runs 3] [--keep]
    python bench/bench_citygml.py --source FOLDER_OR_FILE... [--crs EPSG:25832]
    python bench/bench_citygml.py --self-test

Without ``--source`` it replicates the real NRW LoD2 tiles (../shared/data/citygml/nrw-lod2/*.gml) into
``--tiles`` shifted copies (not timed), then runs the real CLI ``twin ingest FOLDER --layer bench`` ``--runs``
times as a child process, each with a fresh ``TWIN_DATA_DIR`` (bench_ingest.py measures the same way: wall
time, peak memory of the process tree). It prints MB/s of input, buildings/s, tiles, bytes per building
(raw and gzipped), the bytes CesiumJS would fetch for a city-wide and a street view (citygml_views.py),
and the time of cjio's GLB export against twin's ingest of the same CityJSON files. Figures, never asserts.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import shlex
import shutil
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench_ingest import (
    IngestRun,
    default_twin_command,
    find_layer_dir,
    read_report,
    run_ingest,
    tail,
    verdict,
)
from citygml_views import city_view, content_sizes, street_ground, street_view, view_figures

from twin.errors import TwinError
from twin.ingest.sources import expand_sources

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
NRW_LOD2 = SHARED_DATA / "citygml" / "nrw-lod2"
GRIDS = SHARED_DATA / "grids"
CJIO_FILES = [
    SHARED_DATA / "cityjson" / "cjio-testdata" / n for n in ("zurich_subset_lod2.json", "delft.json")
]
TARGET_MB_PER_S = 20.0  # MB = 10^6 bytes of source files
TARGET_PEAK_MB = 1024.0
TARGET_GZIP_BYTES_PER_BUILDING = 1536.0  # 1.5 KB
TARGET_CJIO_RATIO = 50.0

# One pass finds every number to shift and every id to rename. The AdV files spell the prefixes gml: and
# xlink:; a coordinate's text is everything up to the next tag.
TOKENS = re.compile(
    r"<gml:(?P<tag>posList|pos|lowerCorner|upperCorner)\b(?P<attrs>[^>]*)>(?P<coords>[^<]*)"
    r'|\bgml:id="(?P<id>[^"]*)"'
    r'|\bxlink:href="(?P<href>[^"]*)"'
)
SRS_DIMENSION = re.compile(r'srsDimension="(\d)"')
NUMBER = re.compile(r"\S+")
UNSIGNED = re.compile(r"(\d+)(\.\d*)?")
XPOINTER_ID = re.compile(r"""@gml:id\s*=\s*['"]([^'"]+)['"]""")
EAST, NORTH, SUFFIX = 0, 1, 2


@dataclass
class GmlTemplate:
    """A CityGML file cut into literal text and slots: integer parts of x and y, and id suffixes.

    ``literals`` has one more item than ``kinds``; slot i lies between literals i and i+1.
    """

    literals: list[str]
    kinds: list[int]  # EAST, NORTH or SUFFIX
    values: list[int]  # the integer part of the coordinate (0 for a suffix)
    low: tuple[float, float]  # smallest x and y of the geometry (not the envelope), metres
    high: tuple[float, float]


def parse_template(text: str, dimension: int = 3) -> GmlTemplate:
    """Cut a CityGML text into a template; ``dimension`` for coordinates without srsDimension."""
    literals: list[str] = []
    kinds: list[int] = []
    values: list[int] = []
    low, high = [math.inf, math.inf], [-math.inf, -math.inf]
    last = 0

    def slot(start: int, end: int, kind: int, value: int = 0) -> None:
        nonlocal last
        literals.append(text[last:start])
        kinds.append(kind)
        values.append(value)
        last = end

    for match in TOKENS.finditer(text):
        if match["coords"] is not None:
            found = SRS_DIMENSION.search(match["attrs"])
            size, base = int(found[1]) if found else dimension, match.start("coords")
            # The envelope's corners lie on the kilometre lines: only the geometry tells where buildings are.
            geometry = match["tag"] in ("posList", "pos")
            for index, number in enumerate(NUMBER.finditer(match["coords"])):
                axis = index % size
                if axis > NORTH:
                    continue
                parts = UNSIGNED.fullmatch(number[0])
                if parts is None:  # only plain decimals keep their digits when the integer part moves
                    raise ValueError(
                        f"cannot shift coordinate {number[0]!r} at character {base + number.start()}"
                    )
                if geometry:
                    value = float(number[0])
                    low[axis], high[axis] = min(low[axis], value), max(high[axis], value)
                start = base + number.start()
                slot(start, start + len(parts[1]), axis, int(parts[1]))
        elif match["id"] is not None:
            slot(match.end("id"), match.end("id"), SUFFIX)
        elif match["href"].startswith("#"):  # '#id' or '#xpointer(//*[@gml:id='id'])'; others stay
            pointer = XPOINTER_ID.search(match["href"])
            end = match.start("href") + (pointer.end(1) if pointer else len(match["href"]))
            slot(end, end, SUFFIX)
    literals.append(text[last:])
    return GmlTemplate(literals, kinds, values, (low[0], low[1]), (high[0], high[1]))


def render(template: GmlTemplate, east: int, north: int, suffix: str) -> str:
    """The template's text with x and y moved by whole metres and every id (and reference to it) suffixed."""
    shift = (east, north)
    pieces = [
        suffix if k == SUFFIX else str(v + shift[k])
        for k, v in zip(template.kinds, template.values, strict=True)
    ]
    out: list[str] = [""] * (len(template.literals) + len(pieces))
    out[0::2], out[1::2] = template.literals, pieces
    return "".join(out)


def replicate_citygml(sources: Sequence[Path], tiles: int, out_dir: Path) -> list[Path]:
    """Write ``tiles`` copies of the sources (in turn) onto a grid of whole kilometres, no two overlapping.

    Each source keeps its place inside its own kilometre square (its smallest x and y rounded down); the grid
    step is the most kilometre squares any source spans, so copies never overlap.
    """
    # latin-1 maps every byte to one character and back: everything not rewritten stays byte-identical.
    templates = [parse_template(path.read_bytes().decode("latin-1")) for path in sources]
    origins = [(math.floor(t.low[0] / 1000) * 1000, math.floor(t.low[1] / 1000) * 1000) for t in templates]
    step = [
        1000 * max(math.floor((t.high[a] - o[a]) / 1000) + 1 for t, o in zip(templates, origins, strict=True))
        for a in (0, 1)
    ]
    anchor = (min(o[0] for o in origins), min(o[1] for o in origins))
    columns = max(1, round(math.sqrt(tiles * step[1] / step[0])))  # a near-square area
    written = []
    for index in range(tiles):
        which = index % len(sources)
        row, column = divmod(index, columns)
        east = anchor[0] + column * step[0] - origins[which][0]
        north = anchor[1] + row * step[1] - origins[which][1]
        path = out_dir / f"{index:04d}_{sources[which].name}"
        path.write_bytes(render(templates[which], east, north, f"_c{index}").encode("latin-1"))
        written.append(path)
    return written


def child_env(data_dir: Path) -> dict[str, str]:
    """Environment of a child: a fresh data dir (and catalog in it), the shared geoid grid if none is set."""
    env = {**os.environ, "TWIN_DATA_DIR": str(data_dir)}
    env.pop("TWIN_DATABASE_URL", None)
    if "TWIN_GRID_DIRS" not in env and GRIDS.is_dir():
        env["TWIN_GRID_DIRS"] = str(GRIDS)
    return env


def timed_runs(
    command: list[str], runs: int, workdir: Path, args: argparse.Namespace, label: str
) -> tuple[list[IngestRun], int]:
    """Run a command ``runs`` times, each with a fresh data dir ``workdir/data-i``; runs and median index.

    Stops at the first failure (the failed run is the last in the list).
    """
    done: list[IngestRun] = []
    for index in range(max(1, runs)):
        run = run_ingest(command, child_env(workdir / f"data-{index}"), args.timeout, args.sample_interval)
        failed = f", exit code {run.returncode}" if run.returncode else ""
        print(f"  {label} {index + 1}/{runs}: {run.seconds:.2f} s{failed}")
        done.append(run)
        if run.returncode != 0:
            break
    ordered = sorted(range(len(done)), key=lambda i: done[i].seconds)
    return done, ordered[len(ordered) // 2]


def why(run: IngestRun) -> str:
    """The last lines a failed child printed (cjio says why on stdout, then 'Abort' on stderr)."""
    lines = [line.strip() for line in (run.stdout + "\n" + run.stderr).splitlines() if line.strip()]
    return f"exit code {run.returncode}: " + " | ".join(lines[-3:])


def compare_cjio(args: argparse.Namespace, workdir: Path) -> list[dict[str, Any]]:
    """Time cjio's GLB export and twin's ingest of the same CityJSON files, as child processes."""
    results: list[dict[str, Any]] = []
    for index, source in enumerate(args.cjio_files):
        if not source.is_file():
            results.append({"file": source.name, "cjio_error": f"no such file: {source}"})
            continue
        objects = len(json.loads(source.read_text(encoding="utf-8")).get("CityObjects", {}))
        base = workdir / f"cjio-{index}"
        base.mkdir()
        print(f"{source.name}: {objects} city objects")
        cjio = [*shlex.split(args.cjio_cmd), str(source), "export", "glb", str(base / "out.glb")]
        cjio_runs, c = timed_runs(cjio, args.cjio_runs, base / "cjio", args, "cjio export glb")
        twin = [*shlex.split(args.twin_cmd), "ingest", str(source), "--layer", "x"]
        twin_runs, t = timed_runs(twin, args.runs, base / "twin", args, "twin ingest")
        row: dict[str, Any] = {"file": source.name, "city_objects": objects}
        if cjio_runs[c].returncode != 0:
            row["cjio_error"] = why(cjio_runs[c])
        else:
            row["cjio_s"] = round(cjio_runs[c].seconds, 3)
        if twin_runs[t].returncode != 0:
            row["twin_error"] = why(twin_runs[t])
        else:
            _, report = read_report(
                find_layer_dir(base / "twin" / f"data-{t}", "x"), base / "twin" / f"data-{t}"
            )
            row.update(twin_s=round(twin_runs[t].seconds, 3), twin_in_process_s=report.get("duration_s"),
                       twin_buildings=report.get("features_written"))  # fmt: skip
        if "cjio_s" in row and "twin_s" in row:
            row["ratio"] = round(row["cjio_s"] / row["twin_s"], 1)
            if row["twin_in_process_s"]:  # without Python's start-up and imports (~0.5-1 s of a small file)
                row["ratio_in_process"] = round(row["cjio_s"] / row["twin_in_process_s"], 1)
        results.append(row)
    return results


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark; see the module docstring."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--tiles", type=int, default=200, help="NRW tiles to make (default %(default)s)")
    parser.add_argument(
        "--source", type=Path, nargs="+", help="ingest these CityGML/CityJSON files or folders"
    )
    parser.add_argument("--crs", help="passed to twin ingest --crs")
    parser.add_argument("--layer", default="bench", help="layer id (default %(default)s)")
    parser.add_argument("--runs", type=int, default=3, help="ingests, median taken (default %(default)s)")
    parser.add_argument("--twin-cmd", default=default_twin_command(), help="command that runs twin")
    parser.add_argument(
        "--cjio-cmd", default=str(Path(sys.executable).parent / "cjio"), help="command for cjio"
    )
    parser.add_argument(
        "--cjio-files", type=Path, nargs="*", default=CJIO_FILES, help="CityJSON files to compare"
    )
    parser.add_argument(
        "--cjio-runs", type=int, default=1, help="cjio exports per file (default %(default)s)"
    )
    parser.add_argument("--timeout", type=float, help="kill a child process after this many seconds")
    parser.add_argument("--sample-interval", type=float, default=0.25, help="seconds between memory samples")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    parser.add_argument("--json", type=Path, help="also write the figures to this JSON file")
    parser.add_argument(
        "--self-test", action="store_true", help="check the generator and tile selection, then exit"
    )
    args = parser.parse_args(argv)
    if args.self_test:
        return self_test()
    workdir = Path(tempfile.mkdtemp(prefix="twin-bench-citygml-"))
    try:
        return bench(args, workdir)
    finally:
        if args.keep:
            print(f"kept: {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)


def bench(args: argparse.Namespace, workdir: Path) -> int:
    """Make or take the sources; run and inspect the ingest, the views and cjio; print; the exit code."""
    if args.source:
        sources = [path.resolve() for path in args.source]
    else:
        folder = workdir / "nrw"
        folder.mkdir()
        started = time.perf_counter()
        replicate_citygml(sorted(NRW_LOD2.glob("*.gml")), args.tiles, folder)
        print(
            f"made {args.tiles} NRW LoD2 tiles in {time.perf_counter() - started:.2f} s (not timed): {folder}"
        )
        sources = [folder]
    try:
        input_bytes = sum(ref.size() for ref in expand_sources(sources))
    except TwinError as exc:
        print(f"bench: bad --source: {exc}", file=sys.stderr)
        return 2
    command = [*shlex.split(args.twin_cmd), "ingest", *map(str, sources), "--layer", args.layer]
    command += ["--crs", args.crs] if args.crs else []
    load = ", ".join(f"{v:.2f}" for v in os.getloadavg())
    print(f"machine: {os.cpu_count()} CPUs, load average {load} (figures vary with other load)")
    print(f"{args.runs} x {shlex.join(command)}  ({input_bytes / 1e6:.1f} MB in)")
    runs, median = timed_runs(command, args.runs, workdir, args, "twin ingest")
    run, data_dir = runs[median], workdir / f"data-{median}"
    layer_dir = find_layer_dir(data_dir, args.layer) if run.returncode == 0 else None
    if layer_dir is None:
        print(f"ingest FAILED (exit code {runs[-1].returncode}, {runs[-1].seconds:.1f} s)", file=sys.stderr)
        print(tail(runs[-1].stderr, 40), file=sys.stderr)
        return 1
    _, report = read_report(layer_dir, data_dir)
    buildings = int(report.get("features_written") or 0)
    if not buildings:
        print("ingest FAILED: no buildings written (see the report's skipped reasons)", file=sys.stderr)
        print(tail(json.dumps(report.get("skipped"), indent=1)), file=sys.stderr)
        return 1
    tileset = json.loads((layer_dir / "tileset.json").read_text(encoding="utf-8"))
    sizes = content_sizes(layer_dir, tileset)
    raw, gz = sum(s[0] for s in sizes.values()), sum(s[1] for s in sizes.values())
    peak = max(max(r.maxrss_mb, r.tree_peak_mb or 0.0) for r in runs)
    views = {"city-wide": city_view(tileset), "street": street_view(street_ground(layer_dir, tileset))}
    figures: dict[str, Any] = {
        "sources": [str(s) for s in sources],
        "input_bytes": input_bytes,
        "features_read": report.get("features_read"),
        "buildings": buildings,
        "wall_s": round(run.seconds, 3),
        "wall_s_runs": [round(r.seconds, 3) for r in runs],
        "mb_per_s": round(input_bytes / 1e6 / run.seconds, 2),
        "buildings_per_s": round(buildings / run.seconds),
        "tiles": len(sizes),
        "tile_raw_bytes": raw,
        "tile_gzip_bytes": gz,
        "bytes_per_building_raw": round(raw / buildings, 1),
        "bytes_per_building_gzip": round(gz / buildings, 1),
        "peak_mb": round(peak, 1),
        "report_timings_s": report.get("timings_s"),
        "report_duration_s": report.get("duration_s"),
        "views": {name: view_figures(tileset, camera, sizes) for name, camera in views.items()},
        "cjio": [] if not args.cjio_files else compare_cjio(args, workdir),
        "targets": {"mb_per_s": TARGET_MB_PER_S, "peak_mb": TARGET_PEAK_MB, "cjio_ratio": TARGET_CJIO_RATIO,
                    "bytes_per_building_gzip": TARGET_GZIP_BYTES_PER_BUILDING},
    }  # fmt: skip
    print_figures(figures, run)
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2), encoding="utf-8")
        print(f"figures written to {args.json}")
    return 0


def print_figures(f: dict[str, Any], run: IngestRun) -> None:
    """The figures as a table with the targets, then the two views and the cjio comparison."""
    gz, mbps, peak = f["bytes_per_building_gzip"], f["mb_per_s"], f["peak_mb"]
    walls = ", ".join(f"{t:.2f}" for t in f["wall_s_runs"])
    stages = ", ".join(f"{k} {v}" for k, v in (f["report_timings_s"] or {}).items())
    tile_mb = f"{f['tile_raw_bytes'] / 1e6:.2f} MB raw, {f['tile_gzip_bytes'] / 1e6:.2f} MB gzip"
    rows = [
        ("input", f"{f['input_bytes'] / 1e6:,.1f} MB", f"{len(f['sources'])} source argument(s)"),
        ("buildings in tiles", f"{f['buildings']:,}", f"features_written (read {f['features_read']})"),
        ("wall time", f"{f['wall_s']:.2f} s", f"CLI start to exit; median of {walls}"),
        ("MB/s", f"{mbps:.1f}", f"target >= {TARGET_MB_PER_S:.0f}: {verdict(mbps >= TARGET_MB_PER_S)}"),
        ("buildings/s", f"{f['buildings_per_s']:,}", ""),
        ("tiles", f"{f['tiles']:,}", tile_mb),
        ("bytes/building raw", f"{f['bytes_per_building_raw']:,.0f} B", "all content / buildings"),
        ("bytes/building gzip", f"{gz:,.0f} B",
         f"gzip -6 per file; target <= {TARGET_GZIP_BYTES_PER_BUILDING:.0f}: "
         f"{verdict(gz <= TARGET_GZIP_BYTES_PER_BUILDING)}"),
        ("peak memory", f"{peak:,.0f} MB",
         f"target < {TARGET_PEAK_MB:.0f}: {verdict(peak < TARGET_PEAK_MB)} (max of runs; median run: largest "
         f"process {run.maxrss_mb:,.0f} MB, tree PSS {run.tree_peak_mb or 0:,.0f} MB)"),
        ("ingest stages", f"{f['report_duration_s']} s", f"report.json timings_s: {stages}"),
    ]  # fmt: skip
    print()
    for name, value, note in rows:
        print(f"{name:20s} {value:>12s}   {note}")
    print("\nCesiumJS tile selection (1920x1080, fov 60 deg on the wider side, maximum SSE 16):")
    for name, v in f["views"].items():
        print(f"  {name}: camera at {v['camera_position_m']} m in the layer frame")
        print(
            f"    drawn: {v['tiles']} tiles ({v['leaves']} LoD2 leaves), depths {v['depths']}, "
            f"{v['raw_bytes'] / 1e3:,.0f} kB raw, {v['gzip_bytes'] / 1e3:,.0f} kB gzip"
        )
        print(f"    with the ancestors a cold start loads first: {v['with_ancestors_tiles']} tiles, "
              f"{v['with_ancestors_gzip_bytes'] / 1e3:,.0f} kB gzip")  # fmt: skip
    if f["cjio"]:
        print(f"\ncjio export glb vs twin ingest, wall times (target ratio >= {TARGET_CJIO_RATIO:.0f}):")
    for c in f["cjio"]:
        if "ratio" not in c:
            print(f"  {c['file']}: cjio {c.get('cjio_error', 'ok')}; twin {c.get('twin_error', 'ok')}")
            continue
        print(f"  {c['file']}: cjio {c['cjio_s']:.2f} s, twin {c['twin_s']:.2f} s: ratio {c['ratio']:.1f} "
              f"{verdict(c['ratio'] >= TARGET_CJIO_RATIO)} (against twin's in-process "
              f"{c['twin_in_process_s']} s: {c.get('ratio_in_process')}); {c['city_objects']} city objects, "
              f"twin wrote {c['twin_buildings']} buildings")  # fmt: skip


def self_test() -> int:
    """Check the generator on a small CityGML text and the tile selection on a synthetic tileset."""
    import citygml_views

    text = (
        '<gml:Envelope><gml:lowerCorner srsDimension="3">330000.5 5728000 17.9</gml:lowerCorner>'
        "</gml:Envelope>"
        '<bldg:Building gml:id="B1"><gml:Polygon gml:id="P1"><gml:posList srsDimension="3">\r\n'
        "330010.25 5728020.0 30.5 330011 5728021.125 31</gml:posList></gml:Polygon>"
        '<gml:surfaceMember xlink:href="#P1"/><x xlink:href="#xpointer(//*[@gml:id=\'P1\'])"/>'
        '<x xlink:href="http://example.org/codelist"/></bldg:Building>'
    )
    template = parse_template(text)
    assert render(template, 0, 0, "") == text
    assert render(template, 2000, -1000, "_c7") == (
        text.replace("330000.5 5728000 ", "332000.5 5727000 ").replace('"B1"', '"B1_c7"')
        .replace("330010.25 5728020.0 30.5 330011 5728021.125", "332010.25 5727020.0 30.5 332011 5727021.125")
        .replace("P1", "P1_c7")
    )  # fmt: skip
    assert template.low == (330010.25, 5728020.0) and template.high == (330011, 5728021.125)
    for path in sorted(NRW_LOD2.glob("*.gml")):
        original = path.read_bytes().decode("latin-1")
        assert render(parse_template(original), 0, 0, "") == original, path
    citygml_views.self_test()
    print("self-test ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
