"""XPlanGML reader on the xPlanBox test plans (../shared/data/planning/xplanbox) and on small inline documents.

Counts, versions and CRSs are checked against an independent reading with the standard library's ElementTree
(not the reader's iterparse code path).
"""

from __future__ import annotations

import math
import re
import xml.etree.ElementTree as ET
import zipfile
from pathlib import Path

import numpy as np
import pytest
import shapely
from conftest import SHARED_DATA, shared
from lxml import etree

from twin.errors import InputError
from twin.ingest.sources import SourceRef, expand_sources
from twin.ingest.xplan import XPlanDocument, is_xplan, read_geometry_fragment, read_xplan
from twin.ingest.xplan_codes import code_label, rechtsstand_name
from twin.ingest.xplan_geometry import CHORD_ERROR, MAX_ARC_SEGMENTS, _arc, read_geometry

XPLANBOX = "planning/xplanbox"
WRAPPERS = {"featureMember", "featureMembers", "member"}
# srsName as written in the files → the EPSG code the document should report.
CRS_OF_SRS_NAME = {
    "EPSG:25832": "EPSG:25832",
    "EPSG:25833": "EPSG:25833",
    "EPSG:31467": "EPSG:31467",
    "urn:adv:crs:ETRS89_UTM32": "EPSG:25832",
}
FRAGMENTS = {
    "curve.gml",
    "duplicateControlPointRing.gml",
    "multiSurface-intersection.gml",
    "polygon-orientation-invalid.gml",
    "polygonWithInteriorRing.gml",
    "polygonWithInteriorRings-touching.gml",
    "selfIntersectingRing.gml",
}


def _names(folder: str, pattern: str) -> list[str]:
    path = SHARED_DATA / XPLANBOX / folder
    names = sorted(child.name for child in path.glob(pattern)) if path.is_dir() else []
    return names or ["(absent)"]


def _local(tag: str) -> str:
    return tag.rpartition("}")[2]


def _independent(data: bytes) -> tuple[str, int, int, str]:
    """(version, plans, other features, CRS) of a document, counted with ElementTree."""
    root = ET.fromstring(data)
    match = re.match(r"\{http://www\.xplanung\.de/xplangml/(\d+)/(\d+)\}", root.tag)
    assert match, root.tag
    plans = features = 0
    for wrapper in root:
        if _local(wrapper.tag) in WRAPPERS:
            for feature in wrapper:
                if _local(feature.tag).endswith("_Plan"):
                    plans += 1
                else:
                    features += 1
    envelope = next(el for el in root.iter() if _local(el.tag) == "Envelope")
    return f"{match.group(1)}.{match.group(2)}", plans, features, CRS_OF_SRS_NAME[envelope.get("srsName", "")]


def _valid_refs() -> list[tuple[str, SourceRef | None]]:
    """Every valid file and every archive's xplan.gml member (through expand_sources, as callers do)."""
    valid = SHARED_DATA / XPLANBOX / "valid"
    archives = SHARED_DATA / XPLANBOX / "archives"
    if not valid.is_dir() or not archives.is_dir():
        return [("(absent)", None)]
    refs = [SourceRef(path) for path in sorted(valid.glob("*.gml"))] + expand_sources([archives])
    return [(ref.file_name if ref.member is None else ref.path.name, ref) for ref in refs]


VALID = _valid_refs()


@pytest.fixture(scope="module")
def documents() -> dict[str, tuple[XPlanDocument, bytes]]:
    shared(XPLANBOX)
    result = {}
    for key, ref in VALID:
        assert ref is not None
        with ref.open() as handle:
            result[key] = (read_xplan(ref), handle.read())
    return result


