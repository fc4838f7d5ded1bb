"""End-to-end tests of the viewer in headless Debian Chromium (SwiftShader), against a real uvicorn server.

The data dir holds two layers: the Cesium sample (3D Tiles 1.1, metadata on tileset/tile/group/content) and a
small tileset made here whose GLB carries per-feature EXT_mesh_features + EXT_structural_metadata with the
attribute names twin's ingest writes, one value being an HTML injection attempt that must show as text.
Screenshots go to test-artifacts/ (look at them).
"""

from __future__ import annotations

import json
import struct
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import uvicorn
from browser import CHROMIUM, CHROMIUM_FLAGS, ViewerPage, free_port
from test_api import MARKTPLATZ, SAMPLE, enu_to_ecef, publish_sample

from twin.api import create_app
from twin.catalog import Catalog, LayerRecord
from twin.settings import Settings

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[1]
CESIUM = ROOT / "web/node_modules/cesium/Build/Cesium"
ARTIFACTS = ROOT / "test-artifacts"
XSS = '<img src=x onerror="window.__xss = 1">'

if not CHROMIUM.exists():
    pytest.skip(
        f"browser tests need Debian's Chromium at {CHROMIUM} (apt-get install chromium)",
        allow_module_level=True,
    )
if not CESIUM.is_dir():
    pytest.skip(f"browser tests need Cesium's build at {CESIUM} (npm ci in web/)", allow_module_level=True)
if not SAMPLE.is_dir():
    pytest.skip(
        f"the Cesium sample tileset is not available at {SAMPLE} (../shared missing)", allow_module_level=True
    )

playwright_sync = pytest.importorskip("playwright.sync_api", reason="playwright (python) is not installed")

# Two buildings in metres east/north of the Marktplatz: (east, north, width, depth, height).
BUILDINGS = [(33.0, 0.0, 9.0, 12.0, 14.0), (46.0, 0.0, 8.0, 8.0, 22.0)]
PROPERTIES: list[dict[str, Any]] = [
    {"source_id": "DESTLIKA0000001", "hoehe": 14.0, "geschosse": 4, "gebaeudefunktion": "31001_1000",
     "adresse": "Marktplatz 1", "baujahr": 1905},
    {"source_id": "DESTLIKA0000002", "hoehe": 22.0, "geschosse": 7, "gebaeudefunktion": "31001_2000",
     "adresse": XSS, "baujahr": 1995},
]  # fmt: skip


def _box(
    east: float, north: float, width: float, depth: float, height: float
) -> tuple[np.ndarray, np.ndarray]:
    """24 glTF (y-up) positions and normals of an axis-aligned box standing on the ground, 4 per face."""
    x0, x1 = east - width / 2, east + width / 2
    n0, n1 = north - depth / 2, north + depth / 2
    # Each face: its outward normal (east, north, up) and its corners (east, north, up), counter-clockwise outside.
    faces: list[tuple[tuple[float, float, float], list[tuple[float, float, float]]]] = [
        ((1, 0, 0), [(x1, n0, 0), (x1, n1, 0), (x1, n1, height), (x1, n0, height)]),
        ((-1, 0, 0), [(x0, n1, 0), (x0, n0, 0), (x0, n0, height), (x0, n1, height)]),
        ((0, 1, 0), [(x1, n1, 0), (x0, n1, 0), (x0, n1, height), (x1, n1, height)]),
        ((0, -1, 0), [(x0, n0, 0), (x1, n0, 0), (x1, n0, height), (x0, n0, height)]),
        ((0, 0, 1), [(x0, n0, height), (x1, n0, height), (x1, n1, height), (x0, n1, height)]),
        ((0, 0, -1), [(x0, n1, 0), (x1, n1, 0), (x1, n0, 0), (x0, n0, 0)]),
    ]
    enu = np.array([corner for _, corners in faces for corner in corners], dtype=np.float32)
    normals = np.array([normal for normal, corners in faces for _ in corners], dtype=np.float32)
    # glTF is y-up: x = east, y = up, z = -north.
    to_gltf = np.array([[1, 0, 0], [0, 0, -1], [0, 1, 0]], dtype=np.float32)
    return enu @ to_gltf, normals @ to_gltf


