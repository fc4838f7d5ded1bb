"""The building code lists (twin.ingest.codelists) against their sources, and the viewer's copy against them.

Counts are those of the sources: GeoInfoDok 7.1 AX_Gebaeudefunktion has 234 values (gbd-consult/gbd-websuite
gid7.py, apano-on/atkis addtables.sql), AX_Dachform 15, the SIG3D CityGML 2.0 lists 167 and 14
(tudelft3d/3DCityDB-Tools-for-QGIS 022_codelists.sql).
"""

from __future__ import annotations

import csv
import json
import re
import shutil
import subprocess
import sys
from importlib import resources
from pathlib import Path

import pytest

from twin.ingest.codelists import (
    CODE_LISTS,
    CodeListName,
    entries,
    function_label,
    label,
    roof_type_label,
)

ROOT = Path(__file__).resolve().parents[1]
JS_CODELISTS = ROOT / "web/src/codelists.js"
JS_LABELS = ROOT / "web/src/labels.js"

SIG3D_FUNCTION = "http://www.sig3d.org/codelists/standard/building/2.0/_AbstractBuilding_function.xml"
SIG3D_ROOF = "https://www.sig3d.org/codelists/citygml/2.0/building/2.0/_AbstractBuilding_roofType.xml"
ADV_FUNCTION = "https://repository.gdi-de.org/schemas/adv/citygml/Codelisten/BuildingFunctionTypeAdV.xml"
ADV_ROOF = "https://repository.gdi-de.org/schemas/adv/citygml/Codelisten/RoofTypeTypeAdV.xml"
KIT_ADV_FUNCTION = "https://sdm-web.cloud.iai.kit.edu/data/codelists/BuildingFunctionTypeAdV-trans.xml"

SOURCE_COUNTS: dict[CodeListName, int] = {
    "adv_building_function": 234,
    "adv_roof_type": 15,
    "sig3d_building_function": 167,
    "sig3d_roof_type": 14,
}
JS_NAMES: dict[CodeListName, str] = {
    "adv_building_function": "ADV_BUILDING_FUNCTION",
    "adv_roof_type": "ADV_ROOF_TYPE",
    "sig3d_building_function": "SIG3D_BUILDING_FUNCTION",
    "sig3d_roof_type": "SIG3D_ROOF_TYPE",
}


def csv_rows(code_list: CodeListName) -> list[dict[str, str]]:
    path = resources.files("twin.ingest").joinpath("codelists", f"{code_list}.csv")
    return list(csv.DictReader(path.read_text(encoding="utf-8").splitlines()))


@pytest.mark.parametrize("code_list", CODE_LISTS)
def test_each_list_has_the_source_count_of_distinct_four_digit_codes(code_list: CodeListName) -> None:
    rows = csv_rows(code_list)
    assert len(rows) == SOURCE_COUNTS[code_list]
    assert len(entries(code_list)) == len(rows), "a code appears twice in the CSV"
    for row in rows:
        assert re.fullmatch(r"\d{4}", row["code"]), row
        for column, text in row.items():
            assert text == text.strip() and (text or column == "name"), (column, row)
        assert '"' not in row["de"] + row["en"] and "\\" not in row["de"] + row["en"]


@pytest.mark.parametrize("code_list", CODE_LISTS)
def test_no_two_codes_share_a_label(code_list: CodeListName) -> None:
    # Labels and SIG3D names are also accepted in place of codes, so each must lead to one code only.
    codes_of: dict[str, set[str]] = {}
    for code, entry in entries(code_list).items():
        for text in filter(None, entry):
            codes_of.setdefault(re.sub(r"[\W_]+", " ", text.casefold()).strip(), set()).add(code)
    assert {text: codes for text, codes in codes_of.items() if len(codes) > 1} == {}


def test_code_sets_follow_the_structure_of_the_lists() -> None:
    adv = {int(code) for code in entries("adv_building_function")}
    # AX_Gebaeudefunktion: groups 1xxx housing, 2xxx business, 3xxx public; 9998 is "not specifiable".
    assert min(adv) == 1000 and max(adv - {9998}) == 3290 and 9998 in adv
    assert all(1000 <= code < 4000 for code in adv - {9998})
    assert set(entries("adv_roof_type")) == {
        "1000", "2100", "2200", "3100", "3200", "3300", "3400", "3500", "3600", "3700", "3800", "3900", "4000",
        "5000", "9999",
    }  # fmt: skip
    assert {int(c) for c in entries("sig3d_building_function")} == set(range(1000, 2660, 10)) | {2700}
    assert {int(c) for c in entries("sig3d_roof_type")} == set(range(1000, 1140, 10))
    assert set(entries("adv_roof_type")) & set(entries("sig3d_roof_type")) == {"1000"}


