"""HTTP tests of the twin service: health, layers, config, tiles (media types, caching, CORS, traversal)."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path
from typing import Any

import anyio
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from twin.api import create_app
from twin.api.tiles import resolve_layer_file
from twin.catalog import Catalog, LayerRecord
from twin.errors import NotFoundError
from twin.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT.parent / "shared/data/3dtiles/cesium-samples/1.1/MetadataGranularities"
HALLE_PROFILE = ROOT / "profiles/halle/profile.toml"
needs_sample = pytest.mark.skipif(
    not SAMPLE.is_dir(), reason=f"the Cesium sample tileset is not available at {SAMPLE} (../shared missing)"
)

TOKEN = "test-admin-token-0123456789"
MARKTPLATZ = (11.9695, 51.4823)


def enu_to_ecef(longitude: float, latitude: float, height: float = 0.0) -> list[float]:
    """Column-major 4x4 matrix from east-north-up metres at a WGS84 point to ECEF metres (a tileset transform)."""
    a, f = 6378137.0, 1 / 298.257223563
    e2 = f * (2 - f)
    lon, lat = math.radians(longitude), math.radians(latitude)
    n = a / math.sqrt(1 - e2 * math.sin(lat) ** 2)
    x = (n + height) * math.cos(lat) * math.cos(lon)
    y = (n + height) * math.cos(lat) * math.sin(lon)
    z = (n * (1 - e2) + height) * math.sin(lat)
    east = [-math.sin(lon), math.cos(lon), 0.0]
    north = [-math.sin(lat) * math.cos(lon), -math.sin(lat) * math.sin(lon), math.cos(lat)]
    up = [math.cos(lat) * math.cos(lon), math.cos(lat) * math.sin(lon), math.sin(lat)]
    return [*east, 0.0, *north, 0.0, *up, 0.0, x, y, z, 1.0]


def publish_sample(data_dir: Path, layer_id: str = "sample", title: str = "Beispielgebäude") -> Path:
    """Publish the Cesium sample as layer `layer_id` the way ingest does (layers/<id> -> versions/<id>/<stamp>).

    The sample has no georeference; a root transform places it on Halle's Marktplatz.
    Returns the version folder.
    """
    version = data_dir / "versions" / layer_id / "20250101T000000"
    version.parent.mkdir(parents=True, exist_ok=True)
    shutil.copytree(SAMPLE, version)
    for path in version.iterdir():
        path.chmod(0o644)
    tileset = json.loads((version / "tileset.json").read_text())
    tileset["root"]["transform"] = enu_to_ecef(*MARKTPLATZ)
    (version / "tileset.json").write_text(json.dumps(tileset))
    (data_dir / "layers").mkdir(parents=True, exist_ok=True)
    (data_dir / "layers" / layer_id).symlink_to(version, target_is_directory=True)
    lon, lat = MARKTPLATZ
    Catalog(Settings(data_dir=data_dir).catalog_url).upsert(
        LayerRecord(
            id=layer_id,
            title=title,
            kind="3dtiles",
            group="Gebäude",
            attribution="Cesium 3D Tiles samples, CC0",
            licence="CC0-1.0",
            bbox=[lon - 0.0005, lat - 0.0003, lon + 0.0005, lat + 0.0003],
            feature_count=20,
        )
    )
    return version


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Settings of an empty data dir in tmp_path."""
    return Settings(data_dir=tmp_path / "data", admin_token=TOKEN, cors_origins=["https://viewer.example"])


@pytest.fixture
def client(settings: Settings) -> TestClient:
    """A client of a fresh app on an empty data dir."""
    return TestClient(create_app(settings))


@pytest.fixture
def sample_client(settings: Settings) -> TestClient:
    """A client of an app whose data dir holds the published Cesium sample as layer 'sample'."""
    if not SAMPLE.is_dir():
        pytest.skip(f"the Cesium sample tileset is not available at {SAMPLE} (../shared missing)")
    publish_sample(settings.data_dir)
    return TestClient(create_app(settings))


def auth(token: str = TOKEN) -> dict[str, str]:
    """The Authorization header for `token`."""
    return {"Authorization": f"Bearer {token}"}


# --- app, health ---------------------------------------------------------------------------------------


def test_create_app_touches_nothing(tmp_path: Path) -> None:
    data_dir = tmp_path / "nothing-yet"
    app = create_app(Settings(data_dir=data_dir))
    assert isinstance(app, FastAPI)
    assert not data_dir.exists(), "building the app must not create the data dir or the catalog"