def building_glb() -> bytes:
    """A GLB with the BUILDINGS as two features (EXT_mesh_features) and PROPERTIES (EXT_structural_metadata)."""
    positions, normals, feature_ids, indices = [], [], [], []
    for index, box in enumerate(BUILDINGS):
        p, n = _box(*box)
        base = index * 24
        positions.append(p)
        normals.append(n)
        feature_ids.append(np.full(24, index, dtype=np.float32))
        for face in range(6):  # counter-clockwise seen from outside
            a = base + 4 * face
            indices += [a, a + 1, a + 2, a, a + 2, a + 3]
    chunks: list[bytes] = []
    views: list[dict[str, Any]] = []

    def add_view(data: bytes, target: int | None = None) -> int:
        offset = sum(len(chunk) for chunk in chunks)
        chunks.append(data + b"\x00" * (-len(data) % 8))  # metadata views must start 8-byte aligned
        view: dict[str, Any] = {"buffer": 0, "byteOffset": offset, "byteLength": len(data)}
        if target:
            view["target"] = target
        views.append(view)
        return len(views) - 1

    position = np.concatenate(positions)
    pos_view = add_view(position.tobytes(), 34962)
    nor_view = add_view(np.concatenate(normals).tobytes(), 34962)
    fid_view = add_view(np.concatenate(feature_ids).tobytes(), 34962)
    idx_view = add_view(np.array(indices, dtype=np.uint16).tobytes(), 34963)
    count = len(position)

    def strings(values: list[str]) -> dict[str, int]:
        encoded = [value.encode() for value in values]
        offsets = np.cumsum([0] + [len(item) for item in encoded]).astype(np.uint32)
        return {"values": add_view(b"".join(encoded)), "stringOffsets": add_view(offsets.tobytes())}

    table = {
        "source_id": strings([p["source_id"] for p in PROPERTIES]),
        "adresse": strings([p["adresse"] for p in PROPERTIES]),
        "gebaeudefunktion": strings([p["gebaeudefunktion"] for p in PROPERTIES]),
        "hoehe": {"values": add_view(np.array([p["hoehe"] for p in PROPERTIES], np.float32).tobytes())},
        "geschosse": {"values": add_view(np.array([p["geschosse"] for p in PROPERTIES], np.uint8).tobytes())},
        "baujahr": {"values": add_view(np.array([p["baujahr"] for p in PROPERTIES], np.uint16).tobytes())},
    }
    gltf = {
        "asset": {"version": "2.0", "generator": "twin tests"},
        "extensionsUsed": ["EXT_mesh_features", "EXT_structural_metadata"],
        "scene": 0,
        "scenes": [{"nodes": [0]}],
        "nodes": [{"mesh": 0}],
        "materials": [
            {"pbrMetallicRoughness": {"baseColorFactor": [0.85, 0.82, 0.78, 1], "metallicFactor": 0}}
        ],
        "meshes": [
            {
                "primitives": [
                    {
                        "attributes": {"POSITION": 0, "NORMAL": 1, "_FEATURE_ID_0": 2},
                        "indices": 3,
                        "material": 0,
                        "extensions": {
                            "EXT_mesh_features": {
                                "featureIds": [
                                    {"featureCount": len(BUILDINGS), "attribute": 0, "propertyTable": 0}
                                ]
                            }
                        },
                    }
                ]
            }
        ],
        "accessors": [
            {
                "bufferView": pos_view,
                "componentType": 5126,
                "count": count,
                "type": "VEC3",
                "min": position.min(axis=0).tolist(),
                "max": position.max(axis=0).tolist(),
            },
            {"bufferView": nor_view, "componentType": 5126, "count": count, "type": "VEC3"},
            {"bufferView": fid_view, "componentType": 5126, "count": count, "type": "SCALAR"},
            {"bufferView": idx_view, "componentType": 5123, "count": len(indices), "type": "SCALAR"},
        ],
        "bufferViews": views,
        "extensions": {
            "EXT_structural_metadata": {
                "schema": {
                    "id": "twin_test",
                    "classes": {
                        "building": {
                            "properties": {
                                "source_id": {"type": "STRING"},
                                "adresse": {"type": "STRING"},
                                "gebaeudefunktion": {"type": "STRING"},
                                "hoehe": {"type": "SCALAR", "componentType": "FLOAT32"},
                                "geschosse": {"type": "SCALAR", "componentType": "UINT8"},
                                "baujahr": {"type": "SCALAR", "componentType": "UINT16"},
                            }
                        }
                    },
                },
                "propertyTables": [{"class": "building", "count": len(BUILDINGS), "properties": table}],
            }
        },
    }
    binary = b"".join(chunks)
    gltf["buffers"] = [{"byteLength": len(binary)}]
    text = json.dumps(gltf, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 4)
    total = 12 + 8 + len(text) + 8 + len(binary)
    return (
        struct.pack("<4sII", b"glTF", 2, total)
        + struct.pack("<I4s", len(text), b"JSON")
        + text
        + struct.pack("<I4s", len(binary), b"BIN\x00")
        + binary
    )


