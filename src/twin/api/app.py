"""The FastAPI app factory and the server entry point.

``create_app(settings)`` builds a fresh app (nothing happens at import time); the routers, one per resource,
are listed once in ROUTERS.
"""

from __future__ import annotations

import gc
import os
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

from fastapi import APIRouter, FastAPI
from fastapi.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp

import twin
from twin.api import config, health, layers, ogc, plans, search, tiles
from twin.api.deps import AppState
from twin.api.problems import register_error_handlers
from twin.api.viewer import mount_viewer, web_dir
from twin.settings import Settings

ROUTERS: tuple[APIRouter, ...] = (
    health.router,
    layers.router,
    config.router,
    tiles.router,
    search.router,
    ogc.router,
    plans.router,
)


def create_app(settings: Settings, other_tokens: Sequence[str] = ()) -> FastAPI:
    """The twin web service for ``settings``: API, tiles and the viewer in one app.

    ``other_tokens`` are the admin tokens of the other cities one server hosts (they are refused with 403).
    """
    state = AppState(settings, other_tokens)

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


SETTINGS_ENV = "_TWIN_SERVE_SETTINGS"
"""Environment variable that hands the parent's Settings (JSON) to uvicorn's worker processes."""


def guarded_app(app: FastAPI) -> ASGIApp:
    """``app`` behind the pure-ASGI tile fast path."""
    from twin.api.tile_fastpath import TileFastPath

    return TileFastPath(app)


def serving_app(settings: Settings) -> ASGIApp:
    """What `twin serve` runs: every city of TWIN_CITIES_DIR under /<city>/, or the one city (TWIN_CITY_DIR,
    else TWIN_DATA_DIR and TWIN_PROFILE) at /, behind the tile fast path."""
    from twin.lean import pyarrow_system_memory, pyarrow_without_pandas

    pyarrow_without_pandas()
    pyarrow_system_memory()
    if settings.cities_dir is not None:
        from twin.api.sites import sites_app

        return sites_app(settings)
    from twin.cities import effective_settings

    return guarded_app(create_app(effective_settings(settings)))


def app_from_env() -> ASGIApp:
    """Factory for uvicorn worker processes (``twin.api.app:app_from_env``): the serving app for the settings
    the parent process handed over, or ``Settings()`` from the environment."""
    handed_over = os.environ.get(SETTINGS_ENV)
    settings = Settings.model_validate_json(handed_over) if handed_over else Settings()
    app = serving_app(settings)
    _freeze_startup_objects()
    return app


def _freeze_startup_objects() -> None:
    # A started app holds ~120,000 objects (FastAPI, pydantic, SQLAlchemy); one full garbage collection over
    # them took ~100 ms here, a stall every request in flight waits for (p99). Objects alive at start-up live
    # as long as the process: gc.freeze() leaves them out of every later collection (then ~0.01 ms).
    gc.collect()
    gc.freeze()


def run_server(
    settings: Settings, host: str = "127.0.0.1", port: int = 8000, workers: int | None = None
) -> None:
    """Serve twin with uvicorn (uvloop, httptools) until interrupted; ``workers`` processes (default: CPU count).

    One worker runs in this process; several are started by uvicorn from the ``app_from_env`` factory, each
    with its own tile cache (so TWIN_TILE_CACHE_MB is per worker).
    """
    import uvicorn

    count = workers if workers is not None else (os.cpu_count() or 1)
    # Measured with wrk (64 connections, 86 kB GLB, 2 workers, bench/bench_serve.py's data): uvloop + httptools,
    # the fastest loop and parser uvicorn offers, ~14,000-18,500 req/s; granian 2.8.7 (ASGI, 2 workers) ~7,900,
    # so it is not used. The access log is off: a log line per tile request cut throughput to ~9,300 req/s;
    # a front proxy (deploy/nginx) logs requests in production.
    options: dict[str, Any] = {
        "host": host,
        "port": port,
        "log_level": "info",
        "proxy_headers": True,
        "loop": "auto",  # uvloop where installed (uvicorn[standard]; not on Windows)
        "http": "auto",  # httptools where installed
        "access_log": False,
    }
    if count <= 1:
        app = serving_app(settings)
        _freeze_startup_objects()
        uvicorn.run(app, **options)
        return
    os.environ[SETTINGS_ENV] = settings.model_dump_json()
    uvicorn.run("twin.api.app:app_from_env", factory=True, workers=count, **options)
