"""The viewer as static files on another web host: index.html, web/ and Cesium served from one origin under a
sub-folder (/magdeburg/), its <meta name="twin-api"> naming a `twin serve` on another origin. The page must load
its configuration, base map and tiles from that API (cross-origin, CORS) without an error, and apply the theme
the configuration gives (or the default one) as CSS variables on <html>.
"""

from __future__ import annotations

import functools
import http.server
import re
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from browser import CHROMIUM, CHROMIUM_FLAGS, ViewerPage, serve_twin

from twin.pipeline import IngestOptions, ingest
from twin.settings import Settings

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[1]
WEB = ROOT / "web"
CESIUM = WEB / "node_modules" / "cesium" / "Build" / "Cesium"
FOLDER = "magdeburg"  # the static site's sub-folder: nothing may assume the viewer sits at /

if not CHROMIUM.exists():
    pytest.skip(f"browser tests need Debian's Chromium at {CHROMIUM} (apt-get install chromium)",
                allow_module_level=True)  # fmt: skip
if not CESIUM.is_dir():
    pytest.skip(f"browser tests need Cesium's build at {CESIUM} (npm ci in web/)", allow_module_level=True)
playwright_sync = pytest.importorskip("playwright.sync_api", reason="playwright (python) is not installed")


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    """A plain static web host (no CORS headers, no API)."""

    def log_message(self, format: str, *args: Any) -> None:
        return None


def static_site(root: Path, api: str) -> Path:
    """The viewer laid out as for any web host under root/FOLDER, its index.html pointing at `api`."""
    site = root / FOLDER
    (site / "web").mkdir(parents=True)
    index = (WEB / "index.html").read_text(encoding="utf-8")
    index, count = re.subn(
        r'<meta name="twin-api" content="[^"]*"', f'<meta name="twin-api" content="{api}"', index
    )
    assert count == 1, "index.html has no <meta name=twin-api>"
    (site / "index.html").write_text(index, encoding="utf-8")
    for folder in ("src", "css", "img"):
        if (WEB / folder).is_dir():
            (site / "web" / folder).symlink_to(WEB / folder, target_is_directory=True)
    (site / "cesium").symlink_to(CESIUM, target_is_directory=True)
    return site


@pytest.fixture(scope="module")
def hosts(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """(the static viewer's page URL, the API base URL): two origins."""
    base = tmp_path_factory.mktemp("static-viewer")
    data = base / "data"
    ingest([ROOT / "data" / "samples" / "halle-altstadt.gpkg"],
           IngestOptions("gebaeude", title="Gebäude", group="Gebäude"), Settings(data_dir=data))  # fmt: skip
    with serve_twin(data, ROOT / "profiles" / "halle" / "profile.toml") as api:
        static_site(base / "www", api + "/")
        handler = functools.partial(QuietHandler, directory=str(base / "www"))
        www = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        thread = threading.Thread(target=www.serve_forever, daemon=True)
        thread.start()
        try:
            yield f"http://127.0.0.1:{www.server_address[1]}/{FOLDER}/", api + "/"
        finally:
            www.shutdown()
            www.server_close()


@pytest.fixture(scope="module")
def viewer(hosts: tuple[str, str]) -> Iterator[tuple[ViewerPage, list[str]]]:
    """The static viewer, ready (flight ended, tiles loaded), and every URL it requested."""
    page_url, _ = hosts
    with playwright_sync.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_FLAGS)
        page = ViewerPage(browser.new_page(viewport={"width": 1024, "height": 640}))
        requests: list[str] = []
        page.page.on("request", lambda request: requests.append(request.url))
        page.page.goto(page_url)
        page.page.evaluate("() => window.twin.ready.then(() => true)")
        yield page, requests
        browser.close()


