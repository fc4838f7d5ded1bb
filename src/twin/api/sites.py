"""Several cities in one server: each city folder's app under ``/<city>/``, the list of cities at ``/``.

Each city gets the very app a one-city server runs (``create_app`` behind the tile fast path) with its own
settings: its catalog, layers, profile and admin token. Nothing is shared between cities but the code, the tile
cache's memory budget (one cache keyed by real file paths) and the knowledge of the other cities' tokens (so that
one city's token on another city is answered 403, not 401). Requests are routed by their first path segment
in plain ASGI, before any framework code, so the tile fast path stays fast.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI
from fastapi.responses import HTMLResponse
from starlette.types import ASGIApp, Receive, Scope, Send

import twin
from twin.api.app import create_app, guarded_app
from twin.api.config import load_profile
from twin.api.problems import register_error_handlers
from twin.api.tile_cache import TileCache
from twin.api.tiles import cache_bytes_from
from twin.cities import CityFolder, discover_cities
from twin.errors import ConfigError
from twin.profile.schema import Text
from twin.settings import Settings


def _german(text: Text) -> str:
    if isinstance(text, str):
        return text
    return text.get("de") or next(iter(text.values()), "")


class CitySites:
    """The ASGI app of a server that hosts several cities."""

    def __init__(self, base: Settings, cities: Sequence[CityFolder]) -> None:
        if base.database_url:
            raise ConfigError(
                "TWIN_DATABASE_URL would give every city one catalog: with TWIN_CITIES_DIR, name each city's "
                "database in TWIN_CITY_<ID>_DATABASE_URL (or leave it unset for SQLite in each city's data dir)"
            )
        self.cities = list(cities)
        settings = {city.id: city.settings(base, shared_catalog_ok=False) for city in self.cities}
        cache = TileCache(cache_bytes_from(base))
        self.apps: dict[str, ASGIApp] = {}
        self.city_apps: list[FastAPI] = []
        for city in self.cities:
            others = [s.admin_token for other, s in settings.items() if other != city.id]
            app = create_app(settings[city.id], other_tokens=others)
            app.state.tile_cache = cache
            self.city_apps.append(app)
            self.apps[city.id] = guarded_app(app)
        self.index = self._index_app(base)

    def _index_app(self, base: Settings) -> FastAPI:
        app = FastAPI(title="twin", version=twin.__version__, docs_url=None, redoc_url=None, openapi_url=None)
        register_error_handlers(app)

        @app.get("/api/health")
        def health() -> dict[str, Any]:
            return {"status": "ok", "version": twin.__version__, "cities": len(self.cities)}

        @app.get("/api/cities")
        def cities() -> list[dict[str, Any]]:
            """The cities this server hosts, with their viewer URLs."""
            return self.listing()

        @app.api_route("/", methods=["GET", "HEAD"], response_class=HTMLResponse)
        def index() -> HTMLResponse:
            items = "\n".join(
                f'<li><a href="{html.escape(entry["url"])}">{html.escape(_german(entry["name"]))}</a>'
                f"<span>{html.escape(_german(entry['subtitle']))}</span></li>"
                for entry in self.listing()
            )
            page = INDEX_PAGE.replace("{items}", items)
            return HTMLResponse(page, headers={"Cache-Control": "no-cache"})

        return app

    def listing(self) -> list[dict[str, Any]]:
        """Id, name, subtitle and viewer URL of each city (the profile read again when it changed)."""
        out = []
        for city in self.cities:
            try:
                profile = load_profile(city.profile)
                name, subtitle = profile.city.name, profile.city.subtitle
            except ConfigError:
                name, subtitle = city.id, ""
            out.append({"id": city.id, "name": name, "subtitle": subtitle, "url": f"{city.id}/"})
        return out

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Route by the first path segment: a city's app (with root_path set) or the index."""
        if scope["type"] == "lifespan":
            return await self._lifespan(receive, send)
        if scope["type"] not in ("http", "websocket"):
            return await self.index(scope, receive, send)
        root_path: str = scope.get("root_path", "")
        path: str = scope["path"]
        local = path[len(root_path) :] if root_path and path.startswith(root_path) else path
        first, slash, _ = local.lstrip("/").partition("/")
        app = self.apps.get(first)
        if app is None:
            return await self.index(scope, receive, send)
        if not slash:
            return await _redirect(scope, send, f"{root_path}/{first}/")
        return await app(dict(scope, root_path=f"{root_path}/{first}"), receive, send)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                for app in self.city_apps:
                    app.state.twin.close()
                await send({"type": "lifespan.shutdown.complete"})
                return


async def _redirect(scope: Scope, send: Send, location: str) -> None:
    """308 to ``location`` (the city's folder URL with its slash, so the viewer's relative URLs resolve)."""
    query = scope.get("query_string", b"")
    target = location.encode() + (b"?" + query if query else b"")
    await send(
        {
            "type": "http.response.start",
            "status": 308,
            "headers": [(b"location", target), (b"content-length", b"0")],
        }
    )
    await send({"type": "http.response.body", "body": b""})


def sites_app(base: Settings) -> CitySites:
    """The app `twin serve` runs for TWIN_CITIES_DIR."""
    assert base.cities_dir is not None
    return CitySites(base, discover_cities(base.cities_dir))


INDEX_PAGE = """<!doctype html>
<html lang="de">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>twin – Digitale Zwillinge</title>
<style>
body { font: 16px/1.5 system-ui, sans-serif; margin: 0; color: #1d232b; background: #f4f6f8; }
header { background: #00598a; color: #fff; padding: 1rem 2rem; }
h1 { margin: 0; font-size: 1.4rem; }
main { max-width: 40rem; margin: 2rem auto; padding: 0 1rem; }
ul { list-style: none; padding: 0; }
li { background: #fff; border: 1px solid #d5dbe1; border-radius: 6px; margin: 0 0 .75rem; padding: .75rem 1rem; }
li a { font-weight: 600; color: #00598a; font-size: 1.1rem; }
li span { display: block; color: #5b6672; }
</style>
</head>
<body>
<header><h1>Digitale Zwillinge <span lang="en">· Digital twins</span></h1></header>
<main>
<ul id="cities">
{items}
</ul>
</main>
</body>
</html>
"""
