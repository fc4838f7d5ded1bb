"""The core never sees the web framework: only twin.api imports fastapi or starlette."""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src" / "twin"
WEB = ("fastapi", "starlette", "uvicorn")


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def test_core_packages_do_not_import_the_web_framework() -> None:
    offenders = []
    for package in ("ingest", "tiles", "geo", "catalog"):
        for path in (SRC / package).rglob("*.py"):
            found = _imports(path) & set(WEB)
            if found:
                offenders.append(f"{path.relative_to(SRC)}: {sorted(found)}")
    for path in (SRC / "pipeline.py", SRC / "settings.py", SRC / "errors.py"):
        found = _imports(path) & set(WEB)
        if found:
            offenders.append(f"{path.name}: {sorted(found)}")
    assert not offenders, offenders


CLI_MODULES = ("cli.py", "cli_cities.py")
"""The command line: the only modules that print and choose exit codes."""


def test_library_code_never_exits_or_prints() -> None:
    offenders = []
    for path in SRC.rglob("*.py"):
        if path.name in CLI_MODULES or "api" in path.parts:
            continue
        text = path.read_text(encoding="utf-8")
        for needle in ("sys.exit(", "print("):
            if needle in text:
                offenders.append(f"{path.relative_to(SRC)}: {needle}")
    assert not offenders, offenders