def test_health(client: TestClient) -> None:
    response = client.get("/api/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "version": "0.1.0", "layers": 0}


def test_openapi_lists_the_public_paths(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    for path in ("/api/health", "/api/config", "/api/layers", "/api/layers/{layer_id}"):
        assert path in paths
    assert "/tiles/{layer_id}/{file_path}" in paths


def test_api_package_is_the_only_web_framework_user() -> None:
    offenders = [
        path.relative_to(ROOT)
        for path in (ROOT / "src/twin").rglob("*.py")
        if "api" not in path.relative_to(ROOT / "src/twin").parts[:1]
        and any(word in path.read_text() for word in ("import fastapi", "from fastapi", "from starlette"))
    ]
    assert offenders == []


# --- layers ----------------------------------------------------------------------------------------------


@needs_sample
def test_layers_list_and_get(sample_client: TestClient) -> None:
    listed = sample_client.get("/api/layers")
    assert listed.status_code == 200
    assert [layer["id"] for layer in listed.json()] == ["sample"]
    one = sample_client.get("/api/layers/sample")
    assert one.status_code == 200
    assert one.json()["title"] == "Beispielgebäude"
    assert one.json()["kind"] == "3dtiles"
    assert one.headers["etag"] == '"sample-1"'


@needs_sample
def test_layers_filters(sample_client: TestClient) -> None:
    assert len(sample_client.get("/api/layers", params={"kind": "3dtiles"}).json()) == 1
    assert sample_client.get("/api/layers", params={"kind": "wms"}).json() == []
    assert len(sample_client.get("/api/layers", params={"group": "Gebäude"}).json()) == 1
    assert len(sample_client.get("/api/layers", params={"q": "BEISPIEL"}).json()) == 1
    assert sample_client.get("/api/layers", params={"q": "Straßen"}).json() == []


def test_unknown_layer_is_problem_404(client: TestClient) -> None:
    response = client.get("/api/layers/nope")
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["status"] == 404
    assert body["code"] == "NotFound"
    assert "nope" in body["detail"]


def test_unknown_route_is_problem_404(client: TestClient) -> None:
    response = client.get("/api/nothing-here")
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"


def test_writes_need_the_admin_token(client: TestClient) -> None:
    body = {"id": "plan", "title": "B-Plan", "kind": "wms", "url": "https://example.org/wms"}
    assert client.post("/api/layers", json=body).status_code == 401
    refused = client.post("/api/layers", json=body, headers=auth("wrong-token"))
    assert refused.status_code == 401
    assert refused.headers["www-authenticate"].startswith("Bearer")
    assert client.patch("/api/layers/plan", json={"title": "x"}).status_code == 401
    assert client.delete("/api/layers/plan").status_code == 401
    assert client.get("/api/layers").json() == []


def test_create_patch_delete(client: TestClient) -> None:
    body = {
        "id": "plan",
        "title": "B-Plan",
        "kind": "wms",
        "url": "https://example.org/wms",
        "group": "planung",
    }
    created = client.post("/api/layers", json=body, headers=auth())
    assert created.status_code == 201
    assert created.json()["version"] == 1
    assert created.headers["location"] == "/api/layers/plan"
    assert client.post("/api/layers", json=body, headers=auth()).status_code == 409

    patched = client.patch(
        "/api/layers/plan", json={"opacity": 0.5}, headers=auth() | {"If-Match": '"plan-1"'}
    )
    assert patched.status_code == 200
    assert patched.json()["opacity"] == 0.5
    assert patched.json()["title"] == "B-Plan"
    assert patched.headers["etag"] == '"plan-2"'
    stale = client.patch("/api/layers/plan", json={"title": "y"}, headers=auth() | {"If-Match": '"plan-1"'})
    assert stale.status_code == 412
    assert client.get("/api/layers/plan").json()["title"] == "B-Plan"

    assert client.delete("/api/layers/plan", headers=auth()).status_code == 204
    assert client.get("/api/layers/plan").status_code == 404
    assert client.delete("/api/layers/plan", headers=auth()).status_code == 404


def test_invalid_layer_body_is_422(client: TestClient) -> None:
    bad_id = client.post("/api/layers", json={"id": "../x", "title": "t"}, headers=auth())
    assert bad_id.status_code == 422
    assert bad_id.headers["content-type"] == "application/problem+json"
    bad_opacity = client.post("/api/layers", json={"id": "x", "title": "t", "opacity": 3}, headers=auth())
    assert bad_opacity.status_code == 422


def test_planning_layer_metadata_round_trip(client: TestClient) -> None:
    body = {
        "id": "bplan-32",
        "title": "B-Plan Nr. 32",
        "kind": "wms",
        "url": "https://geodienste.example.de/wms",
        "group": "planung",
        "planning": {
            "status": "InkraftGetreten",
            "dates": {"aufstellungsbeschluss": "2019-03-27", "satzungsbeschluss": "2021-02-24"},
            "office": "Fachbereich Städtebau",
            "documents": [
                {"title": "Begründung", "url": "https://example.de/b.pdf", "media_type": "application/pdf"}
            ],
        },
        "style": {"color": "color('orange')"},
    }
    created = client.post("/api/layers", json=body, headers=auth())
    assert created.status_code == 201, created.text
    planning = client.get("/api/layers/bplan-32").json()["planning"]
    assert planning["status"] == "InkraftGetreten"
    assert planning["dates"]["satzungsbeschluss"] == "2021-02-24"
    assert planning["documents"][0]["url"] == "https://example.de/b.pdf"


@pytest.mark.parametrize(
    "body",
    [
        {"id": "x", "title": "t", "kind": "wms"},
        {"id": "x", "title": "t", "kind": "xyz", "url": "ftp://tiles.example.de/{z}/{x}/{y}.png"},
        {"id": "x", "title": "t", "bbox": [12, 52, 11, 51]},
        {"id": "x", "title": "t", "planning": {"status": "Genehmigt"}},
        {"id": "x", "title": "t", "planning": {"documents": [{"title": "d", "url": "javascript:alert(1)"}]}},
        {
            "id": "x",
            "title": "t",
            "planning": {"dates": {"aufstellungsbeschluss": "2021-01-01", "inkrafttreten": "2020-01-01"}},
        },
        {"id": "x", "title": "nul \u0000"},
    ],
)
def test_invalid_layer_metadata_is_422(client: TestClient, body: dict[str, Any]) -> None:
    response = client.post("/api/layers", json=body, headers=auth())
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert client.get("/api/layers/x").status_code == 404


def test_patch_that_breaks_the_layer_is_422_and_changes_nothing(client: TestClient) -> None:
    body = {"id": "luftbild", "title": "Luftbild", "kind": "wmts", "url": "https://example.de/wmts"}
    assert client.post("/api/layers", json=body, headers=auth()).status_code == 201
    broken = client.patch("/api/layers/luftbild", json={"url": None}, headers=auth())
    assert broken.status_code == 422
    assert "needs a url" in broken.json()["detail"]
    current = client.get("/api/layers/luftbild")
    assert current.json()["url"] == "https://example.de/wmts"
    assert current.headers["etag"] == '"luftbild-1"'


def test_if_match_naming_no_version_of_the_layer_is_412(client: TestClient) -> None:
    body = {"id": "plan", "title": "B-Plan", "kind": "wms", "url": "https://example.org/wms"}
    client.post("/api/layers", json=body, headers=auth())
    for tag in ('"other-1"', "garbage", '"plan-x"'):
        response = client.patch("/api/layers/plan", json={"title": "y"}, headers=auth() | {"If-Match": tag})
        assert response.status_code == 412, tag
    assert (
        client.patch("/api/layers/plan", json={"title": "y"}, headers=auth() | {"If-Match": "*"}).status_code
        == 200
    )
    assert client.delete("/api/layers/plan", headers=auth() | {"If-Match": '"plan-1"'}).status_code == 412
    assert client.delete("/api/layers/plan", headers=auth() | {"If-Match": '"plan-2"'}).status_code == 204


# --- config ----------------------------------------------------------------------------------------------


def test_config_default_profile_without_layers(client: TestClient) -> None:
    config = client.get("/api/config").json()
    assert config["city"]["name"] == "twin"
    assert config["languages"] == {"default": "de", "available": ["de", "en"]}
    assert config["terrain"] == {"type": "ellipsoid"}
    assert config["basemaps"][0]["url"] == "cesium/Assets/Textures/NaturalEarthII"
    assert config["basemaps"][0]["default"] is True
    assert config["layers"] == []
    assert 5 < config["camera"]["longitude"] < 15  # Germany


@needs_sample
def test_config_camera_follows_layers_without_profile(sample_client: TestClient) -> None:
    camera = sample_client.get("/api/config").json()["camera"]
    assert camera["longitude"] == pytest.approx(MARKTPLATZ[0])
    assert camera["latitude"] == pytest.approx(MARKTPLATZ[1])
    assert camera["range"] < 2000


@needs_sample
def test_config_halle_profile_with_layer_tree(settings: Settings) -> None:
    publish_sample(settings.data_dir)
    client = TestClient(create_app(settings.model_copy(update={"profile": HALLE_PROFILE})))
    config = client.get("/api/config").json()
    assert config["city"]["name"] == "Halle (Saale)"
    camera = config["camera"]
    assert camera["longitude"] == pytest.approx(11.969, abs=0.002)
    assert camera["latitude"] == pytest.approx(51.482, abs=0.002)
    assert 600 <= camera["range"] <= 900
    assert -60 < camera["pitch"] < -20
    assert {basemap["type"] for basemap in config["basemaps"]} >= {"tms", "wms"}
    [group] = config["layers"]
    assert group["type"] == "group"
    assert group["title"] == {"de": "Gebäude", "en": "Buildings"}
    [layer] = group["children"]
    assert layer["id"] == "sample"
    assert layer["url"] == "tiles/sample/tileset.json?v=1"
    assert "Cesium 3D Tiles samples, CC0" in config["attribution"]


def test_config_nested_groups_follow_profile_order(tmp_path: Path, settings: Settings) -> None:
    profile = tmp_path / "city.toml"
    profile.write_text('[city]\nname = "Musterstadt"\n[[groups]]\nid = "planung"\ntitle = "Planung"\n')
    catalog = Catalog(settings.catalog_url)
    catalog.upsert(LayerRecord(id="a", title="A", kind="xyz", url="https://x/{z}/{x}/{y}.png", group="basis"))
    catalog.upsert(LayerRecord(id="b", title="B", kind="wms", url="https://x/wms", group="planung/bplan"))
    catalog.upsert(LayerRecord(id="c", title="C", kind="wms", url="https://x/wms"))
    client = TestClient(create_app(settings.model_copy(update={"profile": profile})))
    tree = client.get("/api/config").json()["layers"]
    assert [(node["type"], node["id"]) for node in tree] == [
        ("group", "planung"),
        ("group", "basis"),
        ("layer", "c"),
    ]
    assert tree[0]["children"][0]["id"] == "planung/bplan"
    assert tree[0]["children"][0]["children"][0]["id"] == "b"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[city\nname=1", "not valid TOML"),
        ("[camera]\nlongitude = 500\nlatitude = 51", "camera.longitude"),
        ("[[basemaps]]\nid='w'\ntitle='W'\ntype='wms'\nurl='https://x'", "needs 'layers'"),
        ("colour = 'red'", "colour"),
    ],
)
def test_bad_profile_is_a_clear_500(tmp_path: Path, settings: Settings, text: str, message: str) -> None:
    profile = tmp_path / "bad.toml"
    profile.write_text(text)
    client = TestClient(create_app(settings.model_copy(update={"profile": profile})))
    response = client.get("/api/config")
    assert response.status_code == 500
    assert message in response.json()["detail"]


# --- tiles -----------------------------------------------------------------------------------------------


@needs_sample
def test_tiles_media_types_and_cache_headers(sample_client: TestClient) -> None:
    tileset = sample_client.get("/tiles/sample/tileset.json")
    assert tileset.status_code == 200
    assert tileset.headers["content-type"] == "application/json"
    assert tileset.headers["cache-control"] == "no-cache"
    assert tileset.json()["asset"]["version"] == "1.1"
    glb = sample_client.get("/tiles/sample/house-3-0.glb", headers={"Accept-Encoding": "identity"})
    assert glb.status_code == 200
    assert glb.headers["content-type"] == "model/gltf-binary"
    assert glb.headers["cache-control"].startswith("public, max-age=")
    assert glb.content[:4] == b"glTF"
    assert int(glb.headers["content-length"]) == (SAMPLE / "house-3-0.glb").stat().st_size


@needs_sample
def test_subtree_media_type(settings: Settings) -> None:
    version = publish_sample(settings.data_dir)
    (version / "subtrees").mkdir()
    (version / "subtrees" / "0.0.0.subtree").write_bytes(b"subt" + bytes(20))
    response = TestClient(create_app(settings)).get("/tiles/sample/subtrees/0.0.0.subtree")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/octet-stream"


@needs_sample
def test_tiles_etag_and_304(sample_client: TestClient) -> None:
    first = sample_client.get("/tiles/sample/house-3-0.glb")
    etag = first.headers["etag"]
    again = sample_client.get("/tiles/sample/house-3-0.glb", headers={"If-None-Match": etag})
    assert again.status_code == 304
    assert again.content == b""
    assert again.headers["etag"] == etag
    assert (
        sample_client.get("/tiles/sample/house-3-0.glb", headers={"If-None-Match": f"W/{etag}"}).status_code
        == 304
    )
    other = sample_client.get("/tiles/sample/house-3-0.glb", headers={"If-None-Match": '"something-else"'})
    assert other.status_code == 200
    assert sample_client.get("/tiles/sample/house1-1.glb").headers["etag"] != etag


@needs_sample
def test_tiles_head_and_range(sample_client: TestClient) -> None:
    head = sample_client.head("/tiles/sample/house-3-0.glb")
    assert head.status_code == 200
    assert head.content == b""
    part = sample_client.get("/tiles/sample/house-3-0.glb", headers={"Range": "bytes=0-3"})
    assert part.status_code == 206
    assert part.content == b"glTF"


@needs_sample
def test_tiles_cors(sample_client: TestClient) -> None:
    allowed = sample_client.get("/tiles/sample/tileset.json", headers={"Origin": "https://viewer.example"})
    assert allowed.headers["access-control-allow-origin"] == "https://viewer.example"
    assert "etag" in allowed.headers["access-control-expose-headers"].lower()
    other = sample_client.get("/tiles/sample/tileset.json", headers={"Origin": "https://evil.example"})
    assert "access-control-allow-origin" not in other.headers
    preflight = sample_client.options(
        "/tiles/sample/tileset.json",
        headers={"Origin": "https://viewer.example", "Access-Control-Request-Method": "GET"},
    )
    assert preflight.status_code == 200


@needs_sample
def test_gzipped_tiles_say_so(settings: Settings) -> None:
    import gzip

    version = publish_sample(settings.data_dir)
    (version / "packed.json").write_bytes(gzip.compress(b'{"a": 1}'))
    response = TestClient(create_app(settings)).get("/tiles/sample/packed.json")
    assert response.headers["content-encoding"] == "gzip"
    assert response.json() == {"a": 1}  # httpx decoded it, as a browser does


def test_unknown_layer_or_file_is_404(client: TestClient) -> None:
    assert client.get("/tiles/nope/tileset.json").status_code == 404


@needs_sample
def test_published_layer_missing_file_is_404(sample_client: TestClient) -> None:
    assert sample_client.get("/tiles/sample/nope.glb").status_code == 404
    assert sample_client.get("/tiles/sample/").status_code == 404


def raw_get(app: Any, raw_path: bytes) -> tuple[int, bytes]:
    """GET a raw, unnormalised path straight through ASGI (HTTP clients would clean up '../' first)."""
    path, _, query = raw_path.partition(b"?")
    from urllib.parse import unquote_to_bytes

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": unquote_to_bytes(path).decode("latin-1"),
        "raw_path": path,
        "query_string": query,
        "root_path": "",
        "headers": [(b"host", b"testserver")],
        "server": ("testserver", 80),
        "client": ("127.0.0.1", 1234),
    }
    sent: list[dict[str, Any]] = []
    requested = False
    done = anyio.Event()

    async def receive() -> dict[str, Any]:
        nonlocal requested
        if not requested:
            requested = True
            return {"type": "http.request", "body": b"", "more_body": False}
        await done.wait()  # the client stays connected until the whole response has been sent
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)
        if message["type"] == "http.response.body" and not message.get("more_body", False):
            done.set()

    async def call() -> None:
        with anyio.fail_after(10):
            await app(scope, receive, send)

    anyio.run(call)
    start = next(message for message in sent if message["type"] == "http.response.start")
    body = b"".join(message.get("body", b"") for message in sent if message["type"] == "http.response.body")
    return start["status"], body


