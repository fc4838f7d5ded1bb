"""GET /api/config: everything the viewer needs, from the city profile (TOML) and the layer catalog.

The viewer has no city-specific code: another Kommune writes its own profile (see profiles/halle-sample.toml
for every key, documented) and ingests its own data. Without a profile (TWIN_PROFILE unset) a generic one is
used that looks at the catalogued layers, or at Germany when there are none.
"""

from __future__ import annotations

import math
import tomllib
from pathlib import Path
from typing import Any, Literal

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from twin.api.deps import CatalogDep, SettingsDep
from twin.catalog import LayerRecord
from twin.errors import ConfigError
from twin.search import layer_properties

router = APIRouter(prefix="/api", tags=["viewer"])

Text = str | dict[str, str]
"""A label: one string, or one per language code ({de = "Gebäude", en = "Buildings"})."""

NATURAL_EARTH_URL = "/cesium/Assets/Textures/NaturalEarthII"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class City(_Strict):
    """The municipality this deployment shows."""

    name: Text = "twin"
    subtitle: Text = ""
    homepage: str | None = None
    ags: str | None = Field(default=None, description="Amtlicher Gemeindeschlüssel")


class Camera(_Strict):
    """Initial view: a target point on the ground and where the camera stands relative to it."""

    longitude: float = Field(ge=-180, le=180, description="target, degrees CRS84")
    latitude: float = Field(ge=-90, le=90, description="target, degrees CRS84")
    height: float = Field(default=0.0, description="target height, metres above the ellipsoid")
    heading: float = Field(default=0.0, description="degrees clockwise from north")
    pitch: float = Field(default=-35.0, ge=-90, le=0, description="degrees, negative looks down")
    range: float = Field(default=800.0, gt=0, description="metres from the camera to the target")


class BaseMap(_Strict):
    """A background imagery layer."""

    id: str
    title: Text
    type: Literal["tms", "wmts", "wms", "xyz"]
    url: str
    layers: str | None = Field(default=None, description="WMS layer names, comma separated")
    layer: str | None = Field(default=None, description="WMTS layer")
    style: str = "default"
    tile_matrix_set: str | None = Field(default=None, description="WMTS TileMatrixSetID")
    format: str = "image/png"
    maximum_level: int | None = None
    attribution: str = ""
    default: bool = False

    @model_validator(mode="after")
    def _needs(self) -> BaseMap:
        if self.type == "wms" and not self.layers:
            raise ValueError(f"base map '{self.id}': a WMS needs 'layers'")
        if self.type == "wmts" and not (self.layer and self.tile_matrix_set):
            raise ValueError(f"base map '{self.id}': a WMTS needs 'layer' and 'tile_matrix_set'")
        return self


class Terrain(_Strict):
    """The ground surface. Only the ellipsoid for now: buildings carry their own base height."""

    type: Literal["ellipsoid"] = "ellipsoid"


Language = Literal["de", "en"]


def _all_languages() -> list[Language]:
    return ["de", "en"]


class Languages(_Strict):
    """UI languages: the first one the viewer starts with unless the user picks another."""

    default: Language = "de"
    available: list[Language] = Field(default_factory=_all_languages, min_length=1)


class Group(_Strict):
    """A group of the layer tree: layers whose ``group`` equals ``id`` (``/`` nests) appear under it."""

    id: str
    title: Text
    expanded: bool = True


class ViewerOptions(_Strict):
    """Rendering choices."""

    time: str = Field(
        default="2025-06-21T10:00:00Z",
        description="fixed scene time (ISO 8601) for sun light; a daytime date keeps pictures repeatable",
    )
    shadows: bool = False
    timezone: str = Field(default="Europe/Berlin", description="IANA zone of the sun study's date and hour")
    maximum_screen_space_error: float = Field(default=16.0, gt=0)


class Profile(_Strict):
    """A city profile file."""

    city: City = Field(default_factory=City)
    camera: Camera | None = None
    languages: Languages = Field(default_factory=Languages)
    attribution: str = ""
    terrain: Terrain = Field(default_factory=Terrain)
    basemaps: list[BaseMap] = Field(default_factory=list)
    groups: list[Group] = Field(default_factory=list)
    viewer: ViewerOptions = Field(default_factory=ViewerOptions)


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


def load_profile(path: Path | None) -> Profile:
    """The city profile at ``path`` (TOML), or the generic default when ``path`` is None."""
    if path is None:
        return Profile()
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"city profile {path} cannot be read: {exc.strerror or exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"city profile {path} is not valid TOML: {exc}") from None
    try:
        return Profile.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        raise ConfigError(f"city profile {path}: {where}: {first['msg']}") from None


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


def layer_entry(layer: LayerRecord, layers_dir: Path | None = None) -> dict[str, Any]:
    """What the viewer needs of one layer; ingested 3D Tiles get their tileset URL and attribute summaries."""
    url = layer.url
    extra: dict[str, Any] = layer.extra if isinstance(layer.extra, dict) else {}
    properties: list[dict[str, Any]] = []
    if layer.kind == "3dtiles":
        # The version makes a re-published layer a new URL (Cesium carries the query to every tile request).
        url = f"/tiles/{layer.id}/tileset.json?v={layer.version}"
        properties = _properties(layer, layers_dir)
    elif layer.kind == "features" and not url:
        url = extra.get("items_url") or f"/ogc/collections/{layer.id}/items?limit=10000"
    return {
        "id": layer.id,
        "title": layer.title,
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
    }


def layer_tree(
    layers: list[LayerRecord], groups: list[Group], layers_dir: Path | None = None
) -> list[dict[str, Any]]:
    """Nested groups of layers: profile groups first in profile order, the others by name; '/' nests."""
    known = {group.id: group for group in groups}
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
        node["layers"].append(layer_entry(layer, layers_dir))

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
    profile: Profile, layers: list[LayerRecord], layers_dir: Path | None = None
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
        "city": profile.city.model_dump(),
        "camera": (profile.camera or camera_for_layers(layers)).model_dump(),
        "languages": profile.languages.model_dump(),
        "terrain": profile.terrain.model_dump(),
        "basemaps": [basemap.model_dump() for basemap in basemaps],
        "layers": layer_tree(layers, profile.groups, layers_dir),
        "attribution": attributions,
        "viewer": profile.viewer.model_dump(),
    }


@router.get("/config", summary="Viewer configuration")
def viewer_config(settings: SettingsDep, catalog: CatalogDep) -> dict[str, Any]:
    """City, initial camera, layer tree, base maps, terrain, attribution and languages for the viewer."""
    return build_config(load_profile(settings.profile), catalog.list(), settings.layers_dir)
