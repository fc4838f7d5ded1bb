"""The viewer on a real CityGML LoD2 layer (NRW, Kreis Wesel) in headless Debian Chromium (SwiftShader).

The four NRW tiles are ingested with the GCG2016 quasigeoid, served by `twin serve`, and the camera starts at
the farm 'Drögenbergshof' (Rosenallee 2, Wesel; 4 BuildingParts) 120 m away, 35° down. The roof point the
test picks comes from the GML itself (a RoofSurface of that building, NHN heights made ellipsoidal with the
grid through pyproj), placed where the viewer draws the layer (lowered by its ground_height). Screenshots go to
test-artifacts/ (look at them).
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import numpy.typing as npt
import pytest
import shapely
from browser import CHROMIUM, CHROMIUM_FLAGS, ViewerPage, serve_twin
from conftest import GRID_DIR, shared
from lxml import etree
from pyproj.transformer import TransformerGroup

from twin.geo.crs import add_grid_dirs
from twin.pipeline import IngestOptions, ingest
from twin.settings import Settings

pytestmark = pytest.mark.browser

REPO = Path(__file__).resolve().parents[1]
CESIUM = REPO / "web" / "node_modules" / "cesium" / "Build" / "Cesium"
ARTIFACTS = REPO / "test-artifacts"
VIEWPORT = {"width": 1280, "height": 800}

NRW_TILES = ["LoD2_32_327_5732_1_NW.gml", "LoD2_32_330_5728_1_NW.gml", "LoD2_32_331_5724_1_NW.gml",
             "LoD2_32_341_5724_1_NW.gml"]  # fmt: skip
LAYER = "lod2"
BUILDING = "DENW34AL0000Gbbh"  # Drögenbergshof, Rosenallee 2, Wesel: Wohnhaus, Walmdach, 4 BuildingParts
BUILDING_FILE = "LoD2_32_330_5728_1_NW.gml"
HEADING = 20.0  # degrees: looking north-north-east, at the sunlit south walls (sun at noon)
PITCH = -35.0
RANGE = 120.0

GML = "http://www.opengis.net/gml"
BLDG = "http://www.opengis.net/citygml/building/1.0"

if not CHROMIUM.exists():
    pytest.skip(f"browser tests need Debian's Chromium at {CHROMIUM} (apt-get install chromium)",
                allow_module_level=True)  # fmt: skip
if not CESIUM.is_dir():
    pytest.skip(f"browser tests need Cesium's build at {CESIUM} (npm ci in web/)", allow_module_level=True)

playwright_sync = pytest.importorskip("playwright.sync_api", reason="playwright (python) is not installed")


@dataclass(frozen=True)
class Building:
    """One building of the GML: roof points (lon, lat in degrees, ellipsoidal height in metres), largest
    RoofSurface first, and its lowest point's ellipsoidal height."""

    roof_points: list[tuple[float, float, float]]
    base_height: float


def _coordinates(polygon: etree._Element) -> npt.NDArray[np.float64]:
    """The exterior ring of a gml:Polygon as (n, 3) metres (EPSG:25832 + NHN)."""
    pos_list = polygon.find(f".//{{{GML}}}exterior//{{{GML}}}posList")
    if pos_list is not None and pos_list.text:
        return np.array(pos_list.text.split(), dtype=np.float64).reshape(-1, 3)
    return np.array([p.text.split() for p in polygon.iterfind(f".//{{{GML}}}exterior//{{{GML}}}pos")],
                    dtype=np.float64)  # fmt: skip


