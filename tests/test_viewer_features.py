"""End-to-end tests of the viewer's planner tools on the sample city (Halle Altstadt, ingested here):
style by attribute with a legend, search and fly-to, measuring, sun and shadow, a planning layer draped on the
ground with safe metadata, the share link and the PNG picture. One server and one browser for the module.
Screenshots go to test-artifacts/ (look at them).
"""

from __future__ import annotations

import http.server
import json
import threading
import time
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pytest
import shapely
import uvicorn
from browser import free_port
from pyproj import Geod
from test_viewer import Page
from test_viewer import browser as browser  # the shared module fixture, re-exported for pytest

from twin.api import create_app
from twin.catalog import Catalog, LayerRecord
from twin.pipeline import IngestOptions, ingest
from twin.settings import Settings

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[1]
SAMPLE_CITY = ROOT / "data" / "samples" / "halle-altstadt.gpkg"
PROFILE = ROOT / "profiles" / "halle" / "profile.toml"
BUILDING = "DESTLIB3SJMU2KZF"  # Mansfelder Straße 9, 63.2 m, a 24 m x 21 m footprint
XSS = '<img src=x onerror="window.__xss = 1">'
PLANS: dict[str, Any] = {
    "type": "FeatureCollection",
    "features": [
        {
            "type": "Feature",
            "properties": {"name": "B-Plan 1 Marktplatz", "planart": "1000", "rechtsstand": "4000",
                           "inkrafttretensdatum": "2019-05-01", "amt": XSS,
                           "dokument": "https://example.org/bplan-1.pdf", "skript": "javascript:alert(1)"},
            "geometry": {"type": "Polygon", "coordinates": [[[11.9660, 51.4815], [11.9690, 51.4815],
                                                             [11.9690, 51.4830], [11.9660, 51.4830],
                                                             [11.9660, 51.4815]]]},
        },
        {
            "type": "Feature",
            "properties": {"name": "VEP 2", "planart": "3000", "rechtsstand": "2000"},
            "geometry": {"type": "Polygon", "coordinates": [[[11.9700, 51.4815], [11.9725, 51.4815],
                                                             [11.9725, 51.4828], [11.9700, 51.4828],
                                                             [11.9700, 51.4815]]]},
        },
    ],
}  # fmt: skip


class PlansHandler(http.server.BaseHTTPRequestHandler):
    """Serves PLANS as GeoJSON from another origin (with CORS), like an external planning service."""

    def do_GET(self) -> None:
        body = json.dumps(PLANS).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/geo+json")
        self.send_header("Access-Control-Allow-Origin", "*")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        return None


@pytest.fixture(scope="module")
def city(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """The sample city ingested into a fresh data dir plus a planning layer, served by uvicorn in a thread."""
    data_dir = tmp_path_factory.mktemp("city") / "data"
    settings = Settings(data_dir=data_dir, profile=PROFILE)
    ingest([SAMPLE_CITY], IngestOptions("gebaeude", title="Gebäude", group="Gebäude"), settings)
    plans = http.server.ThreadingHTTPServer(("127.0.0.1", 0), PlansHandler)
    threading.Thread(target=plans.serve_forever, daemon=True).start()
    Catalog(settings.catalog_url).upsert(
        LayerRecord(id="bplaene", title="Bebauungspläne", kind="features", group="Planung",
                    url=f"http://127.0.0.1:{plans.server_address[1]}/plans.geojson", opacity=0.6)
    )  # fmt: skip
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}", data_dir
    server.should_exit = True
    thread.join(timeout=10)
    plans.shutdown()


@pytest.fixture(scope="module")
def viewer(city: tuple[str, Path], browser: Any) -> Iterator[Page]:
    """The viewer on the sample city, ready (flight ended, tiles loaded)."""
    # A smaller window than test_viewer's: every frame and screenshot is drawn in software.
    context = browser.new_context(viewport={"width": 1024, "height": 640}, accept_downloads=True)
    page = Page(context.new_page())
    page.page.goto(city[0] + "/")
    page.page.evaluate("() => window.twin.ready.then(() => true)")
    yield page
    context.close()


