"""City folders end to end without a browser: `twin init`, `twin build` (skipping unchanged layers), several
cities in one server (isolation, tokens), and the static viewer export."""

from __future__ import annotations

import http.server
import json
import os
import shutil
import stat
import subprocess
import sys
import threading
from collections.abc import Iterator
from functools import partial
from pathlib import Path

import pytest
from conftest import GRID_DIR
from fastapi.testclient import TestClient

from twin.api.sites import CitySites
from twin.build import build_city
from twin.cities import CityFolder, city_folder, discover_cities
from twin.errors import ConfigError, ConflictError
from twin.profile.scaffold import init_city
from twin.settings import Settings

ROOT = Path(__file__).resolve().parents[1]


def footprints(
    path: Path, count: int, lon: float = 10.7865, lat: float = 51.8345, height: float = 9.0
) -> Path:
    """``count`` square buildings in a row (GeoJSON, CRS84) near (lon, lat): a city's own small footprint file."""
    features = []
    for index in range(count):
        west = lon + index * 0.0003
        ring = [
            [west, lat],
            [west + 0.0002, lat],
            [west + 0.0002, lat + 0.00015],
            [west, lat + 0.00015],
            [west, lat],
        ]
        features.append(
            {
                "type": "Feature",
                "properties": {"id": f"b{index}", "height": height, "strasse": "Marktplatz"},
                "geometry": {"type": "Polygon", "coordinates": [ring]},
            }
        )
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}), encoding="utf-8")
    return path


def base_settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path / "unused", grid_dirs=[GRID_DIR] if GRID_DIR.is_dir() else [])


def new_city(parent: Path, city_id: str, count: int, **options: str) -> CityFolder:
    folder = parent / city_id
    parent.mkdir(parents=True, exist_ok=True)
    source = footprints(parent / f"{city_id}-footprints.geojson", count)
    made = init_city(folder, source=source, **options)
    shutil.move(source, folder / "sources" / "gebaeude.geojson")
    profile = folder / "profile.toml"
    text = profile.read_text(encoding="utf-8")
    profile.write_text(text.replace(f'"../{source.name}"', '"sources/gebaeude.geojson"'), encoding="utf-8")
    return made.city


def published_version(city: CityFolder, layer: str = "gebaeude") -> str:
    return os.readlink(city.data_dir / "layers" / layer)


# --- init --------------------------------------------------------------------------------------------------------


def test_init_makes_a_documented_city_folder(tmp_path: Path) -> None:
    made = init_city(tmp_path / "wernigerode", name="Wernigerode", primary="#8a1538")
    root = tmp_path / "wernigerode"
    assert made.city == CityFolder("wernigerode", root.resolve())
    text = (root / "profile.toml").read_text(encoding="utf-8")
    assert 'name = "Wernigerode"' in text and 'primary = "#8a1538"' in text
    assert "twin build" in text, "the profile explains the next steps"
    assert (root / "sources").is_dir()
    token = root / "admin-token"
    assert stat.S_IMODE(token.stat().st_mode) == 0o600
    assert token.read_text().strip() == made.token and len(made.token) >= 24
    assert "/admin-token" in (root / ".gitignore").read_text()
    # The only problem of a fresh profile: the source file the user has yet to put in place.
    from twin.profile.check import check_profile

    _, problems = check_profile(root / "profile.toml")
    assert [(p.key, p.message) for p in problems] == [
        ("layers[0].source", "file not found: sources/gebaeude.gpkg")
    ]


def test_init_refuses_an_existing_city_and_bad_names(tmp_path: Path) -> None:
    init_city(tmp_path / "halle")
    with pytest.raises(ConflictError, match="exists already"):
        init_city(tmp_path / "halle")
    for bad in ("api", "Halle Saale", "-x"):
        with pytest.raises(ConfigError, match="cannot name a city"):
            init_city(tmp_path / bad)


# --- build -------------------------------------------------------------------------------------------------------


