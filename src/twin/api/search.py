"""GET /api/search: find buildings by id, name or address in the ingested layers."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel

from twin.api.deps import CatalogDep, SettingsDep
from twin.search import search

router = APIRouter(prefix="/api", tags=["search"])


class SearchResult(BaseModel):
    """A building found: its id, a readable label, its layer and its centre (degrees CRS84, metres)."""

    id: str
    label: str
    layer: str
    lon: float
    lat: float
    height: float


class SearchResults(BaseModel):
    """The answer of /api/search."""

    query: str
    results: list[SearchResult]


@router.get("/search", summary="Search buildings", response_model=SearchResults)
def search_buildings(
    settings: SettingsDep,
    catalog: CatalogDep,
    q: Annotated[str, Query(max_length=200, description="words to find (id, name, address)")] = "",
    limit: Annotated[int, Query(ge=1, le=100)] = 10,
    layer: Annotated[str | None, Query(description="only this layer")] = None,
) -> SearchResults:
    """Buildings whose id, name or address contains every word of ``q`` (case and umlauts folded)."""
    layer_ids = [
        record.id
        for record in catalog.list()
        if record.kind == "3dtiles" and (layer is None or record.id == layer)
    ]
    hits = search(settings.layers_dir, layer_ids, q, limit) if q.strip() else []
    return SearchResults(query=q, results=[SearchResult(**hit) for hit in hits])
