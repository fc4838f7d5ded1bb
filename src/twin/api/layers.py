"""/api/layers: the layer catalog. Reading is public; writes need the admin token.

Each layer carries a ``version`` that grows with every change; GET returns it as the ETag, and PATCH/DELETE
honour ``If-Match`` so two editors cannot silently overwrite each other (412 when the layer changed since the
editor read it). Invalid metadata (an external layer without an http(s) URL, dates of a plan out of order) is
a 422 like any other validation error.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Response, status
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from twin.api.deps import AdminDep, CatalogDep
from twin.catalog import LayerKind, LayerRecord, PlanningInfo
from twin.catalog.schema import EXTERNAL_KINDS, check_bbox, check_http_url, check_style
from twin.errors import PreconditionFailedError

router = APIRouter(prefix="/api/layers", tags=["layers"])

LAYER_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$"


class LayerFields(BaseModel):
    """The editable metadata of a layer (all optional: a PATCH sends only what changes)."""

    model_config = ConfigDict(extra="forbid")

    title: str | None = Field(default=None, min_length=1, max_length=256)
    description: str | None = Field(default=None, max_length=20_000)
    kind: LayerKind | None = None
    group: str | None = Field(default=None, max_length=256, description="place in the layer tree, '/' nests")
    attribution: str | None = Field(default=None, max_length=2000)
    licence: str | None = Field(default=None, max_length=128, examples=["dl-de/by-2-0"])
    bbox: list[float] | None = Field(
        default=None, min_length=4, max_length=4, description="west, south, east, north in CRS84 degrees"
    )
    feature_count: int | None = Field(default=None, ge=0, le=2**31 - 1)
    source: str | None = Field(default=None, max_length=2000)
    url: str | None = Field(default=None, max_length=2048, description="http(s) URL of external layers")
    visible: bool | None = None
    opacity: float | None = Field(default=None, ge=0.0, le=1.0)
    style: dict[str, Any] | None = Field(default=None, description="a Cesium3DTileStyle")
    planning: PlanningInfo | None = Field(default=None, description="plan status, dates, office, documents")
    extra: dict[str, Any] | None = None

    @field_validator("bbox")
    @classmethod
    def _bbox(cls, value: list[float] | None) -> list[float] | None:
        return check_bbox(value)

    @field_validator("url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        return None if value is None else check_http_url(value)

    @field_validator("style")
    @classmethod
    def _style(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        return check_style(value)


class LayerCreate(LayerFields):
    """A new layer: id and title are required; external kinds need a url."""

    id: str = Field(pattern=LAYER_ID_PATTERN)
    title: str = Field(min_length=1, max_length=256)
    kind: LayerKind = "3dtiles"

    @model_validator(mode="after")
    def _external_needs_url(self) -> LayerCreate:
        if self.kind in EXTERNAL_KINDS and not self.url:
            raise ValueError(f"a layer of kind '{self.kind}' needs a url")
        return self


def _etag(record: LayerRecord) -> str:
    return f'"{record.id}-{record.version}"'


def _expected_version(if_match: str | None, layer_id: str) -> int | None:
    """The version an If-Match header names (None for no header or '*'); 412 if it names none of ours."""
    if if_match is None:
        return None
    tags = [tag.strip().removeprefix("W/") for tag in if_match.split(",")]
    if "*" in tags:
        return None
    prefix = f'"{layer_id}-'
    for tag in tags:
        number = tag.removeprefix(prefix).removesuffix('"')
        if tag.startswith(prefix) and tag.endswith('"') and number.isdigit():
            return int(number)
    raise PreconditionFailedError(f"If-Match {if_match[:80]!r} does not name a version of layer '{layer_id}'")


def _as_request_error(error: ValidationError) -> RequestValidationError:
    """A model error found after FastAPI's own validation, reported like one (422, problem details)."""
    return RequestValidationError(
        [{**e, "loc": ("body", *e.get("loc", ()))} for e in error.errors(include_url=False)]
    )


@router.get("", summary="List layers", response_model=list[LayerRecord])
def list_layers(
    catalog: CatalogDep,
    kind: Annotated[LayerKind | None, Query(description="only layers of this kind")] = None,
    group: Annotated[
        str | None, Query(max_length=256, description="only layers in this group (or below it)")
    ] = None,
    q: Annotated[str | None, Query(max_length=200, description="text in id, title or description")] = None,
) -> list[LayerRecord]:
    """All layers of the catalog, optionally filtered."""
    return catalog.list(kind=kind, group=group, text=q)


@router.get("/{layer_id}", summary="One layer", response_model=LayerRecord)
def get_layer(layer_id: str, catalog: CatalogDep, response: Response) -> LayerRecord:
    """One layer's metadata; its version as ETag."""
    record = catalog.get(layer_id)
    response.headers["ETag"] = _etag(record)
    return record


@router.post(
    "",
    summary="Register a layer",
    response_model=LayerRecord,
    status_code=status.HTTP_201_CREATED,
    dependencies=[AdminDep],
)
def create_layer(body: LayerCreate, catalog: CatalogDep, response: Response) -> LayerRecord:
    """Add a layer to the catalog (409 if the id is taken)."""
    values = {key: value for key, value in body.model_dump().items() if value is not None}
    try:
        candidate = LayerRecord(**values)
    except ValidationError as error:
        raise _as_request_error(error) from error
    record = catalog.create(candidate)
    response.headers["ETag"] = _etag(record)
    response.headers["Location"] = f"/api/layers/{record.id}"
    return record


@router.patch("/{layer_id}", summary="Change a layer", response_model=LayerRecord, dependencies=[AdminDep])
def patch_layer(
    layer_id: str,
    body: LayerFields,
    catalog: CatalogDep,
    response: Response,
    if_match: Annotated[str | None, Header(description="the ETag this change is based on")] = None,
) -> LayerRecord:
    """Change the given fields of a layer; with If-Match, only if nobody changed it in between (else 412)."""
    changes = body.model_dump(exclude_unset=True)
    try:
        record = catalog.update(layer_id, changes, _expected_version(if_match, layer_id))
    except ValidationError as error:
        raise _as_request_error(error) from error
    response.headers["ETag"] = _etag(record)
    return record


@router.delete(
    "/{layer_id}",
    summary="Remove a layer from the catalog",
    status_code=status.HTTP_204_NO_CONTENT,
    dependencies=[AdminDep],
)
def delete_layer(
    layer_id: str,
    catalog: CatalogDep,
    if_match: Annotated[str | None, Header(description="the ETag this deletion is based on")] = None,
) -> Response:
    """Remove the layer's metadata (its published files stay until `twin layers delete` removes them)."""
    catalog.delete(layer_id, _expected_version(if_match, layer_id))
    return Response(status_code=status.HTTP_204_NO_CONTENT)
