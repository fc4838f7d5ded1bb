"""The real client judges our tiles: CesiumJS in headless Chromium draws the sample city and picking a
building returns its metadata (EXT_structural_metadata through EXT_meshopt_compression and quantization)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import shapely
from browser import CHROMIUM, CHROMIUM_FLAGS, serve_twin

from twin.pipeline import IngestOptions, ingest
from twin.settings import Settings

REPO = Path(__file__).resolve().parents[1]
ARTIFACTS = REPO / "test-artifacts"

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def served_sample(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    if not CHROMIUM.exists() or shutil.which("node") is None:
        pytest.skip("Debian's chromium is not installed (./run test installs it)")
    if not (REPO / "web" / "node_modules" / "cesium" / "Build" / "Cesium").is_dir():
        pytest.skip("CesiumJS is not installed in web/node_modules (./run test runs npm ci)")
    data = tmp_path_factory.mktemp("viewer-data")
    ingest([REPO / "data" / "samples" / "halle-altstadt.gpkg"],
           IngestOptions("gebaeude", title="Gebäude", group="Gebäude"), Settings(data_dir=data))  # fmt: skip
    with serve_twin(data, REPO / "profiles" / "halle" / "profile.toml") as base:
        yield base, data


def test_cesium_draws_and_picks_our_buildings(served_sample: tuple[str, Path]) -> None:
    from playwright.sync_api import sync_playwright

    base, data = served_sample
    features = gpd.read_parquet(data / "layers" / "gebaeude" / "features.parquet")
    # The tallest building near the initial view's target: its roof is visible and nothing hides it.
    target = shapely.Point(11.9695, 51.4823)
    near = features[shapely.distance(np.asarray(features.geometry.array), target) < 0.004]
    building = near.loc[near["height"].idxmax()]
    roof = shapely.get_coordinates(building.geometry.representative_point())[0]

    ARTIFACTS.mkdir(exist_ok=True)
    errors: list[str] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_FLAGS)
        page = browser.new_page(viewport={"width": 1280, "height": 800})
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.goto(base + "/")
        page.wait_for_function("() => window.twin && window.twin.ready", timeout=60_000)
        page.evaluate("async () => { await window.twin.ready; }")
        picked = page.evaluate(
            """async ([lon, lat, h]) => {
                const Cesium = await import('/cesium/index.js');
                const viewer = window.twin.viewer;
                const scene = viewer.scene;
                const position = Cesium.Cartesian3.fromDegrees(lon, lat, h);
                viewer.render();
                const xy = Cesium.SceneTransforms.worldToWindowCoordinates(scene, position);
                const feature = scene.pick(xy);
                if (!feature || !feature.getProperty) { return {xy: xy && [xy.x, xy.y], feature: null}; }
                const out = {xy: [xy.x, xy.y], feature: {}};
                for (const id of feature.getPropertyIds()) { out.feature[id] = String(feature.getProperty(id)); }
                return out;
            }""",
            [float(roof[0]), float(roof[1]), float(building["height"]) - 0.05],
        )
        page.screenshot(path=str(ARTIFACTS / "viewer-sample-city.png"))
        browser.close()
    assert not errors, errors
    assert picked["feature"] is not None, f"nothing picked at {picked['xy']}"
    properties = picked["feature"]
    assert properties["source_id"] == building["source_id"]
    assert float(properties["height"]) == pytest.approx(building["height"], abs=0.01)
    assert properties["gebaeudefunktion"] == str(building["gebaeudefunktion"])
    assert np.isfinite(float(properties["height"]))
