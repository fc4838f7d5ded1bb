"""GET /api/config: everything the viewer needs, from the city profile (TOML) and the layer catalog.

The viewer has no city-specific code: another Kommune writes its own profile (see profiles/halle/profile.toml
for every key, documented) and ingests its own data. Without a profile (TWIN_PROFILE unset) a generic one is
used that looks at the catalogued layers, or at Germany when there are none.
"""

from __future__ import annotations

import math
import mimetypes
import threading
from pathlib import Path
from typing import Any

from fastapi import APIRouter
from fastapi.responses import FileResponse

from twin.api.deps import CatalogDep, SettingsDep
from twin.catalog import LayerRecord
from twin.errors import NotFoundError
from twin.profile.check import LOGO_SUFFIXES, is_url, read_profile
from twin.profile.schema import BaseMap, Camera, Group, LayerSpec, Profile, Text
from twin.search import layer_properties

router = APIRouter(prefix="/api", tags=["viewer"])

NATURAL_EARTH_URL = "cesium/Assets/Textures/NaturalEarthII"
"""Cesium's offline imagery, relative to the API base (twin serves Cesium's build beside the API)."""


DEFAULT_BASEMAP = BaseMap(
    id="naturalearth",
    title={"de": "Natural Earth II (offline)", "en": "Natural Earth II (offline)"},
    type="tms",
    url=NATURAL_EARTH_URL,
    maximum_level=2,
    attribution="Natural Earth II, public domain",
    default=True,
)
GERMANY = Camera(longitude=10.45, latitude=51.16, pitch=-90.0, range=1_400_000.0)


_profiles: dict[Path, tuple[tuple[int, int], Profile]] = {}
_profiles_lock = threading.Lock()


def load_profile(path: Path | None) -> Profile:
    """The city profile at ``path`` (TOML), or the generic default when ``path`` is None.

    Read again whenever the file changes (an edited profile shows at the next page load), else from memory.
    Checked as the server needs it (schema, ids, URLs); `twin profile check` also checks sources and CRSs.
    """
    if path is None:
        return Profile()
    try:
        info = path.stat()
    except OSError:
        info = None
    stamp = (info.st_mtime_ns, info.st_size) if info else (0, 0)
    cached = _profiles.get(path)
    if info is not None and cached is not None and cached[0] == stamp:
        return cached[1]
    profile = read_profile(path, deep=False)
    with _profiles_lock:
        _profiles[path] = (stamp, profile)
    return profile


def camera_for_layers(layers: list[LayerRecord]) -> Camera:
    """A view onto the union of the layers' CRS84 bounding boxes, or onto Germany when none has one."""
    boxes = [layer.bbox for layer in layers if layer.bbox and len(layer.bbox) == 4]
    if not boxes:
        return GERMANY
    west, south = min(b[0] for b in boxes), min(b[1] for b in boxes)
    east, north = max(b[2] for b in boxes), max(b[3] for b in boxes)
    lat = (south + north) / 2
    metres_per_degree = 111_320.0
    extent = max(
        (east - west) * metres_per_degree * math.cos(math.radians(lat)), (north - south) * metres_per_degree
    )
    return Camera(longitude=(west + east) / 2, latitude=lat, pitch=-45.0, range=max(300.0, 1.5 * extent))


def _properties(layer: LayerRecord, layers_dir: Path | None) -> list[dict[str, Any]]:
    """Attribute summaries for styling: computed from features.parquet, else the ingest's property list."""
    if layers_dir is not None:
        summaries = layer_properties(layers_dir, layer.id)
        if summaries:
            return [dict(summary) for summary in summaries]
    declared = layer.extra.get("properties") if isinstance(layer.extra, dict) else None
    out: list[dict[str, Any]] = []
    for item in declared or []:
        if isinstance(item, dict) and isinstance(item.get("id"), str):
            kind = "string" if item.get("type") == "STRING" else "number"
            out.append({"id": item["id"], "type": kind, "kind": "text" if kind == "string" else "number"})
    return out


def layer_entry(
    layer: LayerRecord, layers_dir: Path | None = None, spec: LayerSpec | None = None
) -> dict[str, Any]:
    """What the viewer needs of one layer; ingested 3D Tiles get their tileset URL and attribute summaries.

    URLs of twin's own resources are relative to the API base (the viewer resolves them), so that one
    answer fits a city served at ``/``, at ``/<city>/`` or behind a proxy. ``spec``, the profile's entry for
    the layer, gives its title in several languages.
    """
    url = layer.url
    extra: dict[str, Any] = layer.extra if isinstance(layer.extra, dict) else {}
    properties: list[dict[str, Any]] = []
    if layer.kind == "3dtiles":
        # The version makes a re-published layer a new URL (Cesium carries the query to every tile request).
        url = f"tiles/{layer.id}/tileset.json?v={layer.version}"
        properties = _properties(layer, layers_dir)
    elif layer.kind == "features" and not url:
        url = extra.get("items_url") or f"ogc/collections/{layer.id}/items?limit=10000"
    title: Text = spec.title if spec is not None else layer.title
    return {
        "id": layer.id,
        "title": title,
        "description": layer.description,
        "kind": layer.kind,
        "url": url,
        "visible": layer.visible,
        "opacity": layer.opacity,
        "style": layer.style,
        "attribution": layer.attribution,
        "licence": layer.licence,
        "bbox": layer.bbox,
        "feature_count": layer.feature_count,
        "planning": layer.planning,
        "properties": properties,
        # Typical ellipsoidal height of the buildings' feet (metres): without terrain, the viewer lowers the
        # layer by it so that buildings with real heights stand on the globe instead of floating above it.
        "ground_height": float(extra.get("ground_height", 0.0) or 0.0),
        **_planning_entry(layer, extra),
    }


