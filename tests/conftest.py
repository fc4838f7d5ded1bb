"""Shared fixtures: paths to real third-party data, settings with a temporary data dir."""

from __future__ import annotations

from pathlib import Path

import pytest

from twin.settings import Settings

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"
GRID_DIR = SHARED_DATA / "grids"
BRITTANY = SHARED_DATA / "footprints" / "osm-brittany" / "BUILDING.geojson"


def shared(relative: str) -> Path:
    """A file under ../shared/data, or skip the test with the reason."""
    path = SHARED_DATA / relative
    if not path.exists():
        pytest.skip(f"real third-party data not available: {path} (../shared is absent)")
    return path


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Settings with a fresh data dir (SQLite catalog inside it) and the shared geoid grid folder."""
    return Settings(data_dir=tmp_path / "data", grid_dirs=[GRID_DIR] if GRID_DIR.is_dir() else [])
