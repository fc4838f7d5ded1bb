"""The layer metadata model: what the catalog stores and the API returns, validated with pydantic.

Planning layers (Bebauungspläne, Flächennutzungspläne) carry a ``PlanningInfo``: the plan's legal status in
XPlanung's terms (``BP_Rechtsstand``), the dates of its procedure, the responsible office and links to its
documents. External layers (3D Tiles, WMS, WMTS, XYZ served elsewhere) need an http(s) URL.
"""

from __future__ import annotations

import math
from datetime import UTC, date, datetime
from itertools import pairwise
from typing import Annotated, Any, Literal, Self
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

LayerKind = Literal["3dtiles", "features", "external-3dtiles", "wms", "wmts", "xyz"]
INGESTED_KINDS: frozenset[str] = frozenset({"3dtiles", "features"})
EXTERNAL_KINDS: frozenset[str] = frozenset({"external-3dtiles", "wms", "wmts", "xyz"})

# XPlanung BP_Rechtsstand / FP_Rechtsstand (code list values, spelled as XPlanGML does).
PlanStatus = Literal[
    "Aufstellungsbeschluss",
    "Entwurf",
    "FruehzeitigeBehoerdenBeteiligung",
    "FruehzeitigeOeffentlichkeitsBeteiligung",
    "BehoerdenBeteiligung",
    "OeffentlicheAuslegung",
    "Satzung",
    "InkraftGetreten",
    "TeilweiseUntergegangen",
    "Untergegangen",
    "Aufgehoben",
    "AusserKraft",
]


# What Cesium.Color.fromCssColorString understands: #rgb[a], #rrggbb[aa], rgb()/rgba()/hsl(), named colours.
CSS_COLOR = (
    r"^(#[0-9a-fA-F]{3,4}|#[0-9a-fA-F]{6}|#[0-9a-fA-F]{8}|(rgb|rgba|hsl|hsla)\([0-9.,%\s]+\)|[a-zA-Z]{3,30})$"
)


def check_http_url(url: str) -> str:
    """``url`` if it is an absolute http(s) URL with a host (templates like ``{z}`` are fine), else ValueError."""
    if any(c.isspace() for c in url):
        raise ValueError("URL must not contain white space")
    parts = urlsplit(url)
    if parts.scheme.lower() not in ("http", "https"):
        raise ValueError(f"URL must start with http:// or https://, got '{url[:80]}'")
    if not parts.hostname:
        raise ValueError(f"URL has no host: '{url[:80]}'")
    return url