def _inner_point(ring: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """A point inside a planar 3D ring: an inner point of its plan, z on the ring's best-fit plane."""
    point = shapely.get_coordinates(shapely.Polygon(ring[:, :2]).representative_point())[0]
    design = np.column_stack([ring[:, 0], ring[:, 1], np.ones(len(ring))])
    a, b, c = np.linalg.lstsq(design, ring[:, 2], rcond=None)[0]
    return np.array([point[0], point[1], a * point[0] + b * point[1] + c])


def read_building(path: Path, building_id: str) -> Building:
    """The roofs and base of one building of a CityGML 1.0 file (AdV profile, UTM32 + DHHN2016)."""
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=True)
    root = etree.parse(str(path), parser).getroot()
    building = root.find(f".//{{{BLDG}}}Building[@{{{GML}}}id='{building_id}']")
    assert building is not None, f"{building_id} not in {path}"
    roofs = [_coordinates(p) for roof in building.iter(f"{{{BLDG}}}RoofSurface")
             for p in roof.iter(f"{{{GML}}}Polygon")]  # fmt: skip
    roofs.sort(key=lambda ring: -abs(shapely.area(shapely.Polygon(ring[:, :2]))))
    points = np.array([_inner_point(ring) for ring in roofs[:6]])
    lowest = min(float(_coordinates(p)[:, 2].min()) for p in building.iter(f"{{{GML}}}Polygon"))

    add_grid_dirs([GRID_DIR])
    group = TransformerGroup("EPSG:25832+7837", "EPSG:4979", always_xy=True)
    assert group.best_available, "the GCG2016 quasigeoid grid is not available to PROJ"
    transformer = group.transformers[0]
    lon, lat, h = transformer.transform(points[:, 0], points[:, 1], points[:, 2])
    base = transformer.transform(points[0, 0], points[0, 1], lowest)[2]
    return Building(
        [(float(x), float(y), float(z)) for x, y, z in zip(lon, lat, h, strict=True)], float(base)
    )


@dataclass(frozen=True)
class Served:
    """The running server and what the test knows about the layer it serves."""

    base: str
    footprint: list[tuple[float, float]]  # lon, lat (degrees) of the building's footprint ring
    height: float  # model height of the building, metres
    ground_height: float  # the layer's ground_height, metres
    building: Building


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """The NRW LoD2 tiles ingested into a fresh data dir and served, the camera at the Drögenbergshof."""
    paths = [shared(f"citygml/nrw-lod2/{name}") for name in NRW_TILES]
    shared("grids/de_bkg_gcg2016.tif")
    building = read_building(shared(f"citygml/nrw-lod2/{BUILDING_FILE}"), BUILDING)
    data = tmp_path_factory.mktemp("citygml-data")
    report = ingest(paths, IngestOptions(LAYER, title="Gebäude LoD2", group="Gebäude"),
                    Settings(data_dir=data, grid_dirs=[GRID_DIR]))  # fmt: skip
    features = gpd.read_parquet(data / "layers" / LAYER / "features.parquet")
    row = features[features["source_id"] == BUILDING].iloc[0]
    footprint = [(float(x), float(y)) for x, y in shapely.get_coordinates(row.geometry.exterior)]
    centre = shapely.get_coordinates(row.geometry.centroid)[0]
    ground = float(report["ground_height"])
    # The camera target: the building's middle, at half its height above its base as the viewer draws it.
    target = building.base_height - ground + float(row["height"]) / 2
    profile = tmp_path_factory.mktemp("citygml-profile") / "wesel.toml"
    profile.write_text(
        'attribution = "3D-Gebäudemodelle LoD2: Geobasis NRW, dl-de/zero-2.0"\n'
        '[city]\nname = "Wesel"\nsubtitle = { de = "LoD2-Test", en = "LoD2 test" }\n'
        f"[camera]\nlongitude = {centre[0]}\nlatitude = {centre[1]}\nheight = {target}\n"
        f"heading = {HEADING}\npitch = {PITCH}\nrange = {RANGE}\n",
        encoding="utf-8",
    )
    with serve_twin(data, profile) as base:
        yield Served(base, footprint, float(row["height"]), ground, building)


@pytest.fixture(scope="module")
def viewer(served: Served) -> Iterator[ViewerPage]:
    """The viewer opened on the server, once its flight has ended and the LoD2 tiles in view are loaded."""
    with playwright_sync.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_FLAGS)
        context = browser.new_context(viewport=VIEWPORT)
        page = ViewerPage(context.new_page())
        page.page.goto(served.base + "/")
        page.page.evaluate("() => window.twin.ready.then(() => true)")
        # Cesium's own signal: every tile the current view needs is loaded (after a fresh frame).
        page.page.evaluate("() => window.twin.tilesLoaded().then(() => true)")
        yield page
        context.close()
        browser.close()


