"""Tile representations in memory: identity and gzip bytes with their ETags, in an LRU cache bounded by bytes.

Tiles are written uncompressed at ingest (faster publishing); gzip is applied here, once per file version, and
kept. A cache entry is keyed by the file's real path, inode, size and mtime, so a re-published layer (its
``layers/<id>`` symlink now points at a new version folder) is a different key at once: new bytes, new ETag,
and the old entries simply age out of the LRU.

Negotiation (RFC 9110):

- ``.json``/``.glb``/``.gltf`` files of at least ``GZIP_MIN_BYTES`` have a second representation, gzip, chosen
  when ``Accept-Encoding`` accepts gzip (q > 0). Its ETag is the identity ETag with ``-gz`` inside the quotes,
  so caches never mix the two; every response says ``Vary: Accept-Encoding``.
- A request with a single satisfiable ``Range`` (and a matching ``If-Range``, if any) selects the identity
  representation and gets 206 with byte offsets of the uncompressed file, whatever ``Accept-Encoding`` says:
  selecting a representation is the server's choice, and byte ranges of a compressed stream are useless to
  3D Tiles clients. Several ranges in one request are answered with the whole representation (200), which
  RFC 9110 allows (a server may ignore Range).
- ``If-None-Match`` is compared (weakly) with the ETag of the representation that would be sent: 304 only when
  the client holds that very variant.
- Files already stored gzip-compressed (magic ``1f 8b``, as some 3D Tiles tools write them) are sent as they
  are, with ``Content-Encoding: gzip``.

Nothing here imports a web framework: the route in ``tiles.py`` and the ASGI fast path both use it.
"""

from __future__ import annotations

import gzip
import os
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from email.utils import formatdate
from pathlib import Path

DEFAULT_CACHE_MB = 256
"""Default bound of the tile cache in MiB (``TWIN_TILE_CACHE_MB``)."""

GZIP_SUFFIXES = frozenset({".json", ".glb", ".gltf"})
"""Files compressed at serving time (the same set as ``gzip_types`` in deploy/nginx/twin.conf)."""

GZIP_MIN_BYTES = 256
"""Smaller files are sent as they are (gzip's header would eat the gain); nginx's gzip_min_length matches."""

GZIP_LEVEL = 6
"""zlib level: compressed once per file version and cached, so a good ratio is worth the time."""

_GZIP_MAGIC = b"\x1f\x8b"

TileKey = tuple[str, int, int, int]
"""(real path, inode, size in bytes, mtime in ns): identifies one version of one file."""


def key_for(path: Path, info: os.stat_result) -> TileKey:
    """The cache key of the file at real path ``path`` with stat result ``info``."""
    return (str(path), info.st_ino, info.st_size, info.st_mtime_ns)


def etag_for(info: os.stat_result) -> str:
    """The strong ETag of a file's identity representation (quoted)."""
    # Published versions are written once and swapped atomically: inode, size and mtime identify a file.
    return f'"{info.st_ino:x}-{info.st_size:x}-{info.st_mtime_ns:x}"'


def gzip_etag(identity_etag: str) -> str:
    """The ETag of the gzip representation: the identity ETag with ``-gz`` inside the quotes."""
    return identity_etag[:-1] + '-gz"'


@dataclass(slots=True)
class TileEntry:
    """One file version: its bytes, its gzip bytes once computed, and the headers both share."""

    identity: bytes
    etag: str
    media_type: str
    cache_control: str
    last_modified: str
    stored_gzip: bool
    gzippable: bool
    gzip: bytes | None = field(default=None)

    @property
    def nbytes(self) -> int:
        """Bytes this entry holds (identity plus gzip), the measure the cache is bounded by."""
        return len(self.identity) + (len(self.gzip) if self.gzip is not None else 0)


def load_entry(path: Path, info: os.stat_result, media_type: str, cache_control: str) -> TileEntry:
    """Read the file at real path ``path`` (blocking) into an entry; gzip is computed later, on demand."""
    with path.open("rb") as handle:
        data = handle.read()
    stored_gzip = data[:2] == _GZIP_MAGIC
    return TileEntry(
        identity=data,
        etag=etag_for(info),
        media_type=media_type,
        cache_control=cache_control,
        last_modified=formatdate(info.st_mtime, usegmt=True),
        stored_gzip=stored_gzip,
        gzippable=not stored_gzip and path.suffix.lower() in GZIP_SUFFIXES and len(data) >= GZIP_MIN_BYTES,
    )


def compress(data: bytes) -> bytes:
    """gzip ``data`` (blocking; milliseconds for a 400 KB tile) with a fixed mtime, so bytes are reproducible."""
    return gzip.compress(data, compresslevel=GZIP_LEVEL, mtime=0)


