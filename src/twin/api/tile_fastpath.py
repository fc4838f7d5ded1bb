"""A pure-ASGI fast path for GET/HEAD /tiles/...: answered before FastAPI's routing, from the tile cache.

Why, measured with wrk (64 connections, an 86 kB GLB, one uvicorn worker, bench/bench_serve.py's layer): the
FastAPI route (routing, dependencies, header models, a thread hop and a Response object per request) served
~950 req/s; this path ~3,400 req/s, and ~7,700 req/s once resolved paths are remembered (``_locate``). With two
workers it served 13,000-18,000 req/s against the route's ~1,250-1,500. The answers are the route's (both use
``tile_cache.reply``, and tests compare them header for header); the path-safety check is the same function
(``tiles.locate``).

Anything this path does not answer itself goes to the app unchanged: other paths and methods (CORS preflights
included), unknown layers or files (so 404s keep their problem+json body), and files too large for the cache.
"""

from __future__ import annotations

import dataclasses
import os
import stat
import time
from pathlib import Path
from typing import Any, NamedTuple

import anyio.to_thread
from fastapi import FastAPI
from starlette.middleware.cors import CORSMiddleware
from starlette.types import Receive, Scope, Send

from twin.api.tile_cache import TileCache, TileEntry, compress, key_for, load_entry, reply, wants_gzip
from twin.api.tiles import cache_control_for, locate, media_type_for, tile_cache_for
from twin.errors import NotFoundError

PREFIX = "/tiles/"
MEMO_TTL_S = 1.0
"""How long a resolved tile path is reused before it is checked again (seconds)."""
MEMO_MAX_ENTRIES = 65536


class _Located(NamedTuple):
    """A remembered answer of ``tiles.locate``."""

    link: tuple[int, int]  # lstat (inode, mtime) of layers/<id> when it was made
    path: Path  # the real path
    real: str  # the same, as a string for os.stat
    file: tuple[int, int]  # (device, inode) of the file checked
    expires: float  # time.monotonic() after which the full check runs again


