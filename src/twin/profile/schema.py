"""The city profile (TOML): everything city-specific about one twin, as pydantic models.

A profile says what the viewer shows (name, logo, colours, initial view, base maps, terrain, languages, layer
groups) and which layers `twin build` makes from which sources. Keys are checked strictly: an unknown key is an
error (with a did-you-mean, see ``twin.profile.check``), never silently ignored. Checks that need the file
system or PROJ (source files, logos, CRSs) live in ``twin.profile.check``; this module is pure schema.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator

Language = Literal["de", "en"]


def _text(value: Any) -> Any:
    """A label: one string, or a table with one string per language code."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and value and all(isinstance(v, str) for v in value.values()):
        unknown = [key for key in value if key not in ("de", "en")]
        if unknown:
            raise ValueError(f"unknown language '{unknown[0]}' (use de or en)")
        return value
    raise ValueError(
        'must be a string or a table of strings per language, e.g. { de = "Gebäude", en = "Buildings" }'
    )


def _sources(value: Any) -> Any:
    """One source or a non-empty list of them."""
    if isinstance(value, str) or (
        isinstance(value, list) and value and all(isinstance(v, str) for v in value)
    ):
        return value
    raise ValueError('must be a path or URL, or a list of them, e.g. "sources/gebaeude.gpkg"')


Text = Annotated[str | dict[str, str], BeforeValidator(_text)]
"""A label: one string, or one per language code ({de = "Gebäude", en = "Buildings"})."""

HEX_COLOR = r"^#[0-9a-fA-F]{6}$"
LAYER_ID = r"^[a-z0-9][a-z0-9_-]{0,62}$"
"""Layer ids as the publisher takes them (lower case, so that they are safe as folder names everywhere)."""


class Strict(BaseModel):
    """A profile table: unknown keys are errors."""

    model_config = ConfigDict(extra="forbid")


class City(Strict):
    """The municipality this twin shows."""

    name: Text = "twin"
    subtitle: Text = ""
    homepage: str | None = Field(default=None, description="http(s) URL linked from the title")
    ags: str | None = Field(default=None, pattern=r"^\d{8}$", description="Amtlicher Gemeindeschlüssel")
    logo: str | None = Field(
        default=None, description="image file beside the profile (SVG, PNG, JPEG, WebP) or an http(s) URL"
    )


class Theme(Strict):
    """The viewer's colours (hex #rrggbb)."""

    primary: str = Field(default="#00598a", pattern=HEX_COLOR, description="title bar, buttons, focus")
    highlight: str = Field(default="#ffcc00", pattern=HEX_COLOR, description="the picked building")


class Camera(Strict):
    """Initial view: a target point on the ground and where the camera stands relative to it."""

    longitude: float = Field(ge=-180, le=180, description="target, degrees CRS84")
    latitude: float = Field(ge=-90, le=90, description="target, degrees CRS84")
    height: float = Field(default=0.0, description="target height, metres above the ellipsoid")
    heading: float = Field(default=0.0, description="degrees clockwise from north")
    pitch: float = Field(default=-35.0, ge=-90, le=0, description="degrees, negative looks down")
    range: float = Field(default=800.0, gt=0, description="metres from the camera to the target")


class BaseMap(Strict):
    """A background imagery layer."""

    id: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")
    title: Text
    type: Literal["tms", "wmts", "wms", "xyz"]
    url: str = Field(description="http(s) URL, or a path on the twin server such as cesium/Assets/...")
    layers: str | None = Field(default=None, description="WMS layer names, comma separated")
    layer: str | None = Field(default=None, description="WMTS layer")
    style: str = "default"
    tile_matrix_set: str | None = Field(default=None, description="WMTS TileMatrixSetID")
    format: str = "image/png"
    maximum_level: int | None = Field(default=None, ge=0, le=30)
    attribution: str = ""
    default: bool = False

    @model_validator(mode="after")
    def _needs(self) -> BaseMap:
        if self.type == "wms" and not self.layers:
            raise ValueError(f"base map '{self.id}': a WMS needs 'layers'")
        if self.type == "wmts" and not (self.layer and self.tile_matrix_set):
            raise ValueError(f"base map '{self.id}': a WMTS needs 'layer' and 'tile_matrix_set'")
        return self


