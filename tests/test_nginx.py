"""The production front deploy/nginx/twin.conf, run for real: same headers as `twin serve`, safe paths, proxying.

Renders the template into tmp_path with free ports, starts `twin serve` and nginx (Debian's /usr/sbin/nginx) as
child processes and compares nginx's answers with those of ``create_app`` for the same files.
"""

from __future__ import annotations

import contextlib
import gzip
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from twin.api import create_app
from twin.settings import Settings

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
TEMPLATE = ROOT / "deploy" / "nginx" / "twin.conf"
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"

TILESET = (
    b'{"asset": {"version": "1.1"}, "geometricError": 10, "root": {"content": {"uri": "content/0.glb"}}}' * 4
)
GLB = b"glTF" + b"".join(bytes([index % 7, index % 13, 0, 1]) for index in range(20_000))
SUBTREE = b"subt" + bytes(600)
SECRET = b"SECRET-OUTSIDE-THE-DATA-DIR"


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_until_up(url: str, process: subprocess.Popen[bytes], log: Path, timeout_s: float = 30.0) -> None:
    """Poll ``url`` until it answers; fail with the child's log if it exits or takes too long."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"{process.args!r} exited with {process.returncode}:\n{log.read_text()[-3000:]}")
        with contextlib.suppress(httpx.HTTPError):
            httpx.get(url, timeout=2.0)
            return
        time.sleep(0.2)
    pytest.fail(f"{url} did not answer within {timeout_s:.0f} s:\n{log.read_text()[-3000:]}")


@contextlib.contextmanager
def child(command: list[str], env: dict[str, str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    """Run ``command`` in its own process group for the duration of the block, then stop that group."""
    with log.open("wb") as out:
        process = subprocess.Popen(
            command, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
        try:
            yield process
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


def render(template: str, data_dir: Path, listen: str, upstream: str) -> str:
    """The template with its three placeholders filled in (what envsubst does in deploy/README.md)."""
    for name, value in (
        ("TWIN_LISTEN", listen),
        ("TWIN_DATA_DIR", str(data_dir)),
        ("TWIN_API_UPSTREAM", upstream),
    ):
        template = template.replace("${" + name + "}", value)
    assert "${" not in template
    return template


def worker_user() -> str:
    """The ``user`` directive for a master started as root: workers as root too, so they can read tmp_path
    (pytest's folders are 0700); without it they would run as nobody and every tile would fall back to the API."""
    return "user root;\n" if os.geteuid() == 0 else ""


NGINX_ETAG = re.compile(r'^(W/)?"[0-9a-f]+-[0-9a-f]+"$')
"""nginx's own ETag ("mtime-size"): tells a file nginx served from one twin answered (twin's has 3 parts)."""


@dataclass
class Front:
    """The running front: nginx's base URL, twin serve's, the data dir and its settings."""

    nginx: str
    twin: str
    data_dir: Path
    settings: Settings


@pytest.fixture(scope="module")
def front(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Front]:
    """nginx with the rendered deploy/nginx/twin.conf in front of a real `twin serve`, on one data dir."""
    if not Path(NGINX).exists():
        pytest.skip(f"nginx is not installed ({NGINX} missing; apt-get install -y nginx)")
    base = tmp_path_factory.mktemp("front")
    base.chmod(0o755)  # nginx's workers may run as another user
    data_dir = base / "data"
    version = data_dir / "versions" / "city" / "v1"
    (version / "content").mkdir(parents=True)
    (version / "subtrees").mkdir()
    (version / "tileset.json").write_bytes(TILESET)
    (version / "content" / "0.glb").write_bytes(GLB)
    (version / "subtrees" / "0.0.0.subtree").write_bytes(SUBTREE)
    (version / ".hidden").write_bytes(SECRET)
    (data_dir / "layers").mkdir()
    (data_dir / "layers" / "city").symlink_to(Path("../versions/city/v1"), target_is_directory=True)
    # Outside the data dir, and symlinks in the layer that lead there.
    (base / "secret.txt").write_bytes(SECRET)
    (version / "escape.json").symlink_to(base / "secret.txt")
    (version / "outside").symlink_to(base, target_is_directory=True)
    for path in [base, *base.rglob("*")]:
        if not path.is_symlink():
            path.chmod(0o755 if path.is_dir() else 0o644)

    twin_port, nginx_port = free_port(), free_port()
    env = {**os.environ, "TWIN_DATA_DIR": str(data_dir), "TWIN_CORS_ORIGINS": "*"}
    twin = [str(Path(sys.executable).parent / "twin"), "serve", "--port", str(twin_port), "--workers", "1"]
    prefix = base / "nginx"
    (prefix / "logs").mkdir(parents=True)
    (prefix / "twin.conf").write_text(
        render(TEMPLATE.read_text(), data_dir, f"127.0.0.1:{nginx_port}", f"127.0.0.1:{twin_port}")
    )
    (prefix / "nginx.conf").write_text(
        worker_user()
        + "worker_processes 1;\npid nginx.pid;\nerror_log logs/error.log warn;\nevents { worker_connections 64; }\n"
        "http {\n  access_log logs/access.log;\n  client_body_temp_path logs/body; proxy_temp_path logs/proxy;\n"
        "  fastcgi_temp_path logs/fastcgi; uwsgi_temp_path logs/uwsgi; scgi_temp_path logs/scgi;\n"
        "  include twin.conf;\n}\n"
    )
    nginx = [NGINX, "-c", str(prefix / "nginx.conf"), "-p", f"{prefix}/", "-g", "daemon off;"]
    with (
        child(twin, env, base / "twin.log") as twin_process,
        child(nginx, env, base / "nginx.log") as nginx_process,
    ):
        wait_until_up(f"http://127.0.0.1:{twin_port}/api/health", twin_process, base / "twin.log")
        wait_until_up(f"http://127.0.0.1:{nginx_port}/", nginx_process, prefix / "logs" / "error.log")
        yield Front(
            nginx=f"http://127.0.0.1:{nginx_port}",
            twin=f"http://127.0.0.1:{twin_port}",
            data_dir=data_dir,
            settings=Settings(data_dir=data_dir, cors_origins=["*"]),
        )


SAME_HEADERS = ("content-type", "cache-control", "content-encoding", "x-content-type-options")
CORS_HEADERS = ("access-control-allow-origin", "access-control-expose-headers")


@pytest.mark.parametrize("relative, data", [("tileset.json", TILESET), ("content/0.glb", GLB)])
@pytest.mark.parametrize("accept", ["gzip", "identity"])
def test_same_headers_as_twin_serve(front: Front, relative: str, data: bytes, accept: str) -> None:
    headers = {"Accept-Encoding": accept, "Origin": "https://viewer.example"}
    expected = TestClient(create_app(front.settings)).get(f"/tiles/city/{relative}", headers=headers)
    got = httpx.get(f"{front.nginx}/tiles/city/{relative}", headers=headers)
    assert got.status_code == expected.status_code == 200
    assert got.content == expected.content == data  # httpx decodes gzip
    for name in SAME_HEADERS + CORS_HEADERS:
        assert got.headers.get(name) == expected.headers.get(name), name
    assert set(got.headers["vary"].replace(" ", "").split(",")) == set(
        expected.headers["vary"].replace(" ", "").split(",")
    )
    assert NGINX_ETAG.match(got.headers["etag"]), "nginx handed the tile to the API instead of serving it"
    revalidated = httpx.get(
        f"{front.nginx}/tiles/city/{relative}", headers={**headers, "If-None-Match": got.headers["etag"]}
    )
    assert revalidated.status_code == 304


def test_subtree_is_octet_stream_and_not_gzipped(front: Front) -> None:
    got = httpx.get(f"{front.nginx}/tiles/city/subtrees/0.0.0.subtree", headers={"Accept-Encoding": "gzip"})
    assert got.headers["content-type"] == "application/octet-stream"
    assert "content-encoding" not in got.headers
    assert got.content == SUBTREE
    assert NGINX_ETAG.match(got.headers["etag"])


def test_no_cors_headers_without_origin(front: Front) -> None:
    got = httpx.get(f"{front.nginx}/tiles/city/tileset.json")
    assert "access-control-allow-origin" not in got.headers


def test_preflight_is_answered_by_the_api(front: Front) -> None:
    preflight = httpx.options(
        f"{front.nginx}/tiles/city/tileset.json",
        headers={"Origin": "https://viewer.example", "Access-Control-Request-Method": "GET"},
    )
    assert preflight.status_code == 200
    assert preflight.headers["access-control-allow-origin"] == "*"


def test_api_is_proxied_to_twin_serve(front: Front) -> None:
    via_nginx = httpx.get(f"{front.nginx}/api/health")
    direct = httpx.get(f"{front.twin}/api/health")
    assert via_nginx.status_code == direct.status_code == 200
    assert via_nginx.json() == direct.json()
    assert via_nginx.headers["server"] == "nginx"


def raw_get(base: str, raw_path: str) -> tuple[int, bytes]:
    """Status and body of a GET sent byte for byte (HTTP clients would normalise '..' away)."""
    host, _, port = base.removeprefix("http://").partition(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(
            f"GET {raw_path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode("latin-1")
        )
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    status_line, _, rest = answer.partition(b"\r\n")
    return int(status_line.split()[1]), rest


@pytest.mark.parametrize(
    "raw_path",
    [
        "/tiles/city/../../secret.txt",
        "/tiles/city/../../../secret.txt",
        "/tiles/city/%2e%2e/%2e%2e/%2e%2e/secret.txt",
        "/tiles/city/..%2f..%2f..%2fsecret.txt",
        "/tiles/city/..%5c..%5c..%5csecret.txt",
        "/tiles/city/%252e%252e/%252e%252e/secret.txt",
        "/tiles/city/.hidden",
        "/tiles/city/%2ehidden",
        "/tiles/city/escape.json",
        "/tiles/city/outside/secret.txt",
        "/tiles/city/content/",
        "/tiles/city/",
        "/tiles/%2e%2e/%2e%2e/secret.txt",
    ],
)
def test_paths_outside_the_layer_are_refused(front: Front, raw_path: str) -> None:
    status, body = raw_get(front.nginx, raw_path)
    # 404 from twin (nginx hands what it does not serve to the API), 403 for a refused symlink;
    # 400 is nginx's own answer to a path that climbs above /.
    assert status in (400, 403, 404), status
    assert SECRET not in body


def test_symlinks_out_of_the_data_dir_are_not_followed_by_nginx(front: Front) -> None:
    # Neither nginx nor the API behind it may serve them.
    for relative in ("escape.json", "outside/secret.txt"):
        got = httpx.get(f"{front.nginx}/tiles/city/{relative}")
        assert got.status_code in (403, 404)
        assert SECRET not in got.content


def test_gzip_bytes_are_real_gzip(front: Front) -> None:
    with (
        httpx.Client() as client,
        client.stream(
            "GET", f"{front.nginx}/tiles/city/content/0.glb", headers={"Accept-Encoding": "gzip"}
        ) as response,
    ):
        raw = b"".join(response.iter_raw())
    assert gzip.decompress(raw) == GLB
    assert len(raw) < len(GLB) // 2
