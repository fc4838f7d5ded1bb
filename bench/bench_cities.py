"""Reuse figures: time from `twin init` to a served city, and the idle memory of `twin serve` with 1 and 5 cities.

    .venv/bin/python bench/bench_cities.py [--buildings data/samples/halle-altstadt.gpkg] [--cities 5]

Every step runs the real CLI in a new process, as a municipality would: `twin init`, `twin build`, `twin serve`
(one worker, the setting for a 1 vCPU machine), until the viewer's configuration and the layer's tileset answer.
Memory is the resident set (VmRSS) of the serving process: idle (started, answering /api/health, no other request
yet), then after each city's viewer configuration, tileset, first tiles, a search and an OGC items page were
fetched once ("warm"). The 2 s pause before the idle reading is not counted in the init -> served time.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
TWIN = [sys.executable, "-m", "twin.cli"]


def _env() -> dict[str, str]:
    return {key: value for key, value in os.environ.items() if not key.startswith("TWIN_")}


def _run(*args: str) -> None:
    subprocess.run([*TWIN, *args], check=True, env=_env(), stdout=subprocess.DEVNULL)


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _wait(url: str, deadline_s: float = 60.0) -> None:
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.02)
    raise TimeoutError(url)


def _warm(base: str) -> None:
    """What a first visitor's viewer asks for, roughly: config, tileset, some tiles, a search, OGC items."""
    config = httpx.get(f"{base}api/config", timeout=30).json()
    for group in config["layers"]:
        for layer in group.get("children", []):
            tileset_url = base + layer["url"]
            tileset = httpx.get(tileset_url, timeout=30).json()
            stack = [tileset["root"]]
            fetched = 0
            while stack and fetched < 20:
                node = stack.pop()
                content = node.get("content")
                if content:
                    httpx.get(f"{base}tiles/{layer['id']}/{content['uri']}", timeout=30)
                    fetched += 1
                stack.extend(node.get("children", []))
            httpx.get(f"{base}api/search", params={"q": "Markt"}, timeout=30)
            httpx.get(f"{base}ogc/collections/{layer['id']}/items", params={"limit": 100}, timeout=30)


def _serve(args: list[str]) -> tuple[subprocess.Popen[bytes], str]:
    port = _free_port()
    proc = subprocess.Popen(
        [*TWIN, "serve", "--port", str(port), "--workers", "1", *args],
        env=_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    return proc, f"http://127.0.0.1:{port}/"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--buildings", type=Path, default=ROOT / "data" / "samples" / "halle-altstadt.gpkg")
    parser.add_argument("--cities", type=int, default=5)
    options = parser.parse_args()
    source = options.buildings.resolve()
    with tempfile.TemporaryDirectory(prefix="twin-bench-cities-") as scratch:
        work = Path(scratch)
        # 1. One city from nothing to served.
        started = time.perf_counter()
        _run("init", str(work / "stadt-1"), "--source", str(source))
        initialised = time.perf_counter()
        _run("build", str(work / "stadt-1"))
        built = time.perf_counter()
        proc, base = _serve(["--city", str(work / "stadt-1")])
        try:
            _wait(f"{base}api/health")
            time.sleep(2)
            idle_one = _rss_mb(proc.pid)
            _wait(f"{base}api/config")
            _wait(f"{base}tiles/gebaeude/tileset.json")
            served = time.perf_counter() - 2
            _warm(base)
            warm_one = _rss_mb(proc.pid)
        finally:
            proc.terminate()
            proc.wait()
        print(f"source: {source.name} ({source.stat().st_size / 1e6:.1f} MB)")
        print(
            f"init -> served: {served - started:.2f} s "
            f"(init {initialised - started:.2f} s, build {built - initialised:.2f} s, serve {served - built:.2f} s)"
        )
        started = time.perf_counter()
        _run("build", str(work / "stadt-1"))
        print(f"second build (nothing changed): {time.perf_counter() - started:.2f} s")

        # 2. Several cities in one server.
        cities = work / "cities"
        cities.mkdir()
        shutil.move(work / "stadt-1", cities / "stadt-1")
        (cities / "stadt-1" / "profile.toml").write_text(
            (cities / "stadt-1" / "profile.toml")
            .read_text(encoding="utf-8")
            .replace(f'"../{source.name}"', f'"{source}"'),
            encoding="utf-8",
        )
        for index in range(2, options.cities + 1):
            _run("init", str(cities / f"stadt-{index}"), "--source", str(source))
            _run("build", str(cities / f"stadt-{index}"))
        proc, base = _serve(["--cities", str(cities)])
        try:
            _wait(f"{base}api/health")
            time.sleep(2)
            idle_many = _rss_mb(proc.pid)
            for index in range(1, options.cities + 1):
                _warm(f"{base}stadt-{index}/")
            warm_many = _rss_mb(proc.pid)
        finally:
            proc.terminate()
            proc.wait()
        disk = sum(path.stat().st_size for path in (cities / "stadt-1" / "data").rglob("*") if path.is_file())
        print("RSS of `twin serve --workers 1` (MB):    idle   warm")
        print(f"  1 city                              {idle_one:7.1f} {warm_one:6.1f}")
        print(f"  {options.cities} cities                            {idle_many:7.1f} {warm_many:6.1f}")
        print(f"data dir of one city: {disk / 1e6:.1f} MB")


if __name__ == "__main__":
    main()
