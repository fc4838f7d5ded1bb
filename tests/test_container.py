"""The container image's Dockerfile, checked statically (building it takes minutes and a container engine).

deploy/docker/smoke-container.sh builds and runs the image; deploy/docker/smoke.sh runs the same steps in a
fresh venv. These tests keep the Dockerfile consistent with the repository and with smoke.sh: every COPY
source exists and is in the build context, the image runs as a non-root user with a /data volume and a
health check, and the commands smoke.sh runs are the Dockerfile's.
"""

from __future__ import annotations

import ast
import fnmatch
import json
import os
import re
import shlex
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCKERFILE = ROOT / "Dockerfile"
SMOKE = ROOT / "deploy" / "docker" / "smoke.sh"
ENTRYPOINT = ROOT / "deploy" / "docker" / "entrypoint.sh"

# Distributions the image uninstalls (only the tests use py3dtiles) and the modules they provide.
DROPPED_MODULES = {
    "py3dtiles": "py3dtiles",
    "numba": "numba",
    "llvmlite": "llvmlite",
    "pyzmq": "zmq",
    "psutil": "psutil",
    "pygltflib": "pygltflib",
    "lz4": "lz4",
    "dataclasses-json": "dataclasses_json",
    "marshmallow": "marshmallow",
    "typing-inspect": "typing_inspect",
    "mypy-extensions": "mypy_extensions",
    "deprecated": "deprecated",
    "wrapt": "wrapt",
}

Instruction = tuple[str, str]


def instructions(text: str) -> list[Instruction]:
    """(KEYWORD, arguments) of a Dockerfile, continuation lines joined and comments dropped."""
    result: list[Instruction] = []
    pending = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        line = pending + line
        pending = ""
        keyword, _, args = line.partition(" ")
        result.append((keyword.upper(), " ".join(args.split())))
    return result


def stages(steps: list[Instruction]) -> list[list[Instruction]]:
    """The build stages: each starts with its FROM."""
    result: list[list[Instruction]] = []
    for step in steps:
        if step[0] == "FROM":
            result.append([])
        if result:
            result[-1].append(step)
    return result