class TileFastPath:
    """ASGI wrapper around the twin app that serves tile files itself and passes everything else on."""

    def __init__(self, app: FastAPI) -> None:
        self.app = app
        self.settings = app.state.twin.settings
        self.cache: TileCache = tile_cache_for(app)
        self.memo_ttl_s = MEMO_TTL_S
        self._layers_dir = str(self.settings.layers_dir)
        self._memo: dict[tuple[str, str], _Located] = {}
        # CORS: the app's own options, evaluated by a Starlette CORSMiddleware (its simple_headers and
        # is_allowed_origin), so the headers cannot drift from the app's. Wrapping every response in that
        # middleware cost ~20 % of the throughput (3,400 vs 4,350 req/s, one worker), so its simple-request rule
        # is applied inline in _with_cors.
        cors = next((item for item in app.user_middleware if item.cls is CORSMiddleware), None)
        self._cors: CORSMiddleware | None = None
        if cors is not None:
            options: dict[str, Any] = dict(cors.kwargs)
            self._cors = CORSMiddleware(app, **options)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve GET/HEAD of a cached-size tile file here; hand every other request to the app."""
        if scope["type"] != "http" or scope["method"] not in ("GET", "HEAD"):
            return await self.app(scope, receive, send)
        path: str = scope["path"]
        root_path: str = scope.get("root_path", "")
        if root_path and path.startswith(root_path):
            path = path[len(root_path) :]
        if not path.startswith(PREFIX):
            return await self.app(scope, receive, send)
        layer_id, _, relative = path[len(PREFIX) :].partition("/")
        try:
            # Blocking, but only name checks and a few stat calls on the page-cached tree (as nginx does).
            real_path, info = self._locate(layer_id, relative)
        except NotFoundError:
            return await self.app(scope, receive, send)
        if not self.cache.fits(info.st_size):
            return await self.app(scope, receive, send)

        accept_encoding = if_none_match = range_header = if_range = origin = None
        for name, value in scope["headers"]:
            if name == b"accept-encoding":
                accept_encoding = value.decode("latin-1")
            elif name == b"if-none-match":
                if_none_match = value.decode("latin-1")
            elif name == b"range":
                range_header = value.decode("latin-1")
            elif name == b"if-range":
                if_range = value.decode("latin-1")
            elif name == b"origin":
                origin = value.decode("latin-1")
        key = key_for(real_path, info)
        entry = self.cache.get(key)
        if entry is None:
            # Misses read (and maybe compress) in a worker thread: the event loop keeps serving hits meanwhile.
            entry = self.cache.put(key, await anyio.to_thread.run_sync(_load, real_path, info))
        if entry.gzip is None and wants_gzip(entry, accept_encoding, range_header):
            packed = await anyio.to_thread.run_sync(compress, entry.identity)
            entry = self.cache.put(key, dataclasses.replace(entry, gzip=packed))
        answer = reply(
            entry,
            scope["method"],
            accept_encoding=accept_encoding,
            if_none_match=if_none_match,
            range_header=range_header,
            if_range=if_range,
        )
        headers = answer.headers if self._cors is None else self._with_cors(answer.headers, origin)
        await send(
            {
                "type": "http.response.start",
                "status": answer.status,
                "headers": [(name.encode("latin-1"), value.encode("latin-1")) for name, value in headers],
            }
        )
        await send({"type": "http.response.body", "body": bytes(answer.body)})

    def _locate(self, layer_id: str, relative: str) -> tuple[Path, os.stat_result]:
        """``tiles.locate`` with a memo of its answers; NotFoundError as there.

        Full resolution (``os.path.realpath`` of the data dir, the layer and the file, pure Python in 3.11) took
        ~125 us per request, a third of a cache hit. A memo entry is reused only while
        - the layer's entry in layers/ is the same link (lstat inode and mtime: a re-publish swaps the link, and
          is seen at once),
        - the remembered real path still leads to the very file that was checked (same device and inode): if any
          folder on the way were swapped for a symlink elsewhere, stat would reach another file and the full
          check runs again, so nothing outside the layer is ever opened through the memo,
        - and for at most ``memo_ttl_s`` (1 s). Only successes are remembered.
        """
        key = (layer_id, relative)
        try:
            link = os.lstat(f"{self._layers_dir}/{layer_id}")
        except (OSError, ValueError):
            return locate(self.settings, layer_id, relative)
        signature = (link.st_ino, link.st_mtime_ns)
        memo = self._memo.get(key)
        if memo is not None and memo.link == signature and memo.expires > time.monotonic():
            try:
                info = os.stat(memo.real)
            except OSError:
                info = None
            if info is not None and (info.st_dev, info.st_ino) == memo.file and stat.S_ISREG(info.st_mode):
                return memo.path, info
        real_path, info = locate(self.settings, layer_id, relative)
        if len(self._memo) >= MEMO_MAX_ENTRIES:
            self._memo.clear()
        self._memo[key] = _Located(
            signature,
            real_path,
            str(real_path),
            (info.st_dev, info.st_ino),
            time.monotonic() + self.memo_ttl_s,
        )
        return real_path, info

    def _with_cors(self, headers: list[tuple[str, str]], origin: str | None) -> list[tuple[str, str]]:
        """``headers`` with what Starlette's CORSMiddleware adds to a simple (non-preflight) response."""
        cors = self._cors
        assert cors is not None
        extra: dict[str, str] = {}
        if origin is not None:
            extra.update({name.lower(): value for name, value in cors.simple_headers.items()})
            explicit = (cors.allow_all_origins and cors.allow_credentials) or (
                not cors.allow_all_origins and cors.is_allowed_origin(origin=origin)
            )
            if explicit:
                extra["access-control-allow-origin"] = origin
        # Starlette adds Origin to Vary on every response it passes, with or without an Origin header.
        out = [(name, value + ", Origin" if name == "vary" else value) for name, value in headers]
        out.extend(extra.items())
        return out


def _load(real_path: Path, info: os.stat_result) -> TileEntry:
    return load_entry(real_path, info, media_type_for(real_path), cache_control_for(real_path))
