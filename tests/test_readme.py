"""The README's commands, tested as written: `./run demo` serves the sample city, `./run test` is CI's command."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

REPO = Path(__file__).resolve().parents[1]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_readme_names_the_two_commands_and_ci_runs_the_test_one() -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    block = re.search(r"## Set-up: two commands.*?```sh\n(.*?)```", readme, re.S)
    assert block is not None
    commands = [line.split("#")[0].strip() for line in block.group(1).splitlines() if line.strip()]
    assert commands == ["./run demo", "./run test"]
    assert "./run test" in (REPO / ".ci" / "run").read_text(encoding="utf-8")
    run = (REPO / "run").read_text(encoding="utf-8")
    assert "demo)" in run and "test)" in run and 'twin" demo' in run


@pytest.mark.slow
def test_demo_ingests_the_sample_city_and_serves_it(tmp_path: Path) -> None:
    """What `./run demo` runs after installing: `twin demo`, here on a free port and a fresh data dir."""
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("TWIN_")}
    env["TWIN_DATA_DIR"] = str(tmp_path / "data")
    proc = subprocess.Popen(
        [sys.executable, "-m", "twin.cli", "demo", "--port", str(port)],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{base}/api/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
            time.sleep(0.3)
        else:
            pytest.fail("twin demo did not start serving within 120 s")
        layers = httpx.get(f"{base}/api/layers", timeout=10).json()
        items = layers["layers"] if isinstance(layers, dict) else layers
        sample = next(item for item in items if item["id"] == "gebaeude")
        assert sample["feature_count"] == 3695
        tileset = httpx.get(f"{base}/tiles/gebaeude/tileset.json", timeout=10)
        assert tileset.status_code == 200 and tileset.json()["asset"]["version"] == "1.1"
        viewer = httpx.get(f"{base}/", timeout=10)
        assert viewer.status_code == 200 and "<html" in viewer.text.lower()
        config = httpx.get(f"{base}/api/config", timeout=10).json()
        assert "Halle" in str(config)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
