"""`twin build`: make every layer a city profile lists, skipping those whose sources and options did not change.

A layer is rebuilt when its fingerprint changed: the files the ingest would read (path, size, SHA-256; a file
whose size and mtime are as last time is not hashed again), the ingest options from the profile, and twin's
version. URL sources are downloaded into ``data/downloads/<layer>/`` with conditional requests (ETag,
Last-Modified), so an unchanged server file costs one request and no work. A layer whose fingerprint is the
same but whose catalog metadata (title, group, description, visibility, ...) changed gets only its catalog entry
updated. The fingerprints live in ``data/build-state.json``, written after each layer (atomically), so an
interrupted build keeps what it finished. A failed layer leaves its previous version served and the build
going on with the next one.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit

import twin
from twin.cities import CityFolder
from twin.errors import InputError, NotFoundError, TwinError
from twin.profile.check import is_url, read_profile
from twin.profile.schema import LayerSpec
from twin.settings import Settings

if TYPE_CHECKING:
    from twin.catalog import Catalog

STATE_FILE = "build-state.json"
DOWNLOADS = "downloads"
METADATA_KEYS = ("title", "group", "description", "attribution", "licence", "visible", "opacity")
"""Profile keys that only change the catalog entry, never the tiles."""

Progress = Callable[[str, int, int], None]


@dataclass
class LayerOutcome:
    """What `twin build` did with one layer."""

    id: str
    status: str  # "built", "unchanged", "metadata" (catalog entry updated only) or "failed"
    seconds: float = 0.0
    features: int | None = None
    message: str = ""


def build_city(
    city: CityFolder,
    settings: Settings,
    *,
    force: bool = False,
    only: list[str] | None = None,
    progress_for: Callable[[str], Progress] | None = None,
) -> list[LayerOutcome]:
    """Build the layers of ``city``'s profile (all, or those in ``only``) into ``settings``' data dir and catalog
    (normally ``city.settings(...)``); ``force`` rebuilds unchanged ones."""
    from twin.catalog import Catalog

    profile = read_profile(city.profile, deep=True)
    wanted = profile.layers
    if only:
        unknown = sorted(set(only) - {layer.id for layer in wanted})
        if unknown:
            raise NotFoundError(f"{city.profile}: no layer '{unknown[0]}' in the profile")
        wanted = [layer for layer in wanted if layer.id in only]
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    state_path = settings.data_dir / STATE_FILE
    state = _load_state(state_path)
    catalog = Catalog(settings.catalog_url)
    outcomes = []
    try:
        for spec in wanted:
            progress = progress_for(spec.id) if progress_for else None
            started = time.perf_counter()
            try:
                layer_state = state.setdefault(spec.id, {})
                outcome = _build_layer(spec, city.root, settings, catalog, layer_state, force, progress)
            except TwinError as exc:
                outcome = LayerOutcome(spec.id, "failed", message=exc.message)
            outcome.seconds = time.perf_counter() - started
            outcomes.append(outcome)
            _save_state(state_path, state)
    finally:
        catalog.close()
    return outcomes


def _build_layer(
    spec: LayerSpec,
    root: Path,
    settings: Settings,
    catalog: Catalog,
    state: dict[str, Any],
    force: bool,
    progress: Progress | None,
) -> LayerOutcome:
    sources = [
        _fetch(source, spec.id, settings.data_dir, state) if is_url(source) else str(root / source)
        for source in spec.sources
    ]
    # The metadata file of a planning layer is part of what it is built from.
    read = [*sources, str(root / spec.metadata)] if spec.metadata else sources
    files = _fingerprint_files(read, state.get("files", {}))
    options = _ingest_options_key(spec)
    try:
        record = catalog.get(spec.id)
    except NotFoundError:
        record = None
    published = record is not None and (settings.layers_dir / spec.id / "tileset.json").is_file()
    metadata = _catalog_fields(spec)
    if not force and published and state.get("options") == options and _same_files(state.get("files"), files):
        assert record is not None
        changes = {key: value for key, value in metadata.items() if getattr(record, key) != value}
        if not changes:
            return LayerOutcome(spec.id, "unchanged", features=record.feature_count)
        catalog.update(spec.id, changes)
        return LayerOutcome(spec.id, "metadata", features=record.feature_count, message=", ".join(changes))
    result = _ingest(spec, root, sources, settings, progress)
    catalog.update(spec.id, metadata)
    state.update(options=options, files=files, built=time.strftime("%Y-%m-%dT%H:%M:%S%z"))
    return LayerOutcome(spec.id, "built", features=int(result["features_written"]))


def _ingest(
    spec: LayerSpec, root: Path, sources: list[str], settings: Settings, progress: Progress | None
) -> dict[str, Any]:
    from twin.ingest.city_reader import CityOptions
    from twin.ingest.footprints import FootprintOptions
    from twin.pipeline import IngestOptions, ingest

    options = IngestOptions(
        layer_id=spec.id,
        title=spec.default_title(),
        footprints=FootprintOptions(
            crs=spec.crs, height_attr=spec.height_attr, storeys_attr=spec.storeys_attr,
            storey_height=spec.storey_height, default_height=spec.default_height, id_attr=spec.id_attr,
            source_layer=spec.source_layer,
        ),
        city=CityOptions(crs=spec.crs, lod=spec.lod),
        heights=spec.heights,
        vertical_crs=spec.vertical_crs,
        compression=spec.compression,
        group=spec.group,
        attribution=spec.attribution,
        licence=spec.licence,
        kind=spec.kind,
        metadata=root / spec.metadata if spec.metadata else None,
    )  # fmt: skip
    if progress is None:
        return ingest(sources, options, settings)
    return ingest(sources, options, settings, progress)


def _catalog_fields(spec: LayerSpec) -> dict[str, Any]:
    fields = spec.model_dump(include=set(METADATA_KEYS))
    fields["title"] = spec.default_title()
    return fields


def _ingest_options_key(spec: LayerSpec) -> str:
    """What decides the tiles: every option but the catalog-only ones, and twin's version."""
    options = spec.model_dump(exclude={*METADATA_KEYS, "id"})
    return json.dumps({"twin": twin.__version__, **options}, sort_keys=True)