@pytest.mark.parametrize("key", [key for key, _ in VALID])
def test_valid_plans_parse_with_independent_counts(key: str, documents: dict) -> None:
    document, data = documents[key]
    version, plans, features, crs = _independent(data)
    assert plans >= 1
    assert (document.version, len(document.plans), len(document.features)) == (version, plans, features)
    assert document.crs == crs
    for plan in document.plans:
        assert isinstance(plan.attributes.get("name"), str) and plan.attributes["name"]
        assert plan.id and plan.line > 0
        assert plan.geometry is not None and plan.geometry.is_valid and plan.geometry.area > 0
    for feature in document.features:
        assert feature.id and not feature.cls.endswith("_Plan")
        if feature.cls == "BP_BaugebietsTeilFlaeche":
            geometry = feature.geometry
            assert geometry is not None and geometry.geom_type in ("Polygon", "MultiPolygon")
            assert geometry.is_valid and geometry.area > 0
        if feature.geometry is not None:
            assert not shapely.has_z(feature.geometry)
    for problem in document.problems:
        assert re.match(
            r"^\S+ \(\w+, line \d+\): (.*)(repaired|skipped|removed|closed|merged|fixed)", problem
        ), problem


def test_archive_members_arrive_as_zip_members(documents: dict) -> None:
    archives = [key for key, ref in VALID if ref is not None and ref.member is not None]
    assert len(archives) == 3
    for key, ref in VALID:
        if key in archives:
            assert ref is not None and ref.member == "xplan.gml"
            assert documents[key][0].source == ref.name


def test_attributes_refs_and_nested_types(documents: dict) -> None:
    document = documents["BP_6.0.gml"][0]
    plan = document.plans[0]
    assert plan.cls == "BP_Plan"
    assert plan.attributes["planArt"] == "1000" and plan.attributes["rechtsstand"] == "3000"
    assert plan.attributes["gemeinde.ags"] == "02000000"  # a code with leading zeros stays a string
    assert plan.attributes["gemeinde.gemeindeName"] == "Freie und Hansestadt Hamburg"
    assert plan.attributes["erstellungsMassstab"] == 1000
    assert plan.attributes["staedtebaulicherVertrag"] is False
    bereich_ids = plan.refs["bereich"]
    bereiche = [feature for feature in document.features if feature.cls == "BP_Bereich"]
    assert [bereich.id for bereich in bereiche] == bereich_ids
    assert all(not target.startswith("#") for targets in plan.refs.values() for target in targets)
    baugebiete = [feature for feature in document.features if feature.cls == "BP_BaugebietsTeilFlaeche"]
    assert {feature.attributes["besondereArtDerBaulNutzung"] for feature in baugebiete} <= set(
        ["1000", "1100", "1200", "1300", "1400", "1450", "1500", "1550", "1600", "1700", "1800"]
    )
    assert all(feature.refs["gehoertZuBereich"] == bereich_ids for feature in baugebiete)
    so_gebiet = next(
        feature for feature in document.features if "externeReferenz.referenzURL" in feature.attributes
    )
    assert so_gebiet.attributes["externeReferenz.referenzURL"] == "http://www.foo.bar/test.pdf"
    gruen = next(
        feature for feature in document.features if "zweckbestimmung.allgemein" in feature.attributes
    )
    assert gruen.attributes["zweckbestimmung.allgemein"] == "1000"  # inside a code-list property: str
    blankenese = documents["Blankenese29.gml"][0].plans[0].attributes
    assert blankenese["aendertPlan.planName"] == "BSBlankenese"
    assert blankenese["aendertPlan[1].planName"] == "TB556"
    hoehen = [
        feature
        for document, _ in documents.values()
        for feature in document.features
        if "hoehenangabe.hoehenbezug" in feature.attributes
    ]
    assert hoehen and all(
        isinstance(feature.attributes["hoehenangabe.hoehenbezug"], str) for feature in hoehen
    )


