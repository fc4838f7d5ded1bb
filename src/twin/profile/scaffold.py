"""`twin init <city>`: a new city folder with a documented profile, a sources folder and an admin token."""

from __future__ import annotations

import json
import os
import re
import secrets
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from string import Template

from twin.cities import PROFILE_FILE, SOURCES_FOLDER, TOKEN_FILE, CityFolder, check_city_id
from twin.errors import ConflictError, InputError

HEX_COLOR = re.compile(r"^#[0-9a-fA-F]{6}$")
SOURCES_README = """Put the city's source files here (footprints, CityGML, CityJSON, zips as the Land ships them)
and name them in ../profile.toml under [[layers]] source = "sources/...".
"""
GITIGNORE = f"""# Made by `twin build`, and the city's secret: not for version control.
/data/
/{TOKEN_FILE}
"""


@dataclass(frozen=True)
class NewCity:
    """What `twin init` made."""

    city: CityFolder
    token: str


def _toml_string(value: str) -> str:
    """``value`` as a TOML basic string (JSON's escapes are TOML's)."""
    return json.dumps(value, ensure_ascii=False)


def init_city(
    target: Path,
    *,
    name: str | None = None,
    source: Path | None = None,
    primary: str = "#00598a",
    attribution: str = "",
    licence: str = "",
) -> NewCity:
    """Make the city folder ``target`` (its name is the city id); ConflictError if it already holds a profile."""
    city_id = check_city_id(target.name.lower())
    if not HEX_COLOR.match(primary):
        raise InputError(f"--primary: not a colour #rrggbb: '{primary}'")
    if (target / PROFILE_FILE).exists():
        raise ConflictError(f"{target / PROFILE_FILE} exists already: edit it, or choose another folder")
    if source is not None and not source.exists():
        raise InputError(f"{source}: file not found")
    target.mkdir(parents=True, exist_ok=True)
    (target / SOURCES_FOLDER).mkdir(exist_ok=True)
    (target / SOURCES_FOLDER / "README.txt").write_text(SOURCES_README, encoding="utf-8")
    (target / ".gitignore").write_text(GITIGNORE, encoding="utf-8")
    if source is None:
        source_text = f"{SOURCES_FOLDER}/gebaeude.gpkg"
    else:
        source_text = Path(os.path.relpath(source.resolve(), target.resolve())).as_posix()
    title = name or city_id.replace("-", " ").title()
    template = resources.files("twin.profile").joinpath("template.toml").read_text(encoding="utf-8")
    text = Template(template).substitute(
        title=title,
        folder=str(target),
        name=_toml_string(title),
        primary=_toml_string(primary),
        source=_toml_string(source_text),
        attribution=_toml_string(attribution),
        licence=_toml_string(licence),
    )
    (target / PROFILE_FILE).write_text(text, encoding="utf-8")
    token = secrets.token_urlsafe(24)
    token_path = target / TOKEN_FILE
    descriptor = os.open(token_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as out:
        out.write(token + "\n")
    return NewCity(CityFolder(city_id, target.resolve()), token)
