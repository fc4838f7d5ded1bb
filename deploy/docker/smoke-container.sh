#!/usr/bin/env bash
# Build the image from the repository's Dockerfile and smoke-test it with a container engine.
#
#   deploy/docker/smoke-container.sh
#
# Runs the README's command, `run -p 8000:8000 -v ./data:/data twin`, in a fresh folder, four ways:
#   1. ./data owned by uid 10001 (the image's user)
#   2. --user 1000:1000 with ./data owned by uid 1000 (a host user's folder)
#   3. a named volume instead of a folder
#   4. ./data owned by root: the entrypoint must refuse with its message (exit 1)
# and checks for 1-3: /api/health answers within 120 s (first start ingests the sample city), GET / and
# /cesium/Cesium.js and the sample layer's tileset.json and one of its GLB tiles answer 200, the image's own
# HEALTHCHECK command passes inside the container, and the server process does not run as root. Case 1 is
# then restarted on the same folder (the layer must be kept, not ingested again).
#
# Environment:
#   ENGINE        docker or podman (default: docker if a daemon answers, else podman)
#   IMAGE         tag to build and test (default: twin:smoke)
#   PYTHON_IMAGE, NODE_IMAGE
#                 base images passed as build args (default: the Dockerfile's, from Docker Hub); see
#                 make-local-bases.sh for a machine that cannot reach a registry
#   BUILD_CA      podman only: a CA bundle mounted (read-only, never copied into the image) into every build
#                 step and named to pip and npm, for networks that intercept TLS
#   PORT          host port (default: 8000)
#   SKIP_BUILD=1  test an image built before
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
IMAGE=${IMAGE:-twin:smoke}
PORT=${PORT:-8000}
if [ -z "${ENGINE:-}" ]; then
    if command -v docker >/dev/null 2>&1 && docker info >/dev/null 2>&1; then ENGINE=docker; else ENGINE=podman; fi
fi
work=$(mktemp -d /var/tmp/twin-smoke.XXXXXX)
names=()
cleanup() {
    for name in "${names[@]}"; do "$ENGINE" rm -f "$name" >/dev/null 2>&1 || true; done
    "$ENGINE" volume rm -f twin-smoke-data >/dev/null 2>&1 || true
    rm -rf "$work"
}
trap cleanup EXIT
say() { printf '\n== %s\n' "$*"; }
fail() { printf 'FAILED: %s\n' "$*" >&2; exit 1; }

if [ "${SKIP_BUILD:-0}" != 1 ]; then
    build=("$ENGINE" build -t "$IMAGE" -f "$repo/Dockerfile")
    # podman's default (OCI) image format has no HEALTHCHECK; the docker format keeps it.
    [ "$ENGINE" = podman ] && build+=(--format docker)
    [ -n "${PYTHON_IMAGE:-}" ] && build+=(--build-arg "PYTHON_IMAGE=$PYTHON_IMAGE")
    [ -n "${NODE_IMAGE:-}" ] && build+=(--build-arg "NODE_IMAGE=$NODE_IMAGE")
    if [ -n "${BUILD_CA:-}" ]; then
        [ "$ENGINE" = podman ] || fail "BUILD_CA needs podman (docker build cannot mount files into RUN steps)"
        printf '[global]\ncert = /etc/ssl/certs/ca-certificates.crt\n' >"$work/pip.conf"
        printf 'cafile=/etc/ssl/certs/ca-certificates.crt\n' >"$work/npmrc"
        build+=(-v "$BUILD_CA:/etc/ssl/certs/ca-certificates.crt:ro" -v "$work/pip.conf:/etc/pip.conf:ro"
            -v "$work/npmrc:/root/.npmrc:ro")
    fi
    say "build: ${build[*]} $repo"
    start=$(date +%s)
    "${build[@]}" "$repo"
    echo "built in $(($(date +%s) - start)) s"
fi
say "image"
"$ENGINE" image inspect "$IMAGE" --format 'size {{.Size}} bytes, user {{.Config.User}}, volumes {{json .Config.Volumes}}, healthcheck {{json .Config.Healthcheck.Test}}'

base="http://127.0.0.1:$PORT"
code() { curl -s -o /dev/null -w '%{http_code}' "$@"; }

