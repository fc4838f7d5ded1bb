"""The static viewer: GET / (index.html), /web/src and /web/css (modules, styles), /cesium (Cesium's build).

Only these folders of web/ are served, never package.json or node_modules as a whole.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, FastAPI
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles

import twin
from twin.errors import NotFoundError
from twin.settings import Settings

CESIUM_BUILD = Path("node_modules/cesium/Build/Cesium")
"""Cesium's browser build inside web/ (installed by `npm ci` in web/)."""

ASSET_FOLDERS = ("src", "css", "img")


def web_dir(settings: Settings) -> Path:
    """The viewer's folder: TWIN_WEB_DIR, or web/ of the source checkout."""
    if settings.web_dir is not None:
        return settings.web_dir
    return Path(twin.__file__).resolve().parents[2] / "web"


def viewer_router(root: Path) -> APIRouter:
    """GET / answering with the viewer's index.html."""
    router = APIRouter(tags=["viewer"])
    index = root / "index.html"

    @router.api_route("/", methods=["GET", "HEAD"], include_in_schema=False)
    def index_page() -> FileResponse:
        """The viewer."""
        if not index.is_file():
            raise NotFoundError(f"the viewer is not installed ({index} is missing)")
        return FileResponse(
            index,
            media_type="text/html; charset=utf-8",
            headers={"Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff"},
        )

    return router


def mount_viewer(app: FastAPI, root: Path) -> None:
    """Add the viewer's page and its static folders to ``app`` (folders that do not exist are skipped)."""
    app.include_router(viewer_router(root))
    for folder in ASSET_FOLDERS:
        if (root / folder).is_dir():
            app.mount(f"/web/{folder}", StaticFiles(directory=root / folder), name=f"web-{folder}")
    cesium = root / CESIUM_BUILD
    if cesium.is_dir():
        app.mount("/cesium", StaticFiles(directory=cesium), name="cesium")
