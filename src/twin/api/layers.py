"""/api/layers: the layer catalog. Reading is public; writes need the admin token.

Each layer carries a ``version`` that grows with every change; GET returns it as the ETag, and PATCH/DELETE
honour ``If-Match`` so two editors cannot silently overwrite each other.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Header, Query, Response, status
from pydantic import BaseModel, ConfigDict, Field

from twin.api.deps import AdminDep, CatalogDep
from twin.catalog import LayerRecord
from twin.catalog.models import LayerRow
from twin.errors import ConflictError, NotFoundError, PreconditionFailedError

router = APIRouter(prefix="/api/layers", tags=["layers"])

LAYER_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$"
LayerKind = Literal["3dtiles", "features", "external-3dtiles", "wms", "wmts", "xyz"]


class LayerFields(BaseModel):
    """The editable metadata of a layer (all optional: a PATCH sends only what changes)."""

    model_config = ConfigDict(extra="forbid")

    title: str | None = Field(default=None, min_length=1, max_length=256)
    description: str | None = None
    kind: LayerKind | None = None
    group: str | None = Field(default=None, max_length=256, description="place in the layer tree, '/' nests")
    attribution: str | None = None
    licence: str | None = Field(default=None, max_length=128, examples=["dl-de/by-2-0"])
    bbox: list[float] | None = Field(default=None, min_length=4, max_length=4, description="CRS84 degrees")
    feature_count: int | None = Field(default=None, ge=0)
    source: str | None = None
    url: str | None = Field(default=None, description="service URL of external layers")
    visible: bool | None = None
    opacity: float | None = Field(default=None, ge=0.0, le=1.0)
    style: dict[str, Any] | None = Field(default=None, description="a Cesium3DTileStyle")
    planning: dict[str, Any] | None = None
    extra: dict[str, Any] | None = None


class LayerCreate(LayerFields):
    """A new layer: id and title are required."""

    id: str = Field(pattern=LAYER_ID_PATTERN)
    title: str = Field(min_length=1, max_length=256)
    kind: LayerKind = "3dtiles"


def _etag(record: LayerRecord) -> str:
    return f'"{record.id}-{record.version}"'


def _check_if_match(if_match: str | None, record: LayerRecord) -> None:
    if if_match is None:
        return
    tags = {tag.strip().removeprefix("W/") for tag in if_match.split(",")}
    if "*" not in tags and _etag(record) not in tags:
        raise PreconditionFailedError(
            f"layer '{record.id}' changed (now version {record.version}); reload and apply it again"
        )


@router.get("", summary="List layers", response_model=list[LayerRecord])
def list_layers(
    catalog: CatalogDep,
    kind: Annotated[str | None, Query(description="only layers of this kind")] = None,
    group: Annotated[str | None, Query(description="only layers in this group (or below it)")] = None,
    q: Annotated[str | None, Query(max_length=200, description="text in id, title or description")] = None,
) -> list[LayerRecord]:
    """All layers of the catalog, optionally filtered."""
    layers = catalog.list()
    if kind:
        layers = [layer for layer in layers if layer.kind == kind]
    if group:
        layers = [layer for layer in layers if layer.group == group or layer.group.startswith(group + "/")]
    if q:
        needle = q.casefold()
        layers = [
            layer
            for layer in layers
            if needle in layer.id.casefold()
            or needle in layer.title.casefold()
            or needle in layer.description.casefold()
        ]
    return layers


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
    with catalog.session() as session:
        if session.get(LayerRow, body.id) is not None:
            raise ConflictError(f"layer '{body.id}' already exists")
        values = {key: value for key, value in body.model_dump().items() if value is not None}
        record = catalog.upsert(LayerRecord(**values), session)
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
    with catalog.session() as session:
        row = session.get(LayerRow, layer_id, with_for_update=True)
        if row is None:
            raise NotFoundError(f"layer '{layer_id}' does not exist")
        current = LayerRecord.model_validate(row)
        _check_if_match(if_match, current)
        merged = LayerRecord.model_validate(current.model_dump() | changes)
        record = catalog.upsert(merged, session)
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
    if if_match is not None:
        _check_if_match(if_match, catalog.get(layer_id))
    catalog.delete(layer_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