def wait_render(page: Any) -> None:
    """Request a frame and wait until it was drawn (styles apply during the frame's update)."""
    page.evaluate(
        """() => new Promise((resolve) => {
            const scene = window.twin.viewer.scene;
            const remove = scene.postRender.addEventListener(() => { remove(); resolve(); });
            scene.requestRender();
        })"""
    )


FEATURE_COLOR = """([id]) => {
    const tileset = window.twin.tilesets.gebaeude;
    const stack = [tileset.root];
    while (stack.length) {
        const tile = stack.pop();
        const content = tile.contentReady ? tile.content : null;
        for (let i = 0; i < (content?.featuresLength ?? 0); i += 1) {
            const feature = content.getFeature(i);
            if (String(feature.getProperty("source_id")) === id) { return feature.color.toCssHexString(); }
        }
        stack.push(...tile.children);
    }
    return null;
}"""


LOADED_WITH = """([name, value]) => {
    const stack = [window.twin.tilesets.gebaeude.root];
    while (stack.length) {
        const tile = stack.pop();
        const content = tile.contentReady ? tile.content : null;
        for (let i = 0; i < (content?.featuresLength ?? 0); i += 1) {
            const feature = content.getFeature(i);
            if (Number(feature.getProperty(name)) === value) { return String(feature.getProperty("source_id")); }
        }
        stack.push(...tile.children);
    }
    return null;
}"""


def building_ids(data_dir: Path) -> gpd.GeoDataFrame:
    """The sample city's footprints with their attributes."""
    return gpd.read_parquet(data_dir / "layers" / "gebaeude" / "features.parquet")


def test_loads_with_planning_layer(viewer: Page) -> None:
    page = viewer.page
    assert page.evaluate("() => window.twin.tilesets.gebaeude.tilesLoaded") is True
    assert page.evaluate("() => window.twin.planning.bplaene.dataSource.entities.values.length") == 2
    legend = page.inner_text("li[data-layer=bplaene] .legend")
    assert "Bebauungsplan" in legend and "Vorhabenbezogener Bebauungsplan" in legend
    # Every control has a name: no unlabelled buttons, selects or inputs.
    unnamed = page.evaluate(
        """() => [...document.querySelectorAll('button, select, input')].filter((el) => {
            if (el.closest('[hidden]')) return false;
            const label = el.getAttribute('aria-label') || el.textContent.trim() || el.labels?.[0]?.textContent;
            return !label; }).map((el) => el.outerHTML)"""
    )
    assert unnamed == []
    assert viewer.errors == []


def test_style_by_attribute_colours_buildings_and_shows_legend(viewer: Page, city: tuple[str, Path]) -> None:
    page = viewer.page
    residential = page.evaluate(LOADED_WITH, ["gebaeudefunktion", 1010])
    assert residential is not None, "no loaded residential building"
    page.select_option("#style-select", "gebaeude:gebaeudefunktion")
    wait_render(page)
    # Wohnhaus (1010) is the most frequent function: the first colour of the palette.
    assert page.evaluate(FEATURE_COLOR, [residential]) == "#0072b2"
    legend = page.inner_text("#style-legend")
    assert "Wohnhaus (1010)" in legend and "Sonstige" in legend
    viewer.screenshot("features-style-function")
    page.click(".lang-button[data-lang=en]")
    assert "House (1010)" in page.inner_text("#style-legend")
    assert page.inner_text("label[for=style-select]") == "Colour by"
    page.click(".lang-button[data-lang=de]")
    page.select_option("#style-select", "gebaeude:baujahr")
    wait_render(page)
    assert page.evaluate(FEATURE_COLOR, [residential]) != "#0072b2"
    assert page.locator("#style-legend li").count() == 6  # five classes and "keine Angabe"
    assert viewer.errors == []


def test_search_by_address_flies_there_and_selects(viewer: Page, city: tuple[str, Path]) -> None:
    page = viewer.page
    page.fill("#search-input", "mansfelder straße 9")
    page.wait_for_selector("#search-results li[role=option]", timeout=10_000)
    assert page.get_attribute("#search-input", "aria-expanded") == "true"
    page.keyboard.press("ArrowDown")
    assert page.get_attribute("#search-hit-0", "aria-selected") == "true"
    page.keyboard.press("Enter")
    page.wait_for_function(
        f"() => document.querySelector('#feature-body tr[data-attribute=source_id] td')?.textContent === '{BUILDING}'",
        timeout=30_000,
    )
    distance = page.evaluate(
        """async () => {
            const Cesium = await import('/cesium/index.js');
            const target = Cesium.Cartesian3.fromDegrees(11.9554436, 51.4767643, 30);
            return Cesium.Cartesian3.distance(window.twin.viewer.camera.positionWC, target);
        }"""
    )
    assert distance < 600
    wait_render(page)
    assert page.evaluate(FEATURE_COLOR, [BUILDING]) == "#ffcc00"  # highlighted through the style
    viewer.screenshot("features-search")
    assert viewer.errors == []


