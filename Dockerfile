# twin's container image: the API, the tiles and the CesiumJS viewer, serving the sample city by default.
#
#   docker build -t twin .
#   docker run -p 8000:8000 -v ./data:/data twin      # open http://127.0.0.1:8000
#
# The process runs as uid 10001 ("twin"): a bind-mounted ./data must be writable by it
# (`mkdir -p data && sudo chown 10001 data`, or run with `--user "$(id -u):$(id -g)"`); a named volume
# (`-v twin-data:/data`) works as is. See deploy/docker/README.md (settings, ingesting, the smoke tests).

# The base images are arguments so that a machine without Docker Hub can build from local substitutes
# (deploy/docker/make-local-bases.sh); the stages use only python3 -m venv, pip, npm and useradd from them.
ARG PYTHON_IMAGE=python:3.11-slim-bookworm
ARG NODE_IMAGE=node:20-bookworm-slim

# --- Stage 1: Cesium's browser build from npm (web/package-lock.json pins the version) --------------------
FROM ${NODE_IMAGE} AS cesium
WORKDIR /app/web
COPY web/package.json web/package-lock.json ./
# --ignore-scripts: only the files of the published package are needed, no install hooks run.
RUN npm ci --no-audit --no-fund --ignore-scripts \
 && test -f node_modules/cesium/Build/Cesium/Cesium.js

# --- Stage 2: the Python environment ----------------------------------------------------------------------
FROM ${PYTHON_IMAGE} AS python
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
RUN python3 -m venv /opt/venv
WORKDIR /app
COPY pyproject.toml README.md LICENSE ./
# The dependencies first, against a placeholder package, so that this (slow) layer stays cached while only
# src/ changes. Every dependency has a manylinux wheel for CPython 3.11: no compiler is needed, and a missing
# wheel fails here rather than in the final image.
# Editable (-e): twin finds web/, profiles/ and data/samples relative to its source checkout
# (Path(twin.__file__).parents[2], cli.REPO_ROOT), so /app keeps the repository's layout and the venv only
# holds a .pth file pointing at /app/src. A regular install would put twin in site-packages and lose them.
# The postgres extra (psycopg's binary wheel) lets TWIN_DATABASE_URL name a PostgreSQL catalog.
# py3dtiles is a dependency in pyproject.toml, but only the tests use it (tests/test_tilecheck.py); with
# numba and llvmlite it weighs ~200 MB, so the image drops it and what only it needs (tests/test_container.py
# fails if src/twin starts importing any of these).
RUN mkdir -p src/twin && touch src/twin/__init__.py \
 && /opt/venv/bin/pip install -e ".[postgres]" \
 && /opt/venv/bin/pip uninstall -y py3dtiles numba llvmlite pyzmq psutil pygltflib lz4 \
        dataclasses-json marshmallow typing-inspect mypy-extensions deprecated wrapt \
 && rm src/twin/__init__.py
COPY src ./src
# Compiled here because the non-root user cannot write __pycache__ under /app at run time; unchecked-hash
# .pyc files are used whatever the files' timestamps are after the copy into the final stage (the sources in
# the image never change).
RUN /opt/venv/bin/python -m compileall -q --invalidation-mode unchecked-hash src/twin \
 && /opt/venv/bin/python -c "import twin, sys; sys.exit(twin.__file__ != '/app/src/twin/__init__.py')"

# --- Stage 3: the run-time image: no compiler, no node, no npm cache ----------------------------------------
FROM ${PYTHON_IMAGE}
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    TWIN_DATA_DIR=/data
# A fixed, high uid that is no host user's; /data is created owned by it before VOLUME, so a new named or
# anonymous volume starts out writable for it.
RUN useradd --uid 10001 --user-group --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin twin \
 && mkdir /data \
 && chown twin:twin /data
COPY --from=python /opt/venv /opt/venv
COPY --from=python /app /app
COPY profiles /app/profiles
COPY data/samples /app/data/samples
# web/ without node_modules (.dockerignore), then only Cesium's Build/Cesium: all the viewer serves at /cesium.
COPY web /app/web
COPY --from=cesium /app/web/node_modules/cesium/Build/Cesium /app/web/node_modules/cesium/Build/Cesium
COPY deploy/docker/entrypoint.sh /usr/local/bin/twin-entrypoint
USER twin
WORKDIR /data
VOLUME /data
EXPOSE 8000
# Slim images have no curl. The start period covers the first start's ingest of the sample city. The port is
# the default command's; a container started with another --port needs --health-cmd (or --no-healthcheck).
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/api/health', timeout=4)"]
# The demo: ingests the sample city into /data once, then serves API, tiles and viewer (one uvicorn worker
# per CPU). For a city's own data: `twin serve --host 0.0.0.0 --port 8000 [--workers N]`.
# The entrypoint only checks that /data is writable (a clear message instead of SQLite's), then execs this.
ENTRYPOINT ["/usr/local/bin/twin-entrypoint"]
CMD ["twin", "demo", "--host", "0.0.0.0", "--port", "8000"]