@pytest.mark.parametrize(
    ("code", "german"),
    [
        ("1000", "Wohngebäude"),
        ("1010", "Wohnhaus"),
        ("2463", "Garage"),
        ("3021", "Allgemein bildende Schule"),
        ("3034", "Museum"),
        ("3040", "Gebäude für religiöse Zwecke"),
        ("3041", "Kirche"),
        ("3050", "Gebäude für Gesundheitswesen"),
        ("2095", "Spielhalle"),  # new in GeoInfoDok 7
        ("3054", "Rettungswache"),  # new in GeoInfoDok 7
        ("2412", "Wartungshalle"),  # "Wartehalle" in GeoInfoDok 6
        ("9998", "Nach Quellenlage nicht zu spezifizieren"),
    ],
)
def test_adv_function_anchors(code: str, german: str) -> None:
    assert function_label(code) == german
    assert function_label(f"31001_{code}") == german


def test_every_adv_function_code_resolves_in_both_forms_and_both_languages() -> None:
    for code, entry in entries("adv_building_function").items():
        for form in (code, f"31001_{code}", int(code), f" 31001_{code} "):
            assert function_label(form) == entry.de, form
            assert function_label(form, language="en") == entry.en, form
            assert function_label(form, ADV_FUNCTION) == entry.de, form
        assert label("adv_building_function", f"31001_{code}", "en") == entry.en


@pytest.mark.parametrize("code", ["51009_1610", "53009_2090", "51001_1001", "31002_1000"])
def test_other_alkis_object_types_are_not_building_functions(code: str) -> None:
    # 2090 and 1000 are building functions too: only the 31001 prefix (AX_Gebaeude) makes the code one.
    assert function_label(code) is None
    assert label("adv_building_function", code) is None


@pytest.mark.parametrize("code", ["1234", "31001_1234", "0000", "", "  ", "abc", "31001_", "1000_1000"])
def test_unknown_codes_give_none(code: str) -> None:
    assert function_label(code) is None
    assert roof_type_label(code) is None


def test_sig3d_function_codes_need_their_code_space() -> None:
    for code, entry in entries("sig3d_building_function").items():
        assert function_label(code, SIG3D_FUNCTION) == entry.de
        assert function_label(code, SIG3D_FUNCTION, "en") == entry.en
    # The numbers overlap AdV's with other meanings: without the codeSpace a code is AdV's.
    assert function_label("2000", SIG3D_FUNCTION) == "Post"
    assert function_label("2000") == "Gebäude für Wirtschaft oder Gewerbe"
    assert function_label("1030") is None  # SIG3D only; not guessed without its codeSpace
    assert function_label("31001_2000", SIG3D_FUNCTION) == "Gebäude für Wirtschaft oder Gewerbe"


def test_roof_types_resolve_by_code_space_or_by_the_code() -> None:
    for code, entry in entries("adv_roof_type").items():
        assert roof_type_label(code) == roof_type_label(code, ADV_ROOF) == entry.de
        assert roof_type_label(code, language="en") == entry.en
    for code, entry in entries("sig3d_roof_type").items():
        assert roof_type_label(code) == roof_type_label(code, SIG3D_ROOF) == entry.de
    assert roof_type_label("1030", ADV_ROOF) is None
    assert roof_type_label("3100", SIG3D_ROOF) is None
    assert roof_type_label("3100") == "Satteldach" and roof_type_label("1030") == "Satteldach"
    assert roof_type_label("3100.0") == roof_type_label(3100) == "Satteldach"


@pytest.mark.parametrize("code_list", ["sig3d_building_function", "sig3d_roof_type"])
def test_sig3d_names_written_instead_of_codes_resolve(code_list: CodeListName) -> None:
    # OGC examples write the name: <bldg:roofType codeSpace="..._roofType.xml">gabled roof</bldg:roofType>
    find = function_label if code_list == "sig3d_building_function" else roof_type_label
    space = SIG3D_FUNCTION if code_list == "sig3d_building_function" else SIG3D_ROOF
    for entry in entries(code_list).values():
        assert entry.name
        assert find(entry.name, space) == entry.de, entry
        assert find(entry.name.upper(), space) == entry.de, entry
    assert function_label("residential building") == "Wohngebäude"
    assert roof_type_label("Half-hipped roof") == "Krüppelwalmdach"


def test_several_codes_in_one_value() -> None:
    assert function_label("31001_1000;31001_2463") == "Wohngebäude; Garage"
    assert function_label("31001_1000; 31001_1234") == "Wohngebäude; 31001_1234"
    assert function_label("31001_1234;51009_1610") is None
    assert roof_type_label("3100;1000", language="en") == "Gabled roof; Flat roof"


CODE_SPACES: list[tuple[str, str | None]] = [
    (ADV_FUNCTION, "adv"),
    (ADV_ROOF, "adv"),
    (KIT_ADV_FUNCTION, "adv"),
    ("http://www.adv-online.de/namespaces/adv/gid/6.0/codelist", "adv"),
    (SIG3D_FUNCTION, "sig3d"),
    (SIG3D_ROOF, "sig3d"),
    ("http://www.sig3d.org/codelists/citygml/2.0/building/2.0/_AbstractBuilding_usage.xml", "sig3d"),
    ("http://example.org/own-list.xml", None),
    ("", None),
]