TRAVERSALS = [
    b"/tiles/sample/../secret.txt",
    b"/tiles/sample/../../secret.txt",
    b"/tiles/sample/../../../secret.txt",
    b"/tiles/sample/../../../../secret.txt",
    b"/tiles/sample/../other/tileset.json",
    b"/tiles/sample/%2e%2e/%2e%2e/catalog.sqlite",
    b"/tiles/sample/%2E%2E/%2E%2E/secret.txt",
    b"/tiles/sample/..%2f..%2fsecret.txt",
    b"/tiles/sample/%2e%2e%2f%2e%2e%2fsecret.txt",
    b"/tiles/sample/..%5c..%5csecret.txt",
    b"/tiles/sample//etc/passwd",
    b"/tiles/sample/%2Fetc%2Fpasswd",
    b"/tiles/sample/%2F%2Fetc/passwd",
    b"/tiles/sample/./tileset.json",
    b"/tiles/sample/.hidden",
    b"/tiles/sample/%00tileset.json",
    b"/tiles/%2e%2e/catalog.sqlite",
    b"/tiles/../data/catalog.sqlite",
    b"/tiles/sample/outside/secret.txt",
    b"/tiles/sample/escape.json",
    b"/tiles/evil/tileset.json",
    b"/tiles/sample/%252e%252e/%252e%252e/secret.txt",
]