class DocumentLink(BaseModel):
    """A document of a plan: Planzeichnung, Begründung, textliche Festsetzungen, Umweltbericht, ..."""

    model_config = ConfigDict(extra="forbid")

    title: str = Field(min_length=1, max_length=256, examples=["Begründung"])
    url: str = Field(max_length=2048, examples=["https://example.org/bplan-123/begruendung.pdf"])
    media_type: str | None = Field(
        default=None, max_length=128, pattern=r"^[\w.+-]+/[\w.+-]+$", examples=["application/pdf"]
    )
    language: str | None = Field(default=None, pattern=r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$", examples=["de"])

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        return check_http_url(value)


class PlanDates(BaseModel):
    """Dates of a plan's procedure (BauGB); each optional, those given must be in legal order."""

    model_config = ConfigDict(extra="forbid")

    aufstellungsbeschluss: date | None = Field(default=None, description="decision to draw up the plan")
    auslegung_start: date | None = Field(default=None, description="public display from")
    auslegung_ende: date | None = Field(default=None, description="public display until")
    satzungsbeschluss: date | None = Field(default=None, description="council's adoption as by-law")
    ausfertigung: date | None = Field(default=None, description="engrossment")
    inkrafttreten: date | None = Field(default=None, description="entry into force (publication)")
    untergang: date | None = Field(default=None, description="end of validity")

    @model_validator(mode="after")
    def _legal_order(self) -> Self:
        order = ["aufstellungsbeschluss", "satzungsbeschluss", "inkrafttreten", "untergang"]
        given = [(name, getattr(self, name)) for name in order if getattr(self, name) is not None]
        for (first, a), (second, b) in pairwise(given):
            if b < a:
                raise ValueError(f"{second} ({b}) is before {first} ({a})")
        if self.auslegung_start and self.auslegung_ende and self.auslegung_ende < self.auslegung_start:
            raise ValueError("auslegung_ende is before auslegung_start")
        return self


class PlanningInfo(BaseModel):
    """What a planning layer says about its plan."""

    model_config = ConfigDict(extra="forbid")

    status: PlanStatus | None = Field(default=None, description="legal status (XPlanung Rechtsstand)")
    number: str | None = Field(default=None, max_length=64, description="plan number", examples=["Nr. 32.4"])
    dates: PlanDates = Field(default_factory=PlanDates)
    office: str | None = Field(
        default=None, max_length=256, description="responsible office", examples=["Fachbereich Städtebau"]
    )
    documents: list[DocumentLink] = Field(default_factory=list, max_length=100)
    # How the viewer draws the plan's features (web/src/planning.js): the attribute that tells the plan type
    # (else the first of planart, nutzung, art, ... present) and fixed colours per value of it.
    style_attribute: str | None = Field(default=None, max_length=64, examples=["planart"])
    colors: dict[str, Annotated[str, Field(pattern=CSS_COLOR)]] = Field(
        default_factory=dict, max_length=200, examples=[{"1000": "#e41a1c"}]
    )


def check_style(style: dict[str, Any] | None) -> dict[str, Any] | None:
    """``style`` if it looks like a Cesium3DTileStyle (expressions as strings, conditions as pairs)."""
    if style is None:
        return None
    for key in ("show", "color", "pointSize"):
        value = style.get(key)
        if value is None or isinstance(value, str | bool | int | float):
            continue
        conditions = value.get("conditions") if isinstance(value, dict) else None
        if not isinstance(conditions, list) or not all(
            isinstance(pair, list | tuple) and len(pair) == 2 and all(isinstance(p, str) for p in pair)
            for pair in conditions
        ):
            raise ValueError(
                f"style.{key} must be an expression or {{'conditions': [[condition, value], ...]}}"
            )
    for key in ("defines", "meta"):
        value = style.get(key)
        if value is not None and not (
            isinstance(value, dict) and all(isinstance(v, str) for v in value.values())
        ):
            raise ValueError(f"style.{key} must map names to expression strings")
    return style


def check_bbox(bbox: list[float] | None) -> list[float] | None:
    """``bbox`` if it is [west, south, east, north] in CRS84 degrees (west > east crosses the antimeridian)."""
    if bbox is None:
        return None
    if len(bbox) != 4 or not all(math.isfinite(v) for v in bbox):
        raise ValueError("bbox must be 4 finite numbers: west, south, east, north (CRS84 degrees)")
    west, south, east, north = bbox
    if not (-180 <= west <= 180 and -180 <= east <= 180 and -90 <= south <= north <= 90):
        raise ValueError("bbox must be west, south, east, north with -180..180, -90..90 and south <= north")
    return bbox


def _has_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    if isinstance(value, list | tuple):
        return any(_has_nul(v) for v in value)
    if isinstance(value, BaseModel):
        return _has_nul(value.model_dump())
    return False


class LayerRecord(BaseModel):
    """Metadata of one layer as the catalog stores it."""

    model_config = ConfigDict(from_attributes=True)

    id: str
    title: str
    description: str = ""
    kind: LayerKind = "3dtiles"
    group: str = ""
    attribution: str = ""
    licence: str = ""
    bbox: list[float] | None = Field(default=None, description="west, south, east, north in CRS84 degrees")
    feature_count: int = 0
    source: str = ""
    url: str | None = Field(default=None, description="service URL of external layers")
    visible: bool = True
    opacity: float = Field(default=1.0, ge=0.0, le=1.0)
    style: dict[str, Any] | None = Field(default=None, description="a Cesium3DTileStyle")
    planning: PlanningInfo | None = None
    extra: dict[str, Any] = Field(default_factory=dict)
    version: int = 1
    created: datetime | None = None
    updated: datetime | None = None

    @field_validator("bbox")
    @classmethod
    def _bbox(cls, value: list[float] | None) -> list[float] | None:
        return check_bbox(value)

    @field_validator("style")
    @classmethod
    def _style(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        return check_style(value)

    @model_validator(mode="before")
    @classmethod
    def _no_nul_characters(cls, data: Any) -> Any:
        # PostgreSQL cannot store NUL in text; refuse it everywhere rather than fail on one database only.
        if isinstance(data, dict) and _has_nul(data):
            raise ValueError("text must not contain NUL characters")
        return data

    @field_validator("created", "updated")
    @classmethod
    def _utc(cls, value: datetime | None) -> datetime | None:
        # SQLite hands back naive datetimes; the catalog only ever writes UTC.
        return value.replace(tzinfo=UTC) if value is not None and value.tzinfo is None else value

    @model_validator(mode="after")
    def _external_layers_have_a_url(self) -> Self:
        if self.kind in EXTERNAL_KINDS and not self.url:
            raise ValueError(f"a layer of kind '{self.kind}' needs a url")
        if self.url is not None:
            check_http_url(self.url)
        return self