# check NAME: the HTTP checks against a running container.
check() {
    local name=$1 health="" i
    for i in $(seq 120); do
        health=$(curl -fsS "$base/api/health" 2>/dev/null) && break
        "$ENGINE" container inspect "$name" --format '{{.State.Running}}' 2>/dev/null | grep -q true \
            || { "$ENGINE" logs "$name" 2>&1 | tail -n 20; fail "$name stopped"; }
        sleep 1
    done
    [ -n "$health" ] || { "$ENGINE" logs "$name" 2>&1 | tail -n 20; fail "no answer from $base/api/health"; }
    echo "GET /api/health after ${i} s: $health"
    local url
    for url in / /cesium/Cesium.js /tiles/gebaeude/tileset.json; do
        local got
        got=$(code "$base$url")
        echo "GET $url: $got"
        [ "$got" = 200 ] || fail "GET $url answered $got"
    done
    local tile
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
    echo "GET /tiles/gebaeude/$tile: $(code "$base/tiles/gebaeude/$tile"), magic $(head -c 4 "$work/tile.glb")"
    [ "$(head -c 4 "$work/tile.glb")" = glTF ] || fail "the tile is not a GLB"
    # The image's HEALTHCHECK command, as configured, run inside the container.
    local -a test
    mapfile -t test < <("$ENGINE" image inspect "$IMAGE" --format '{{json .Config.Healthcheck.Test}}' \
        | python3 -c 'import json, sys; print("\n".join(json.load(sys.stdin)[1:]))')
    "$ENGINE" exec "$name" "${test[@]}" && echo "HEALTHCHECK command: exit 0" || fail "HEALTHCHECK command failed"
    echo "server process: uid $("$ENGINE" exec "$name" sh -c 'stat -c %u /proc/1')"
    [ "$("$ENGINE" exec "$name" sh -c 'stat -c %u /proc/1')" != 0 ] || fail "the server runs as root"
}

# run NAME ARGS...: start a container detached from $work (so that ./data is $work/data).
run() {
    local name=$1
    shift
    names+=("$name")
    "$ENGINE" rm -f "$name" >/dev/null 2>&1 || true
    (cd "$work" && "$ENGINE" run -d --name "$name" "$@" >/dev/null)
}
stop() {
    "$ENGINE" stop -t 10 "$1" >/dev/null
    echo "stopped, exit code $("$ENGINE" container inspect "$1" --format '{{.State.ExitCode}}')"
    "$ENGINE" rm -f "$1" >/dev/null
}

say "1. run -p $PORT:8000 -v ./data:/data $IMAGE   (./data owned by uid 10001)"
mkdir "$work/data" && chown 10001:10001 "$work/data"
run twin-smoke-1 -p "$PORT:8000" -v ./data:/data "$IMAGE"
check twin-smoke-1
stop twin-smoke-1
echo "data dir: $(cd "$work/data" && ls | tr '\n' ' ')"
say "1b. the same again on the same ./data"
run twin-smoke-1 -p "$PORT:8000" -v ./data:/data "$IMAGE"
check twin-smoke-1
"$ENGINE" logs twin-smoke-1 2>&1 | grep -iE 'ingest|build|unchanged|buildings' | head -n 3
stop twin-smoke-1

say "2. run --user 1000:1000 -p $PORT:8000 -v ./data:/data $IMAGE   (./data owned by uid 1000)"
rm -rf "$work/data" && mkdir "$work/data" && chown 1000:1000 "$work/data"
run twin-smoke-2 --user 1000:1000 -p "$PORT:8000" -v ./data:/data "$IMAGE"
check twin-smoke-2
stop twin-smoke-2

say "3. run -p $PORT:8000 -v twin-smoke-data:/data $IMAGE   (named volume)"
"$ENGINE" volume rm -f twin-smoke-data >/dev/null 2>&1 || true
run twin-smoke-3 -p "$PORT:8000" -v twin-smoke-data:/data "$IMAGE"
check twin-smoke-3
stop twin-smoke-3

say "4. run -p $PORT:8000 -v ./data:/data $IMAGE   (./data owned by root: must refuse)"
rm -rf "$work/data" && mkdir "$work/data" && chown 0:0 "$work/data" && chmod 755 "$work/data"
set +e
(cd "$work" && "$ENGINE" run --rm -p "$PORT:8000" -v ./data:/data "$IMAGE")
status=$?
set -e
echo "exit code $status"
[ "$status" = 1 ] || fail "expected exit code 1"

say "all checks passed"
