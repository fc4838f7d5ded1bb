"""Tile serving: gzip negotiation, ETags per variant, 304, HEAD, Range, re-publishing, the bounded cache.

Every HTTP test runs twice: against ``create_app`` (the FastAPI route) and against ``serving_app`` (the pure-ASGI
fast path that `twin serve` runs); both must answer alike.
"""

from __future__ import annotations

import gzip
import os
import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from twin.api import create_app
from twin.api.app import SETTINGS_ENV, app_from_env, serving_app
from twin.api.tile_cache import (
    TileCache,
    TileEntry,
    accepts_gzip,
    etag_matches,
    gzip_etag,
    parse_range,
)
from twin.api.tile_fastpath import TileFastPath
from twin.settings import Settings

ORIGIN = "https://viewer.example"


def glb_bytes(size: int, seed: int = 1) -> bytes:
    """A GLB-like blob of ``size`` bytes: the glTF magic, then compressible but not trivial content."""
    rng = random.Random(seed)
    words = [rng.randbytes(4) for _ in range(64)]
    body = b"".join(rng.choice(words) for _ in range(size // 4 + 1))
    return (b"glTF" + body)[:size]


def publish(data_dir: Path, layer_id: str, stamp: str, files: dict[str, bytes]) -> Path:
    """Publish ``files`` as layer ``layer_id`` the way ingest does: versions/<id>/<stamp>, layers/<id> -> it."""
    version = data_dir / "versions" / layer_id / stamp
    for relative, data in files.items():
        path = version / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    layers = data_dir / "layers"
    layers.mkdir(parents=True, exist_ok=True)
    link = layers / layer_id
    temporary = layers / f".{layer_id}.new"
    temporary.symlink_to(Path("..") / "versions" / layer_id / stamp, target_is_directory=True)
    os.replace(temporary, link)  # atomic swap, as twin's publish does
    return version


TILESET = (
    b'{"asset": {"version": "1.1"}, "geometricError": 100, "root": {"content": {"uri": "content/0.glb"}}}' * 8
)
GLB = glb_bytes(60_000)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Settings of a data dir holding layer 'city' with a tileset.json and a 60 kB GLB."""
    data_dir = tmp_path / "data"
    publish(data_dir, "city", "v1", {"tileset.json": TILESET, "content/0.glb": GLB})
    return Settings(data_dir=data_dir, cors_origins=[ORIGIN])


AppMaker = Callable[[Settings], Any]
MAKERS: dict[str, AppMaker] = {"route": create_app, "fast path": serving_app}


@pytest.fixture(params=list(MAKERS))
def make_app(request: pytest.FixtureRequest) -> AppMaker:
    """Builds the app under test: create_app (the route) or serving_app (the fast path)."""
    maker: AppMaker = MAKERS[request.param]
    return maker


@pytest.fixture
def client(settings: Settings, make_app: AppMaker) -> TestClient:
    """A client of the app under test."""
    return TestClient(make_app(settings))


def get(client: TestClient, path: str, **headers: str) -> Any:
    """GET with exactly these headers (httpx would otherwise add Accept-Encoding: gzip, deflate)."""
    sent = {
        "Accept-Encoding": "identity",
        **{name.replace("_", "-"): value for name, value in headers.items()},
    }
    return client.get(path, headers=sent)


# --- negotiation --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("relative, data", [("tileset.json", TILESET), ("content/0.glb", GLB)])
def test_gzip_only_for_clients_that_accept_it(client: TestClient, relative: str, data: bytes) -> None:
    plain = get(client, f"/tiles/city/{relative}")
    assert plain.status_code == 200
    assert "content-encoding" not in plain.headers
    assert plain.content == data
    assert int(plain.headers["content-length"]) == len(data)
    packed = get(client, f"/tiles/city/{relative}", Accept_Encoding="gzip, deflate, br")
    assert packed.headers["content-encoding"] == "gzip"
    assert packed.content == data  # httpx decodes gzip, as a browser does
    assert int(packed.headers["content-length"]) < len(data) // 2
    for response in (plain, packed):
        assert "Accept-Encoding" in response.headers["vary"]
        assert response.headers["content-type"] == (
            "application/json" if relative.endswith(".json") else "model/gltf-binary"
        )


@pytest.mark.parametrize(
    "accept, gzipped",
    [("gzip", True), ("GZIP;q=0.5", True), ("*", True), ("gzip;q=0", False), ("br", False), ("*;q=0", False)],
)
def test_accept_encoding_values(client: TestClient, accept: str, gzipped: bool) -> None:
    response = get(client, "/tiles/city/content/0.glb", Accept_Encoding=accept)
    assert ("content-encoding" in response.headers) is gzipped


def test_etag_per_variant_and_304_for_each(client: TestClient) -> None:
    plain = get(client, "/tiles/city/content/0.glb")
    packed = get(client, "/tiles/city/content/0.glb", Accept_Encoding="gzip")
    assert plain.headers["etag"] != packed.headers["etag"]
    assert packed.headers["etag"] == gzip_etag(plain.headers["etag"])
    for etag, accept in ((plain.headers["etag"], "identity"), (packed.headers["etag"], "gzip")):
        again = get(client, "/tiles/city/content/0.glb", Accept_Encoding=accept, If_None_Match=etag)
        assert again.status_code == 304
        assert again.content == b""
        assert again.headers["etag"] == etag
        assert "Accept-Encoding" in again.headers["vary"]
        weak = get(
            client, "/tiles/city/content/0.glb", Accept_Encoding=accept, If_None_Match=f'"x", W/{etag}'
        )
        assert weak.status_code == 304
    # Holding the identity variant does not validate the gzip one (and vice versa): the client gets the body.
    crossed = get(
        client, "/tiles/city/content/0.glb", Accept_Encoding="gzip", If_None_Match=plain.headers["etag"]
    )
    assert crossed.status_code == 200
    assert crossed.headers["etag"] == packed.headers["etag"]


def test_head_has_the_headers_of_get_and_no_body(client: TestClient) -> None:
    for accept in ("identity", "gzip"):
        full = get(client, "/tiles/city/content/0.glb", Accept_Encoding=accept)
        head = client.head("/tiles/city/content/0.glb", headers={"Accept-Encoding": accept})
        assert head.status_code == 200
        assert head.content == b""
        for name in ("etag", "content-length", "content-type", "cache-control", "vary"):
            assert head.headers[name] == full.headers[name]
        assert head.headers.get("content-encoding") == full.headers.get("content-encoding")


# --- Range ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "range_header, first, last",
    [("bytes=0-3", 0, 3), ("bytes=100-", 100, len(GLB) - 1), ("bytes=-10", len(GLB) - 10, len(GLB) - 1)],
)
def test_range_is_answered_on_the_identity_representation(
    client: TestClient, range_header: str, first: int, last: int
) -> None:
    part = get(client, "/tiles/city/content/0.glb", Accept_Encoding="gzip", Range=range_header)
    assert part.status_code == 206
    assert "content-encoding" not in part.headers
    assert part.content == GLB[first : last + 1]
    assert part.headers["content-range"] == f"bytes {first}-{last}/{len(GLB)}"
    assert part.headers["etag"] == get(client, "/tiles/city/content/0.glb").headers["etag"]


def test_range_edge_cases(client: TestClient) -> None:
    identity_etag = get(client, "/tiles/city/content/0.glb").headers["etag"]
    unsatisfiable = get(client, "/tiles/city/content/0.glb", Range=f"bytes={len(GLB)}-")
    assert unsatisfiable.status_code == 416
    assert unsatisfiable.headers["content-range"] == f"bytes */{len(GLB)}"
    several = get(client, "/tiles/city/content/0.glb", Range="bytes=0-1,5-6")
    assert several.status_code == 200
    assert several.content == GLB
    stale = get(client, "/tiles/city/content/0.glb", Range="bytes=0-3", If_Range='"old"')
    assert stale.status_code == 200
    fresh = get(client, "/tiles/city/content/0.glb", Range="bytes=0-3", If_Range=identity_etag)
    assert fresh.status_code == 206


# --- caching, re-publishing ---------------------------------------------------------------------------------


def test_republished_layer_is_served_at_once(settings: Settings, make_app: AppMaker) -> None:
    client = TestClient(make_app(settings))
    first = get(client, "/tiles/city/content/0.glb", Accept_Encoding="gzip")
    assert first.content == GLB
    new_glb = glb_bytes(len(GLB), seed=2)  # same size, so only the real path tells the versions apart
    publish(settings.data_dir, "city", "v2", {"tileset.json": TILESET, "content/0.glb": new_glb})
    second = get(
        client, "/tiles/city/content/0.glb", Accept_Encoding="gzip", If_None_Match=first.headers["etag"]
    )
    assert second.status_code == 200
    assert second.content == new_glb
    assert second.headers["etag"] != first.headers["etag"]


def test_cache_hits_do_not_read_the_file(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    client = TestClient(serving_app(settings))
    assert get(client, "/tiles/city/content/0.glb", Accept_Encoding="gzip").status_code == 200
    opened: list[Path] = []
    real_open = Path.open

    def spy(self: Path, *args: Any, **kwargs: Any) -> Any:
        opened.append(self)
        return real_open(self, *args, **kwargs)

    monkeypatch.setattr(Path, "open", spy)
    for accept in ("gzip", "identity"):
        assert get(client, "/tiles/city/content/0.glb", Accept_Encoding=accept).content == GLB
    assert opened == []


def test_remembered_paths_are_checked_again(settings: Settings) -> None:
    app = serving_app(settings)
    assert isinstance(app, TileFastPath)
    client = TestClient(app)
    assert get(client, "/tiles/city/content/0.glb").status_code == 200
    # The folder under a remembered path is swapped for a symlink out of the data dir: the remembered path now
    # leads to another file, so the full check runs again at once (not only when the memo entry is due).
    outside = settings.data_dir.parent / "elsewhere"
    outside.mkdir()
    (outside / "0.glb").write_bytes(b"SECRET")
    version = settings.data_dir / "versions" / "city" / "v1"
    (version / "content").rename(version / "content-old")
    (version / "content").symlink_to(outside, target_is_directory=True)
    refused = get(client, "/tiles/city/content/0.glb")
    assert refused.status_code == 404
    assert b"SECRET" not in refused.content


def test_cache_stays_within_its_bound(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    files = {f"content/{index}.glb": glb_bytes(60_000, seed=index) for index in range(20)}
    data_dir = tmp_path / "data"
    publish(data_dir, "many", "v1", files)
    monkeypatch.setenv("TWIN_TILE_CACHE_MB", "1")  # room for some of the 20 tiles of 60 kB and their gzip
    app = serving_app(Settings(data_dir=data_dir))
    assert isinstance(app, TileFastPath)
    client = TestClient(app)
    for relative, data in files.items():
        assert get(client, f"/tiles/many/{relative}", Accept_Encoding="gzip").content == data
        assert app.cache.nbytes <= app.cache.max_bytes
    assert 0 < len(app.cache) < len(files)


def test_files_larger_than_an_entry_are_streamed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    big = glb_bytes(300_000)
    data_dir = tmp_path / "data"
    publish(data_dir, "big", "v1", {"content/big.glb": big})
    monkeypatch.setenv("TWIN_TILE_CACHE_MB", "1")  # one entry may take 128 KiB
    app = serving_app(Settings(data_dir=data_dir))
    client = TestClient(app)
    response = get(client, "/tiles/big/content/big.glb", Accept_Encoding="gzip")
    assert response.status_code == 200
    assert response.content == big
    assert "content-encoding" not in response.headers
    part = get(client, "/tiles/big/content/big.glb", Range="bytes=0-3")
    assert (part.status_code, part.content) == (206, b"glTF")
    assert (
        get(client, "/tiles/big/content/big.glb", If_None_Match=response.headers["etag"]).status_code == 304
    )
    assert isinstance(app, TileFastPath)
    assert len(app.cache) == 0


def test_stored_gzip_files_are_sent_as_they_are(tmp_path: Path, make_app: AppMaker) -> None:
    data_dir = tmp_path / "data"
    publish(data_dir, "packed", "v1", {"tileset.json": gzip.compress(TILESET)})
    response = get(TestClient(make_app(Settings(data_dir=data_dir))), "/tiles/packed/tileset.json")
    assert response.headers["content-encoding"] == "gzip"
    assert response.content == TILESET


# --- the fast path around the app ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Origin": ORIGIN},
        {"Origin": "https://evil.example"},
        {"Accept-Encoding": "gzip", "Origin": ORIGIN},
        {"Range": "bytes=0-3", "Origin": ORIGIN},
    ],
    ids=["plain", "origin", "other-origin", "gzip", "range"],
)
def test_fast_path_answers_exactly_like_the_route(settings: Settings, headers: dict[str, str]) -> None:
    route, fast = TestClient(create_app(settings)), TestClient(serving_app(settings))
    for path in ("/tiles/city/tileset.json", "/tiles/city/content/0.glb"):
        sent = {"Accept-Encoding": "identity", **headers}
        expected, got = route.get(path, headers=sent), fast.get(path, headers=sent)
        assert got.status_code == expected.status_code
        assert dict(got.headers) == dict(expected.headers)
        assert got.content == expected.content


def test_fast_path_cors_matches_the_app(settings: Settings) -> None:
    client = TestClient(serving_app(settings))
    allowed = get(client, "/tiles/city/tileset.json", Origin=ORIGIN)
    assert allowed.headers["access-control-allow-origin"] == ORIGIN
    assert "etag" in allowed.headers["access-control-expose-headers"].lower()
    other = get(client, "/tiles/city/tileset.json", Origin="https://evil.example")
    assert "access-control-allow-origin" not in other.headers
    preflight = client.options(
        "/tiles/city/tileset.json", headers={"Origin": ORIGIN, "Access-Control-Request-Method": "GET"}
    )
    assert preflight.status_code == 200
    assert preflight.headers["access-control-allow-origin"] == ORIGIN


def test_fast_path_passes_misses_and_other_paths_to_the_app(settings: Settings) -> None:
    client = TestClient(serving_app(settings))
    missing = get(client, "/tiles/city/nope.glb")
    assert missing.status_code == 404
    assert missing.headers["content-type"] == "application/problem+json"
    assert client.get("/api/health").status_code == 200
    assert client.post("/tiles/city/tileset.json").status_code == 405


def raw_status(app: Any, raw_path: bytes) -> tuple[int, bytes]:
    """Status and body of a GET of an unnormalised raw path, straight through ASGI."""
    from urllib.parse import unquote_to_bytes

    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET", "scheme": "http",
        "path": unquote_to_bytes(raw_path).decode("latin-1"), "raw_path": raw_path, "query_string": b"",
        "root_path": "", "headers": [(b"host", b"testserver")], "server": ("testserver", 80),
        "client": ("127.0.0.1", 1234),
    }  # fmt: skip
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    anyio.run(app, scope, receive, send)
    start = next(message for message in sent if message["type"] == "http.response.start")
    return start["status"], b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")


@pytest.mark.parametrize(
    "raw_path",
    [
        b"/tiles/city/../secret.txt",
        b"/tiles/city/%2e%2e/%2e%2e/secret.txt",
        b"/tiles/city/..%2f..%2fsecret.txt",
        b"/tiles/city/.hidden",
        b"/tiles/city//etc/passwd",
        b"/tiles/city/outside/secret.txt",
        b"/tiles/city/escape.json",
        b"/tiles/evil/tileset.json",
    ],
)
def test_fast_path_refuses_paths_outside_the_layer(settings: Settings, raw_path: bytes) -> None:
    version = settings.data_dir / "versions" / "city" / "v1"
    secret = settings.data_dir.parent / "secret.txt"
    for folder in (version.parent, settings.data_dir, settings.data_dir.parent):
        (folder / "secret.txt").write_text("SECRET")
    (version / ".hidden").write_text("SECRET")
    (version / "outside").symlink_to(settings.data_dir.parent, target_is_directory=True)
    (version / "escape.json").symlink_to(secret)
    outside_layer = settings.data_dir.parent / "outside-layer"
    outside_layer.mkdir()
    (outside_layer / "tileset.json").write_text('{"SECRET": true}')
    (settings.data_dir / "layers" / "evil").symlink_to(outside_layer, target_is_directory=True)
    status, body = raw_status(serving_app(settings), raw_path)
    assert status == 404
    assert b"SECRET" not in body


# --- units --------------------------------------------------------------------------------------------------


def entry_of(size: int) -> TileEntry:
    """A cache entry of ``size`` identity bytes."""
    return TileEntry(bytes(size), '"e"', "model/gltf-binary", "public", "now", False, True)


def test_lru_evicts_least_recently_used_first() -> None:
    cache = TileCache(max_bytes=300, max_entry_bytes=300)
    for name in "abc":
        cache.put((name, 0, 100, 0), entry_of(100))
    assert cache.get(("a", 0, 100, 0)) is not None  # a is now the most recently used
    cache.put(("d", 0, 100, 0), entry_of(100))
    assert cache.get(("b", 0, 100, 0)) is None
    assert cache.get(("a", 0, 100, 0)) is not None
    assert cache.nbytes == 300
    packed = entry_of(100)
    packed.gzip = bytes(50)
    cache.put(("a", 0, 100, 0), packed)  # adds the gzip bytes to the entry already there, then evicts
    assert cache.nbytes <= 300
    assert not cache.fits(301)


def test_header_helpers() -> None:
    assert accepts_gzip("deflate, gzip;q=0.1")
    assert not accepts_gzip(None)
    assert not accepts_gzip("gzip;q=0, *")
    assert etag_matches("*", '"a"')
    assert not etag_matches('"a-gz"', '"a"')
    assert parse_range("bytes=5-2", 10) is None
    assert parse_range("items=0-1", 10) is None
    assert parse_range("bytes=0-100", 10) == (0, 9)
    assert parse_range("bytes=-0", 10) is False


# --- serving ------------------------------------------------------------------------------------------------


def test_app_from_env_uses_the_settings_handed_over(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(SETTINGS_ENV, settings.model_dump_json())
    frozen: list[bool] = []
    monkeypatch.setattr("twin.api.app._freeze_startup_objects", lambda: frozen.append(True))
    app = app_from_env()
    assert frozen == [True]  # each worker leaves its start-up objects out of garbage collection
    assert isinstance(app, TileFastPath)
    assert app.settings.data_dir == settings.data_dir
    assert get(TestClient(app), "/tiles/city/tileset.json").content == TILESET


def test_serve_has_a_workers_option() -> None:
    from twin.cli import app as cli

    result = CliRunner().invoke(cli, ["serve", "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    assert "--workers" in result.output