# Window positions (canvas px, and page px) of points given as [lon, lat, ellipsoidal height], placed the way
# the viewer places the layer (its modelMatrix lowers it by ground_height); with what scene.pick finds there and
# how far the depth buffer's point (scene.pickPosition) is from the given point.
PROBE = """async ([layer, points]) => {
    const Cesium = await import('/cesium/index.js');
    const { viewer, tilesets } = window.twin;
    const scene = viewer.scene;
    const tileset = tilesets[layer];
    const rect = scene.canvas.getBoundingClientRect();
    viewer.render();
    return points.map(([lon, lat, h]) => {
        const world = Cesium.Matrix4.multiplyByPoint(
            tileset.modelMatrix, Cesium.Cartesian3.fromDegrees(lon, lat, h), new Cesium.Cartesian3());
        const xy = Cesium.SceneTransforms.worldToWindowCoordinates(scene, world);
        if (!xy) return null;
        const picked = scene.pick(xy);
        const hit = scene.pickPosition(xy);
        const properties = {};
        if (picked instanceof Cesium.Cesium3DTileFeature) {
            for (const id of picked.getPropertyIds()) {
                const value = picked.getProperty(id);
                properties[id] = value === undefined || value === null ? null : String(value);
            }
        }
        return {
            x: xy.x, y: xy.y, pageX: rect.left + xy.x, pageY: rect.top + xy.y,
            shownHeight: Cesium.Cartographic.fromCartesian(world).height,
            miss: hit ? Cesium.Cartesian3.distance(hit, world) : null,
            feature: picked instanceof Cesium.Cesium3DTileFeature ? properties : null,
        };
    });
}"""

# Share of roof-red and of light-grey pixels of a PNG (base64) inside a page-px box, and the mean colour of a
# small patch around `spot`.
PIXELS = """async ([png, box, spot]) => {
    const blob = await (await fetch('data:image/png;base64,' + png)).blob();
    const bitmap = await createImageBitmap(blob);
    const canvas = new OffscreenCanvas(bitmap.width, bitmap.height);
    const context = canvas.getContext('2d');
    context.drawImage(bitmap, 0, 0);
    const [x0, y0, x1, y1] = box.map(Math.round);
    const { data } = context.getImageData(x0, y0, x1 - x0, y1 - y0);
    let red = 0, light = 0;
    for (let i = 0; i < data.length; i += 4) {
        const [r, g, b] = [data[i], data[i + 1], data[i + 2]];
        if (r > 80 && r > 1.4 * g && r > 1.4 * b) red += 1;
        if (Math.min(r, g, b) > 150 && Math.max(r, g, b) - Math.min(r, g, b) < 30) light += 1;
    }
    const patch = context.getImageData(Math.round(spot[0]) - 2, Math.round(spot[1]) - 2, 5, 5).data;
    const mean = [0, 1, 2].map((c) => {
        let sum = 0;
        for (let i = c; i < patch.length; i += 4) sum += patch[i];
        return sum / 25;
    });
    return { red: red / (data.length / 4), light: light / (data.length / 4), spot: mean };
}"""


def probe(viewer: ViewerPage, points: list[tuple[float, float, float]]) -> list[dict[str, Any]]:
    """PROBE for these points of the LoD2 layer."""
    result: list[dict[str, Any]] = viewer.page.evaluate(PROBE, [LAYER, [list(p) for p in points]])
    return result


def visible_roof_point(viewer: ViewerPage, served: Served) -> dict[str, Any]:
    """The first of the building's largest roof points that the camera sees (nothing nearer in front of it)."""
    probes = probe(viewer, served.building.roof_points)
    for point in probes:
        if point and point["miss"] is not None and point["miss"] < 0.75:
            return point
    raise AssertionError(f"no roof point of {BUILDING} is visible: {probes}")


