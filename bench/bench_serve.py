"""Tile serving speed, side by side on one tile directory: `twin serve`, a plain StaticFiles app, and nginx.

    .venv/bin/python bench/bench_serve.py                      # ingest the sample city, 10 s per run
    .venv/bin/python bench/bench_serve.py --duration 5 --rounds 2 --workers 2
    .venv/bin/python bench/bench_serve.py --items-n 100000     # also the bbox items query on 100k buildings

What it does, in one run:

1. Ingests ``--source`` (default: data/samples/halle-altstadt.gpkg) with the real `twin ingest` into a temporary
   data dir (or reuses ``--data-dir``), and picks ``tileset.json`` and a typical GLB (the median size).
2. Starts, each as a child process on a free port of 127.0.0.1:
   - `twin serve --workers N` (the tile fast path, see src/twin/api/tile_fastpath.py);
   - the baseline: a FastAPI app with nothing but ``StaticFiles`` mounted at /tiles on uvicorn, one worker
     (``baseline_app`` below);
   - nginx (Debian's /usr/sbin/nginx) with deploy/nginx/twin.conf rendered for this data dir, proxying the rest
     to the `twin serve` above.
3. Runs wrk (``--connections`` 64, ``--duration`` 10 s) against each for tileset.json and the GLB, once without
   and once with ``Accept-Encoding: gzip``, and prints requests/s, p50/p99 latency, failed requests (socket
   errors plus non-2xx/3xx answers), and the ratios twin/StaticFiles and twin/nginx.
4. If the OGC items endpoint exists, ingests ``--items-n`` generated footprints (bench/make_footprints.py) and
   prints p50/p95 of ``/ogc/collections/{id}/items?bbox=...`` over ``--items-queries`` random 300 m boxes.

It prints figures and asserts nothing. wrk and the servers share the machine's CPUs (wrk gets ``--threads``), so
the absolute figures depend on the CPU count and on whatever else runs: the script prints both before it starts.
wrk is not a Python package: ``apt-get install -y wrk`` (the script says so and stops when it is missing).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import random
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
TEMPLATE = ROOT / "deploy" / "nginx" / "twin.conf"
NGINX = "/usr/sbin/nginx"
DEFAULT_SOURCE = ROOT / "data" / "samples" / "halle-altstadt.gpkg"
LAYER = "bench"
ITEMS_LAYER = "bench100k"


def baseline_app() -> object:
    """The baseline: FastAPI with a plain StaticFiles mount of ``$BENCH_LAYERS_DIR`` at /tiles (uvicorn factory)."""
    from fastapi import FastAPI
    from fastapi.staticfiles import StaticFiles

    app = FastAPI()
    app.mount(
        "/tiles", StaticFiles(directory=os.environ["BENCH_LAYERS_DIR"], follow_symlink=True), name="tiles"
    )
    return app


# --- processes ---------------------------------------------------------------------------------------------


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_until_up(url: str, timeout_s: float = 30.0) -> None:
    """Poll ``url`` until it answers (any status); RuntimeError after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with contextlib.suppress(httpx.HTTPError):
            httpx.get(url, timeout=2.0)
            return
        time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer within {timeout_s:.0f} s")