def publish_buildings(data_dir: Path) -> None:
    """Publish the two test buildings as layer 'gebaeude' (layers/<id> -> versions/<id>/<stamp>)."""
    version = data_dir / "versions" / "gebaeude" / "1"
    (version / "content").mkdir(parents=True)
    (version / "content" / "0.glb").write_bytes(building_glb())
    east = [b[0] - b[2] / 2 for b in BUILDINGS] + [b[0] + b[2] / 2 for b in BUILDINGS]
    north = [b[1] - b[3] / 2 for b in BUILDINGS] + [b[1] + b[3] / 2 for b in BUILDINGS]
    top = max(b[4] for b in BUILDINGS)
    centre = [(min(east) + max(east)) / 2, (min(north) + max(north)) / 2, top / 2]
    half = [(max(east) - min(east)) / 2, (max(north) - min(north)) / 2, top / 2]
    tileset = {
        "asset": {"version": "1.1"},
        "geometricError": 100,
        "root": {
            "transform": enu_to_ecef(*MARKTPLATZ),
            "boundingVolume": {"box": [*centre, half[0], 0, 0, 0, half[1], 0, 0, 0, half[2]]},
            "geometricError": 0,
            "refine": "ADD",
            "content": {"uri": "content/0.glb"},
        },
    }
    (version / "tileset.json").write_text(json.dumps(tileset))
    (data_dir / "layers" / "gebaeude").symlink_to(version, target_is_directory=True)
    Catalog(Settings(data_dir=data_dir).catalog_url).upsert(
        LayerRecord(id="gebaeude", title="Testgebäude", kind="3dtiles", group="Gebäude", feature_count=2)
    )


PROFILE = """
[city]
name = "Teststadt"
subtitle = { de = "Prüfumgebung", en = "Test bench" }
[camera]
longitude = 11.9699
latitude = 51.4823
heading = 0.0
pitch = -35.0
range = 120.0
[[groups]]
id = "Gebäude"
title = { de = "Gebäude", en = "Buildings" }
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A uvicorn server in a thread on a free port, serving a data dir with both test layers; yields its URL."""
    base = tmp_path_factory.mktemp("viewer")
    data_dir = base / "data"
    publish_sample(data_dir)
    publish_buildings(data_dir)
    profile = base / "city.toml"
    profile.write_text(PROFILE)
    port = free_port()
    app = create_app(Settings(data_dir=data_dir, profile=profile))
    uv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=uv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not uv.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    uv.should_exit = True
    thread.join(timeout=10)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Debian's Chromium, headless, with software WebGL."""
    with playwright_sync.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_FLAGS, headless=True
        )
        yield chromium
        chromium.close()


