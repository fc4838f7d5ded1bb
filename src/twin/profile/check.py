"""Reading and checking a city profile: every problem named by file, key and what is wrong.

``read_profile`` parses the TOML, validates it against ``twin.profile.schema`` and (``deep=True``, as `twin
profile check` and `twin build` do) checks what the schema cannot: that source files and the logo exist, that
CRSs are known to PROJ, that URLs are http(s), that ids are unique. All problems are collected and raised at
once as a ProfileError, one line each, e.g. ``profiles/magdeburg.toml: layers[2].source: file not found:
gebaeude.gpkg``.
"""

from __future__ import annotations

import difflib
import glob
import tomllib
import types
import typing
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ValidationError

from twin.errors import ConfigError
from twin.profile.schema import LayerSpec, Profile

LOGO_SUFFIXES = frozenset({".svg", ".png", ".jpg", ".jpeg", ".webp", ".gif"})
GLOB_CHARS = frozenset("*?[")
_PATTERN_HINTS = {
    r"^#[0-9a-fA-F]{6}$": "not a colour: use #rrggbb, e.g. #8a1538",
    r"^[a-z0-9][a-z0-9_-]{0,62}$": "not a layer id: use lower-case letters, digits, - and _ (at most 63)",
    r"^\d{8}$": "not an Amtlicher Gemeindeschlüssel: eight digits, e.g. 15003000",
    r"^[0-4](\.[0-3])?$": "not a level of detail: e.g. 1, 2 or 2.2",
}


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a profile: where (``layers[2].source``) and what."""

    key: str
    message: str


class ProfileError(ConfigError):
    """A profile that cannot be used; ``problems`` lists everything found, the message one line each."""

    def __init__(self, path: Path, problems: Sequence[Problem]) -> None:
        self.path = path
        self.problems = list(problems)
        super().__init__(
            "\n".join(f"{path}: {p.key}: {p.message}" if p.key else f"{path}: {p.message}" for p in problems)
        )


def read_profile(path: Path, *, deep: bool = True) -> Profile:
    """The profile at ``path``, or ProfileError naming every problem (``deep``: also files, CRSs, URLs)."""
    profile, problems = check_profile(path, deep=deep)
    if problems or profile is None:
        raise ProfileError(path, problems)
    return profile


def check_profile(path: Path, *, deep: bool = True) -> tuple[Profile | None, list[Problem]]:
    """Parse and check the profile at ``path``: the profile (None if it does not validate) and its problems."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None, [Problem("", "file not found")]
    except (OSError, UnicodeDecodeError) as exc:
        return None, [Problem("", f"cannot be read: {getattr(exc, 'strerror', None) or exc}")]
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        return None, [Problem("", f"not valid TOML: {exc}")]
    try:
        profile = Profile.model_validate(data)
    except ValidationError as exc:
        return None, schema_problems(exc)
    problems = _shallow_problems(profile)
    if deep:
        problems += deep_problems(profile, path.parent)
    return profile, problems


# --- schema errors -------------------------------------------------------------------------------------------


def schema_problems(error: ValidationError) -> list[Problem]:
    """pydantic's errors as problems with profile keys (``layers[2].source``), merged per key."""
    merged: dict[str, list[str]] = {}
    for item in error.errors(include_url=False):
        loc = tuple(item["loc"])
        if item["type"] == "extra_forbidden":
            parent_key, model = _walk(loc[:-1])
            key = _join(parent_key, str(loc[-1]))
            message = f"unknown key '{loc[-1]}'" + _did_you_mean(str(loc[-1]), model)
        else:
            key, _ = _walk(loc)
            message = _message(item)
        if message not in merged.setdefault(key, []):
            merged[key].append(message)
    return [Problem(key, " or ".join(messages)) for key, messages in merged.items()]


def _join(prefix: str, name: str) -> str:
    return f"{prefix}.{name}" if prefix else name


def _walk(loc: Iterable[int | str]) -> tuple[str, type[BaseModel] | None]:
    """The profile key of a pydantic location and the model it ends in (union tags such as 'str' dropped)."""
    key = ""
    model: type[BaseModel] | None = Profile
    for part in loc:
        if isinstance(part, int):
            key += f"[{part}]"
        elif model is not None and part in model.model_fields:
            key = _join(key, part)
            model = _model_in(model.model_fields[part].annotation)
        elif model is None and not key:
            key = str(part)
    return key, model