def test_roofs_are_red_on_light_walls_and_the_building_stands_on_the_ground(
    viewer: ViewerPage, served: Served
) -> None:
    page = viewer.page
    assert page.evaluate(f"() => window.twin.tilesets['{LAYER}'].tilesLoaded") is True
    layer = page.evaluate(f"() => window.twin.tilesets['{LAYER}'].twinLayer.ground_height")
    assert layer == pytest.approx(served.ground_height)
    # The building's lowest point is drawn within a few metres of the globe (height 0): it stands on the
    # ground, not ~70 m above it (raw ellipsoidal heights) or ~44 m below (heights without the geoid).
    base, roof = probe(viewer, [(*served.footprint[0], served.building.base_height),
                                served.building.roof_points[0]])  # fmt: skip
    print(f"base drawn at {base['shownHeight']:.2f} m, roof point at {roof['shownHeight']:.2f} m")
    assert abs(base["shownHeight"]) < 3.0, base
    assert 3.0 < roof["shownHeight"] < 20.0, roof

    ARTIFACTS.mkdir(exist_ok=True)
    png = page.screenshot(path=str(ARTIFACTS / "viewer-citygml-lod2.png"))
    # The building's box on screen: its footprint at its base and at its top.
    top = served.building.base_height + served.height
    corners = probe(
        viewer, [(lon, lat, h) for lon, lat in served.footprint for h in (served.building.base_height, top)]
    )
    xs = [c["pageX"] for c in corners if c]
    ys = [c["pageY"] for c in corners if c]
    box = [
        max(min(xs), 0),
        max(min(ys), 0),
        min(max(xs), VIEWPORT["width"]),
        min(max(ys), VIEWPORT["height"]),
    ]
    assert box[2] - box[0] > 100 and box[3] - box[1] > 60, f"the building is small on screen: {box}"
    spot = visible_roof_point(viewer, served)
    shares = page.evaluate(PIXELS, [base64.b64encode(png).decode(), box, [spot["pageX"], spot["pageY"]]])
    print(f"building box {box}: {shares}")
    assert shares["red"] > 0.08, f"too few roof-red pixels on the building: {shares}"
    assert shares["light"] > 0.04, f"too few light wall pixels on the building: {shares}"
    r, g, b = shares["spot"]
    assert r > 1.4 * g and r > 1.4 * b, f"the roof point is not red: {shares['spot']}"
    assert viewer.errors == []


def test_picking_a_roof_point_returns_the_buildings_metadata(viewer: ViewerPage, served: Served) -> None:
    point = visible_roof_point(viewer, served)
    feature = point["feature"]
    assert feature is not None, f"nothing picked at the roof point {point}"
    assert feature["source_id"] == BUILDING
    assert feature["function"] == "31001_1010"
    assert feature["function_label"] == "Wohnhaus"
    assert feature["roof_type"] == "3200"
    assert feature["roof_type_label"] == "Walmdach"
    assert feature["address"] == "Rosenallee 2, Wesel"
    assert feature["name"] == "Drögenbergshof"
    assert feature["building_parts"] == "4"
    assert feature["lod"] == "2"
    assert float(feature["height"]) == pytest.approx(served.height, abs=0.01)
    assert viewer.errors == []


def test_clicking_the_building_shows_its_attributes_in_german_and_english(
    viewer: ViewerPage, served: Served
) -> None:
    page = viewer.page
    point = visible_roof_point(viewer, served)
    page.mouse.click(point["pageX"], point["pageY"])
    page.wait_for_function(
        f"() => document.querySelector('#feature-body tr[data-attribute=source_id] td')?.textContent === '{BUILDING}'",
        timeout=15_000,
    )
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "viewer-citygml-lod2-picked.png"))
    values, labels, titles = viewer.attributes(), viewer.labels(), viewer.titles()
    assert labels["function"] == "Gebäudefunktion"
    assert values["function"] == "Wohnhaus (31001_1010)"
    assert titles["function"] == "31001_1010"
    assert labels["roof_type"] == "Dachform"
    assert values["roof_type"] == "Walmdach (3200)"
    # The stored labels are in the coded rows' values, not rows of their own.
    assert "function_label" not in values and "roof_type_label" not in values
    assert labels["address"] == "Adresse" and values["address"] == "Rosenallee 2, Wesel"
    assert values["name"] == "Drögenbergshof"
    assert labels["measured_height"] == "Gemessene Höhe" and values["measured_height"] == "7,98 m"
    assert values["building_parts"] == "4"
    assert values["lod"] == "LoD 2"
    assert values["source_file"] == BUILDING_FILE
    assert values["height_rule"] == "aus dem 3D-Modell"
    assert values["creation_date"] == "23.01.2021"
    assert labels["Gemeindeschluessel"] == "Gemeindeschlüssel" and values["Gemeindeschluessel"] == "05170048"
    assert labels["DatenquelleDachhoehe"] == "Datenquelle Dachhöhe"
    assert labels["Grundrissaktualitaet"] == "Grundrissaktualität"
    assert page.inner_text("#feature-layer") == "Ebene: Gebäude LoD2"
    # What a planner reads first comes first; the provenance (ids, sources, dates of the data) last.
    order = list(values)
    assert order[:3] == ["name", "function", "roof_type"]
    assert order.index("address") < order.index("source_id") < order.index("DatenquelleDachhoehe")

    page.click(".lang-button[data-lang=en]")
    values, labels = viewer.attributes(), viewer.labels()
    assert labels["function"] == "Building function"
    assert values["function"] == "House (31001_1010)"
    assert labels["roof_type"] == "Roof type" and values["roof_type"] == "Hipped roof (3200)"
    assert values["measured_height"] == "7.98 m"
    assert values["creation_date"] == "23 Jan 2021"
    assert labels["Gemeindeschluessel"] == "Municipality key"
    assert page.inner_text("#feature-layer") == "Layer: Gebäude LoD2"
    page.click(".lang-button[data-lang=de]")
    page.click("#feature-close")
    assert page.is_hidden("#feature-panel")
    assert viewer.errors == []