def _arc_features(data: bytes) -> dict[str, tuple[int, list[tuple[float, float]]]]:
    """gml:id → (distinct control points, middle points of its arcs) of every feature holding gml:Arc(String)."""
    root = ET.fromstring(data)
    result = {}
    for wrapper in root:
        for feature in wrapper:
            arcs = [el for el in feature.iter() if _local(el.tag) in ("Arc", "ArcString")]
            if not arcs:
                continue
            control = {
                tuple(pair)
                for el in feature.iter()
                if _local(el.tag) in ("posList", "pos")
                for pair in np.array((el.text or "").split(), float).reshape(-1, 2).tolist()
            }
            middles: list[tuple[float, float]] = []
            for arc in arcs:
                points = np.array(" ".join(el.text or "" for el in arc).split(), float).reshape(-1, 2)
                middles.extend((float(x), float(y)) for x, y in points[1::2])
            result[feature.get("{http://www.opengis.net/gml/3.2}id", "")] = (len(control), middles)
    return result


def test_arcs_are_linearised(documents: dict) -> None:
    for key in ("Blankenese29.gml", "StErhVO_Hamm_60_httpRef.gml"):
        document, data = documents[key]
        arcs = _arc_features(data)
        assert arcs, f"{key} holds gml:Arc"
        by_id = {feature.id: feature for feature in [*document.plans, *document.features]}
        control_total = vertex_total = 0
        for feature_id, (control, middles) in arcs.items():
            geometry = by_id[feature_id].geometry
            assert geometry is not None and geometry.is_valid
            vertices = len(set(map(tuple, shapely.get_coordinates(geometry).tolist())))
            assert vertices > 3
            control_total += control
            vertex_total += vertices
            boundary = geometry.boundary if geometry.geom_type.endswith("Polygon") else geometry
            distances = shapely.distance(boundary, shapely.points(middles))
            assert np.all(distances <= CHORD_ERROR + 1e-6), (feature_id, distances.max())
        assert vertex_total > control_total  # arcs gained vertices


