"""GET /tiles/{layer}/{path}: the files of a published layer (tileset.json and everything it references).

A published layer is ``<data_dir>/layers/<id>``, usually a symlink to ``<data_dir>/versions/<id>/<stamp>``.
Every request path is checked *before* any file is opened: segments that are empty, ``.``/``..`` or hidden,
backslashes and NUL are refused, and the resolved file must lie inside the resolved layer folder, which
itself must lie inside the data dir. Anything else is a 404 that says nothing about what exists.
"""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Header, Response
from fastapi.responses import FileResponse

from twin.api.deps import SettingsDep
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


def _etag_for(info: os.stat_result) -> str:
    # Published versions are written once and swapped atomically: inode, size and mtime identify a file.
    return f'"{info.st_ino:x}-{info.st_size:x}-{info.st_mtime_ns:x}"'


def _matches(if_none_match: str, etag: str) -> bool:
    tags = {tag.strip().removeprefix("W/") for tag in if_none_match.split(",")}
    return "*" in tags or etag in tags


def _is_gzipped(path: Path) -> bool:
    with path.open("rb") as handle:
        return handle.read(2) == _GZIP_MAGIC


@router.head("/tiles/{layer_id}/{file_path:path}", include_in_schema=False)
@router.get(
    "/tiles/{layer_id}/{file_path:path}",
    summary="A file of a published 3D Tiles layer",
    response_class=Response,
    responses={
        200: {"description": "the file", "content": {"application/json": {}, "model/gltf-binary": {}}},
        304: {"description": "unchanged since the ETag given in If-None-Match"},
        404: {"description": "no such layer or file (also for any path outside the layer)"},
    },
)
def tile_file(
    layer_id: str,
    file_path: str,
    settings: SettingsDep,
    if_none_match: Annotated[str | None, Header()] = None,
) -> Response:
    """Serve one file of a layer with its media type, ETag, caching headers; 304 when the ETag matches."""
    path = resolve_layer_file(settings, layer_id, file_path)
    try:
        info = path.stat()
    except OSError:
        raise NotFoundError(f"no file '{file_path}' in layer '{layer_id}'") from None
    if not stat.S_ISREG(info.st_mode):
        raise NotFoundError(f"no file '{file_path}' in layer '{layer_id}'")
    suffix = path.suffix.lower()
    etag = _etag_for(info)
    headers = {
        "ETag": etag,
        "Cache-Control": CACHE_JSON if suffix == ".json" else CACHE_CONTENT,
        "X-Content-Type-Options": "nosniff",
        "Vary": "Accept-Encoding",
    }
    if if_none_match is not None and _matches(if_none_match, etag):
        return Response(status_code=304, headers=headers)
    # Tiles may be stored gzip-compressed under their plain name (as 3D Tiles tools write them); say so.
    if _is_gzipped(path):
        headers["Content-Encoding"] = "gzip"
    return FileResponse(
        path,
        media_type=MEDIA_TYPES.get(suffix, "application/octet-stream"),
        headers=headers,
        stat_result=info,
    )
