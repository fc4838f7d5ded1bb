"""GET /api/plans/{layer}/check: the Baurecht quick check of one plan area against a building layer."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from twin.api.deps import CatalogDep, FeaturesDep
from twin.errors import NotFoundError

router = APIRouter(prefix="/api/plans", tags=["planning"])


@router.get("/{layer_id}/check", summary="Baurecht quick check")
def check_plan_area(
    layer_id: str,
    catalog: CatalogDep,
    features: FeaturesDep,
    feature: Annotated[str, Query(max_length=256, description="gml:id of the plan area (e.g. a Baugebiet)")],
    buildings: Annotated[str, Query(max_length=64, description="id of the building layer to check")],
    storey_height: Annotated[float, Query(gt=0, le=20, description="metres per full storey for Z")] = 3.0,
) -> dict[str, Any]:
    """Built GRZ (footprints inside / area) and the highest building against the area's Festsetzungen."""
    from twin.planning.check import baurecht_check

    for layer in (layer_id, buildings):
        catalog.get(layer)  # 404 for an unknown layer
        if not features.has_features(layer):
            raise NotFoundError(f"layer '{layer}' has no features")
    return baurecht_check(features.table(layer_id), feature, features.table(buildings), storey_height)