# --- source files ----------------------------------------------------------------------------------------------


def _fingerprint_files(sources: list[str], known: dict[str, Any]) -> dict[str, Any]:
    """Size, mtime and SHA-256 of every file the ingest reads (hashes reused where size and mtime match)."""
    from twin.ingest.sources import expand_sources

    out: dict[str, Any] = {}
    for ref in expand_sources(sources):
        key = str(ref.path.resolve())
        if key in out:
            continue
        info = ref.path.stat()
        before = known.get(key)
        if before and before["size"] == info.st_size and before["mtime_ns"] == info.st_mtime_ns:
            digest = before["sha256"]
        else:
            digest = _sha256(ref.path)
        out[key] = {"size": info.st_size, "mtime_ns": info.st_mtime_ns, "sha256": digest}
    return out


def _same_files(before: dict[str, Any] | None, now: dict[str, Any]) -> bool:
    if not before or before.keys() != now.keys():
        return False
    return all(before[key]["sha256"] == now[key]["sha256"] for key in now)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _fetch(url: str, layer_id: str, data_dir: Path, state: dict[str, Any]) -> str:
    """The local copy of ``url`` in data/downloads/<layer>/, downloaded again only when the server has news."""
    import httpx

    folder = data_dir / DOWNLOADS / layer_id
    folder.mkdir(parents=True, exist_ok=True)
    name = unquote(Path(urlsplit(url).path).name) or "download"
    target = folder / name
    remembered = state.setdefault("downloads", {}).get(url, {})
    headers = {}
    if target.is_file():
        if remembered.get("etag"):
            headers["If-None-Match"] = remembered["etag"]
        if remembered.get("last_modified"):
            headers["If-Modified-Since"] = remembered["last_modified"]
    try:
        with httpx.stream("GET", url, headers=headers, follow_redirects=True, timeout=60.0) as response:
            if response.status_code == 304:
                return str(target)
            if response.status_code != 200:
                raise InputError(f"{url}: the server answered HTTP {response.status_code}")
            handle, partial = tempfile.mkstemp(dir=folder, prefix=".part-")
            try:
                with os.fdopen(handle, "wb") as out:
                    for chunk in response.iter_bytes(1 << 20):
                        out.write(chunk)
                os.replace(partial, target)
            except BaseException:
                Path(partial).unlink(missing_ok=True)
                raise
            state["downloads"][url] = {
                "etag": response.headers.get("etag"),
                "last_modified": response.headers.get("last-modified"),
            }
    except httpx.HTTPError as exc:
        raise InputError(f"{url}: download failed: {exc}") from None
    return str(target)


# --- state file -------------------------------------------------------------------------------------------------


def _load_state(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _save_state(path: Path, state: dict[str, Any]) -> None:
    handle, partial = tempfile.mkstemp(dir=path.parent, prefix=".build-state-")
    with os.fdopen(handle, "w", encoding="utf-8") as out:
        json.dump(state, out, indent=2, sort_keys=True)
    os.replace(partial, path)