def _model_in(annotation: Any) -> type[BaseModel] | None:
    """The pydantic model inside an annotation such as ``list[Group]`` or ``Camera | None``, if any."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is not None:
        for arg in typing.get_args(annotation):
            found = _model_in(arg)
            if found is not None:
                return found
    return None


def _did_you_mean(name: str, model: type[BaseModel] | None) -> str:
    if model is None:
        return ""
    keys = list(model.model_fields)
    close = [key for key in keys if key.lower() == name.lower()] or difflib.get_close_matches(name, keys, n=1)
    if close:
        return f"; did you mean '{close[0]}'?"
    return f" (known keys: {', '.join(keys)})"


def _message(item: Any) -> str:
    kind = item["type"]
    if kind == "missing":
        return "missing (required)"
    if kind == "string_pattern_mismatch":
        hint = _PATTERN_HINTS.get(item.get("ctx", {}).get("pattern", ""))
        return f"{hint or item['msg']} (got {_shown(item['input'])})"
    message = str(item["msg"]).removeprefix("Value error, ")
    if kind != "value_error" and not isinstance(item.get("input"), dict | list):
        message += f" (got {_shown(item['input'])})"
    return message


def _shown(value: Any) -> str:
    text = repr(value) if isinstance(value, str) else str(value)
    return text if len(text) <= 60 else text[:57] + "..."


# --- checks beyond the schema --------------------------------------------------------------------------------


def _shallow_problems(profile: Profile) -> list[Problem]:
    """Checks that need neither files nor PROJ (also run when the server reads the profile)."""
    problems: list[Problem] = []
    problems += _duplicates("layers", [layer.id for layer in profile.layers])
    problems += _duplicates("basemaps", [basemap.id for basemap in profile.basemaps])
    problems += _duplicates("groups", [group.id for group in profile.groups])
    defaults = [index for index, basemap in enumerate(profile.basemaps) if basemap.default]
    if len(defaults) > 1:
        problems.append(Problem(f"basemaps[{defaults[1]}].default", "only one base map can be the default"))
    for index, basemap in enumerate(profile.basemaps):
        problem = _url_problem(basemap.url, relative_ok=True)
        if problem:
            problems.append(Problem(f"basemaps[{index}].url", problem))
    if profile.city.homepage is not None:
        problem = _url_problem(profile.city.homepage, relative_ok=False)
        if problem:
            problems.append(Problem("city.homepage", problem))
    try:
        datetime.fromisoformat(profile.viewer.time)
    except ValueError:
        problems.append(Problem("viewer.time", f"not an ISO 8601 date and time: '{profile.viewer.time}'"))
    try:
        ZoneInfo(profile.viewer.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        problems.append(Problem("viewer.timezone", f"unknown time zone '{profile.viewer.timezone}'"))
    return problems


def deep_problems(profile: Profile, base: Path) -> list[Problem]:
    """Checks against the file system and PROJ: sources, logo, CRSs."""
    problems: list[Problem] = []
    logo = profile.city.logo
    if logo is not None:
        if is_url(logo):
            problem = _url_problem(logo, relative_ok=False)
            if problem:
                problems.append(Problem("city.logo", problem))
        elif Path(logo).suffix.lower() not in LOGO_SUFFIXES:
            problems.append(
                Problem("city.logo", f"not an image file name (use {', '.join(sorted(LOGO_SUFFIXES))})")
            )
        elif not (base / logo).resolve().is_relative_to(base.resolve()):
            problems.append(Problem("city.logo", f"the logo must lie in the profile's folder: {logo}"))
        elif not (base / logo).is_file():
            problems.append(Problem("city.logo", f"file not found: {logo}"))
    for index, layer in enumerate(profile.layers):
        problems += _layer_problems(f"layers[{index}]", layer, base)
    return problems


def _layer_problems(key: str, layer: LayerSpec, base: Path) -> list[Problem]:
    problems: list[Problem] = []
    sources = layer.sources
    if not sources:
        problems.append(Problem(f"{key}.source", "no source given"))
    for position, source in enumerate(sources):
        where = f"{key}.source" if isinstance(layer.source, str) else f"{key}.source[{position}]"
        problem = source_problem(source, base)
        if problem:
            problems.append(Problem(where, problem))
    for name in ("crs", "vertical_crs"):
        value = getattr(layer, name)
        if value is not None and not (name == "vertical_crs" and value == "ellipsoidal"):
            problem = _crs_problem(value)
            if problem:
                problems.append(Problem(f"{key}.{name}", problem))
    return problems


def is_url(text: str) -> bool:
    """Whether ``text`` looks like a URL (has a scheme of two or more letters) rather than a file path."""
    scheme = urlsplit(text).scheme
    return len(scheme) > 1 and "://" in text


def source_problem(source: str, base: Path) -> str | None:
    """What is wrong with one layer source (relative to the profile's folder), or None."""
    if not source.strip():
        return "empty source"
    if is_url(source):
        return _url_problem(source, relative_ok=False)
    path = base / source
    if GLOB_CHARS & set(source):
        if not glob.glob(str(path), recursive=True):
            return f"no file matches the pattern: {source}"
        return None
    if not path.exists():
        return f"file not found: {source}"
    return None


def _url_problem(url: str, *, relative_ok: bool) -> str | None:
    if any(c.isspace() for c in url):
        return f"bad URL (contains white space): '{url[:80]}'"
    parts = urlsplit(url)
    if not parts.scheme and relative_ok:
        return None
    if parts.scheme.lower() not in ("http", "https"):
        return f"bad URL: must start with http:// or https://, got '{url[:80]}'"
    if not parts.hostname:
        return f"bad URL: no host in '{url[:80]}'"
    return None


def _crs_problem(value: str) -> str | None:
    from pyproj import CRS
    from pyproj.exceptions import CRSError

    try:
        CRS.from_user_input(value)
    except CRSError:
        return f"bad CRS: PROJ does not know '{value}' (use e.g. EPSG:25832)"
    return None


def _duplicates(table: str, ids: list[str]) -> list[Problem]:
    seen: dict[str, int] = {}
    problems = []
    for index, value in enumerate(ids):
        if value in seen:
            problems.append(
                Problem(f"{table}[{index}].id", f"duplicate id '{value}' (also {table}[{seen[value]}])")
            )
        else:
            seen[value] = index
    return problems