class Page(ViewerPage):
    """A loaded viewer page and everything it logged."""

    def screenshot(self, name: str) -> None:
        """Save a screenshot to test-artifacts/<name>.png."""
        ARTIFACTS.mkdir(exist_ok=True)
        self.page.screenshot(path=str(ARTIFACTS / f"{name}.png"))

    def screen_position(self, layer: str, east: float, north: float, up: float) -> tuple[float, float]:
        """Page coordinates (CSS px) of a point given in metres ENU of the layer's root frame."""
        position: dict[str, float] = self.page.evaluate(
            """async ([layer, east, north, up]) => {
                const Cesium = await import("/cesium/index.js");
                const { viewer, tilesets } = window.twin;
                const local = new Cesium.Cartesian3(east, north, up);
                const world = Cesium.Matrix4.multiplyByPoint(
                    tilesets[layer].root.computedTransform, local, new Cesium.Cartesian3());
                const win = Cesium.SceneTransforms.worldToWindowCoordinates(viewer.scene, world);
                const rect = viewer.scene.canvas.getBoundingClientRect();
                return { x: rect.left + win.x, y: rect.top + win.y };
            }""",
            [layer, east, north, up],
        )
        return position["x"], position["y"]


@pytest.fixture(scope="module")
def viewer(server: str, browser: Any) -> Iterator[Page]:
    """The viewer opened on the test server, once its flight ended and its tiles loaded."""
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = Page(context.new_page())
    started = time.monotonic()
    page.page.goto(server + "/")
    page.page.evaluate("() => window.twin.ready.then(() => true)")
    print(f"viewer ready after {time.monotonic() - started:.1f} s")
    yield page
    context.close()


def test_viewer_loads_without_errors(viewer: Page) -> None:
    page = viewer.page
    # Cesium may start another request after `ready` (a render after the last tile arrived): wait for the
    # view's tiles once more, as the viewer's own hook does, then read the flags.
    loaded = page.evaluate(
        """async () => { await window.twin.tilesLoaded();
            return Object.fromEntries(Object.entries(window.twin.tilesets).map(([id, t]) => [id, t.tilesLoaded])); }"""
    )
    assert loaded == {"sample": True, "gebaeude": True}
    assert page.evaluate("() => window.twin.viewer.scene.requestRenderMode") is True
    assert page.title().startswith("Teststadt")
    assert page.inner_text("#layer-tree summary") == "Gebäude"
    assert page.inner_text("#layer-tree").split("\n")[1:] == ["Testgebäude", "Beispielgebäude"]
    assert page.locator("#layer-tree input[type=checkbox]").count() == 2
    viewer.screenshot("viewer-loaded")
    assert viewer.errors == []


def test_language_switch_changes_labels(viewer: Page) -> None:
    page = viewer.page
    assert page.inner_text("#layer-panel h2") == "Ebenen"
    page.click(".lang-button[data-lang=en]")
    assert page.inner_text("#layer-panel h2") == "Layers"
    assert page.inner_text(".basemap-choice span") == "Base map"
    assert "Buildings" in page.inner_text("#layer-tree")
    assert page.inner_text("#city-subtitle") == "Test bench"
    assert page.get_attribute("html", "lang") == "en"
    assert page.get_attribute(".lang-button[data-lang=en]", "aria-pressed") == "true"
    viewer.screenshot("viewer-english")
    page.click(".lang-button[data-lang=de]")
    assert page.inner_text("#layer-panel h2") == "Ebenen"
    assert viewer.errors == []


def test_click_building_shows_its_attributes(viewer: Page) -> None:
    page = viewer.page
    east, north, _, _, height = BUILDINGS[0]
    x, y = viewer.screen_position("gebaeude", east, north, height * 0.6)
    page.mouse.click(x, y)
    page.wait_for_selector("#feature-panel:not([hidden])", timeout=10_000)
    values = viewer.attributes()
    assert values["source_id"] == "DESTLIKA0000001"
    assert values["adresse"] == "Marktplatz 1"
    assert values["hoehe"] == "14 m"
    assert values["geschosse"] == "4"
    assert values["baujahr"] == "1905"
    assert values["gebaeudefunktion"] == "Wohngebäude (31001_1000)"
    labels = viewer.labels()
    assert labels["hoehe"] == "Gebäudehöhe"
    assert labels["geschosse"] == "Geschosse"
    assert labels["gebaeudefunktion"] == "Gebäudefunktion"
    assert page.inner_text("#feature-layer") == "Ebene: Testgebäude"
    viewer.screenshot("viewer-picked-building")
    assert viewer.errors == []


