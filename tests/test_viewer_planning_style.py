"""A Bebauungsplan from XPlanGML in the viewer (web/src/planzv.js, planning.js, plan_panel.js): its areas draped
on the ground in PlanZV colours with a legend in PlanZV order, the Geltungsbereich as an outline, a click on the
Baugebiet showing its Festsetzungen in German (grouped, labels from `<name>_label`) with the plan's status, dates
and documents, no Baurecht button without a check service, and the check's answer rendered (with a stand-in
answer). The plan is a hand-made GeoJSON served from another origin, as the server's XPlanGML ingest writes it.
Screenshots go to test-artifacts/ (look at them).
"""

from __future__ import annotations

import http.server
import json
import threading
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from browser import CHROMIUM, CHROMIUM_FLAGS, ViewerPage, serve_twin

from twin.catalog import Catalog, DocumentLink, LayerRecord, PlanDates, PlanningInfo
from twin.settings import Settings

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[1]
CESIUM = ROOT / "web" / "node_modules" / "cesium" / "Build" / "Cesium"
ARTIFACTS = ROOT / "test-artifacts"
LAYER = "bplan-marktplatz"

if not CHROMIUM.exists():
    pytest.skip(f"browser tests need Debian's Chromium at {CHROMIUM} (apt-get install chromium)",
                allow_module_level=True)  # fmt: skip
if not CESIUM.is_dir():
    pytest.skip(f"browser tests need Cesium's build at {CESIUM} (npm ci in web/)", allow_module_level=True)
playwright_sync = pytest.importorskip("playwright.sync_api", reason="playwright (python) is not installed")

PROFILE = """
[city]
name = "Teststadt"
[camera]
longitude = 11.9690
latitude = 51.4820
heading = 0.0
pitch = -89.0
range = 420.0
"""


def box(west: float, south: float, east: float, north: float) -> dict[str, Any]:
    """A GeoJSON polygon of the rectangle (counter-clockwise)."""
    ring = [[west, south], [east, south], [east, north], [west, north], [west, south]]
    return {"type": "Polygon", "coordinates": [ring]}


def feature(
    gml_id: str, xplan_class: str, planzv: str, geometry: dict[str, Any], **attributes: Any
) -> dict[str, Any]:
    """A plan feature with the properties twin's XPlanGML ingest writes."""
    common = {"source_id": gml_id, "xplan_class": xplan_class, "planzv": planzv, "plan_id": "GML_PLAN_1",
              "plan_name": "Bebauungsplan Nr. 1.1 „Am Marktplatz“"}  # fmt: skip
    return {"type": "Feature", "id": gml_id, "properties": common | attributes, "geometry": geometry}


PLAN: dict[str, Any] = {
    "type": "FeatureCollection",
    "features": [
        feature("GML_PLAN_1", "BP_Plan", "geltungsbereich", box(11.9668, 51.4810, 11.9712, 51.4830),
                name="Am Marktplatz", nummer="1.1"),
        feature("GML_WA_1", "BP_BaugebietsTeilFlaeche", "wohnen", box(11.9672, 51.4813, 11.9689, 51.4827),
                allgArtDerBaulNutzung="1000", allgArtDerBaulNutzung_label="Wohnbaufläche",
                besondereArtDerBaulNutzung="1200", besondereArtDerBaulNutzung_label="Allgemeines Wohngebiet (WA)",
                GRZ=0.4, GFZ=1.2, Z=3, **{"hoehenangabe.hMax": 12.5, "hoehenangabe.hoehenbezug": "1000",
                                          "hoehenangabe.hoehenbezug_label": "absolut (NHN)"},
                bauweise="1000", bauweise_label="offene Bauweise", dachform="3100", dachform_label="Satteldach",
                rechtscharakter="1000", rechtscharakter_label="Festsetzung"),
        feature("GML_UEB_1", "BP_UeberbaubareGrundstuecksFlaeche", "ueberbaubar",
                box(11.9680, 51.4816, 11.9687, 51.4824), rechtscharakter="1000"),
        feature("GML_BG_1", "BP_BauGrenze", "baugrenze",
                {"type": "LineString", "coordinates": [[11.9680, 51.4816], [11.9687, 51.4816], [11.9687, 51.4824]]}),
        feature("GML_VERKEHR_1", "BP_StrassenVerkehrsFlaeche", "verkehr", box(11.9689, 51.4810, 11.9694, 51.4830)),
        feature("GML_GRUEN_1", "BP_GruenFlaeche", "gruen", box(11.9696, 51.4813, 11.9708, 51.4827),
                zweckbestimmung="1000", zweckbestimmung_label="Parkanlage"),
    ],
}  # fmt: skip
CHECK_ANSWER = {
    "feature": "GML_WA_1", "plot_area_m2": 18210.4, "buildings": 7, "built_area_m2": 6100.0,
    "grz": {"built": 0.335, "allowed": 0.4}, "height": {"max_built": 14.2, "allowed": 12.5, "rule": "hMax = 12.5 m"},
    "checks": [{"item": "GRZ", "ok": True, "text": "Die bebaute GRZ 0,34 hält die zulässige GRZ 0,4 ein."},
               {"item": "Höhe", "ok": False, "text": "Das höchste Gebäude (14,2 m) überschreitet 12,5 m."},
               {"item": "GFZ", "ok": None, "text": "Die GFZ ist ohne Geschossflächen nicht prüfbar."}],
}  # fmt: skip


