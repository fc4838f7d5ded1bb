"""GET /tiles/{layer}/{path}: the files of a published layer (tileset.json and everything it references).

A published layer is ``<data_dir>/layers/<id>``, usually a symlink to ``<data_dir>/versions/<id>/<stamp>``.
Every request path is checked *before* any file is opened: segments that are empty, ``.``/``..`` or hidden,
backslashes and NUL are refused, and the resolved file must lie inside the resolved layer folder, which
itself must lie inside the data dir. Anything else is a 404 that says nothing about what exists.
"""

from __future__ import annotations

import dataclasses
import os
import re
import stat
import threading
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Header, Request, Response
from fastapi.responses import FileResponse

from twin.api.deps import SettingsDep
from twin.api.tile_cache import (
    TileCache,
    TileEntry,
    accepts_gzip,
    cache_bytes_from,
    compress,
    etag_for,
    etag_matches,
    key_for,
    load_entry,
    reply,
)
from twin.errors import NotFoundError
from twin.settings import Settings

router = APIRouter(tags=["tiles"])

_LAYER_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")

MEDIA_TYPES: dict[str, str] = {
    ".json": "application/json",
    ".glb": "model/gltf-binary",
    ".gltf": "model/gltf+json",
    ".subtree": "application/octet-stream",
    ".b3dm": "application/octet-stream",
    ".i3dm": "application/octet-stream",
    ".pnts": "application/octet-stream",
    ".cmpt": "application/octet-stream",
    ".bin": "application/octet-stream",
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".webp": "image/webp",
    ".ktx2": "image/ktx2",
}

# JSON (tileset.json, report.json) is revalidated on every use, so a re-published layer shows at once
# (a 304 is cheap). Binary content may be cached for an hour; the viewer adds ?v=<layer version> to the
# tileset URL, which Cesium carries over to every content request: a new version never mixes with old tiles.
CACHE_JSON = "no-cache"
CACHE_CONTENT = "public, max-age=3600"

_GZIP_MAGIC = b"\x1f\x8b"


def resolve_layer_file(settings: Settings, layer_id: str, relative: str) -> Path:
    """The real path of ``relative`` inside the published layer ``layer_id``; NotFoundError for anything else.

    Nothing is opened here; only names are checked and symlinks resolved.
    """
    missing = NotFoundError(f"no file '{relative}' in layer '{layer_id}'")
    if not _LAYER_ID.match(layer_id):
        raise missing
    parts = relative.split("/")
    for part in parts:
        if not part or part.startswith(".") or "\\" in part or "\x00" in part or ":" in part:
            raise missing
    try:
        data_root = settings.data_dir.resolve(strict=True)
        layer_root = (settings.layers_dir / layer_id).resolve(strict=True)
        target = layer_root.joinpath(*parts).resolve(strict=True)
    except (OSError, RuntimeError):  # missing, symlink loop, name too long
        raise missing from None
    if not layer_root.is_relative_to(data_root) or not target.is_relative_to(layer_root):
        raise missing
    return target


def locate(settings: Settings, layer_id: str, relative: str) -> tuple[Path, os.stat_result]:
    """The real path and stat result of a regular file inside a published layer; NotFoundError otherwise."""
    path = resolve_layer_file(settings, layer_id, relative)
    try:
        info = path.stat()
    except OSError:
        raise NotFoundError(f"no file '{relative}' in layer '{layer_id}'") from None
    if not stat.S_ISREG(info.st_mode):
        raise NotFoundError(f"no file '{relative}' in layer '{layer_id}'")
    return path, info


def media_type_for(path: Path) -> str:
    """The media type of a tile file, by its suffix."""
    return MEDIA_TYPES.get(path.suffix.lower(), "application/octet-stream")


def cache_control_for(path: Path) -> str:
    """The Cache-Control policy of a tile file (see CACHE_JSON and CACHE_CONTENT)."""
    return CACHE_JSON if path.suffix.lower() == ".json" else CACHE_CONTENT


_cache_lock = threading.Lock()


def tile_cache_for(app: Any) -> TileCache:
    """The tile cache of ``app`` (one per app, made on first use, bounded by TWIN_TILE_CACHE_MB)."""
    cache: TileCache | None = getattr(app.state, "tile_cache", None)
    if cache is None:
        with _cache_lock:
            cache = getattr(app.state, "tile_cache", None)
            if cache is None:
                cache = TileCache(cache_bytes_from(app.state.twin.settings))
                app.state.tile_cache = cache
    return cache


def cached_entry(cache: TileCache, path: Path, info: os.stat_result, want_gzip: bool) -> TileEntry:
    """The cache entry of a located file, read and (if ``want_gzip`` and useful) compressed when missing."""
    key = key_for(path, info)
    entry = cache.get(key)
    if entry is None:
        entry = cache.put(key, load_entry(path, info, media_type_for(path), cache_control_for(path)))
    if want_gzip and entry.gzippable and entry.gzip is None:
        # Compressed outside the cache's lock; put() adds the gzip bytes to the entry and to the byte count.
        entry = cache.put(key, dataclasses.replace(entry, gzip=compress(entry.identity)))
    return entry


@router.head("/tiles/{layer_id}/{file_path:path}", include_in_schema=False)
@router.get(
    "/tiles/{layer_id}/{file_path:path}",
    summary="A file of a published 3D Tiles layer",
    response_class=Response,
    responses={
        200: {"description": "the file", "content": {"application/json": {}, "model/gltf-binary": {}}},
        206: {"description": "the requested byte range of the uncompressed file"},
        304: {"description": "unchanged since the ETag given in If-None-Match"},
        404: {"description": "no such layer or file (also for any path outside the layer)"},
    },
)
def tile_file(
    request: Request,
    layer_id: str,
    file_path: str,
    settings: SettingsDep,
    if_none_match: Annotated[str | None, Header()] = None,
    accept_encoding: Annotated[str | None, Header()] = None,
    range_header: Annotated[str | None, Header(alias="Range")] = None,
    if_range: Annotated[str | None, Header()] = None,
) -> Response:
    """Serve one file of a layer with its media type, ETag and caching headers; gzip when the client accepts it.

    .json and .glb are gzip-compressed for clients sending ``Accept-Encoding: gzip`` (ETag suffix ``-gz``);
    a Range request is answered from the uncompressed file; 304 when If-None-Match holds the sent variant's ETag.
    ``twin serve`` answers these requests in ``tile_fastpath`` before routing; this route gives the same answers.
    """
    path, info = locate(settings, layer_id, file_path)
    cache = tile_cache_for(request.app)
    if not cache.fits(info.st_size):
        # Too large to hold in memory: streamed from disk, identity only (Starlette handles Range).
        headers = {
            "ETag": etag_for(info),
            "Cache-Control": cache_control_for(path),
            "X-Content-Type-Options": "nosniff",
            "Vary": "Accept-Encoding",
        }
        if if_none_match is not None and etag_matches(if_none_match, headers["ETag"]):
            return Response(status_code=304, headers=headers)
        with path.open("rb") as handle:
            if handle.read(2) == _GZIP_MAGIC:
                headers["Content-Encoding"] = "gzip"
        return FileResponse(path, media_type=media_type_for(path), headers=headers, stat_result=info)
    entry = cached_entry(cache, path, info, accepts_gzip(accept_encoding) and range_header is None)
    answer = reply(
        entry,
        request.method,
        accept_encoding=accept_encoding,
        if_none_match=if_none_match,
        range_header=range_header,
        if_range=if_range,
    )
    return Response(content=bytes(answer.body), status_code=answer.status, headers=dict(answer.headers))