def _planning_entry(layer: LayerRecord, extra: dict[str, Any]) -> dict[str, Any]:
    """What the viewer needs of an ingested plan: its Baurecht check and envelope layer, and the plans."""
    if layer.kind != "features" or "plans" not in extra:
        return {}
    return {"check_url": f"api/plans/{layer.id}/check", "envelopes": extra.get("envelopes"),
            "plans": extra.get("plans", [])}  # fmt: skip


def layer_tree(
    layers: list[LayerRecord],
    groups: list[Group],
    layers_dir: Path | None = None,
    specs: list[LayerSpec] | None = None,
) -> list[dict[str, Any]]:
    """Nested groups of layers: profile groups first in profile order, the others by name; '/' nests."""
    by_id = {spec.id: spec for spec in specs or []}
    known = {group.id: group for group in groups}
    envelope_ids = {str(layer.extra.get("envelopes")) for layer in layers if isinstance(layer.extra, dict)}
    # The layer the Baurecht check measures: the first building layer (3D Tiles that are not envelopes).
    buildings_layer = next(
        (layer.id for layer in layers if layer.kind == "3dtiles" and layer.id not in envelope_ids), None
    )
    order = {group.id: index for index, group in enumerate(groups)}
    root: dict[str, Any] = {"children": {}, "layers": []}
    for layer in layers:
        node = root
        path = ""
        for part in [part for part in layer.group.split("/") if part.strip()]:
            path = f"{path}/{part}" if path else part
            if path not in node["children"]:
                group = known.get(path)
                node["children"][path] = {
                    "id": path,
                    "title": group.title if group else part,
                    "expanded": group.expanded if group else True,
                    "children": {},
                    "layers": [],
                }
            node = node["children"][path]
        entry = layer_entry(layer, layers_dir, by_id.get(layer.id))
        if layer.id in envelope_ids:
            entry["role"] = "envelopes"
        if "check_url" in entry:
            entry["buildings_layer"] = buildings_layer
        node["layers"].append(entry)

    def finish(node: dict[str, Any]) -> list[dict[str, Any]]:
        children = sorted(node["children"].values(), key=lambda g: (order.get(g["id"], len(order)), g["id"]))
        out: list[dict[str, Any]] = [
            {
                "type": "group",
                "id": child["id"],
                "title": child["title"],
                "expanded": child["expanded"],
                "children": finish(child),
            }
            for child in children
        ]
        out.extend({"type": "layer", **entry} for entry in node["layers"])
        return out

    return finish(root)


def build_config(
    profile: Profile,
    layers: list[LayerRecord],
    layers_dir: Path | None = None,
    logo_url: str | None = None,
) -> dict[str, Any]:
    """The viewer configuration: the profile merged with the catalog (and its layers' attribute summaries)."""
    basemaps = profile.basemaps or [DEFAULT_BASEMAP]
    if not any(basemap.default for basemap in basemaps):
        basemaps = [basemaps[0].model_copy(update={"default": True}), *basemaps[1:]]
    attributions = [profile.attribution] if profile.attribution else []
    for layer in layers:
        if layer.attribution and layer.attribution not in attributions:
            attributions.append(layer.attribution)
    return {
        "city": profile.city.model_dump() | {"logo": logo_url},
        "theme": profile.theme.model_dump(),
        "camera": (profile.camera or camera_for_layers(layers)).model_dump(),
        "languages": profile.languages.model_dump(),
        "terrain": profile.terrain.model_dump(),
        "basemaps": [basemap.model_dump() for basemap in basemaps],
        "layers": layer_tree(layers, profile.groups, layers_dir, profile.layers),
        "attribution": attributions,
        "viewer": profile.viewer.model_dump(),
    }


def logo_file(settings_profile: Path | None, profile: Profile) -> Path | None:
    """The profile's logo as an image file inside the profile's folder, or None (no logo, a URL, or a path that
    leaves the folder: one city's profile must not serve another city's files, such as its admin token)."""
    logo = profile.city.logo
    if settings_profile is None or logo is None or is_url(logo):
        return None
    folder = settings_profile.parent.resolve()
    path = (folder / logo).resolve()
    if not path.is_relative_to(folder) or path.suffix.lower() not in LOGO_SUFFIXES:
        return None
    return path


def logo_url(settings_profile: Path | None, profile: Profile) -> str | None:
    """Where the viewer finds the logo: its URL, or ``api/logo`` with a version that changes with the file."""
    logo = profile.city.logo
    if logo is None or is_url(logo):
        return logo
    path = logo_file(settings_profile, profile)
    if path is None:
        return None
    try:
        return f"api/logo?v={path.stat().st_mtime_ns}"
    except OSError:
        return None


@router.get("/config", summary="Viewer configuration")
def viewer_config(settings: SettingsDep, catalog: CatalogDep) -> dict[str, Any]:
    """City, theme, initial camera, layer tree, base maps, terrain, attribution and languages for the viewer."""
    profile = load_profile(settings.profile)
    return build_config(profile, catalog.list(), settings.layers_dir, logo_url(settings.profile, profile))


@router.get("/logo", summary="The city's logo", response_class=FileResponse)
def city_logo(settings: SettingsDep) -> FileResponse:
    """The logo file the city profile names (404 when it names none, or a URL)."""
    profile = load_profile(settings.profile)
    path = logo_file(settings.profile, profile)
    if path is None or not path.is_file():
        raise NotFoundError("this city has no logo file")
    media_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    # An SVG opened on its own runs its scripts in twin's origin: the policy forbids them.
    headers = {
        "Cache-Control": "public, max-age=86400",
        "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; img-src data:",
        "X-Content-Type-Options": "nosniff",
    }
    return FileResponse(path, media_type=media_type, headers=headers)