def test_static_viewer_loads_its_layers_from_the_api_on_another_origin(
    hosts: tuple[str, str], viewer: tuple[ViewerPage, list[str]]
) -> None:
    page_url, api = hosts
    page, requests = viewer
    state = page.page.evaluate(
        """async () => { await window.twin.tilesLoaded();
            const tilesets = Object.entries(window.twin.tilesets);
            return { apiBase: window.twin.apiBase, cesiumBase: window.CESIUM_BASE_URL, failed: window.twin.failed,
                     loaded: Object.fromEntries(tilesets.map(([id, t]) => [id, t.tilesLoaded])),
                     layerUrl: window.twin.tilesets.gebaeude?.resource?.url ?? null,
                     basemap: window.twin.config.basemaps.find((b) => b.default).url,
                     title: document.title }; }"""
    )  # fmt: skip
    assert state["apiBase"] == api
    assert state["cesiumBase"] == page_url + "cesium/"
    assert state["loaded"] == {"gebaeude": True}
    assert state["failed"] == []
    assert state["layerUrl"].startswith(api + "tiles/gebaeude/tileset.json")
    assert state["basemap"].startswith(api)  # "/cesium/..." or "cesium/...": the API's copy of Natural Earth
    assert state["title"].startswith("Halle (Saale)")
    assert page.errors == []
    # The API's answers came from the API's origin; the page's own files from its folder on the static host.
    assert api + "api/config" in requests
    assert any(url.startswith(api + "tiles/gebaeude/content/") and ".glb" in url for url in requests)
    static_origin = page_url.removesuffix(f"{FOLDER}/")
    strays = [url for url in requests if url.startswith(static_origin) and not url.startswith(page_url)]
    assert strays == [], "requests outside the viewer's folder"
    assert not [url for url in requests if url.startswith(page_url + "api/")]


def test_search_asks_the_api(hosts: tuple[str, str], viewer: tuple[ViewerPage, list[str]]) -> None:
    _, api = hosts
    page, requests = viewer
    hits = page.page.evaluate("() => window.twin.search.search('Mansfelder Straße 9')")
    assert hits, "no search hits"
    assert any(url.startswith(api + "api/search?") for url in requests)
    assert page.errors == []


def test_theme_is_applied_as_css_variables(viewer: tuple[ViewerPage, list[str]]) -> None:
    page, _ = viewer
    applied = page.page.evaluate(
        """() => { const style = document.documentElement.style;
            const names = ['--accent', '--accent-fg', '--accent-ink', '--highlight'];
            return { vars: Object.fromEntries(names.map((n) => [n, style.getPropertyValue(n)])),
                     theme: window.twin.config.theme ?? null, applied: window.twin.theme,
                     bar: getComputedStyle(document.querySelector('.topbar')).color }; }"""
    )  # fmt: skip
    primary = (applied["theme"] or {}).get("primary", "#00598a").lower()
    highlight = (applied["theme"] or {}).get("highlight", "#ffcc00").lower()
    assert applied["vars"]["--accent"] == primary
    assert applied["vars"]["--highlight"] == highlight
    assert applied["vars"]["--accent-fg"] in ("#ffffff", "#1d232b")
    assert applied["applied"]["highlight"] == highlight
    assert applied["bar"] in ("rgb(255, 255, 255)", "rgb(29, 35, 43)")


def test_url_and_contrast_helpers(viewer: tuple[ViewerPage, list[str]]) -> None:
    """The API base from the meta element, config URLs resolved against it, the bar's text colour."""
    page, _ = viewer
    result = page.page.evaluate(
        """async () => {
            const api = await import(new URL('web/src/api.js', document.baseURI).href);
            const theme = await import(new URL('web/src/theme.js', document.baseURI).href);
            const page = 'https://www.example.org/stadt/index.html?lang=en#cam=1';
            return {
                empty: api.apiBaseFrom('', page), missing: api.apiBaseFrom(null, page),
                relative: api.apiBaseFrom('../twin/magdeburg', page),
                absolute: api.apiBaseFrom('https://twin.example.org/magdeburg', page),
                resolved: [
                    'tiles/gebaeude/tileset.json?v=2', '/tiles/gebaeude/tileset.json', 'ogc/collections/x/items',
                    'https://tiles.example.org/{z}/{x}/{y}.png', 'osm/{z}/{x}/{y}.png', null,
                ].map(api.resolveUrl),
                base: api.apiBase,
                text: ['#00598a', '#ffcc00', '#9b1b30', '#ffffff', '#000000'].map(theme.readableText),
                invalid: theme.resolveTheme({ primary: 'red', highlight: null }),
            };
        }"""
    )  # fmt: skip
    base = result["base"]
    assert result["empty"] == result["missing"] == "https://www.example.org/stadt/"
    assert result["relative"] == "https://www.example.org/twin/magdeburg/"
    assert result["absolute"] == "https://twin.example.org/magdeburg/"
    origin = base[: base.index("/", len("http://"))]
    assert result["resolved"] == [
        base + "tiles/gebaeude/tileset.json?v=2",
        origin + "/tiles/gebaeude/tileset.json",
        base + "ogc/collections/x/items",
        "https://tiles.example.org/{z}/{x}/{y}.png",
        base + "osm/{z}/{x}/{y}.png",
        None,
    ]
    assert result["text"] == ["#ffffff", "#1d232b", "#ffffff", "#1d232b", "#ffffff"]
    assert result["invalid"]["primary"] == "#00598a" and result["invalid"]["highlight"] == "#ffcc00"