def test_measure_roof_diagonal(viewer: Page, city: tuple[str, Path]) -> None:
    page = viewer.page
    features = building_ids(city[1])
    building = features[features["source_id"] == BUILDING].iloc[0]
    ring = np.asarray(shapely.get_parts(building.geometry)[0].exterior.coords)[:4]
    centre = ring.mean(axis=0)
    # Two opposite roof corners, moved 1 m towards the centre so the click hits the roof.
    geod = Geod(ellps="WGS84")
    corners = []
    for corner in (ring[0], ring[2]):
        azimuth, _, _ = geod.inv(corner[0], corner[1], centre[0], centre[1])
        lon, lat, _ = geod.fwd(corner[0], corner[1], azimuth, 1.0)
        corners.append((lon, lat))
    expected = geod.inv(corners[0][0], corners[0][1], corners[1][0], corners[1][1])[2]
    roof = float(building["height"])
    # Look straight down from 150 m above the roof.
    page.evaluate(
        """async ([lon, lat, h]) => {
            const Cesium = await import('/cesium/index.js');
            window.twin.viewer.camera.setView({ destination: Cesium.Cartesian3.fromDegrees(lon, lat, h),
                orientation: { heading: 0, pitch: -Math.PI / 2, roll: 0 } });
        }""",
        [float(centre[0]), float(centre[1]), roof + 150],
    )
    page.evaluate("() => window.twin.tilesLoaded()")
    page.click("button[data-tool=measure]")
    assert page.is_visible("#measure-panel")
    for lon, lat in corners:
        x, y = page.evaluate(
            """async ([lon, lat, h]) => {
                const Cesium = await import('/cesium/index.js');
                const scene = window.twin.viewer.scene;
                const world = Cesium.Cartesian3.fromDegrees(lon, lat, h);
                const win = Cesium.SceneTransforms.worldToWindowCoordinates(scene, world);
                const rect = scene.canvas.getBoundingClientRect();
                return [rect.left + win.x, rect.top + win.y];
            }""",
            [lon, lat, roof],
        )
        page.mouse.click(x, y)
    result = page.evaluate("() => window.twin.measure.result()")
    assert result is not None, (page.inner_text("#measure-result"), x, y, viewer.errors)
    assert result["mode"] == "distance"
    assert result["value"] == pytest.approx(expected, rel=0.01)
    shown = page.inner_text("#measure-result")
    assert shown.startswith("Strecke: ") and shown.endswith(" m")
    assert page.is_hidden("#feature-panel") is False  # measuring clicks do not change the selection
    viewer.screenshot("features-measure")
    page.keyboard.press("Escape")
    assert page.evaluate("() => window.twin.measure.result()") is None
    page.click("#measure-panel .tool-close")
    assert page.is_hidden("#measure-panel")
    assert viewer.errors == []


def test_planning_metadata_is_safe_text_and_links(viewer: Page) -> None:
    page = viewer.page
    page.evaluate(
        """() => { const entity = window.twin.planning.bplaene.dataSource.entities.values[0];
                   window.twin.picking.select({ id: entity }); }"""
    )
    page.wait_for_selector("#feature-panel:not([hidden])")
    values = viewer.attributes()
    assert values["amt"] == XSS
    assert values["planart"] == "Bebauungsplan (1000)"
    assert values["rechtsstand"] == "In Kraft getreten (4000)"
    assert page.get_attribute("tr[data-attribute=dokument] a", "href") == "https://example.org/bplan-1.pdf"
    assert page.locator("tr[data-attribute=skript] a").count() == 0
    assert page.locator("#feature-panel img").count() == 0
    assert page.evaluate("() => window.__xss") is None
    page.click("#feature-close")


