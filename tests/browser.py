"""What the browser tests share: a `twin serve` child process on a free port, and the attribute panel read back.

Chromium is Debian's (/usr/bin/chromium), launched with the SwiftShader flags DESIGN.md gives.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_FLAGS = [
    "--headless=new", "--no-sandbox", "--use-angle=swiftshader", "--enable-unsafe-swiftshader",
    "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run",
    "--disable-quic",
]  # fmt: skip


def free_port() -> int:
    """A TCP port on localhost that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def serve_twin(data_dir: Path, profile: Path, wait_s: float = 30.0) -> Iterator[str]:
    """`twin serve` on a free port over `data_dir` with the city `profile`; yields its base URL."""
    with serving([], {"TWIN_DATA_DIR": str(data_dir), "TWIN_PROFILE": str(profile)}, wait_s) as base:
        yield base


@contextmanager
def serving(args: list[str], env: dict[str, str] | None = None, wait_s: float = 30.0) -> Iterator[str]:
    """`twin serve ARGS` on a free port (no TWIN_ settings but `env`) until /api/health answers; yields its URL."""
    port = free_port()
    environment = {k: v for k, v in os.environ.items() if not k.startswith("TWIN_")} | (env or {})
    proc = subprocess.Popen([sys.executable, "-m", "twin.cli", "serve", "--port", str(port), *args], env=environment,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + wait_s
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{base}/api/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        yield base
    finally:
        proc.terminate()
        proc.wait(timeout=20)


_PANEL_ROWS = """(cell) => Object.fromEntries([...document.querySelectorAll('#feature-body tr')].map(
    (row) => [row.dataset.attribute, cell === 'title' ? row.querySelector('td').title
                                                      : row.querySelector(cell).textContent]))"""


class ViewerPage:
    """A Playwright page with the viewer: every error it logs is kept, and its attribute panel can be read."""

    def __init__(self, page: Any) -> None:
        self.page = page
        self.errors: list[str] = []
        page.on("console", self._console)
        page.on("pageerror", lambda error: self.errors.append(str(error)))

    def _console(self, message: Any) -> None:
        if message.type == "error":
            self.errors.append(message.text)

    def attributes(self) -> dict[str, str]:
        """The attribute panel's rows: raw attribute name -> shown value."""
        rows: dict[str, str] = self.page.evaluate(_PANEL_ROWS, "td")
        return rows

    def labels(self) -> dict[str, str]:
        """The attribute panel's rows: raw attribute name -> shown label."""
        rows: dict[str, str] = self.page.evaluate(_PANEL_ROWS, "th")
        return rows

    def titles(self) -> dict[str, str]:
        """The attribute panel's value tooltips: raw attribute name -> title ('' when none)."""
        rows: dict[str, str] = self.page.evaluate(_PANEL_ROWS, "title")
        return rows
