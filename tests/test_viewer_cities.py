"""Reuse end to end in Chromium: a new city made with `twin init` from its own footprints, built, served beside
the sample city by one `twin serve`; each viewer shows its own city's name, colours and layers, not the other's."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from browser import CHROMIUM, CHROMIUM_FLAGS, ViewerPage, serving
from conftest import BRITTANY, shared

REPO = Path(__file__).resolve().parents[1]
ARTIFACTS = REPO / "test-artifacts"
NEW_CITY = "neustadt"
PRIMARY = "#8a1538"

pytestmark = pytest.mark.browser


def _twin(*args: str) -> subprocess.CompletedProcess[str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("TWIN_")}
    run = subprocess.run([sys.executable, "-m", "twin.cli", *args], capture_output=True, text=True, env=env)
    assert run.returncode == 0, run.stderr
    return run


@pytest.fixture(scope="module")
def two_cities(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`twin init` + `twin build` for a new city (real OSM footprints) and the sample city; one server for both."""
    if not CHROMIUM.exists():
        pytest.skip("Debian's chromium is not installed (./run test installs it)")
    if not (REPO / "web" / "node_modules" / "cesium" / "Build" / "Cesium").is_dir():
        pytest.skip("CesiumJS is not installed in web/node_modules (./run test runs npm ci)")
    footprints = shared(str(BRITTANY.relative_to(BRITTANY.parents[2])))
    cities = tmp_path_factory.mktemp("cities")
    new = cities / NEW_CITY
    _twin("init", str(new), "--name", "Neustadt (Testkommune)", "--primary", PRIMARY, "--source", str(footprints),
          "--attribution", "© OpenStreetMap contributors", "--licence", "ODbL-1.0")  # fmt: skip
    profile = new / "profile.toml"
    text = profile.read_text(encoding="utf-8")
    text = text.replace(
        'title = { de = "Gebäude", en = "Buildings" }\nsource',
        'title = { de = "Häuser Neustadt", en = "Neustadt houses" }\nsource',
        1,
    )
    profile.write_text(text, encoding="utf-8")
    _twin("profile", "check", str(new))
    _twin("build", str(new))
    _twin(
        "init",
        str(cities / "halle"),
        "--name",
        "Halle (Saale)",
        "--source",
        str(REPO / "data/samples/halle-altstadt.gpkg"),
    )
    _twin("build", str(cities / "halle"))

    with serving(["--workers", "1", "--cities", str(cities)]) as base:
        yield base


def _open(browser: object, url: str) -> ViewerPage:
    page = browser.new_page(viewport={"width": 1280, "height": 800})  # type: ignore[attr-defined]
    viewer = ViewerPage(page)
    page.goto(url)
    page.wait_for_function("() => window.twin && window.twin.ready", timeout=60_000)
    page.evaluate("async () => { await window.twin.ready; await window.twin.tilesLoaded(); }")
    return viewer


LAYER_NAMES = "() => [...document.querySelectorAll('#layer-tree .layer-name')].map((e) => e.textContent)"


def test_each_city_viewer_shows_its_own_city(two_cities: str) -> None:
    from playwright.sync_api import sync_playwright

    base = two_cities
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_FLAGS)
        index = browser.new_page()
        index.goto(base + "/")
        links = index.eval_on_selector_all(
            "#cities a", "(links) => links.map((a) => [a.textContent, a.href])"
        )
        assert links == [
            ["Halle (Saale)", f"{base}/halle/"],
            ["Neustadt (Testkommune)", f"{base}/{NEW_CITY}/"],
        ]

        viewer = _open(browser, f"{base}/{NEW_CITY}")  # without the slash: redirected to the city's folder
        page = viewer.page
        assert page.url == f"{base}/{NEW_CITY}/"
        assert page.text_content("#city-name") == "Neustadt (Testkommune)"
        assert page.title().startswith("Neustadt (Testkommune)")
        bar = page.evaluate("() => getComputedStyle(document.querySelector('.topbar')).backgroundColor")
        assert bar == "rgb(138, 21, 56)", f"the top bar is not the city's colour {PRIMARY}"
        assert page.evaluate(LAYER_NAMES) == ["Häuser Neustadt"]
        assert page.evaluate("() => Object.keys(window.twin.tilesets)") == ["gebaeude"]
        assert page.evaluate("() => window.twin.tilesets.gebaeude.tilesLoaded") is True
        requested = page.evaluate(
            "() => performance.getEntriesByType('resource').map((entry) => new URL(entry.name).pathname)"
        )
        assert any(path.startswith(f"/{NEW_CITY}/tiles/gebaeude/") for path in requested)
        assert not any(path.startswith(("/halle/", "/tiles/", "/api/")) for path in requested), (
            "left its city"
        )
        page.screenshot(path=str(ARTIFACTS / "viewer-city-neustadt.png"))
        assert not viewer.errors, viewer.errors

        halle = _open(browser, f"{base}/halle/")
        assert halle.page.text_content("#city-name") == "Halle (Saale)"
        assert halle.page.evaluate(LAYER_NAMES) == ["Gebäude"]
        bar = halle.page.evaluate("() => getComputedStyle(document.querySelector('.topbar')).backgroundColor")
        assert bar == "rgb(0, 89, 138)", "the default colour"
        halle.page.screenshot(path=str(ARTIFACTS / "viewer-city-halle.png"))
        assert not halle.errors, halle.errors
        browser.close()