def test_build_twice_does_no_work_the_second_time(tmp_path: Path) -> None:
    city = new_city(tmp_path, "wernigerode", 12)
    settings = city.settings(base_settings(tmp_path))
    [first] = build_city(city, settings)
    assert (first.status, first.features) == ("built", 12)
    version = published_version(city)
    [again] = build_city(city, settings)
    assert again.status == "unchanged"
    assert published_version(city) == version, "nothing was published again"

    source = city.root / "sources" / "gebaeude.geojson"
    os.utime(source, ns=(source.stat().st_atime_ns, source.stat().st_mtime_ns + 10**9))
    [touched] = build_city(city, settings)
    assert touched.status == "unchanged", "a new mtime with the same content is no change"

    profile = city.profile
    profile.write_text(
        profile.read_text().replace('licence = ""', 'licence = "dl-de/by-2-0"'), encoding="utf-8"
    )
    [relabelled] = build_city(city, settings)
    assert (relabelled.status, relabelled.message) == ("metadata", "licence")
    assert published_version(city) == version
    from twin.catalog import Catalog

    assert Catalog(settings.catalog_url).get("gebaeude").licence == "dl-de/by-2-0"

    footprints(source, 15)
    [rebuilt] = build_city(city, settings)
    assert (rebuilt.status, rebuilt.features) == ("built", 15)
    assert published_version(city) != version

    text = profile.read_text().replace(
        'licence = "dl-de/by-2-0"', 'licence = "dl-de/by-2-0"\ndefault_height = 20.0', 1
    )
    profile.write_text(text, encoding="utf-8")
    [options] = build_city(city, settings)
    assert options.status == "built", "changed ingest options rebuild the layer"


def test_build_keeps_the_previous_version_of_a_failing_layer(tmp_path: Path) -> None:
    city = new_city(tmp_path, "quedlinburg", 5)
    settings = city.settings(base_settings(tmp_path))
    build_city(city, settings)
    version = published_version(city)
    (city.root / "sources" / "gebaeude.geojson").write_text("{not json", encoding="utf-8")
    [failed] = build_city(city, settings)
    assert failed.status == "failed"
    assert "gebaeude.geojson" in failed.message
    assert published_version(city) == version, "the previous version is still served"

    run = subprocess.run(
        [sys.executable, "-m", "twin.cli", "build", str(city.root)],
        capture_output=True,
        text=True,
        env={k: v for k, v in os.environ.items() if not k.startswith("TWIN_")},
    )
    assert run.returncode == 1
    assert "layer gebaeude:" in run.stderr and "gebaeude.geojson" in run.stderr