@pytest.fixture(scope="module")
def steps() -> list[Instruction]:
    return instructions(DOCKERFILE.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def final(steps: list[Instruction]) -> list[Instruction]:
    return stages(steps)[-1]


def args_of(stage: list[Instruction], keyword: str) -> list[str]:
    return [args for key, args in stage if key == keyword]


def ignored(path: str, patterns: list[str]) -> bool:
    """Whether .dockerignore leaves ``path`` out of the build context (last matching pattern wins)."""
    excluded = False
    for pattern in patterns:
        negate = pattern.startswith("!")
        pattern = pattern.lstrip("!").rstrip("/")
        parts = Path(path).parts
        # A pattern matches the path or one of its parent folders.
        prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
        glob = pattern.replace("**/", "*")
        if any(
            fnmatch.fnmatchcase(prefix, glob) or fnmatch.fnmatchcase(prefix, pattern) for prefix in prefixes
        ):
            excluded = not negate
    return excluded


def dockerignore() -> list[str]:
    lines = (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


def test_copy_sources_exist_and_are_in_the_build_context(steps: list[Instruction]) -> None:
    patterns = dockerignore()
    sources = []
    for keyword, args in steps:
        if keyword != "COPY" or args.startswith("--from"):
            continue
        sources += shlex.split(args)[:-1]
    assert sources
    for source in sources:
        assert (ROOT / source).exists(), f"COPY {source}: no such file in the repository"
        assert not ignored(source, patterns), f"COPY {source}: left out of the build context by .dockerignore"


def test_build_context_leaves_out_local_artefacts() -> None:
    patterns = dockerignore()
    local = (
        ".venv/bin/python",
        ".git/HEAD",
        "node_modules/x",
        "web/node_modules/cesium/package.json",
        "src/twin/__pycache__/cli.cpython-311.pyc",
        "twin-data/catalog.sqlite",
        "tests/test_api.py",
    )
    for path in local:
        assert ignored(path, patterns), path


def test_final_stage_runs_as_non_root_with_data_volume_and_health_check(final: list[Instruction]) -> None:
    users = args_of(final, "USER")
    assert users and users[-1] not in ("root", "0") and not users[-1].startswith("0:")
    assert any("--uid 10001" in run and "twin" in run for run in args_of(final, "RUN"))
    assert "/data" in " ".join(args_of(final, "VOLUME"))
    env = " ".join(args_of(final, "ENV"))
    assert "TWIN_DATA_DIR=/data" in env
    assert args_of(final, "EXPOSE") == ["8000"]
    [health] = args_of(final, "HEALTHCHECK")
    assert "urllib.request" in health and "http://127.0.0.1:8000/api/health" in health
    cmd = json.loads(args_of(final, "CMD")[-1])
    assert cmd[:2] == ["twin", "demo"] and cmd[cmd.index("--host") + 1] == "0.0.0.0"
    assert cmd[cmd.index("--port") + 1] == "8000"  # the port the HEALTHCHECK asks
    # /data is made the user's before VOLUME, so that new volumes start out writable for it.
    keywords = [key for key, _ in final]
    assert keywords.index("VOLUME") > max(i for i, (key, args) in enumerate(final) if "chown" in args)


def test_final_stage_has_no_build_tools(final: list[Instruction]) -> None:
    assert final[0][1] == "${PYTHON_IMAGE}"
    for run in args_of(final, "RUN"):
        assert not re.search(r"\b(apt-get|apt|pip|npm|gcc|make)\b", run), run
    # From the node stage only Cesium's build is copied.
    for copy in args_of(final, "COPY"):
        if copy.startswith("--from=cesium"):
            assert "node_modules/cesium/Build/Cesium " in copy


def test_repository_layout_kept_for_the_source_relative_paths(steps: list[Instruction]) -> None:
    """twin finds web/, profiles/ and data/samples from its source path, so /app keeps the repository's layout."""
    text = " ".join(args for _, args in steps)
    assert 'pip install -e ".[postgres]"' in text
    assert "twin.__file__ != '/app/src/twin/__init__.py'" in text
    copies = args_of(stages(steps)[-1], "COPY")
    for target in (
        "/app/profiles",
        "/app/data/samples",
        "/app/web",
        "/app/web/node_modules/cesium/Build/Cesium",
    ):
        assert any(copy.endswith(" " + target) for copy in copies), target


def shell_commands(text: str) -> str:
    """smoke.sh's text as the Dockerfile would say it: continuation lines joined, blanks made one, and the
    venv's and interpreter's paths ("$work/venv/bin/pip", "$PYTHON") as the image's PATH finds them."""
    text = text.replace('"$work/venv/bin/', "").replace('pip"', "pip").replace('python"', "python")
    text = text.replace('"$PYTHON"', "python3")
    return " ".join(text.replace("\\\n", " ").split())


def test_smoke_script_runs_the_dockerfile_commands(steps: list[Instruction]) -> None:
    smoke = shell_commands(SMOKE.read_text(encoding="utf-8"))
    runs = [args for key, args in steps if key == "RUN"]
    expected = [
        "npm ci --no-audit --no-fund --ignore-scripts",
        "test -f node_modules/cesium/Build/Cesium/Cesium.js",
        "python3 -m venv",
        "mkdir -p src/twin && touch src/twin/__init__.py",
        'pip install -e ".[postgres]"',
        "rm src/twin/__init__.py",
        "python -m compileall -q --invalidation-mode unchecked-hash src/twin",
    ]
    for command in expected:
        assert any(command in run for run in runs), f"the Dockerfile no longer runs {command!r}"
        assert command in smoke, f"smoke.sh does not run {command!r}"
    dockerfile_drop = re.search(r"pip uninstall -y ([^&]+)", " ".join(runs))
    smoke_drop = re.search(r"pip uninstall -y ([^&]+)", smoke)
    assert dockerfile_drop and smoke_drop
    assert dockerfile_drop.group(1).split() == smoke_drop.group(1).split()
    assert sorted(dockerfile_drop.group(1).split()) == sorted(DROPPED_MODULES)


def test_the_package_does_not_import_what_the_image_drops() -> None:
    dropped = set(DROPPED_MODULES.values())
    for path in (ROOT / "src" / "twin").rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
            for name in names:
                assert name.split(".")[0] not in dropped, (
                    f"{path.relative_to(ROOT)} imports {name}, which the Dockerfile uninstalls"
                )


def test_entrypoint_is_a_valid_executable_shell_script() -> None:
    assert os.access(ENTRYPOINT, os.X_OK)
    subprocess.run(["sh", "-n", str(ENTRYPOINT)], check=True)
    for script in ("smoke.sh", "smoke-container.sh", "make-local-bases.sh"):
        path = ENTRYPOINT.parent / script
        assert os.access(path, os.X_OK), script
        subprocess.run(["bash", "-n", str(path)], check=True)


def test_entrypoint_refuses_an_unwritable_data_dir() -> None:
    as_user: list[str] = []
    if os.geteuid() == 0:  # root may write anywhere: run the script as nobody, like the image's user
        if not shutil.which("setpriv"):
            pytest.skip("running as root without setpriv")
        as_user = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
    # Not under tmp_path: as root, its parent (/tmp/pytest-of-root) is closed to other users.
    with tempfile.TemporaryDirectory() as folder:
        os.chmod(folder, 0o755)
        data = Path(folder, "data")
        data.mkdir(mode=0o555)
        env = {**os.environ, "TWIN_DATA_DIR": str(data)}
        env.pop("TWIN_DATABASE_URL", None)
        run = [*as_user, str(ENTRYPOINT)]
        refused = subprocess.run([*run, "twin", "demo"], env=env, capture_output=True, text=True)
        assert refused.returncode == 1 and "not writable" in refused.stderr
        passed = subprocess.run([*run, "echo", "ok"], env=env, capture_output=True, text=True)
        assert passed.returncode == 0 and passed.stdout == "ok\n"