@needs_sample
@pytest.mark.parametrize("raw_path", TRAVERSALS, ids=[path.decode() for path in TRAVERSALS])
def test_traversal_is_404_and_never_read(settings: Settings, raw_path: bytes) -> None:
    version = publish_sample(settings.data_dir)
    # Secrets beside the layer, in versions/, in the data dir and outside it: every ../ level has one.
    secret = settings.data_dir.parent / "secret.txt"
    for folder in (version.parent, version.parent.parent, settings.data_dir, settings.data_dir.parent):
        (folder / "secret.txt").write_text("SECRET")
    (version / ".hidden").write_text("SECRET")
    # Symlinks that resolve outside the data dir: a folder and a file inside the layer, and a whole layer.
    (version / "outside").symlink_to(settings.data_dir.parent, target_is_directory=True)
    (version / "escape.json").symlink_to(secret)
    outside_layer = settings.data_dir.parent / "outside-layer"
    outside_layer.mkdir()
    (outside_layer / "tileset.json").write_text('{"SECRET": true}')
    (settings.data_dir / "layers" / "evil").symlink_to(outside_layer, target_is_directory=True)

    status, body = raw_get(create_app(settings), raw_path)
    assert status == 404
    assert b"SECRET" not in body
    assert b"root:" not in body