def test_sun_and_shadow(viewer: Page) -> None:
    page = viewer.page
    page.click("button[data-tool=sun]")
    page.fill("#sun-date", "2025-12-21")
    page.locator("#sun-time").fill("600")  # 10:00 local time
    page.check("#sun-shadows")
    state = page.evaluate("() => window.twin.sun.get()")
    assert state == {"time": "2025-12-21T09:00Z", "shadows": True}  # CET = UTC+1 in winter
    assert page.evaluate("() => window.twin.viewer.shadows") is True
    assert page.inner_text("#sun-time-value") == "10:00"
    page.fill("#sun-date", "2025-06-21")
    assert page.evaluate("() => window.twin.sun.get().time") == "2025-06-21T08:00Z"  # CEST = UTC+2
    wait_render(page)
    viewer.screenshot("features-shadows")
    page.click("button[data-tool=sun]")
    assert viewer.errors == []


def test_share_link_restores_the_view_also_on_a_phone(viewer: Page, city: tuple[str, Path]) -> None:
    page = viewer.page
    page.locator("li[data-layer=bplaene] input[type=checkbox]").uncheck()
    page.select_option("#style-select", "gebaeude:gebaeudefunktion")
    page.evaluate(
        "(id) => window.twin.search.search(id).then((hits) => window.twin.flyToHit(hits[0])).then(() => true)",
        BUILDING,
    )
    link = page.evaluate("() => window.twin.shareLink()")
    state = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(link).fragment))
    assert state["layers"] == "gebaeude" and state["sel"] == f"gebaeude/{BUILDING}"
    camera = page.evaluate("() => [window.twin.viewer.camera.positionWC, window.twin.viewer.camera.heading]")
    other = Page(page.context.new_page())
    other.page.goto(link)
    other.page.evaluate("() => window.twin.ready.then(() => true)")
    restored = other.page.evaluate(
        "() => [window.twin.viewer.camera.positionWC, window.twin.viewer.camera.heading]"
    )
    offset = np.linalg.norm([restored[0][k] - camera[0][k] for k in "xyz"])
    assert offset < 1.0
    turn = (restored[1] - camera[1] + np.pi) % (2 * np.pi) - np.pi  # headings 0 and 2π are the same
    assert abs(turn) < 1e-3
    assert other.page.evaluate("() => window.twin.planning.bplaene.dataSource.show") is False
    assert other.page.is_checked("li[data-layer=gebaeude] input[type=checkbox]")
    assert other.page.input_value("#style-select") == "gebaeude:gebaeudefunktion"
    assert other.page.inner_text("#feature-body tr[data-attribute=source_id] td") == BUILDING
    other.screenshot("features-share-restored")
    # The PNG picture of the restored view, and its download name.
    with other.page.expect_download() as download:
        other.page.click("#screenshot-button")
    assert download.value.suggested_filename.startswith("halle-saale-")
    png = Path(download.value.path()).read_bytes()
    assert png.startswith(b"\x89PNG") and len(png) > 10_000
    # The same page on a phone-sized screen: every control stays reachable, the keyboard starts at the top.
    other.page.set_viewport_size({"width": 390, "height": 844})
    other.page.click(".lang-button[data-lang=en]")
    for selector in ("#search-input", "button[data-tool=measure]", "#screenshot-button", "#toggle-layers",
                     ".lang-button[data-lang=de]"):  # fmt: skip
        box = other.page.locator(selector).bounding_box()
        assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 390, selector
    # Keyboard: from the first control, Tab reaches the search and every tool, each with a visible focus ring.
    other.page.focus("#toggle-layers")
    reached = []
    for _ in range(8):
        other.page.keyboard.press("Tab")
        reached.append(other.page.evaluate(
            "() => { const el = document.activeElement; const style = getComputedStyle(el);"
            " return [el.id || el.dataset.tool || el.dataset.lang || el.tagName, style.outlineStyle]; }"))  # fmt: skip
    names = [name for name, _ in reached]
    assert {"search-input", "measure", "sun", "share", "screenshot-button"} <= set(names), names
    assert all(outline == "solid" for _, outline in reached), reached
    other.page.click("button[data-tool=measure]")
    assert other.page.inner_text("#measure-title") == "Measure"
    other.screenshot("features-phone")
    assert other.errors == []
    other.page.close()