def test_arc_chord_error_and_segment_limit() -> None:
    radius = 10.0
    points = _arc(np.array([radius, 0.0]), np.array([0.0, radius]), np.array([-radius, 0.0]))
    middle = (points[1:] + points[:-1]) / 2
    assert np.all(radius - np.hypot(middle[:, 0], middle[:, 1]) <= CHORD_ERROR + 1e-9)
    assert np.allclose(np.hypot(points[:, 0], points[:, 1]), radius)
    assert points[len(points) // 2][1] > 9.9  # goes through the top: counter-clockwise from (10, 0)
    clockwise = _arc(np.array([radius, 0.0]), np.array([0.0, -radius]), np.array([-radius, 0.0]))
    assert clockwise[len(clockwise) // 2][1] < -9.9
    huge = _arc(np.array([1e5, 0.0]), np.array([0.0, 1e5]), np.array([-1e5, 0.0]))
    assert len(huge) == MAX_ARC_SEGMENTS + 1
    straight = _arc(np.array([0.0, 0.0]), np.array([1.0, 1.0]), np.array([2.0, 2.0]))
    assert straight.tolist() == [[0.0, 0.0], [2.0, 2.0]]
    assert math.isclose(
        shapely.Polygon(
            _arc(np.array([100.0, 0]), np.array([0.0, 100]), np.array([-100.0, 0]), full=True)
        ).area,
        math.pi * 1e4,
        rel_tol=0.01,
    )


@pytest.mark.parametrize("name", _names("edge-cases", "*.gml"))
def test_edge_cases_read_or_refuse_cleanly(name: str) -> None:
    path = shared(f"{XPLANBOX}/edge-cases/{name}")
    ref = SourceRef(path)
    try:
        document = read_xplan(ref)
    except InputError as exc:
        assert str(path) in str(exc)
        assert "\n" not in str(exc)
        if name in FRAGMENTS:
            assert re.search(r"not an XPlanGML document: root element is gml:\w+", str(exc))
        return
    assert name not in FRAGMENTS
    assert document.plans
    for feature in [*document.plans, *document.features]:
        assert feature.geometry is None or feature.geometry.is_valid


def test_edge_case_problems_name_the_repair() -> None:
    folder = shared(f"{XPLANBOX}/edge-cases")
    overlap = read_xplan(SourceRef(folder / "BP_6-0_false_2.2.2.1_PolygonPatch_Ueberlappung.gml"))
    assert any(
        "patches overlap" in problem and "BP_AbgrabungsFlaeche" in problem for problem in overlap.problems
    )
    orientation = read_xplan(SourceRef(folder / "geometryOrientationInvalid.gml"))
    assert any("orientation" in problem for problem in orientation.problems)
    identical = read_xplan(SourceRef(folder / "identicalControlPoints.gml"))
    assert any("repeated vertices" in problem for problem in identical.problems)
    ohne_bereich = read_xplan(SourceRef(folder / "BPlan_ohneBereich.gml"))
    assert ohne_bereich.version == "5.3" and len(ohne_bereich.plans) == 1 and not ohne_bereich.features


def test_syntax_error_names_element_and_line() -> None:
    path = shared(f"{XPLANBOX}/edge-cases/BP_6.0_syntaxErrors.gml")
    with pytest.raises(InputError) as caught:
        read_xplan(SourceRef(path))
    line = next(
        number for number, text in enumerate(path.read_text().splitlines(), 1) if "<xplan:planArtCode" in text
    )
    assert str(caught.value) == (
        f"{path}: line {line}: element 'planArtCode' is not allowed in BP_Plan (XPlanGML 6.0)"
    )


@pytest.mark.parametrize("name", sorted(FRAGMENTS))
def test_fragments_give_a_geometry_or_a_reason(name: str) -> None:
    path = shared(f"{XPLANBOX}/edge-cases/{name}")
    geometry, notes = read_geometry_fragment(SourceRef(path))
    assert geometry is not None or any(note.startswith("skipped") for note in notes)
    if geometry is not None:
        assert geometry.is_valid and geometry.area > 0
    expected = {
        "selfIntersectingRing.gml": "repaired: Self-intersection",
        "multiSurface-intersection.gml": "repaired: Self-intersection",
        "polygon-orientation-invalid.gml": "orientation",
        "duplicateControlPointRing.gml": "repeated vertices",
    }.get(name)
    if expected:
        assert any(expected in note for note in notes), notes


def _write(tmp_path: Path, text: str, name: str = "plan.gml") -> SourceRef:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return SourceRef(path)


DOC = """<?xml version="1.0" encoding="utf-8"?>
<xplan:XPlanAuszug xmlns:xplan="http://www.xplanung.de/xplangml/{version}" xmlns:gml="{gml}"
    xmlns:xlink="http://www.w3.org/1999/xlink" gml:id="A">
  <gml:featureMember>
    <xplan:BP_Plan gml:id="P1">
      <gml:name>gml name</gml:name>
      {plan}
      <xplan:raeumlicherGeltungsbereich>
        <gml:Polygon srsName="urn:ogc:def:crs:EPSG::25832" srsDimension="3">
          <gml:exterior><gml:LinearRing><gml:posList>0 0 5 10 0 5 10 10 5 0 10 5 0 0 5</gml:posList></gml:LinearRing>
          </gml:exterior>
        </gml:Polygon>
      </xplan:raeumlicherGeltungsbereich>
    </xplan:BP_Plan>
  </gml:featureMember>
  <gml:featureMember>
    <xplan:BP_BaugebietsTeilFlaeche gml:id="F1">
      <xplan:hoehenangabe><xplan:XP_Hoehenangabe><xplan:hoehenbezug>3000</xplan:hoehenbezug>
        <xplan:hMax uom="m">12.5</xplan:hMax></xplan:XP_Hoehenangabe></xplan:hoehenangabe>
      <xplan:hoehenangabe><xplan:XP_Hoehenangabe><xplan:h>7</xplan:h></xplan:XP_Hoehenangabe></xplan:hoehenangabe>
      <xplan:zweckbestimmung>1000</xplan:zweckbestimmung>
      <xplan:zweckbestimmung>1200</xplan:zweckbestimmung>
      <xplan:gehoertZuBereich xlink:href="#B1"/>
      <xplan:position>
        <gml:Polygon><gml:exterior><gml:LinearRing>
          <gml:coordinates>0,0 4,4 4,0 0,4 0,0</gml:coordinates></gml:LinearRing></gml:exterior></gml:Polygon>
      </xplan:position>
    </xplan:BP_BaugebietsTeilFlaeche>
  </gml:featureMember>
</xplan:XPlanAuszug>
"""


def test_inline_document(tmp_path: Path) -> None:
    text = DOC.format(
        version="5/0", gml="http://www.opengis.net/gml/3.2", plan="<xplan:planArt>1000</xplan:planArt>"
    )
    document = read_xplan(_write(tmp_path, text))
    assert (document.version, document.crs) == ("5.0", "EPSG:25832")
    plan = document.plans[0]
    assert plan.attributes["name"] == "gml name" and plan.geometry is not None and plan.geometry.area == 100
    assert not shapely.has_z(plan.geometry)
    feature = document.features[0]
    assert feature.attributes["hoehenangabe.hMax"] == 12.5
    assert feature.attributes["hoehenangabe.hoehenbezug"] == "3000"
    assert feature.attributes["hoehenangabe[1].h"] == 7
    assert feature.attributes["zweckbestimmung"] == "1000; 1200"
    assert feature.refs == {"gehoertZuBereich": ["B1"]}
    assert feature.geometry is not None and feature.geometry.is_valid  # the bow tie, repaired
    assert not any(key.startswith("position") for key in feature.attributes)
    assert document.problems == [
        f"F1 (BP_BaugebietsTeilFlaeche, line {feature.line}): repaired: Self-intersection[2 2]"
    ]


def test_unsupported_geometry_is_skipped_with_reason(tmp_path: Path) -> None:
    text = DOC.format(
        version="5/4", gml="http://www.opengis.net/gml/3.2", plan="<xplan:planArt>1000</xplan:planArt>"
    )
    solid = "<xplan:position><gml:Solid/></xplan:position>"
    text = re.sub(r"<xplan:position>.*</xplan:position>", solid, text, flags=re.S)
    document = read_xplan(_write(tmp_path, text))
    feature = document.features[0]
    assert feature.geometry is None and not any(key.startswith("position") for key in feature.attributes)
    assert document.problems == [
        f"F1 (BP_BaugebietsTeilFlaeche, line {feature.line}): skipped: unsupported geometry gml:Solid"
    ]


def test_inline_refusals(tmp_path: Path) -> None:
    gml31 = "http://www.opengis.net/gml"
    no_name = DOC.format(version="4/1", gml=gml31, plan="").replace("<gml:name>gml name</gml:name>", "")
    with pytest.raises(InputError, match=r"plan\.gml: line 5: BP_Plan P1 has no 'name'"):
        read_xplan(_write(tmp_path, no_name))
    with pytest.raises(InputError, match=r"XPlanGML 3\.0 is not supported"):
        read_xplan(_write(tmp_path, DOC.format(version="3/0", gml=gml31, plan="")))
    with pytest.raises(InputError, match=r"plan\.gml: line 3: not well-formed XML"):
        read_xplan(_write(tmp_path, '<?xml version="1.0"?>\n<a>\n<b></a>'))
    with pytest.raises(InputError, match=r"not an XPlanGML document: root element is CityModel"):
        read_xplan(_write(tmp_path, "<CityModel/>"))
    entity = '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><x>&e;</x>'
    with pytest.raises(InputError):
        read_xplan(_write(tmp_path, entity))


def test_zip_member_and_detection(tmp_path: Path) -> None:
    text = DOC.format(
        version="6/0", gml="http://www.opengis.net/gml/3.2", plan="<xplan:planArt>1000</xplan:planArt>"
    )
    archive = tmp_path / "plan.zip"
    with zipfile.ZipFile(archive, "w") as handle:
        handle.writestr("xplan.gml", text)
        handle.writestr("begruendung.pdf", b"%PDF")
    refs = expand_sources([archive])
    assert [ref.member for ref in refs] == ["xplan.gml"]
    document = read_xplan(refs[0])
    assert document.source == f"{archive}:xplan.gml" and document.version == "6.0"
    assert is_xplan(text.encode()[:400])
    assert not is_xplan(b'<?xml version="1.0"?><CityModel xmlns="http://www.opengis.net/citygml/2.0">')


def test_geometry_kinds() -> None:
    gml = 'xmlns:gml="http://www.opengis.net/gml/3.2"'
    surface = f"""<gml:Surface {gml}><gml:patches>
      <gml:PolygonPatch><gml:exterior><gml:LinearRing><gml:posList>0 0 2 0 2 2 0 2 0 0</gml:posList>
        </gml:LinearRing></gml:exterior></gml:PolygonPatch>
      <gml:PolygonPatch><gml:exterior><gml:LinearRing><gml:posList>2 0 4 0 4 2 2 2 2 0</gml:posList>
        </gml:LinearRing></gml:exterior></gml:PolygonPatch>
    </gml:patches></gml:Surface>"""
    geometry, notes = read_geometry(etree.fromstring(surface))
    assert geometry is not None and geometry.geom_type == "Polygon" and geometry.area == 8 and notes == []
    multicurve = f"""<gml:MultiCurve {gml}><gml:curveMember><gml:Curve><gml:segments>
      <gml:LineStringSegment><gml:posList>0 0 1 0</gml:posList></gml:LineStringSegment>
      <gml:ArcString><gml:posList>1 0 2 1 3 0</gml:posList></gml:ArcString></gml:segments></gml:Curve></gml:curveMember>
      <gml:curveMember><gml:LineString><gml:pos>5 5</gml:pos><gml:pos>6 6</gml:pos></gml:LineString></gml:curveMember>
    </gml:MultiCurve>"""
    geometry, notes = read_geometry(etree.fromstring(multicurve))
    assert geometry is not None and geometry.geom_type == "MultiLineString" and notes == []
    assert shapely.get_num_coordinates(geometry) > 6
    bad, notes = read_geometry(etree.fromstring(f"<gml:Point {gml}><gml:pos>1 x</gml:pos></gml:Point>"))
    assert bad is None and notes[0].startswith("skipped: coordinates that are not numbers")
    nan, notes = read_geometry(etree.fromstring(f"<gml:Point {gml}><gml:pos>1 nan</gml:pos></gml:Point>"))
    assert nan is None and "not finite" in notes[0]
    line, notes = read_geometry(
        etree.fromstring(f"<gml:LineString {gml}><gml:posList>1 2</gml:posList></gml:LineString>")
    )
    assert line is None and notes[0].startswith("skipped:")
    sliver, notes = read_geometry(
        etree.fromstring(
            f"<gml:Polygon {gml}><gml:exterior><gml:LinearRing><gml:posList>0 0 1 1 2 2 0 0</gml:posList>"
            "</gml:LinearRing></gml:exterior></gml:Polygon>"
        )
    )
    assert sliver is None and notes[0].startswith("skipped: ")


def test_code_labels() -> None:
    assert code_label("rechtsstand", "4000") == "In Kraft getreten"
    assert rechtsstand_name("4000") == "InkraftGetreten"
    assert rechtsstand_name(50001) == "AusserKraft"
    assert rechtsstand_name("3000", cls="FP_Plan") == "Plan"
    assert code_label("besondereArtDerBaulNutzung", "1200") == "Allgemeines Wohngebiet (WA)"
    assert code_label("allgArtDerBaulNutzung", "3000") == "Gewerbliche Baufläche"
    assert code_label("bauweise", "2000") == "geschlossene Bauweise"
    assert code_label("dachform", "3300") == "Krüppelwalmdach"
    assert code_label("hoehenangabe[1].hoehenbezug", "1000") == "absolut, Normalhöhennull (NHN)"
    assert code_label("dachform", "4242") is None
    assert code_label("planArt", "1000") is None