@pytest.mark.parametrize(("code_space", "family"), CODE_SPACES)
def test_code_space_picks_the_list(code_space: str, family: str | None) -> None:
    # 2000 means different things in AdV and SIG3D functions; roof 1030 exists in SIG3D only.
    adv_2000 = "Gebäude für Wirtschaft oder Gewerbe"
    assert function_label("2000", code_space) == ("Post" if family == "sig3d" else adv_2000)
    assert roof_type_label("1030", code_space) == (None if family == "adv" else "Satteldach")


def test_label_rejects_an_unknown_list() -> None:
    with pytest.raises(ValueError, match="unknown code list"):
        label("nonsense", "1000")  # type: ignore[arg-type]


def test_no_file_is_read_at_import() -> None:
    probe = "import twin.ingest.codelists as c; print(c._table.cache_info().currsize)"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "0"


# --- The viewer's copy (web/src/codelists.js) ---

JS_ENTRY = re.compile(r'^\s*"(\d{4})": \{ de: "([^"\\]*)", en: "([^"\\]*)" \},$')


def js_lists() -> dict[str, dict[str, tuple[str, str]]]:
    """Every `export const NAME = { "code": { de: "...", en: "..." }, ... };` block of codelists.js."""
    lists: dict[str, dict[str, tuple[str, str]]] = {}
    current: dict[str, tuple[str, str]] | None = None
    for line in JS_CODELISTS.read_text(encoding="utf-8").splitlines():
        start = re.fullmatch(r"export const (\w+) = \{", line)
        if start:
            current = lists.setdefault(start.group(1), {})
        elif line == "};":
            current = None
        elif current is not None:
            match = JS_ENTRY.fullmatch(line)
            assert match, f"line in a code list that is not one entry: {line!r}"
            assert match.group(1) not in current, f"code {match.group(1)} twice"
            current[match.group(1)] = (match.group(2), match.group(3))
    return lists


def test_js_code_lists_equal_the_python_lists() -> None:
    lists = js_lists()
    assert set(lists) == set(JS_NAMES.values())
    for code_list, js_name in JS_NAMES.items():
        python = {code: (entry.de, entry.en) for code, entry in entries(code_list).items()}
        assert lists[js_name] == python, js_name


@pytest.mark.skipif(shutil.which("node") is None, reason="needs Node.js")
def test_js_lookup_agrees_with_python_code_by_code() -> None:
    cases: list[tuple[str, str, str | None]] = []
    for code in entries("adv_building_function"):
        cases += [
            ("function", code, None),
            ("function", f"31001_{code}", None),
            ("function", code, SIG3D_FUNCTION),
        ]
    for code in entries("sig3d_building_function"):
        cases += [("function", code, SIG3D_FUNCTION), ("function", code, ADV_FUNCTION)]
    for code in list(entries("adv_roof_type")) + list(entries("sig3d_roof_type")):
        cases += [("roof", code, None), ("roof", code, ADV_ROOF), ("roof", code, SIG3D_ROOF)]
    cases += [("function", code, None) for code in ("51009_1610", "53009_2090", "1234", "31001_1234", "abc")]
    cases += [
        (kind, code, space)
        for space, _ in CODE_SPACES
        for kind, code in (("function", "2000"), ("roof", "1030"))
    ]
    script = (
        f"const m = await import({json.dumps(JS_CODELISTS.as_uri())});"
        "const fs = await import('node:fs');"
        "const cases = JSON.parse(fs.readFileSync(0, 'utf8'));"
        "console.log(JSON.stringify(cases.map(([kind, code, space]) =>"
        " (kind === 'function' ? m.functionEntry : m.roofTypeEntry)(code, space))));"
    )
    out = subprocess.run(
        ["node", "--input-type=module", "-e", script],
        input=json.dumps(cases),
        capture_output=True,
        text=True,
        check=True,
    )
    for (kind, code, space), js in zip(cases, json.loads(out.stdout), strict=True):
        find = function_label if kind == "function" else roof_type_label
        from_js = (js["de"], js["en"]) if js else (None, None)
        assert from_js == (find(code, space), find(code, space, "en")), (kind, code, space)


# --- The viewer's attribute labels ---

CANONICAL_ATTRIBUTES = [
    "name", "class", "function", "function_label", "usage", "roof_type", "roof_type_label", "measured_height",
    "storeys_above_ground", "storeys_below_ground", "year_of_construction", "year_of_demolition", "street",
    "house_number", "postcode", "locality", "address", "creation_date", "building_parts", "source_file", "lod",
    "gemeindeschluessel", "datenquelledachhoehe", "datenquellebodenhoehe", "datenquellelage",
    "grundrissaktualitaet", "geometrietyp2dreferenz",
]  # fmt: skip


def test_viewer_labels_every_attribute_the_ingest_writes() -> None:
    entry = re.compile(r'^  (\w+): (\{ de: "[^"]+", en: "[^"]+".*\}),$', re.MULTILINE)
    attributes = dict(entry.findall(JS_LABELS.read_text("utf-8")))
    missing = [name for name in CANONICAL_ATTRIBUTES if name not in attributes]
    assert not missing
    assert 'unit: "m"' in attributes["measured_height"]
    assert 'codes: "roof"' in attributes["roof_type"] and 'codes: "function"' in attributes["function"]