def test_attribute_values_are_text_never_html(viewer: Page) -> None:
    page = viewer.page
    east, north, _, _, height = BUILDINGS[1]
    x, y = viewer.screen_position("gebaeude", east, north, height * 0.6)
    page.mouse.click(x, y)
    page.wait_for_function(
        "() => document.querySelector('#feature-body tr[data-attribute=source_id] td')?.textContent"
        " === 'DESTLIKA0000002'",
        timeout=10_000,
    )
    assert viewer.attributes()["adresse"] == XSS
    assert page.locator("#feature-panel img").count() == 0
    assert page.evaluate("() => window.__xss") is None
    assert viewer.labels()["baujahr"] == "Baujahr"
    page.click(".lang-button[data-lang=en]")
    assert viewer.labels()["baujahr"] == "Year of construction"
    assert viewer.attributes()["gebaeudefunktion"] == "Commercial or industrial building (31001_2000)"
    page.click(".lang-button[data-lang=de]")
    page.click("#feature-close")
    assert page.is_hidden("#feature-panel")


def test_click_sample_house_shows_content_metadata(viewer: Page) -> None:
    page = viewer.page
    # house-3-0.glb stands at (-10, 10) m ENU in the sample's tile "Callowhill" and is 7.7 m high.
    x, y = viewer.screen_position("sample", -10.0, 10.0, 4.0)
    page.mouse.click(x, y)
    page.wait_for_function(
        "() => document.querySelector('#feature-body tr[data-attribute=district] td')?.textContent"
        " === 'Callowhill'",
        timeout=10_000,
    )
    values = viewer.attributes()
    assert values["vertices"] == "1032"
    assert values["author"] == "Cesium"
    viewer.screenshot("viewer-picked-sample")
    assert viewer.errors == []


def test_layer_toggle_hides_the_tileset(viewer: Page) -> None:
    page = viewer.page
    checkbox = page.locator("#layer-tree input[data-layer=gebaeude]")
    checkbox.uncheck()
    assert page.evaluate("() => window.twin.tilesets.gebaeude.show") is False
    east, north, _, _, height = BUILDINGS[0]
    x, y = viewer.screen_position("gebaeude", east, north, height * 0.6)
    picked = page.evaluate(
        "([x, y]) => { const r = window.twin.viewer.scene.canvas.getBoundingClientRect();"
        " return Boolean(window.twin.viewer.scene.pick({x: x - r.left, y: y - r.top})); }",
        [x, y],
    )
    assert picked is False
    checkbox.check()
    assert page.evaluate("() => window.twin.tilesets.gebaeude.show") is True


def test_phone_sized_screen(server: str, viewer: Page) -> None:
    # A second tab of the same browser context: Cesium's build comes from the HTTP cache.
    page = Page(viewer.page.context.new_page())
    page.page.set_viewport_size({"width": 390, "height": 760})
    page.page.goto(server + "/?lang=en")
    page.page.evaluate("() => window.twin.ready.then(() => true)")
    assert page.page.is_hidden("#layer-panel"), "the layer panel starts folded away on a phone"
    page.page.click("#toggle-layers")
    assert page.page.is_visible("#layer-panel")
    assert page.page.inner_text("#layer-panel h2") == "Layers"
    page.screenshot("viewer-phone")
    assert page.errors == []
    page.page.close()


def test_server_copy_of_cesium_is_the_pinned_one() -> None:
    pinned = json.loads((ROOT / "web/package.json").read_text())["dependencies"]["cesium"]
    installed = json.loads((ROOT / "web/node_modules/cesium/package.json").read_text())["version"]
    assert installed == pinned