@needs_sample
def test_resolver_never_opens_files_outside(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    publish_sample(settings.data_dir)
    opened: list[str] = []
    real_open = Path.open

    def spy(self: Path, *args: Any, **kwargs: Any) -> Any:
        opened.append(str(self))
        return real_open(self, *args, **kwargs)

    monkeypatch.setattr(Path, "open", spy)
    for relative in ("../../catalog.sqlite", "/etc/passwd", "a/../../x", "..\\x"):
        with pytest.raises(NotFoundError):
            resolve_layer_file(settings, "sample", relative)
    assert opened == []
    assert resolve_layer_file(settings, "sample", "tileset.json").name == "tileset.json"


@needs_sample
def test_layer_symlink_inside_data_dir_is_served(sample_client: TestClient, settings: Settings) -> None:
    # layers/sample is itself a symlink into versions/: that stays inside the data dir and is fine.
    assert (settings.layers_dir / "sample").is_symlink()
    assert sample_client.get("/tiles/sample/tileset.json").status_code == 200


# --- viewer files ------------------------------------------------------------------------------------------


def test_viewer_index_and_assets(client: TestClient) -> None:
    index = client.get("/")
    assert index.status_code == 200
    assert index.headers["content-type"].startswith("text/html")
    assert "CESIUM_BASE_URL" in index.text
    assert client.get("/web/src/main.js").status_code == 200
    assert client.get("/web/css/app.css").status_code == 200
    assert client.get("/web/package.json").status_code == 404
    assert client.get("/web/node_modules/cesium/package.json").status_code == 404


@pytest.mark.skipif(not (ROOT / "web/node_modules/cesium").is_dir(), reason="web/node_modules/cesium missing")
def test_cesium_build_is_served(client: TestClient) -> None:
    assert client.get("/cesium/index.js", headers={"Range": "bytes=0-99"}).status_code == 206
    assert client.get("/cesium/Assets/Textures/NaturalEarthII/tilemapresource.xml").status_code == 200
