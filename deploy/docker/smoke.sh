#!/usr/bin/env bash
# The Dockerfile's steps without a container engine: the same commands, in a fresh temporary folder and a
# fresh venv, then the demo served from there and the same HTTP checks as smoke-container.sh. For machines
# where neither docker nor podman can run; tests/test_container.py checks that the commands here and in the
# Dockerfile stay the same.
#
#   deploy/docker/smoke.sh            # needs python3 (>= 3.11) with venv, npm, curl; ~2-3 min
#
# Mapping: /app -> $work/app, /opt/venv -> $work/venv, /data -> $work/data. As root, the server runs as uid
# 10001 (setpriv), like the image's user; otherwise as the calling user.
# Environment: PYTHON (default python3), PORT (default 8000), KEEP=1 keeps the folder.
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
# Like ./run: the distribution's python3 (the official image's is 3.11 too), else the first on the PATH.
if [ -z "${PYTHON:-}" ]; then
    if [ -x /usr/bin/python3 ]; then PYTHON=/usr/bin/python3; else PYTHON=python3; fi
fi
PORT=${PORT:-8000}
work=$(mktemp -d /var/tmp/twin-smoke-venv.XXXXXX)
chmod 755 "$work"
server=""
cleanup() {
    [ -n "$server" ] && kill "$server" 2>/dev/null && wait "$server" 2>/dev/null
    if [ "${KEEP:-0}" = 1 ]; then echo "kept $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT
say() { printf '\n== %s\n' "$*"; }
fail() { printf 'FAILED: %s\n' "$*" >&2; exit 1; }
export PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PYTHONDONTWRITEBYTECODE=1

say "stage 1 (cesium): npm ci in $work/cesium/web"
mkdir -p "$work/cesium/web"
cp "$repo/web/package.json" "$repo/web/package-lock.json" "$work/cesium/web/"
(cd "$work/cesium/web" && npm ci --no-audit --no-fund --ignore-scripts \
    && test -f node_modules/cesium/Build/Cesium/Cesium.js)

say "stage 2 (python): venv $work/venv, package in $work/app"
"$PYTHON" -m venv "$work/venv"
mkdir -p "$work/app"
cp "$repo/pyproject.toml" "$repo/README.md" "$repo/LICENSE" "$work/app/"
(
    cd "$work/app"
    mkdir -p src/twin && touch src/twin/__init__.py \
        && "$work/venv/bin/pip" install -e ".[postgres]" \
        && "$work/venv/bin/pip" uninstall -y py3dtiles numba llvmlite pyzmq psutil pygltflib lz4 \
            dataclasses-json marshmallow typing-inspect mypy-extensions deprecated wrapt \
        && rm src/twin/__init__.py
)
# COPY src ./src (.dockerignore leaves out __pycache__ and *.egg-info)
(cd "$repo" && tar -c --exclude=__pycache__ --exclude='*.pyc' --exclude='*.egg-info' src) | tar -x -C "$work/app"
(
    cd "$work/app"
    "$work/venv/bin/python" -m compileall -q --invalidation-mode unchecked-hash src/twin \
        && "$work/venv/bin/python" -c \
            "import twin, sys; sys.exit(twin.__file__ != '$work/app/src/twin/__init__.py')"
)

say "stage 3 (run time): profiles, data/samples, web, Cesium's build"
(cd "$repo" && tar -c --exclude=__pycache__ --exclude='*.pyc' --exclude=web/node_modules profiles data/samples web) \
    | tar -x -C "$work/app"
mkdir -p "$work/app/web/node_modules/cesium/Build"
cp -r "$work/cesium/web/node_modules/cesium/Build/Cesium" "$work/app/web/node_modules/cesium/Build/Cesium"
mkdir "$work/data"
echo "venv $(du -sh "$work/venv" | cut -f1), app $(du -sh "$work/app" | cut -f1)"

say "run: twin demo --host 127.0.0.1 --port $PORT (through deploy/docker/entrypoint.sh)"
as_user=()
if [ "$(id -u)" = 0 ] && command -v setpriv >/dev/null 2>&1; then
    as_user=(setpriv --reuid=10001 --regid=10001 --clear-groups)
    # The venv's interpreter must be usable by that uid (not one under /root, e.g. pyenv's).
    if "${as_user[@]}" "$work/venv/bin/python" -c pass 2>/dev/null; then
        chown 10001:10001 "$work/data"
    else
        echo "note: uid 10001 cannot run $PYTHON's venv; the server runs as root"
        as_user=()
    fi
fi
(
    cd "$work/data"
    export PATH="$work/venv/bin:$PATH" PYTHONUNBUFFERED=1 TWIN_DATA_DIR="$work/data"
    exec "${as_user[@]}" "$repo/deploy/docker/entrypoint.sh" twin demo --host 127.0.0.1 --port "$PORT"
) >"$work/server.log" 2>&1 &
server=$!

base="http://127.0.0.1:$PORT"
health=""
for i in $(seq 120); do
    health=$(curl -fsS "$base/api/health" 2>/dev/null) && break
    kill -0 "$server" 2>/dev/null || { tail -n 20 "$work/server.log"; fail "the server stopped"; }
    sleep 1
done
[ -n "$health" ] || { tail -n 20 "$work/server.log"; fail "no answer from $base/api/health"; }
echo "GET /api/health after ${i} s: $health"
for url in / /cesium/Cesium.js /tiles/gebaeude/tileset.json; do
    got=$(curl -s -o /dev/null -w '%{http_code}' "$base$url")
    echo "GET $url: $got"
    [ "$got" = 200 ] || fail "GET $url answered $got"
done
tile=$(curl -fsS "$base/tiles/gebaeude/tileset.json" | python3 -c '
import json, sys
def first(node):
    if "content" in node:
        return node["content"]["uri"]
    for child in node.get("children", []):
        found = first(child)
        if found:
            return found
print(first(json.load(sys.stdin)["root"]))')
curl -fsS -o "$work/tile.glb" "$base/tiles/gebaeude/$tile"
echo "GET /tiles/gebaeude/$tile: magic $(head -c 4 "$work/tile.glb")"
[ "$(head -c 4 "$work/tile.glb")" = glTF ] || fail "the tile is not a GLB"
# The Dockerfile's HEALTHCHECK command (its port is the default command's, 8000).
sed -n 's/.*urlopen(\(.*\), timeout=.*/\1/p' "$repo/Dockerfile" | grep -q "'http://127.0.0.1:8000/api/health'" \
    || fail "the Dockerfile's HEALTHCHECK is not the one this script runs"
"$work/venv/bin/python" -c \
    "import urllib.request; urllib.request.urlopen('$base/api/health', timeout=4)" \
    && echo "HEALTHCHECK command: exit 0"
# $server is the twin process itself: the subshell, setpriv and the entrypoint each exec the next.
echo "server process: uid $(stat -c %u "/proc/$server"), $(tr '\0' ' ' <"/proc/$server/cmdline")"
head -n 3 "$work/server.log"
say "all checks passed"