@pytest.fixture
def file_server(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """An HTTP server over a folder (Last-Modified and If-Modified-Since, as http.server does them)."""
    folder = tmp_path / "www"
    folder.mkdir()

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            return None

    handler = partial(Quiet, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", folder
    finally:
        server.shutdown()


def test_build_downloads_url_sources_only_when_they_change(
    tmp_path: Path, file_server: tuple[str, Path]
) -> None:
    url, www = file_server
    footprints(www / "gebaeude.geojson", 7)
    city = new_city(tmp_path, "halberstadt", 1)
    profile = city.profile
    profile.write_text(
        profile.read_text().replace('"sources/gebaeude.geojson"', f'"{url}/gebaeude.geojson"'),
        encoding="utf-8",
    )
    settings = city.settings(base_settings(tmp_path))
    [first] = build_city(city, settings)
    assert (first.status, first.features) == ("built", 7)
    copy = city.data_dir / "downloads" / "gebaeude" / "gebaeude.geojson"
    fetched = copy.stat().st_mtime_ns
    [again] = build_city(city, settings)
    assert again.status == "unchanged"
    assert copy.stat().st_mtime_ns == fetched, "the server said 304: nothing was downloaded"
    (www / "gebaeude.geojson").unlink()
    [gone] = build_city(city, settings)
    assert gone.status == "failed" and "HTTP 404" in gone.message


# --- several cities in one server ---------------------------------------------------------------------------


@pytest.fixture
def two_cities(tmp_path: Path) -> tuple[Path, CityFolder, CityFolder]:
    cities = tmp_path / "cities"
    a = new_city(cities, "wernigerode", 4, name="Wernigerode", primary="#8a1538")
    b = new_city(cities, "quedlinburg", 6, name="Quedlinburg")
    profile = b.profile
    profile.write_text(profile.read_text().replace('id = "gebaeude"', 'id = "haeuser"'), encoding="utf-8")
    for city in (a, b):
        assert {o.status for o in build_city(city, city.settings(base_settings(tmp_path)))} == {"built"}
    return cities, a, b


def test_cities_are_served_apart(tmp_path: Path, two_cities: tuple[Path, CityFolder, CityFolder]) -> None:
    cities, _, _ = two_cities
    client = TestClient(CitySites(base_settings(tmp_path), discover_cities(cities)))
    listing = client.get("/api/cities").json()
    assert [(c["id"], c["name"], c["url"]) for c in listing] == [
        ("quedlinburg", "Quedlinburg", "quedlinburg/"),
        ("wernigerode", "Wernigerode", "wernigerode/"),
    ]
    page = client.get("/")
    assert page.status_code == 200 and 'href="wernigerode/"' in page.text and "Quedlinburg" in page.text

    redirect = client.get("/wernigerode", follow_redirects=False)
    assert (redirect.status_code, redirect.headers["location"]) == (308, "/wernigerode/")
    config = client.get("/wernigerode/api/config").json()
    assert config["city"]["name"] == "Wernigerode" and config["theme"]["primary"] == "#8a1538"
    [group] = config["layers"]
    assert [layer["id"] for layer in group["children"]] == ["gebaeude"]
    assert [layer["id"] for layer in client.get("/quedlinburg/api/layers").json()] == ["haeuser"]

    assert client.get("/wernigerode/tiles/gebaeude/tileset.json").status_code == 200
    assert client.get("/quedlinburg/tiles/gebaeude/tileset.json").status_code == 404
    assert client.get("/wernigerode/tiles/haeuser/tileset.json").status_code == 404
    assert client.get("/wernigerode/ogc/collections/gebaeude/items").json()["numberReturned"] == 4
    assert client.get("/quedlinburg/ogc/collections/gebaeude/items").status_code == 404
    assert "gebaeude" not in client.get("/quedlinburg/api/search", params={"q": "Marktplatz"}).text


def test_one_citys_token_is_refused_by_another(
    tmp_path: Path, two_cities: tuple[Path, CityFolder, CityFolder]
) -> None:
    cities, a, b = two_cities
    client = TestClient(CitySites(base_settings(tmp_path), discover_cities(cities)))
    body = {
        "id": "plan",
        "title": "Plan",
        "kind": "wms",
        "url": "https://example.org/wms",
        "extra": {"layers": "x"},
    }
    token_a, token_b = a.admin_token(), b.admin_token()
    assert token_a and token_b and token_a != token_b
    refused = client.post(
        "/quedlinburg/api/layers", json=body, headers={"Authorization": f"Bearer {token_a}"}
    )
    assert refused.status_code == 403
    assert refused.json()["detail"] == "this admin token belongs to another city"
    assert (
        client.delete(
            "/quedlinburg/api/layers/haeuser", headers={"Authorization": f"Bearer {token_a}"}
        ).status_code
        == 403
    )
    assert (
        client.post(
            "/quedlinburg/api/layers", json=body, headers={"Authorization": "Bearer nope"}
        ).status_code
        == 401
    )
    assert client.post("/quedlinburg/api/layers", json=body).status_code == 401
    created = client.post(
        "/quedlinburg/api/layers", json=body, headers={"Authorization": f"Bearer {token_b}"}
    )
    assert created.status_code == 201, created.text
    assert "plan" not in [layer["id"] for layer in client.get("/wernigerode/api/layers").json()]


def test_cities_need_their_own_catalogs(
    tmp_path: Path, two_cities: tuple[Path, CityFolder, CityFolder]
) -> None:
    cities, _, _ = two_cities
    shared = base_settings(tmp_path).model_copy(update={"database_url": "sqlite:///shared.sqlite"})
    with pytest.raises(ConfigError, match="TWIN_CITY_<ID>_DATABASE_URL"):
        CitySites(shared, discover_cities(cities))


def test_a_city_without_a_token_takes_no_writes(
    tmp_path: Path, two_cities: tuple[Path, CityFolder, CityFolder]
) -> None:
    cities, a, _ = two_cities
    (a.root / "admin-token").unlink()
    client = TestClient(CitySites(base_settings(tmp_path), discover_cities(cities)))
    body = {
        "id": "plan",
        "title": "Plan",
        "kind": "wms",
        "url": "https://example.org/wms",
        "extra": {"layers": "x"},
    }
    for token in ("change-me", ""):
        response = client.post(
            "/wernigerode/api/layers", json=body, headers={"Authorization": f"Bearer {token}"}
        )
        assert response.status_code in (401, 403)


def test_single_city_folder_keeps_todays_urls(
    tmp_path: Path, two_cities: tuple[Path, CityFolder, CityFolder]
) -> None:
    from twin.api.app import serving_app

    _, a, _ = two_cities
    client = TestClient(serving_app(base_settings(tmp_path).model_copy(update={"city_dir": a.root})))
    assert client.get("/api/config").json()["city"]["name"] == "Wernigerode"
    assert client.get("/tiles/gebaeude/tileset.json").status_code == 200
    assert city_folder(a.profile) == a


# --- static viewer ------------------------------------------------------------------------------------------


def test_viewer_export_points_the_static_viewer_at_the_api(tmp_path: Path) -> None:
    web = ROOT / "web"
    if not (web / "node_modules" / "cesium" / "Build" / "Cesium").is_dir():
        pytest.skip("Cesium is not installed in web/ (npm ci)")
    dest = tmp_path / "site"
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "twin.cli",
            "viewer",
            "export",
            str(dest),
            "--api",
            "https://twin.example.org/halle",
        ],
        capture_output=True,
        text=True,
    )
    assert run.returncode == 0, run.stderr
    index = (dest / "index.html").read_text(encoding="utf-8")
    assert '<meta name="twin-api" content="https://twin.example.org/halle/" />' in index
    assert (dest / "web" / "src" / "main.js").is_file() and (dest / "cesium" / "Cesium.js").is_file()
    again = subprocess.run(
        [sys.executable, "-m", "twin.cli", "viewer", "export", str(dest), "--api", "https://x.org/"],
        capture_output=True,
        text=True,
    )
    assert again.returncode != 0 and "not empty" in again.stderr


