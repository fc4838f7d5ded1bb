"""XPlanGML plans through the whole ingest: features layer + catalog metadata + envelopes + OGC API + check.

Expectations are read from the XML with lxml here, independently of twin's reader."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
import shapely
from conftest import SHARED_DATA
from fastapi.testclient import TestClient
from lxml import etree
from pyproj import Transformer

from twin.api.app import create_app
from twin.catalog import Catalog
from twin.errors import InputError
from twin.pipeline import IngestOptions, ingest
from twin.settings import Settings

XPLAN = SHARED_DATA / "planning" / "xplanbox"
VALID = sorted((XPLAN / "valid").glob("*.gml"))
ARCHIVES = sorted((XPLAN / "archives").glob("*.zip"))
EDGE_CASES = sorted((XPLAN / "edge-cases").glob("*.gml"))
GML = "{http://www.opengis.net/gml/3.2}"
GML31 = "{http://www.opengis.net/gml}"
PRESENTATION = re.compile(r"^XP_(P|LPO|FPO|TPO|Praesentationsobjekt)")

pytestmark = pytest.mark.skipif(not XPLAN.is_dir(), reason=f"real third-party data not available: {XPLAN}")


def layer_id(path: Path) -> str:
    return re.sub(r"[^a-z0-9]+", "-", path.stem.lower()).strip("-")[:50]


@pytest.fixture(scope="module")
def ingested(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Settings, dict[str, dict]]]:
    settings = Settings(data_dir=tmp_path_factory.mktemp("plans"))
    reports = {}
    for path in [*VALID, *ARCHIVES]:
        reports[path.name] = ingest([path], IngestOptions(layer_id(path), group="Planung"), settings)
    yield settings, reports


def _features(path: Path) -> list[etree._Element]:
    """The feature elements of an XPlanGML file (children of the member wrappers), by lxml alone."""
    root = etree.parse(str(path)).getroot()
    members = [el for el in root.iter() if isinstance(el.tag, str) and el.tag.split("}")[-1] in
               ("featureMember", "member", "featureMembers")]  # fmt: skip
    return [child for member in members for child in member if isinstance(child.tag, str)]


def _has_geometry(feature: etree._Element) -> bool:
    return any(el.tag.startswith((GML, GML31)) and el.tag.split("}")[-1] in
               ("Polygon", "MultiSurface", "Surface", "LineString", "Curve", "MultiCurve", "Point", "MultiPoint",
                "MultiPolygon", "MultiLineString", "CompositeSurface", "CompositeCurve")
               for el in feature.iter())  # fmt: skip


@pytest.mark.parametrize("path", VALID, ids=[p.name for p in VALID])
def test_every_plan_object_is_published(ingested: tuple[Settings, dict[str, dict]], path: Path) -> None:
    settings, reports = ingested
    report = reports[path.name]
    features = _features(path)
    local = [f.tag.split("}")[-1] for f in features]
    expected = sum(
        1
        for f, name in zip(features, local, strict=True)
        if not PRESENTATION.match(name) and _has_geometry(f)
    )
    table = pq.read_table(settings.layers_dir / layer_id(path) / "features.parquet")
    assert report["features_written"] == table.num_rows
    # Objects whose geometry cannot be repaired may be left out, with a reason; none may vanish silently.
    assert (
        expected - sum(v for k, v in report["skipped"].items() if k.startswith("no geometry"))
        <= table.num_rows
        <= expected
    )
    assert report["features_read"] == report["features_written"] + sum(report["skipped"].values())
    plans = [name for name in local if name.endswith("_Plan")]
    assert len(report["plans"]) == len(plans) >= 1
    record = Catalog(settings.catalog_url).get(layer_id(path))
    assert record.kind == "features"
    assert [plan["name"] for plan in record.extra["plans"]] == [plan["name"] for plan in report["plans"]]
    names = [f.findtext(f"{{{f.tag.split('}')[0][1:]}}}name") for f in features if f.tag.endswith("_Plan")]
    assert [plan["name"] for plan in report["plans"]] == names
    assert set(table.column("planzv").to_pylist()) <= {
        "wohnen", "gemischt", "gewerbe", "sonder", "gemeinbedarf", "verkehr", "gruen", "wasser", "wald",
        "landwirtschaft", "ueberbaubar", "baugrenze", "baulinie", "geltungsbereich", "bereich", "sonstiges",
    }  # fmt: skip
    assert "geltungsbereich" in table.column("planzv").to_pylist(), "the plan's area is published"


def _first_position(feature: etree._Element) -> tuple[float, float, str]:
    for el in feature.iter():
        if el.tag in (f"{GML}posList", f"{GML}pos", f"{GML31}posList", f"{GML31}pos") and el.text:
            srs = next((a.get("srsName") for a in el.iterancestors() if a.get("srsName")), None)
            x, y = (float(v) for v in el.text.split()[:2])
            return x, y, srs or ""
    raise AssertionError("no coordinates")


@pytest.mark.parametrize("path", VALID, ids=[p.name for p in VALID])
def test_ogc_items_are_crs84_as_proj_transforms_them(
    ingested: tuple[Settings, dict[str, dict]], path: Path
) -> None:
    settings, _ = ingested
    features = [
        f for f in _features(path) if f.tag.endswith("BaugebietsTeilFlaeche") or f.tag.endswith("_Plan")
    ]
    feature = features[0]
    x, y, srs = _first_position(feature)
    adv = {"ETRS89_UTM32": "25832", "ETRS89_UTM33": "25833", "DE_DHDN_3GK3": "31467", "DE_DHDN_3GK4": "31468"}
    code = re.search(r"(\d{4,5})\D*$", srs)
    epsg = code.group(1) if code else adv.get(srs.rsplit(":", 1)[-1])
    assert epsg, srs
    lon, lat = Transformer.from_crs(f"EPSG:{epsg}", "OGC:CRS84", always_xy=True).transform(x, y)
    gml_id = feature.get(f"{GML}id") or feature.get(f"{GML31}id")
    client = TestClient(create_app(settings))
    item = client.get(f"/ogc/collections/{layer_id(path)}/items/{gml_id}")
    assert item.status_code == 200, item.text
    coordinates = shapely.get_coordinates(shapely.geometry.shape(item.json()["geometry"]))
    distance = np.hypot(coordinates[:, 0] - lon, coordinates[:, 1] - lat).min()
    assert distance < 1e-7, f"the source vertex is {distance * 111_000:.3f} m from the published geometry"


def _festsetzung_height(feature: etree._Element, storey_height: float = 3.0) -> float | None:
    """hMax/h/hZwingend of Höhenangaben relative to the ground (heights above NHN need terrain), else Z × 3 m."""
    heights = []
    for angabe in feature.iter():
        if not (isinstance(angabe.tag, str) and angabe.tag.endswith("XP_Hoehenangabe")):
            continue
        values = {el.tag.split("}")[-1]: el.text for el in angabe}
        if values.get("hoehenbezug") in ("1000", "1100", "1200"):
            continue
        heights += [float(values[k]) for k in ("hMax", "h", "hZwingend") if values.get(k)]
    if heights:
        return max(heights)
    local = {el.tag.split("}")[-1]: el.text for el in feature if isinstance(el.tag, str)}
    storeys = [float(local[k]) for k in ("ZMax", "Z", "ZZwingend") if local.get(k)]
    return max(storeys) * storey_height if storeys else None


@pytest.mark.parametrize("name", ["Blankenese29.gml", "HafenCity7.gml", "Eidelstedt_4_V4-Blankenese.gml"])
def test_envelope_height_equals_its_festsetzung(
    ingested: tuple[Settings, dict[str, dict]], name: str
) -> None:
    settings, reports = ingested
    path = XPLAN / "valid" / name
    assert reports[name]["envelopes"] > 0
    envelopes = pq.read_table(
        settings.layers_dir / f"{layer_id(path)}-envelopes" / "features.parquet"
    ).to_pylist()
    by_id = {f.get(f"{GML}id") or f.get(f"{GML31}id"): f for f in _features(path)}
    checked = 0
    for envelope in envelopes:
        source = by_id[envelope["height_source"]]
        expected = _festsetzung_height(source)
        assert expected is not None
        assert envelope["height"] == pytest.approx(expected), envelope["rule"]
        assert envelope["envelope_height"] == pytest.approx(expected)
        checked += 1
    assert checked == reports[name]["envelopes"]


def test_plan_metadata_in_catalog_and_config(ingested: tuple[Settings, dict[str, dict]]) -> None:
    settings, _ = ingested
    record = Catalog(settings.catalog_url).get("blankenese29")
    assert record.planning is not None and record.planning.style_attribute == "planzv"
    config = TestClient(create_app(settings)).get("/api/config").json()
    entries = [layer for group in config["layers"] for layer in group.get("children", [group])]
    plan = next(layer for layer in entries if layer["id"] == "blankenese29")
    assert plan["check_url"] == "api/plans/blankenese29/check"
    assert plan["envelopes"] == "blankenese29-envelopes"
    envelope = next(layer for layer in entries if layer["id"] == "blankenese29-envelopes")
    assert envelope["role"] == "envelopes"


def test_baurecht_check(ingested: tuple[Settings, dict[str, dict]], tmp_path: Path) -> None:
    """Buildings made inside a Baugebiet with a known share of its area and a known height."""
    import geopandas as gpd

    settings, _ = ingested
    table = pq.read_table(settings.layers_dir / "blankenese29" / "features.parquet").to_pylist()
    area = next(row for row in table if row["xplan_class"] == "BP_BaugebietsTeilFlaeche" and row.get("GRZ"))
    polygon = shapely.from_wkb(area["geometry"])
    laea = f"+proj=laea +lat_0={polygon.centroid.y} +lon_0={polygon.centroid.x} +ellps=GRS80"
    metric = gpd.GeoSeries([polygon], crs="OGC:CRS84").to_crs(laea).iloc[0]
    # One building: the area shrunk until it covers about a fifth of it.
    inner = metric
    for distance in np.linspace(0.5, 50, 200):
        inner = metric.buffer(-distance)
        if inner.area <= 0.2 * metric.area:
            break
    frame = gpd.GeoDataFrame({"id": ["b1"], "height": [7.5]}, geometry=[inner], crs=laea).to_crs("EPSG:25832")
    frame.to_file(tmp_path / "b.geojson", driver="GeoJSON")
    ingest([tmp_path / "b.geojson"], IngestOptions("pruefgebaeude"), settings)
    client = TestClient(create_app(settings))
    result = client.get(
        "/api/plans/blankenese29/check", params={"feature": area["source_id"], "buildings": "pruefgebaeude"}
    )
    assert result.status_code == 200, result.text
    body = result.json()
    assert body["buildings"] == 1
    assert body["plot_area_m2"] == pytest.approx(metric.area, rel=1e-3)
    assert body["grz"]["built"] == pytest.approx(inner.area / metric.area, rel=1e-2)
    assert body["grz"]["allowed"] == pytest.approx(area["GRZ"])
    assert body["height"]["max_built"] == pytest.approx(7.5, abs=0.01)
    grz = body["checks"][0]
    assert grz["ok"] is (inner.area / metric.area <= area["GRZ"])
    assert (
        client.get(
            "/api/plans/blankenese29/check", params={"feature": "nope", "buildings": "pruefgebaeude"}
        ).status_code
        == 404
    )


@pytest.mark.parametrize("path", EDGE_CASES, ids=[p.name for p in EDGE_CASES])
def test_edge_cases_repair_or_refuse_clearly(tmp_path: Path, path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    try:
        report = ingest([path], IngestOptions("kante"), settings)
    except InputError as exc:
        assert path.name in exc.message
        assert "\n" not in exc.message
        return
    assert report["features_written"] > 0
    assert report["problems"] or report["repaired"]["geometry"] == 0


def test_other_planning_data_with_sidecar_metadata(tmp_path: Path) -> None:
    """A GeoJSON of Sanierungsgebiete with its metadata beside it becomes a planning features layer."""
    import json

    ring = [[11.968, 51.481], [11.971, 51.481], [11.971, 51.483], [11.968, 51.483], [11.968, 51.481]]
    bow = [[11.972, 51.481], [11.974, 51.483], [11.974, 51.481], [11.972, 51.483], [11.972, 51.481]]
    source = tmp_path / "sanierung.geojson"
    features = [
        {
            "type": "Feature",
            "properties": {"nr": nr, "name": name},
            "geometry": {"type": "Polygon", "coordinates": [r]},
        }
        for nr, name, r in (("S1", "Altstadt", ring), ("S2", "Fleischerstraße", bow))
    ]
    source.write_text(json.dumps({"type": "FeatureCollection", "features": features}), encoding="utf-8")
    (tmp_path / "sanierung.geojson.planning.json").write_text(
        json.dumps({"status": "Satzung", "number": "S-2024", "dates": {"satzungsbeschluss": "2024-03-01"},
                    "documents": [{"title": "Satzung", "url": "https://example.org/satzung.pdf"}]}),
        encoding="utf-8",
    )  # fmt: skip
    settings = Settings(data_dir=tmp_path / "data")
    report = ingest([source], IngestOptions("sanierung", kind="planning"), settings)
    assert report["features_written"] == 2 and report["repaired"]["geometry"] == 1, "the bow tie is repaired"
    record = Catalog(settings.catalog_url).get("sanierung")
    assert record.kind == "features" and record.planning is not None
    assert (record.planning.status, record.planning.number) == ("Satzung", "S-2024")
    items = TestClient(create_app(settings)).get("/ogc/collections/sanierung/items").json()
    assert sorted(f["properties"]["name"] for f in items["features"]) == ["Altstadt", "Fleischerstraße"]

    (tmp_path / "bad.json").write_text('{"status": "Rechtskraeftig"}', encoding="utf-8")
    with pytest.raises(InputError, match=r"bad.json: status"):
        ingest(
            [source], IngestOptions("sanierung", kind="planning", metadata=tmp_path / "bad.json"), settings
        )


def test_wfs_getfeature_response_is_read_like_the_plan(tmp_path: Path) -> None:
    """The same plan objects wrapped as a WFS 2.0 GetFeature answer (wfs:FeatureCollection/wfs:member)."""
    source = XPLAN / "valid" / "BP_6.0.gml"
    wfs = "http://www.opengis.net/wfs/2.0"
    collection = etree.Element(f"{{{wfs}}}FeatureCollection", nsmap={"wfs": wfs})
    for feature in _features(source):
        member = etree.SubElement(collection, f"{{{wfs}}}member")
        member.append(feature)
    wrapped = tmp_path / "getfeature.xml"
    wrapped.write_bytes(etree.tostring(collection, xml_declaration=True, encoding="utf-8"))
    settings = Settings(data_dir=tmp_path / "data")
    direct = ingest([source], IngestOptions("direkt"), settings)
    via_wfs = ingest([wrapped], IngestOptions("wfs"), settings)
    assert via_wfs["features_written"] == direct["features_written"] > 0
    assert [plan["name"] for plan in via_wfs["plans"]] == [plan["name"] for plan in direct["plans"]]