class Terrain(Strict):
    """The ground surface. Only the ellipsoid for now: buildings carry their own base height."""

    type: Literal["ellipsoid"] = "ellipsoid"


def _all_languages() -> list[Language]:
    return ["de", "en"]


class Languages(Strict):
    """UI languages: the first one the viewer starts with unless the user picks another."""

    default: Language = "de"
    available: list[Language] = Field(default_factory=_all_languages, min_length=1)

    @model_validator(mode="after")
    def _default_available(self) -> Languages:
        if self.default not in self.available:
            raise ValueError(f"default language '{self.default}' is not in available {self.available}")
        return self


class Group(Strict):
    """A group of the layer tree: layers whose ``group`` equals ``id`` (``/`` nests) appear under it."""

    id: str = Field(min_length=1)
    title: Text
    expanded: bool = True


class ViewerOptions(Strict):
    """Rendering choices."""

    time: str = Field(
        default="2025-06-21T10:00:00Z",
        description="fixed scene time (ISO 8601) for sun light; a daytime date keeps pictures repeatable",
    )
    shadows: bool = False
    timezone: str = Field(default="Europe/Berlin", description="IANA zone of the sun study's date and hour")
    maximum_screen_space_error: float = Field(default=16.0, gt=0)


class LayerSpec(Strict):
    """A layer `twin build` makes: its sources and the options `twin ingest` takes for them."""

    id: str = Field(pattern=LAYER_ID, description="lower-case letters, digits, - and _")
    title: Text
    source: Annotated[str | list[str], BeforeValidator(_sources)] = Field(
        description="file, folder, glob pattern or zip beside the profile, or an http(s) URL; or a list of them"
    )
    group: str = ""
    description: str = ""
    attribution: str = ""
    licence: str = ""
    visible: bool = True
    opacity: float = Field(default=1.0, ge=0, le=1)
    crs: str | None = Field(default=None, description="source CRS, overrides the file's (e.g. EPSG:25832)")
    vertical_crs: str | None = Field(default=None, description="vertical CRS of z values, or 'ellipsoidal'")
    heights: Literal["auto", "ground", "source"] = "auto"
    height_attr: str | None = None
    storeys_attr: str | None = None
    storey_height: float = Field(default=3.0, gt=0, le=20)
    default_height: float = Field(default=10.0, gt=0, le=1000)
    id_attr: str | None = None
    source_layer: str | None = None
    lod: str | None = Field(default=None, pattern=r"^[0-4](\.[0-3])?$", description="e.g. 2 or 2.2")
    compression: Literal["meshopt", "none"] = "meshopt"
    kind: Literal["buildings", "planning"] = "buildings"
    metadata: str | None = Field(
        default=None, description="planning metadata file (JSON/TOML) for kind planning"
    )

    @property
    def sources(self) -> list[str]:
        """``source`` as a list."""
        return [self.source] if isinstance(self.source, str) else list(self.source)

    def default_title(self, language: str = "de") -> str:
        """The title as one string (the catalog's), in ``language`` where the profile gives several."""
        if isinstance(self.title, str):
            return self.title
        return self.title.get(language) or next(iter(self.title.values()))


class Profile(Strict):
    """A city profile file."""

    city: City = Field(default_factory=City)
    theme: Theme = Field(default_factory=Theme)
    camera: Camera | None = None
    languages: Languages = Field(default_factory=Languages)
    attribution: str = ""
    terrain: Terrain = Field(default_factory=Terrain)
    basemaps: list[BaseMap] = Field(default_factory=list)
    groups: list[Group] = Field(default_factory=list)
    layers: list[LayerSpec] = Field(default_factory=list)
    viewer: ViewerOptions = Field(default_factory=ViewerOptions)
