"""City profiles: the shipped ones are valid, and every kind of mistake is named by file, key and problem."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from twin.profile.check import ProfileError, check_profile, read_profile

ROOT = Path(__file__).resolve().parents[1]

VALID = """
attribution = "© Stadt Musterstadt"

[city]
name = "Musterstadt"

[[basemaps]]
id = "osm"
title = "OSM"
type = "xyz"
url = "https://tile.openstreetmap.org/{z}/{x}/{y}.png"

[[layers]]
id = "gebaeude"
title = { de = "Gebäude", en = "Buildings" }
source = "gebaeude.geojson"
"""


def _profile(tmp_path: Path, text: str) -> Path:
    (tmp_path / "gebaeude.geojson").write_text(
        '{"type": "FeatureCollection", "features": []}', encoding="utf-8"
    )
    path = tmp_path / "profile.toml"
    path.write_text(text, encoding="utf-8")
    return path


def _problems(tmp_path: Path, text: str) -> dict[str, str]:
    profile, problems = check_profile(_profile(tmp_path, text))
    assert problems, "the mistake was not found"
    assert profile is None or problems
    return {problem.key: problem.message for problem in problems}


@pytest.mark.parametrize("folder", ["halle", "magdeburg"])
def test_shipped_profiles_are_valid(folder: str) -> None:
    profile = read_profile(ROOT / "profiles" / folder / "profile.toml")
    assert profile.layers, "an example profile builds at least one layer"
    assert (ROOT / "profiles" / folder / profile.layers[0].sources[0]).exists()


def test_a_valid_profile_has_no_problems(tmp_path: Path) -> None:
    profile, problems = check_profile(_profile(tmp_path, VALID))
    assert problems == []
    assert profile is not None and profile.layers[0].default_title("en") == "Buildings"


# Each case: a change to the valid profile, the key the problem must be reported at and words of the message.
MISTAKES = {
    "wrong type": (
        VALID.replace('attribution = "© Stadt Musterstadt"', "attribution = 3"),
        "attribution",
        "valid string (got 3)",
    ),
    "unknown key with did-you-mean": (
        VALID.replace('name = "Musterstadt"', 'nmae = "Musterstadt"'),
        "city.nmae",
        "unknown key 'nmae'; did you mean 'name'?",
    ),
    "unknown table": (VALID + "\n[camra]\nlongitude = 1\n", "camra", "did you mean 'camera'?"),
    "missing source file": (
        VALID.replace('source = "gebaeude.geojson"', 'source = "gebaeude.gpkg"'),
        "layers[0].source",
        "file not found: gebaeude.gpkg",
    ),
    "glob without matches": (
        VALID.replace('source = "gebaeude.geojson"', 'source = ["gebaeude.geojson", "lod2/*.gml"]'),
        "layers[0].source[1]",
        "no file matches the pattern: lod2/*.gml",
    ),
    "missing required key": (VALID.replace('source = "gebaeude.geojson"', ""), "layers[0].source", "missing"),
    "bad CRS": (
        VALID + 'crs = "EPSG:99999"\n',
        "layers[0].crs",
        "bad CRS: PROJ does not know 'EPSG:99999'",
    ),
    "bad URL": (
        VALID.replace("https://tile.openstreetmap.org", "htps://tile.openstreetmap.org"),
        "basemaps[0].url",
        "bad URL: must start with http:// or https://",
    ),
    "bad homepage": (
        VALID.replace('name = "Musterstadt"', 'name = "Musterstadt"\nhomepage = "www.musterstadt.de"'),
        "city.homepage",
        "bad URL",
    ),
    "duplicate layer id": (
        VALID + '\n[[layers]]\nid = "gebaeude"\ntitle = "Noch einmal"\nsource = "gebaeude.geojson"\n',
        "layers[1].id",
        "duplicate id 'gebaeude' (also layers[0])",
    ),
    "bad layer id": (
        VALID.replace('id = "gebaeude"', 'id = "Gebäude LoD2"'),
        "layers[0].id",
        "not a layer id",
    ),
    "value out of range": (
        VALID + "\n[camera]\nlongitude = 200\nlatitude = 52\n",
        "camera.longitude",
        "less than or equal to 180 (got 200)",
    ),
    "invalid choice": (
        VALID + 'heights = "sky"\n',
        "layers[0].heights",
        "'auto', 'ground' or 'source' (got 'sky')",
    ),
    "bad colour": (VALID + '\n[theme]\nprimary = "red"\n', "theme.primary", "not a colour: use #rrggbb"),
    "missing logo": (
        VALID.replace('name = "Musterstadt"', 'name = "Musterstadt"\nlogo = "wappen.svg"'),
        "city.logo",
        "file not found: wappen.svg",
    ),
    "unknown language": (
        VALID.replace(
            'title = { de = "Gebäude", en = "Buildings" }', 'title = { de = "Gebäude", fr = "Bâtiments" }'
        ),
        "layers[0].title",
        "unknown language 'fr'",
    ),
    "default language not available": (
        VALID + '\n[languages]\ndefault = "en"\navailable = ["de"]\n',
        "languages",
        "default language 'en' is not in available",
    ),
    "two default base maps": (
        VALID.replace('type = "xyz"', 'type = "xyz"\ndefault = true')
        + '\n[[basemaps]]\nid = "b"\ntitle = "B"\ntype = "xyz"\nurl = "https://b/{z}/{x}/{y}.png"\ndefault = true\n',
        "basemaps[1].default",
        "only one base map can be the default",
    ),
    "WMS without layers": (
        VALID.replace('type = "xyz"', 'type = "wms"'),
        "basemaps[0]",
        "a WMS needs 'layers'",
    ),
    "unknown time zone": (
        VALID + '\n[viewer]\ntimezone = "Europe/Halle"\n',
        "viewer.timezone",
        "unknown time zone",
    ),
}


@pytest.mark.parametrize("kind", sorted(MISTAKES))
def test_mistake_is_named_by_key_and_problem(tmp_path: Path, kind: str) -> None:
    text, key, words = MISTAKES[kind]
    problems = _problems(tmp_path, text)
    assert key in problems, f"{kind}: reported at {sorted(problems)}"
    assert words in problems[key], problems[key]


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    text = VALID.replace('name = "Musterstadt"', 'nmae = "Musterstadt"').replace(
        "attribution = ", "attribution = 3 #"
    )
    assert {"city.nmae", "attribution"} <= set(_problems(tmp_path, text))


def test_toml_syntax_error_names_the_line(tmp_path: Path) -> None:
    problems = _problems(tmp_path, VALID + "\n[city\n")
    [message] = problems.values()
    assert "not valid TOML" in message and "line" in message


def test_profile_error_lines_name_file_key_and_problem(tmp_path: Path) -> None:
    path = _profile(tmp_path, VALID.replace('source = "gebaeude.geojson"', 'source = "gebaeude.gpkg"'))
    with pytest.raises(ProfileError) as caught:
        read_profile(path)
    assert str(caught.value) == f"{path}: layers[0].source: file not found: gebaeude.gpkg"


def test_cli_profile_check(tmp_path: Path) -> None:
    good = _profile(tmp_path, VALID)
    run = subprocess.run(
        [sys.executable, "-m", "twin.cli", "profile", "check", str(good)], capture_output=True, text=True
    )
    assert run.returncode == 0, run.stderr
    assert "ok (1 layers, 1 base maps)" in run.stdout
    bad = tmp_path / "bad" / "profile.toml"
    bad.parent.mkdir()
    bad.write_text(VALID + 'crs = "EPSG:99999"\n', encoding="utf-8")
    run = subprocess.run(
        [sys.executable, "-m", "twin.cli", "profile", "check", str(bad.parent)],
        capture_output=True,
        text=True,
    )
    assert run.returncode == 7
    assert f"{bad}: layers[0].crs: bad CRS" in run.stderr.replace("\n", "")
    assert f"{bad}: layers[0].source: file not found: gebaeude.geojson" in run.stderr.replace("\n", "")
