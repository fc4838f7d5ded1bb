"""The viewer as static files for any web host (`twin viewer export`), talking to a twin API elsewhere.

The copy has the layout `twin serve` serves (index.html, web/src, web/css, web/img, cesium/), and its
index.html names the API in ``<meta name="twin-api" content="...">``, which the viewer resolves every API, tile
and base map URL against (web/src/api.js).
"""

from __future__ import annotations

import html
import re
import shutil
from pathlib import Path
from urllib.parse import urlsplit

from twin.api.viewer import ASSET_FOLDERS, CESIUM_BUILD
from twin.errors import ConflictError, InputError, NotFoundError

API_META = re.compile(r'<meta\s+name="twin-api"\s+content="[^"]*"\s*/?>')


def export_viewer(web: Path, dest: Path, api: str) -> int:
    """Copy the viewer from ``web`` into ``dest`` (new or empty) pointed at ``api``; the number of files written."""
    parts = urlsplit(api)
    absolute = parts.scheme in ("http", "https") and bool(parts.hostname)
    if not absolute and (parts.scheme or not api.startswith("/")):
        raise InputError(f"--api: an http(s) URL or a path on the viewer's host is needed, got '{api}'")
    index = web / "index.html"
    cesium = web / CESIUM_BUILD
    if not index.is_file() or not cesium.is_dir():
        raise NotFoundError(
            f"the viewer in {web} is not complete (index.html and Cesium's build: run `npm ci` in web/)"
        )
    if dest.exists() and any(dest.iterdir()):
        raise ConflictError(f"{dest} is not empty")
    page = index.read_text(encoding="utf-8")
    base = api if api.endswith("/") else api + "/"
    meta = f'<meta name="twin-api" content="{html.escape(base, quote=True)}" />'
    page, count = API_META.subn(meta, page, count=1)
    if count != 1:
        raise NotFoundError(f'{index} has no <meta name="twin-api"> element')
    dest.mkdir(parents=True, exist_ok=True)
    (dest / "index.html").write_text(page, encoding="utf-8")
    for folder in ASSET_FOLDERS:
        if (web / folder).is_dir():
            shutil.copytree(web / folder, dest / "web" / folder)
    shutil.copytree(cesium, dest / "cesium")
    return sum(1 for path in dest.rglob("*") if path.is_file())
