"""The FastAPI app factory and the server entry point.

``create_app(settings)`` builds a fresh app (nothing happens at import time); the routers, one per resource,
are listed once in ROUTERS.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import APIRouter, FastAPI
from fastapi.middleware.cors import CORSMiddleware

import twin
from twin.api import config, health, layers, tiles
from twin.api.deps import AppState
from twin.api.problems import register_error_handlers
from twin.api.viewer import mount_viewer, web_dir
from twin.settings import Settings

ROUTERS: tuple[APIRouter, ...] = (health.router, layers.router, config.router, tiles.router)


def create_app(settings: Settings) -> FastAPI:
    """The twin web service for ``settings``: API, tiles and the viewer in one app."""
    state = AppState(settings)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        state.close()

    app = FastAPI(
        title="twin",
        version=twin.__version__,
        description="Open 3D digital twin: layer catalog, 3D Tiles and the viewer configuration.",
        lifespan=lifespan,
    )
    app.state.twin = state
    register_error_handlers(app)
    for router in ROUTERS:
        app.include_router(router)
    mount_viewer(app, web_dir(settings))
    app.add_middleware(
        CORSMiddleware,
        allow_origins=settings.cors_origins,
        allow_methods=["GET", "HEAD", "OPTIONS", "POST", "PATCH", "DELETE"],
        allow_headers=["Authorization", "Content-Type", "If-Match", "If-None-Match", "Range"],
        expose_headers=["ETag", "Content-Length", "Content-Encoding", "Content-Range", "Location"],
        max_age=600,
    )
    return app


def run_server(settings: Settings, host: str = "127.0.0.1", port: int = 8000) -> None:
    """Serve ``create_app(settings)`` with uvicorn until interrupted."""
    import uvicorn

    uvicorn.run(create_app(settings), host=host, port=port, log_level="info", proxy_headers=True)