class TileCache:
    """An LRU of TileEntry bounded by the bytes it holds; safe to use from the event loop and from threads."""

    def __init__(self, max_bytes: int, max_entry_bytes: int | None = None) -> None:
        self.max_bytes = max(0, max_bytes)
        # One file may take at most an eighth of the cache (and never more than 64 MiB): a few huge files must
        # not evict every tile. Larger files are streamed from disk instead.
        self.max_entry_bytes = (
            max_entry_bytes if max_entry_bytes is not None else min(self.max_bytes // 8, 64 << 20)
        )
        self._entries: OrderedDict[TileKey, TileEntry] = OrderedDict()
        self._nbytes = 0
        self._lock = threading.Lock()

    @property
    def nbytes(self) -> int:
        """Bytes held now (identity and gzip bytes of every entry)."""
        return self._nbytes

    def __len__(self) -> int:
        return len(self._entries)

    def fits(self, size: int) -> bool:
        """Whether a file of ``size`` bytes is served from the cache (otherwise it is streamed from disk)."""
        return size <= self.max_entry_bytes

    def get(self, key: TileKey) -> TileEntry | None:
        """The entry for ``key``, marked as most recently used; None when it is not cached."""
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None:
                self._entries.move_to_end(key)
            return entry

    def put(self, key: TileKey, entry: TileEntry) -> TileEntry:
        """Store ``entry`` (or keep the one already there) and evict the least recently used beyond the bound."""
        with self._lock:
            current = self._entries.get(key)
            if current is not None:
                if current.gzip is None and entry.gzip is not None:
                    current.gzip = entry.gzip
                    self._nbytes += len(entry.gzip)
                self._entries.move_to_end(key)
                entry = current
            else:
                self._entries[key] = entry
                self._nbytes += entry.nbytes
            self._evict()
            return entry

    def _evict(self) -> None:
        while self._nbytes > self.max_bytes and self._entries:
            _, old = self._entries.popitem(last=False)
            self._nbytes -= old.nbytes


def cache_bytes_from(settings: object) -> int:
    """The cache bound in bytes from ``settings.tile_cache_mb`` (``TWIN_TILE_CACHE_MB``), MiB."""
    value = getattr(settings, "tile_cache_mb", DEFAULT_CACHE_MB)
    return int(float(value) * (1 << 20))


# --- negotiation -------------------------------------------------------------------------------------------


def accepts_gzip(accept_encoding: str | None) -> bool:
    """Whether an Accept-Encoding value accepts gzip (q > 0, directly or through ``*``)."""
    if not accept_encoding:
        return False
    star: bool | None = None
    for item in accept_encoding.split(","):
        coding, _, params = item.partition(";")
        coding = coding.strip().lower()
        quality = 1.0
        for param in params.split(";"):
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        if coding in ("gzip", "x-gzip"):
            return quality > 0
        if coding == "*":
            star = quality > 0
    return bool(star)


def etag_matches(if_none_match: str, etag: str) -> bool:
    """Weak comparison of ``etag`` with an If-None-Match list (RFC 9110 13.1.2)."""
    if if_none_match.strip() == "*":
        return True
    bare = etag.removeprefix("W/")
    return any(tag.strip().removeprefix("W/") == bare for tag in if_none_match.split(","))


def parse_range(range_header: str, size: int) -> tuple[int, int] | bool | None:
    """The one byte range (first, last inclusive) of a Range header for a body of ``size`` bytes.

    None: ignore the header (not bytes, malformed, or several ranges: the whole body is sent);
    False: unsatisfiable (416).
    """
    unit, _, spec = range_header.partition("=")
    if unit.strip().lower() != "bytes" or "," in spec:
        return None
    first_text, dash, last_text = spec.strip().partition("-")
    if not dash:
        return None
    try:
        if first_text == "":
            suffix = int(last_text)
            if suffix <= 0:
                return False
            return (max(0, size - suffix), size - 1) if size else False
        first = int(first_text)
        last = int(last_text) if last_text else size - 1
    except ValueError:
        return None
    if first < 0:
        return None
    if first >= size:
        return False
    if last < first:
        return None
    return first, min(last, size - 1)


@dataclass(slots=True)
class TileReply:
    """What to answer: status, headers (lower-case names) and the body (empty for HEAD and 304)."""

    status: int
    headers: list[tuple[str, str]]
    body: bytes | memoryview


def wants_gzip(entry: TileEntry, accept_encoding: str | None, range_header: str | None) -> bool:
    """Whether this request selects the gzip representation (so its bytes must exist before ``reply``)."""
    return entry.gzippable and range_header is None and accepts_gzip(accept_encoding)


def reply(
    entry: TileEntry,
    method: str,
    *,
    accept_encoding: str | None = None,
    if_none_match: str | None = None,
    range_header: str | None = None,
    if_range: str | None = None,
) -> TileReply:
    """Select the representation of ``entry`` for a GET or HEAD with these headers and build the answer.

    For the gzip representation, ``entry.gzip`` must already be filled (see ``wants_gzip``); if it is not,
    identity is sent.
    """
    body: bytes | memoryview = entry.identity
    etag = entry.etag
    headers = [
        ("content-type", entry.media_type),
        ("cache-control", entry.cache_control),
        ("last-modified", entry.last_modified),
        ("x-content-type-options", "nosniff"),
        ("vary", "Accept-Encoding"),
        ("accept-ranges", "bytes"),
    ]
    status = 200
    span: tuple[int, int] | bool | None = None
    if range_header is not None and (if_range is None or if_range.strip() == entry.etag):
        span = parse_range(range_header, len(entry.identity))
    if span is None and entry.gzippable and entry.gzip is not None and accepts_gzip(accept_encoding):
        body, etag = entry.gzip, gzip_etag(entry.etag)
        headers.append(("content-encoding", "gzip"))
    elif entry.stored_gzip:
        headers.append(("content-encoding", "gzip"))
    headers.append(("etag", etag))
    if if_none_match is not None and etag_matches(if_none_match, etag):
        kept = {"cache-control", "last-modified", "vary", "etag"}
        return TileReply(304, [(name, value) for name, value in headers if name in kept], b"")
    if span is False:
        size = len(entry.identity)
        return TileReply(416, [*headers, ("content-range", f"bytes */{size}"), ("content-length", "0")], b"")
    if isinstance(span, tuple):
        first, last = span
        status = 206
        headers.append(("content-range", f"bytes {first}-{last}/{len(entry.identity)}"))
        body = memoryview(entry.identity)[first : last + 1]
    headers.append(("content-length", str(len(body))))
    return TileReply(status, headers, b"" if method == "HEAD" else body)
