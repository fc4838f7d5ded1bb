"""GET /api/health: is the service up, and can it reach its catalog?"""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter
from pydantic import BaseModel

import twin
from twin.api.deps import CatalogDep

router = APIRouter(prefix="/api", tags=["service"])


class Health(BaseModel):
    """The service's state."""

    status: Literal["ok"]
    version: str
    layers: int


@router.get("/health", summary="Service health", response_model=Health)
def health(catalog: CatalogDep) -> Health:
    """``ok`` with the version and the number of catalogued layers (reading the catalog proves it works)."""
    return Health(status="ok", version=twin.__version__, layers=len(catalog.list()))
