"""Load the viewer on a 100,000-building layer in headless Chromium and print how long and how much it took.

    .venv/bin/python bench/bench_viewer.py                  # makes and ingests 100,000 footprints first
    .venv/bin/python bench/bench_viewer.py --data-dir DIR   # reuse a data dir holding layer "bench"

Figures (targets for software rendering: initial view loaded < 10 s, < 10 MB transferred):
- time to first frame: navigation start → Cesium's first rendered frame (window.twin.marks.firstFrame)
- initial view loaded: navigation start → window.twin.ready (camera arrived, visible tiles loaded)
- bytes transferred: sum of every response's body size (Playwright request sizes), split viewer/Cesium vs tiles
Nothing is asserted: this prints figures.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import uvicorn
from playwright.sync_api import sync_playwright

from twin.api import create_app
from twin.catalog import Catalog
from twin.settings import Settings

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))
from make_footprints import make_footprints  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_FLAGS = [
    "--headless=new", "--no-sandbox", "--use-angle=swiftshader", "--enable-unsafe-swiftshader",
    "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run",
    "--disable-quic",
]  # fmt: skip
PROFILE = """
[city]
name = "Bench"
[camera]
longitude = {lon}
latitude = {lat}
heading = 20.0
pitch = -35.0
range = {range}
"""


def prepare(data_dir: Path, n: int) -> None:
    """Make ``n`` footprints and ingest them as layer 'bench' with the real command line."""
    with tempfile.TemporaryDirectory() as tmp:
        source = Path(tmp) / "footprints.parquet"
        started = time.perf_counter()
        make_footprints(n, source)
        print(f"made {n:,} footprints in {time.perf_counter() - started:.1f} s")
        started = time.perf_counter()
        twin = Path(sys.executable).with_name("twin")
        env = {**os.environ, "TWIN_DATA_DIR": str(data_dir)}
        command = [str(twin), "ingest", str(source), "--layer", "bench", "--crs", "EPSG:32630"]
        subprocess.run(command, env=env, check=True, stdout=subprocess.DEVNULL)
        print(f"ingested in {time.perf_counter() - started:.1f} s")


def serve(settings: Settings) -> tuple[uvicorn.Server, str]:
    """Start the app in a thread on a free port."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_level="warning")
    )
    threading.Thread(target=server.run, daemon=True).start()
    while not server.started:
        time.sleep(0.05)
    return server, f"http://127.0.0.1:{port}"


def measure(url: str, width: int, height: int) -> dict[str, Any]:
    """Open the viewer once (cold cache) and collect timings and response sizes."""
    sizes: Counter[str] = Counter()
    counts: Counter[str] = Counter()

    def finished(request: Any) -> None:
        kind = "tiles" if "/tiles/" in request.url else "api" if "/api/" in request.url else "viewer+cesium"
        try:
            body = request.sizes()["responseBodySize"]
        except Exception:  # a request torn down with its page has no sizes
            body = 0
        sizes[kind] += body
        counts[kind] += 1

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        page = browser.new_page(viewport={"width": width, "height": height})
        page.on("requestfinished", finished)
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        started = time.perf_counter()
        page.goto(url + "/")
        page.evaluate("() => window.twin.ready.then(() => true)")
        wall = time.perf_counter() - started
        marks = page.evaluate("() => window.twin.marks")
        info = page.evaluate(
            """() => { const t = window.twin.tilesets.bench; let tiles = 0, features = 0;
                const stack = [t.root];
                while (stack.length) { const tile = stack.pop();
                    const count = tile.contentReady ? tile.content.featuresLength : 0;
                    if (count) { tiles += 1; features += count; }
                    stack.push(...tile.children); }
                return { tiles, features }; }"""
        )
        page.wait_for_timeout(500)  # let the last requestfinished events arrive
        browser.close()
    return {"marks": marks, "wall": wall, "sizes": sizes, "counts": counts, "info": info, "errors": errors}


def main(argv: list[str] | None = None) -> None:
    """Prepare the data dir if needed, serve it, load the viewer and print the figures."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data-dir", type=Path, help="data dir with layer 'bench' (default: make one)")
    parser.add_argument("--n", type=int, default=100_000, help="buildings to make when there is no data dir")
    parser.add_argument("--range", type=float, default=1200.0, help="camera distance to the layer centre, m")
    parser.add_argument("--width", type=int, default=1280)
    parser.add_argument("--height", type=int, default=800)
    args = parser.parse_args(argv)
    print(f"cpus: {os.cpu_count()}, load average: {os.getloadavg()}")
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = args.data_dir or Path(tmp) / "data"
        if args.data_dir is None:
            prepare(data_dir, args.n)
        layer = Catalog(Settings(data_dir=data_dir).catalog_url).get("bench")
        assert layer.bbox is not None
        lon, lat = (layer.bbox[0] + layer.bbox[2]) / 2, (layer.bbox[1] + layer.bbox[3]) / 2
        profile = Path(tmp) / "bench.toml"
        profile.write_text(PROFILE.format(lon=lon, lat=lat, range=args.range))
        server, url = serve(Settings(data_dir=data_dir, profile=profile))
        print(
            f"layer bench: {layer.feature_count:,} buildings; camera at {lon:.5f}, {lat:.5f}, range {args.range:.0f} m"
        )
        result = measure(url, args.width, args.height)
        server.should_exit = True
    marks, sizes = result["marks"], result["sizes"]
    total = sum(sizes.values())
    print(
        f"time to first frame:        {marks.get('firstFrame', float('nan')) / 1000:6.2f} s   (navigation start)"
    )
    print(f"initial view loaded:        {marks.get('ready', float('nan')) / 1000:6.2f} s   (target < 10 s; "
          f"includes the 1.5 s camera flight)")  # fmt: skip
    print(f"wall time goto → ready:     {result['wall']:6.2f} s")
    print(f"bytes transferred:          {total / 1e6:6.2f} MB  (target < 10 MB)")
    for kind in sorted(sizes):
        print(f"  {kind:<14} {sizes[kind] / 1e6:7.2f} MB in {result['counts'][kind]} responses")
    print(
        f"tiles with content loaded: {result['info']['tiles']}, buildings in them: {result['info']['features']:,}"
    )
    if result["errors"]:
        print(f"page errors: {result['errors']}")


if __name__ == "__main__":
    main()
