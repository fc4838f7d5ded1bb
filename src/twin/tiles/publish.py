"""Atomic publishing of a layer folder.

A layer is built in `versions/<id>/<stamp>.partial` beside the published ones, renamed to
`versions/<id>/<stamp>` when complete, and made current by atomically replacing the symlink
`layers/<id>` (rename(2) of a new link over the old one). A killed ingest leaves at most a `.partial`
folder that the next ingest of the layer removes; readers always see either the old or the new version.
"""

from __future__ import annotations

import os
import re
import shutil
import uuid
from datetime import UTC, datetime
from pathlib import Path

from twin.errors import InputError, PublishError

LAYER_ID = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
KEEP_PREVIOUS = 1  # versions kept besides the current one, for clients still reading them


def check_layer_id(layer_id: str) -> str:
    """The id if it is a valid layer id (lower-case letters, digits, '-' and '_'), else InputError."""
    if not LAYER_ID.match(layer_id):
        raise InputError(
            f"layer id '{layer_id}' is invalid: use 1-63 lower-case letters, digits, '-' or '_', "
            "starting with a letter or digit"
        )
    return layer_id


def new_staging_dir(data_dir: Path, layer_id: str) -> Path:
    """A fresh, empty folder to build a new version of the layer in."""
    versions = data_dir / "versions" / layer_id
    versions.mkdir(parents=True, exist_ok=True)
    for stale in versions.glob("*.partial"):
        shutil.rmtree(stale, ignore_errors=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S") + "-" + uuid.uuid4().hex[:8]
    staging = versions / f"{stamp}.partial"
    staging.mkdir()
    return staging


def current_version(data_dir: Path, layer_id: str) -> Path | None:
    """The folder `layers/<id>` points at, if the layer is published."""
    link = data_dir / "layers" / layer_id
    if link.is_symlink() or link.exists():
        return link.resolve()
    return None


def publish(staging: Path, data_dir: Path, layer_id: str) -> Path:
    """Make the completed staging folder the layer's current version; return the version folder."""
    if not staging.name.endswith(".partial"):
        raise PublishError(f"{staging} is not a staging folder")
    final = staging.with_name(staging.name.removesuffix(".partial"))
    os.replace(staging, final)
    layers = data_dir / "layers"
    layers.mkdir(parents=True, exist_ok=True)
    link = layers / layer_id
    if link.exists() and not link.is_symlink():
        raise PublishError(f"{link} is a real folder, not a published version link; move it away")
    tmp_link = layers / f".{layer_id}.{uuid.uuid4().hex[:8]}.tmp"
    target = os.path.relpath(final, layers)
    os.symlink(target, tmp_link)
    os.replace(tmp_link, link)
    _prune(final.parent, keep={final.name})
    return final


def restore(data_dir: Path, layer_id: str, previous: Path | None) -> None:
    """Point the layer back at `previous` (or unpublish it) after a failed registration."""
    link = data_dir / "layers" / layer_id
    if previous is None:
        if link.is_symlink():
            link.unlink()
        return
    tmp_link = link.with_name(f".{layer_id}.{uuid.uuid4().hex[:8]}.tmp")
    os.symlink(os.path.relpath(previous, link.parent), tmp_link)
    os.replace(tmp_link, link)


def unpublish(data_dir: Path, layer_id: str) -> None:
    """Remove the layer's link and all its versions."""
    link = data_dir / "layers" / layer_id
    if link.is_symlink():
        link.unlink()
    shutil.rmtree(data_dir / "versions" / layer_id, ignore_errors=True)


def _prune(versions: Path, keep: set[str]) -> None:
    complete = sorted(p for p in versions.iterdir() if p.is_dir() and not p.name.endswith(".partial"))
    older = [p for p in complete if p.name not in keep]
    for stale in older[: max(0, len(older) - KEEP_PREVIOUS)]:
        shutil.rmtree(stale, ignore_errors=True)