@contextlib.contextmanager
def child(command: Sequence[str], env: dict[str, str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    """Run ``command`` in its own process group for the duration of the block, then stop that group."""
    with log.open("wb") as out:
        process = subprocess.Popen(
            command, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
        try:
            yield process
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


def render_nginx(workdir: Path, data_dir: Path, listen: str, upstream: str) -> Path:
    """Render deploy/nginx/twin.conf into a runnable nginx prefix under ``workdir``; returns nginx.conf."""
    prefix = workdir / "nginx"
    for sub in ("logs", "tmp"):
        (prefix / sub).mkdir(parents=True, exist_ok=True)
    site = TEMPLATE.read_text()
    for name, value in (
        ("TWIN_LISTEN", listen),
        ("TWIN_DATA_DIR", str(data_dir.resolve())),
        ("TWIN_API_UPSTREAM", upstream),
    ):
        site = site.replace("${" + name + "}", value)
    (prefix / "twin.conf").write_text(site)
    main = prefix / "nginx.conf"
    # Started as root, nginx runs its workers as nobody, who cannot read our 0700 temporary folder: every tile
    # would fall back to the API. Workers as root are fine for a benchmark on 127.0.0.1.
    user = "user root;\n" if os.geteuid() == 0 else ""
    main.write_text(
        user + "worker_processes auto;\npid nginx.pid;\nerror_log logs/error.log warn;\n"
        "events { worker_connections 4096; }\n"
        "http {\n  access_log off;\n"
        "  client_body_temp_path tmp/body; proxy_temp_path tmp/proxy; fastcgi_temp_path tmp/fastcgi;\n"
        "  uwsgi_temp_path tmp/uwsgi; scgi_temp_path tmp/scgi;\n"
        "  include twin.conf;\n}\n"
    )
    return main


# --- wrk ---------------------------------------------------------------------------------------------------


@dataclass
class WrkResult:
    """One wrk run: requests per second, latency percentiles in ms, and failed requests."""

    requests_per_s: float
    p50_ms: float
    p99_ms: float
    requests: int
    failed: int


_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3}


def _ms(text: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text.strip())
    if not match:
        return float("nan")
    return float(match.group(1)) * _UNITS[match.group(2)]


def parse_wrk(output: str) -> WrkResult:
    """Figures from wrk's output (run with --latency)."""
    rps = re.search(r"Requests/sec:\s+([\d.]+)", output)
    p50 = re.search(r"^\s+50%\s+(\S+)", output, re.MULTILINE)
    p99 = re.search(r"^\s+99%\s+(\S+)", output, re.MULTILINE)
    total = re.search(r"(\d+) requests in", output)
    socket_errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output)
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    failed = sum(int(n) for n in socket_errors.groups()) if socket_errors else 0
    failed += int(non_2xx.group(1)) if non_2xx else 0
    return WrkResult(
        requests_per_s=float(rps.group(1)) if rps else float("nan"),
        p50_ms=_ms(p50.group(1)) if p50 else float("nan"),
        p99_ms=_ms(p99.group(1)) if p99 else float("nan"),
        requests=int(total.group(1)) if total else 0,
        failed=failed,
    )


def run_wrk(url: str, gzip: bool, args: argparse.Namespace) -> WrkResult:
    """wrk against ``url`` with the configured connections, threads and duration."""
    command = ["wrk", f"-t{args.threads}", f"-c{args.connections}", f"-d{args.duration}s", "--latency"]
    if gzip:
        command += ["-H", "Accept-Encoding: gzip"]
    done = subprocess.run(
        [*command, url], capture_output=True, text=True, timeout=args.duration + 60, check=False
    )
    return parse_wrk(done.stdout)


# --- the bench ---------------------------------------------------------------------------------------------


def ingest(source: Path, layer: str, data_dir: Path, extra: Sequence[str] = ()) -> None:
    """`twin ingest SOURCE --layer LAYER` into ``data_dir`` (the real command line, as a child process)."""
    twin = str(Path(sys.executable).parent / "twin")
    env = {**os.environ, "TWIN_DATA_DIR": str(data_dir)}
    started = time.perf_counter()
    done = subprocess.run(
        [twin, "ingest", str(source), "--layer", layer, *extra],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"twin ingest failed ({done.returncode}): {done.stderr.strip()[-2000:]}")
    print(f"ingested {source.name} as layer '{layer}' in {time.perf_counter() - started:.1f} s")


def typical_glb(layer_dir: Path) -> Path:
    """The GLB of median size in a layer."""
    glbs = sorted(layer_dir.rglob("*.glb"), key=lambda path: path.stat().st_size)
    if not glbs:
        raise SystemExit(f"no .glb under {layer_dir}")
    return glbs[len(glbs) // 2]


def describe(url: str, gzip: bool) -> str:
    """Status, encoding and body size of one request (a check that the server answers what we think)."""
    headers = {"Accept-Encoding": "gzip" if gzip else "identity"}
    with httpx.Client() as client, client.stream("GET", url, headers=headers) as response:
        size = sum(len(chunk) for chunk in response.iter_raw())
        return f"{response.status_code} {response.headers.get('content-encoding', 'identity')} {size / 1e3:.1f} kB"


def items_query(base: str, layer: str, data_dir: Path, args: argparse.Namespace) -> None:
    """p50/p95 of bbox items queries on a layer of ``--items-n`` buildings, if the endpoint exists."""
    probe = httpx.get(f"{base}/ogc/collections/{LAYER}/items", params={"limit": 1}, timeout=30)
    if probe.status_code != 200:
        print(
            f"items query: skipped, GET /ogc/collections/{{id}}/items answers {probe.status_code} (not there yet?)"
        )
        return
    source = Path(tempfile.mkdtemp(prefix="twin-bench-footprints-")) / "footprints.parquet"
    subprocess.run(
        [sys.executable, str(ROOT / "bench" / "make_footprints.py"), str(source), "--n", str(args.items_n)],
        check=True,
        capture_output=True,
    )
    ingest(source, layer, data_dir)
    bbox = httpx.get(f"{base}/api/layers/{layer}", timeout=30).json()["bbox"]
    west, south, east, north = bbox
    rng = random.Random(7)
    half_lon, half_lat = 0.0021, 0.00135  # ~300 m x 300 m at 50° N
    timings: list[float] = []
    counts: list[int] = []
    with httpx.Client(base_url=base, timeout=30) as client:
        for _ in range(args.items_queries):
            lon = rng.uniform(west + half_lon, max(west + half_lon, east - half_lon))
            lat = rng.uniform(south + half_lat, max(south + half_lat, north - half_lat))
            box = f"{lon - half_lon},{lat - half_lat},{lon + half_lon},{lat + half_lat}"
            started = time.perf_counter()
            response = client.get(f"/ogc/collections/{layer}/items", params={"bbox": box, "limit": 100})
            timings.append((time.perf_counter() - started) * 1e3)
            counts.append(len(response.json().get("features", [])) if response.status_code == 200 else -1)
    timings.sort()
    p95 = timings[min(len(timings) - 1, round(0.95 * len(timings)) - 1)]
    print(
        f"items query on {args.items_n:,} buildings, {len(timings)} random 300 m boxes (limit=100): "
        f"p50 {statistics.median(timings):.1f} ms, p95 {p95:.1f} ms, "
        f"median features {statistics.median(counts):.0f}, failed {sum(1 for c in counts if c < 0)}"
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Run the bench and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--source", type=Path, default=DEFAULT_SOURCE, help="file to ingest (default: sample city)"
    )
    parser.add_argument("--data-dir", type=Path, help="reuse this data dir (must hold layer 'bench')")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="twin serve workers")
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--threads", type=int, default=2, help="wrk threads")
    parser.add_argument("--duration", type=int, default=10, help="seconds per wrk run")
    parser.add_argument("--rounds", type=int, default=1, help="repeat every wrk run this often")
    parser.add_argument("--no-nginx", action="store_true", help="leave nginx out")
    parser.add_argument(
        "--items-n", type=int, default=100_000, help="buildings for the items query (0: skip)"
    )
    parser.add_argument("--items-queries", type=int, default=200)
    args = parser.parse_args(argv)

    if shutil.which("wrk") is None:
        print("wrk is not installed: apt-get install -y wrk (Debian/Ubuntu), then run this again")
        return 2
    load = os.getloadavg()
    print(f"CPUs: {os.cpu_count()}, load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")

    with tempfile.TemporaryDirectory(prefix="twin-bench-serve-") as temp:
        workdir = Path(temp)
        data_dir = args.data_dir or workdir / "data"
        if args.data_dir is None:
            ingest(args.source, LAYER, data_dir)
        layer_dir = data_dir / "layers" / LAYER
        glb = typical_glb(layer_dir).resolve().relative_to(layer_dir.resolve()).as_posix()
        targets = {"tileset.json": "tileset.json", f"GLB {glb}": glb}
        print(f"GLB: {glb}, {(layer_dir / glb).stat().st_size / 1e3:.1f} kB on disk")

        twin_port, base_port, nginx_port = free_port(), free_port(), free_port()
        env = {**os.environ, "TWIN_DATA_DIR": str(data_dir), "BENCH_LAYERS_DIR": str(data_dir / "layers")}
        twin_cmd = [str(Path(sys.executable).parent / "twin"), "serve", "--port", str(twin_port)]
        baseline_cmd = [
            sys.executable, "-m", "uvicorn", "--app-dir", str(ROOT / "bench"), "--factory", "bench_serve:baseline_app",
            "--port", str(base_port), "--no-access-log", "--log-level", "warning",
        ]  # fmt: skip
        servers: dict[str, str] = {
            f"twin serve ({args.workers} workers)": f"http://127.0.0.1:{twin_port}",
            "StaticFiles (uvicorn, 1 worker)": f"http://127.0.0.1:{base_port}",
        }
        with contextlib.ExitStack() as stack:
            stack.enter_context(child([*twin_cmd, "--workers", str(args.workers)], env, workdir / "twin.log"))
            stack.enter_context(child(baseline_cmd, env, workdir / "baseline.log"))
            if not args.no_nginx and Path(NGINX).exists():
                conf = render_nginx(workdir, data_dir, f"127.0.0.1:{nginx_port}", f"127.0.0.1:{twin_port}")
                nginx_cmd = [NGINX, "-c", str(conf), "-p", str(conf.parent) + "/", "-g", "daemon off;"]
                stack.enter_context(child(nginx_cmd, env, workdir / "nginx.log"))
                servers["nginx (deploy/nginx/twin.conf)"] = f"http://127.0.0.1:{nginx_port}"
            elif not args.no_nginx:
                print(f"nginx: skipped, {NGINX} is not installed (apt-get install -y nginx)")
            for base in servers.values():
                wait_until_up(f"{base}/tiles/{LAYER}/tileset.json")

            results: dict[tuple[str, str, bool], list[WrkResult]] = {}
            print(f"\nwrk: {args.connections} connections, {args.threads} threads, {args.duration} s per run")
            print(
                f"{'server':34} {'file':24} {'encoding':9} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'failed':>7}"
            )
            for _ in range(args.rounds):
                for target_name, relative in targets.items():
                    for gzip in (False, True):
                        for server, base in servers.items():
                            url = f"{base}/tiles/{LAYER}/{relative}"
                            check = describe(url, gzip)
                            result = run_wrk(url, gzip, args)
                            results.setdefault((server, target_name, gzip), []).append(result)
                            print(
                                f"{server:34} {target_name[:24]:24} {'gzip' if gzip else 'identity':9} "
                                f"{result.requests_per_s:9.0f} {result.p50_ms:8.1f} {result.p99_ms:8.1f} "
                                f"{result.failed:7d}   ({check})",
                                flush=True,
                            )
            print("\nratios (requests/s, best round):")
            names = list(servers)
            for target_name in targets:
                for gzip in (False, True):
                    best = {
                        name: max(r.requests_per_s for r in results[(name, target_name, gzip)])
                        for name in names
                    }
                    line = f"  {target_name[:24]:24} {'gzip' if gzip else 'identity':9}"
                    line += f" twin/StaticFiles {best[names[0]] / best[names[1]]:6.1f}x"
                    if len(names) > 2:
                        line += f"   twin/nginx {best[names[0]] / best[names[2]]:5.2f}x"
                    print(line)
            if args.items_n > 0:
                print()
                items_query(servers[names[0]], ITEMS_LAYER, data_dir, args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