def test_logo_is_served_from_the_city_folder_only(tmp_path: Path) -> None:
    from twin.api.app import create_app
    from twin.profile.check import check_profile

    city = new_city(tmp_path, "wernigerode", 2, name="Wernigerode")
    (city.root / "wappen.svg").write_text('<svg xmlns="http://www.w3.org/2000/svg" width="8" height="8"/>')
    profile = city.profile
    text = profile.read_text(encoding="utf-8")
    profile.write_text(text.replace('name = "Wernigerode"', 'name = "Wernigerode"\nlogo = "wappen.svg"', 1))
    client = TestClient(create_app(city.settings(base_settings(tmp_path))))
    logo = client.get("/api/config").json()["city"]["logo"]
    assert logo.startswith("api/logo?v=")
    served = client.get("/" + logo)
    assert served.status_code == 200 and served.headers["content-type"].startswith("image/svg+xml")
    assert "default-src 'none'" in served.headers["content-security-policy"], "scripts in an SVG must not run"

    (tmp_path / "secret.png").write_bytes(b"not for the public")
    profile.write_text(
        text.replace('name = "Wernigerode"', 'name = "Wernigerode"\nlogo = "../secret.png"', 1)
    )
    assert client.get("/api/config").json()["city"]["logo"] is None
    assert client.get("/api/logo").status_code == 404
    _, problems = check_profile(profile)
    assert ("city.logo", "the logo must lie in the profile's folder: ../secret.png") in [
        (p.key, p.message) for p in problems
    ]