class PlanHandler(http.server.BaseHTTPRequestHandler):
    """Serves PLAN as GeoJSON from another origin (with CORS), like a planning service."""

    def do_GET(self) -> None:
        body = json.dumps(PLAN).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/geo+json")
        self.send_header("Access-Control-Allow-Origin", "*")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        return None


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`twin serve` over a data dir whose catalog holds only the plan (an external features layer)."""
    base = tmp_path_factory.mktemp("planning-style")
    data_dir = base / "data"
    data_dir.mkdir()
    profile = base / "city.toml"
    profile.write_text(PROFILE, encoding="utf-8")
    plans = http.server.ThreadingHTTPServer(("127.0.0.1", 0), PlanHandler)
    threading.Thread(target=plans.serve_forever, daemon=True).start()
    planning = PlanningInfo(
        status="InkraftGetreten", number="1.1", office="Fachbereich Städtebau",
        dates=PlanDates(aufstellungsbeschluss=date(2015, 3, 4), inkrafttreten=date(2019, 5, 1)),
        documents=[DocumentLink(title="Planzeichnung", url="https://example.org/bplan-1-1.pdf")],
    )  # fmt: skip
    Catalog(Settings(data_dir=data_dir).catalog_url).upsert(
        LayerRecord(id=LAYER, title="B-Plan 1.1 Am Marktplatz", kind="features", group="Planung",
                    url=f"http://127.0.0.1:{plans.server_address[1]}/plan.geojson", planning=planning)
    )  # fmt: skip
    try:
        with serve_twin(data_dir, profile) as url:
            yield url
    finally:
        plans.shutdown()
        plans.server_close()


@pytest.fixture(scope="module")
def viewer(site: str) -> Iterator[ViewerPage]:
    """The viewer on the plan, ready."""
    with playwright_sync.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_FLAGS, headless=True
        )
        page = ViewerPage(chromium.new_context(viewport={"width": 1024, "height": 700}).new_page())
        page.page.goto(site + "/")
        page.page.evaluate("() => window.twin.ready.then(() => true)")
        yield page
        chromium.close()


def screenshot(viewer: ViewerPage, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    viewer.page.screenshot(path=str(ARTIFACTS / f"{name}.png"))


def wait_render(page: Any) -> None:
    """Request a frame and wait until it was drawn."""
    page.evaluate(
        """() => new Promise((resolve) => {
            const scene = window.twin.viewer.scene;
            const remove = scene.postRender.addEventListener(() => { remove(); resolve(); });
            scene.requestRender();
        })"""
    )


HEADINGS = "() => [...document.querySelectorAll('#feature-body h3')].map((heading) => heading.textContent)"


def select(page: Any, gml_id: str) -> None:
    """Select the plan feature `gml_id` as a click on it would."""
    page.evaluate(
        """([layer, id]) => { const entity = window.twin.planning[layer].dataSource.entities.values.find(
               (e) => e.properties.source_id.getValue() === id);
           window.twin.picking.select({ id: entity }); }""",
        [LAYER, gml_id],
    )
    page.wait_for_selector("#feature-panel:not([hidden])")


# Each entity's category, and the colour it is drawn in: the fill of areas, the line of lines and outlines.
DRAWN = f"""() => window.twin.planning['{LAYER}'].dataSource.entities.values.map((entity) => {{
    const time = window.twin.viewer.clock.currentTime;
    const polygon = Boolean(entity.polygon) && entity.polygon.show?.getValue(time) !== false;
    const material = polygon ? entity.polygon.material : entity.polyline?.material;
    return {{
        id: entity.properties.source_id.getValue(), planzv: entity.properties.planzv.getValue(),
        colour: material.color.getValue(time).toCssHexString().slice(0, 7),
        fill: polygon, line: Boolean(entity.polyline), dashed: material.dashLength !== undefined,
        ground: entity.polyline ? entity.polyline.clampToGround.getValue(time) : null,
        width: entity.polyline ? entity.polyline.width.getValue(time) : null,
    }};
}})"""


def test_plan_is_drawn_in_planzv_colours_with_a_legend(viewer: ViewerPage) -> None:
    page = viewer.page
    assert page.evaluate(f"() => window.twin.planning['{LAYER}'].planzv") is True
    drawn = {entry["id"]: entry for entry in page.evaluate(DRAWN)}
    expected = page.evaluate(
        """async () => { const { PLANZV } = await import('./web/src/planzv.js');
                         return Object.fromEntries(Object.entries(PLANZV).map(([k, v]) => [k, v])); }"""
    )
    for entry in drawn.values():
        style = expected[entry["planzv"]]
        ink = style["line"] if style["draw"] == "light" and not entry["fill"] else style["color"]
        assert entry["colour"] == ink, entry
    # The palette itself, as PlanZV has it.
    assert drawn["GML_WA_1"]["colour"] == "#e0605a" and drawn["GML_WA_1"]["fill"]
    assert drawn["GML_GRUEN_1"]["colour"] == "#7cc070"
    assert drawn["GML_VERKEHR_1"]["colour"] == "#f2d16b"
    # Baugrenze: a blue dashed line; the Geltungsbereich: its ring only, thick, black, on the ground.
    assert drawn["GML_BG_1"]["colour"] == "#1f5fbf" and drawn["GML_BG_1"]["dashed"]
    plan = drawn["GML_PLAN_1"]
    assert plan["fill"] is False and plan["line"] and plan["colour"] == "#000000" and plan["width"] >= 4
    assert plan["ground"] is True
    # The Baufenster: a faint fill with a dashed blue outline.
    assert drawn["GML_UEB_1"]["fill"] and drawn["GML_UEB_1"]["line"]
    legend = page.locator(f"li[data-layer={LAYER}] .legend li").all_inner_texts()
    assert legend == ["Wohnbauflächen", "Verkehrsflächen", "Grünflächen", "Überbaubare Grundstücksfläche",
                      "Baugrenze", "Grenze des Geltungsbereichs"]  # fmt: skip
    page.click(".lang-button[data-lang=en]")
    assert page.locator(f"li[data-layer={LAYER}] .legend li").first.inner_text() == "Residential"
    page.click(".lang-button[data-lang=de]")
    wait_render(page)
    screenshot(viewer, "planning-style-planzv")
    assert viewer.errors == []


def test_click_on_the_baugebiet_shows_its_festsetzungen_in_german(viewer: ViewerPage) -> None:
    page = viewer.page
    # A point of the Baugebiet outside its Baufenster: a real click through Cesium's picking.
    x, y = page.evaluate(
        """async ([lon, lat]) => {
            const Cesium = await import('./cesium/index.js');
            const scene = window.twin.viewer.scene;
            const win = Cesium.SceneTransforms.worldToWindowCoordinates(scene, Cesium.Cartesian3.fromDegrees(lon, lat));
            const rect = scene.canvas.getBoundingClientRect();
            return [rect.left + win.x, rect.top + win.y];
        }""",
        [11.96755, 51.48200],
    )
    page.mouse.click(x, y)
    page.wait_for_selector("#feature-panel:not([hidden]) #plan-title", timeout=10_000)
    assert page.inner_text("#plan-title") == "Baugebietsteilfläche"
    assert "Am Marktplatz" in page.inner_text("#feature-body .plan-name")
    values = viewer.attributes()
    assert values["GRZ"] == "0,4"
    assert values["GFZ"] == "1,2"
    assert values["Z"] == "3"
    assert values["hoehenangabe.hMax"] == "12,5 m"
    assert values["besondereArtDerBaulNutzung"] == "Allgemeines Wohngebiet (WA)"
    assert values["allgArtDerBaulNutzung"] == "Wohnbaufläche"
    assert values["bauweise"] == "offene Bauweise"
    assert values["dachform"] == "Satteldach"
    assert values["plan.status"] == "In Kraft getreten"
    assert values["plan.number"] == "1.1"
    assert values["plan.date.inkrafttreten"] == "01.05.2019"
    assert values["plan.date.aufstellungsbeschluss"] == "04.03.2015"
    assert values["plan.office"] == "Fachbereich Städtebau"
    assert (
        page.get_attribute("tr[data-attribute='plan.document.0'] a", "href")
        == "https://example.org/bplan-1-1.pdf"
    )
    assert viewer.titles()["besondereArtDerBaulNutzung"] == "1200"  # the code behind the label
    labels = viewer.labels()
    assert labels["GRZ"] == "Grundflächenzahl (GRZ)" and labels["plan.status"] == "Rechtsstand"
    # Internal fields and the stored labels are no rows of their own.
    for name in (
        "source_id",
        "plan_id",
        "plan_name",
        "xplan_class",
        "planzv",
        "besondereArtDerBaulNutzung_label",
    ):
        assert name not in values
    headings = page.evaluate(HEADINGS)
    assert [h for h in headings if h != "Baugebietsteilfläche"] == [
        "Art der baulichen Nutzung",
        "Maß der baulichen Nutzung",
        "Bauweise / Dach",
        "Weitere Festsetzungen",
        "Plan",
    ]
    # No check service configured: no Baurecht button.
    assert page.locator("#plan-check").count() == 0
    wait_render(page)
    screenshot(viewer, "planning-style-baugebiet")
    page.click(".lang-button[data-lang=en]")
    assert page.inner_text("#plan-title") == "Building area section"
    assert viewer.attributes()["plan.status"] == "In force"
    assert viewer.attributes()["GRZ"] == "0.4"
    assert "Type of land use" in page.evaluate(HEADINGS)
    page.click(".lang-button[data-lang=de]")
    page.click("#feature-close")
    assert viewer.errors == []


def test_geltungsbereich_and_other_classes(viewer: ViewerPage) -> None:
    page = viewer.page
    select(page, "GML_PLAN_1")
    assert page.inner_text("#plan-title") == "Geltungsbereich"
    values = viewer.attributes()
    assert values["name"] == "Am Marktplatz" and values["plan.status"] == "In Kraft getreten"
    # Picked, its outline is highlighted; closing the panel restores it.
    colour = (
        f"() => window.twin.planning['{LAYER}'].dataSource.entities.getById('GML_PLAN_1').polyline.material"
    )
    assert page.evaluate(colour + ".color.getValue().toCssHexString()") == "#ffcc00"
    page.click("#feature-close")
    assert page.evaluate(colour + ".color.getValue().toCssHexString()") == "#000000"
    select(page, "GML_GRUEN_1")
    assert page.inner_text("#plan-title") == "Grünfläche"
    assert viewer.attributes()["zweckbestimmung"] == "Parkanlage"
    select(page, "GML_BG_1")
    assert page.inner_text("#plan-title") == "Baugrenze"
    page.click("#feature-close")
    assert viewer.errors == []


def test_baurecht_button_needs_a_check_service_and_shows_its_answer(viewer: ViewerPage) -> None:
    page = viewer.page
    # Without check_url and buildings_layer (this plan's catalog entry): no button (see the test above).
    # With them (as the server's config will give) the button asks the service; its answer is a stand-in here.
    requested: list[str] = []

    def answer(route: Any) -> None:
        requested.append(route.request.url)
        route.fulfill(status=200, content_type="application/json", body=json.dumps(CHECK_ANSWER))

    page.route("**/api/plans/*/check?*", answer)
    page.evaluate(
        f"""() => Object.assign(window.twin.planning['{LAYER}'].dataSource.entities.values[0].twinLayer,
                                {{ check_url: 'api/plans/{LAYER}/check', buildings_layer: 'gebaeude' }})"""
    )
    try:
        select(page, "GML_UEB_1")
        assert page.locator("#plan-check").count() == 0  # only for Baugebiete
        select(page, "GML_WA_1")
        assert page.inner_text("#plan-check") == "Baurecht prüfen"
        page.click("#plan-check")
        page.wait_for_selector("#plan-check-result .plan-checks li")
        assert len(requested) == 1
        assert requested[0].endswith(f"/api/plans/{LAYER}/check?feature=GML_WA_1&buildings=gebaeude")
        values = viewer.attributes()
        assert values["check.grz"] == "0,34 / zulässig 0,4"
        assert values["check.height"] == "14,2 m / zulässig 12,5 m (hMax = 12.5 m)"
        assert values["check.buildings"] == "7"
        assert values["check.plot_area_m2"] == "18.210 m²"
        marks = page.locator("#plan-check-result .plan-check-mark").all_inner_texts()
        assert marks == ["✓", "✗", "–"]
        assert "überschreitet 12,5 m" in page.inner_text("#plan-check-result")
        page.locator("#plan-check-result .plan-checks").scroll_into_view_if_needed()
        screenshot(viewer, "planning-style-check")
        page.click(".lang-button[data-lang=en]")
        assert page.inner_text("#plan-check") == "Check permitted use"
        assert viewer.attributes()["check.grz"] == "0.34 / permitted 0.4"
        page.click(".lang-button[data-lang=de]")
        page.click("#feature-close")
    finally:
        page.unroute("**/api/plans/*/check?*")
        page.evaluate(
            f"""() => {{ const layer = window.twin.planning['{LAYER}'].dataSource.entities.values[0].twinLayer;
                         delete layer.check_url; delete layer.buildings_layer; }}"""
        )
    assert viewer.errors == []


def test_envelope_layers_are_recognised_and_labelled(viewer: ViewerPage) -> None:
    result = viewer.page.evaluate(
        """async () => {
            const planning = await import('./web/src/planning.js');
            const labels = await import('./web/src/labels.js');
            const byRole = planning.styleEnvelopeLayer({ id: 'x', kind: '3dtiles', role: 'envelopes' }, '#00598a');
            const byId = planning.styleEnvelopeLayer({ id: 'bplan-envelopes', kind: '3dtiles' }, '#00598a');
            const configured = planning.styleEnvelopeLayer(
                { id: 'y-envelopes', kind: '3dtiles', style: { color: "color('red')" } }, '#00598a');
            return {
                role: byRole.style, id: byId.style, configured: configured.style,
                buildings: planning.isEnvelopeLayer({ id: 'gebaeude', kind: '3dtiles' }),
                extraRole: planning.isEnvelopeLayer({ id: 'z', kind: '3dtiles', extra_role: 'envelopes' }),
                labels: ['festsetzung', 'rule', 'envelope_height'].map(labels.attributeLabel),
                unit: labels.attributeUnit('envelope_height'),
                cls: labels.codeLabel('xplan_class', 'BP_UeberbaubareGrundstuecksFlaeche'),
            };
        }"""
    )
    assert result["role"] == {"color": "color('#00598a', 0.45)"} and result["id"] == result["role"]
    assert result["configured"] == {"color": "color('red')"}
    assert result["buildings"] is False and result["extraRole"] is True
    assert result["labels"] == ["Festsetzung", "Regel", "Höhe der Hüllkurve"] and result["unit"] == "m"
    assert result["cls"] == "Überbaubare Grundstücksfläche (BP_UeberbaubareGrundstuecksFlaeche)"