# A building of the layer's kind with every canonical attribute the NRW tiles lack, shown through the panel.
CANONICAL = {
    "source_id": "TEST0001", "name": "Haus <b>Test</b>", "function": "1100", "function_label": "Ferienhaus",
    "usage": "31001_1000;31001_2050", "usage_label": "Wohngebäude; Geschäftsgebäude", "roof_type": "1030",
    "roof_type_label": "", "class": "1000", "measured_height": 12.345, "storeys_above_ground": 3,
    "storeys_below_ground": 1, "year_of_construction": 1905, "year_of_demolition": 2024,
    "addresses": '["Markt 1, 46483 Wesel", "Markt 2, 46483 Wesel"]', "lod": "2.2", "height_rule": "storeys",
}  # fmt: skip


def test_panel_shows_every_canonical_attribute_readably(viewer: ViewerPage) -> None:
    page = viewer.page
    page.evaluate(
        """async ([layer, properties]) => {
            const Cesium = await import('/cesium/index.js');
            const entity = new Cesium.Entity({ properties });
            entity.twinLayer = window.twin.tilesets[layer].twinLayer;
            window.twin.picking.select({ id: entity });
        }""",
        [LAYER, CANONICAL],
    )
    page.wait_for_selector("#feature-panel:not([hidden])")
    values, titles = viewer.attributes(), viewer.titles()
    assert values["name"] == "Haus <b>Test</b>"  # text, never HTML
    assert page.locator("#feature-body b").count() == 0
    # The stored label tells the code list: SIG3D 1100 is a holiday house (AdV 1100 would be mixed use).
    assert values["function"] == "Ferienhaus (1100)"
    assert values["usage"] == "Wohngebäude (31001_1000); Geschäftsgebäude (31001_2050)"
    assert "usage_label" not in values and "function_label" not in values
    assert values["roof_type"] == "Satteldach (1030)"  # no stored label: the code list's
    assert "roof_type_label" not in values
    assert values["measured_height"] == "12,35 m"
    assert values["year_of_construction"] == "1905" and values["year_of_demolition"] == "2024"
    assert values["storeys_above_ground"] == "3"
    assert values["addresses"] == "Markt 1, 46483 Wesel\nMarkt 2, 46483 Wesel"
    assert values["lod"] == "LoD 2.2"
    assert values["height_rule"] == "aus der Geschosszahl geschätzt"
    assert titles["usage"] == "31001_1000;31001_2050"
    page.click(".lang-button[data-lang=en]")
    values = viewer.attributes()
    assert values["function"] == "Holiday house (1100)"
    assert values["usage"] == "Residential building (31001_1000); Commercial building (31001_2050)"
    assert values["year_of_construction"] == "1905"
    assert values["measured_height"] == "12.35 m"
    assert viewer.labels()["storeys_below_ground"] == "Storeys below ground"
    page.click(".lang-button[data-lang=de]")
    page.click("#feature-close")
    assert viewer.errors == []
