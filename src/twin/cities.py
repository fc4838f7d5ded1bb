"""City folders: one municipality's profile, data and admin token, and the settings that serve or build it.

A city folder (made by `twin init <id>`) holds:

    <id>/profile.toml    the one file a municipality edits (twin.profile.schema)
    <id>/sources/        its source files (profile paths are relative to the folder)
    <id>/data/           what `twin build` makes: layers, catalog.sqlite, build-state.json
    <id>/admin-token     the city's admin token (mode 600), unless TWIN_CITY_<ID>_ADMIN_TOKEN is set

``TWIN_CITY_DIR`` (or `--city`) makes a process work on one city folder; ``TWIN_CITIES_DIR`` makes `twin
serve` host every city folder in it, each under ``/<id>/`` with its own catalog, layers and token.
"""

from __future__ import annotations

import os
import re
import secrets
from dataclasses import dataclass
from pathlib import Path

from twin.errors import ConfigError
from twin.settings import DEVELOPMENT_TOKEN, Settings

PROFILE_FILE = "profile.toml"
DATA_FOLDER = "data"
SOURCES_FOLDER = "sources"
TOKEN_FILE = "admin-token"
CITY_ID = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
RESERVED_IDS = frozenset({"api", "web", "cesium", "tiles", "ogc", "docs", "redoc", "static", "health"})
"""Ids a city cannot take: the paths the server itself answers at the root."""


def env_name(city_id: str, key: str) -> str:
    """The environment variable of a per-city setting: TWIN_CITY_<ID>_<KEY> (``-`` becomes ``_``)."""
    return f"TWIN_CITY_{city_id.upper().replace('-', '_')}_{key}"


def check_city_id(city_id: str) -> str:
    """``city_id`` if it can name a city (lower-case letters, digits and -; not a reserved path)."""
    if not CITY_ID.match(city_id) or city_id in RESERVED_IDS:
        raise ConfigError(
            f"'{city_id}' cannot name a city: use lower-case letters, digits and - (e.g. magdeburg, "
            f"halle-saale), not one of {', '.join(sorted(RESERVED_IDS))}"
        )
    return city_id


@dataclass(frozen=True)
class CityFolder:
    """One city folder on disk."""

    id: str
    root: Path

    @property
    def profile(self) -> Path:
        return self.root / PROFILE_FILE

    @property
    def data_dir(self) -> Path:
        return self.root / DATA_FOLDER

    def admin_token(self) -> str | None:
        """TWIN_CITY_<ID>_ADMIN_TOKEN, else the folder's admin-token file, else None."""
        token = os.environ.get(env_name(self.id, "ADMIN_TOKEN"), "").strip()
        if token:
            return token
        try:
            return (self.root / TOKEN_FILE).read_text(encoding="utf-8").strip() or None
        except OSError:
            return None

    def settings(self, base: Settings, *, shared_catalog_ok: bool = True) -> Settings:
        """``base`` with this city's data dir, profile, admin token and catalog.

        The catalog is SQLite in the city's data dir unless TWIN_CITY_<ID>_DATABASE_URL names one; the
        server-wide TWIN_DATABASE_URL is used only where ``shared_catalog_ok`` (a process with one city).
        Without a token of its own, a city's writes are refused (its token is a random secret nobody knows).
        """
        token = self.admin_token()
        if token is None and base.admin_token != DEVELOPMENT_TOKEN and shared_catalog_ok:
            token = base.admin_token
        if token is None:
            token = secrets.token_urlsafe(32)
        elif base.environment != "development" and (token == DEVELOPMENT_TOKEN or len(token) < 16):
            raise ConfigError(
                f"city '{self.id}': its admin token must be a secret of at least 16 characters "
                f"({self.root / TOKEN_FILE} or {env_name(self.id, 'ADMIN_TOKEN')})"
            )
        database_url = os.environ.get(env_name(self.id, "DATABASE_URL")) or (
            base.database_url if shared_catalog_ok else None
        )
        return base.model_copy(
            update={
                "data_dir": self.data_dir,
                "profile": self.profile,
                "admin_token": token,
                "database_url": database_url,
                "city_dir": self.root,
                "cities_dir": None,
            }
        )


def city_folder(path: Path) -> CityFolder:
    """The city folder at ``path`` (the folder, or its profile.toml)."""
    root = path.parent if path.name == PROFILE_FILE or path.suffix == ".toml" else path
    if not (root / PROFILE_FILE).is_file():
        if path.suffix == ".toml" and path.name != PROFILE_FILE:
            raise ConfigError(f"{path}: a city folder's profile must be named {PROFILE_FILE}")
        raise ConfigError(
            f"{root} is not a city folder: {root / PROFILE_FILE} is missing (make one: twin init)"
        )
    root = root.resolve()
    return CityFolder(check_city_id(root.name.lower()), root)


def discover_cities(cities_dir: Path) -> list[CityFolder]:
    """Every city folder in ``cities_dir`` (sub-folders with a profile.toml), sorted by id."""
    if not cities_dir.is_dir():
        raise ConfigError(f"TWIN_CITIES_DIR {cities_dir} is not a folder")
    cities = [
        city_folder(entry) for entry in sorted(cities_dir.iterdir()) if (entry / PROFILE_FILE).is_file()
    ]
    if not cities:
        raise ConfigError(
            f"TWIN_CITIES_DIR {cities_dir} holds no city folder (a sub-folder with {PROFILE_FILE})"
        )
    seen: set[str] = set()
    for city in cities:
        if city.id in seen:
            raise ConfigError(f"two city folders in {cities_dir} are named '{city.id}'")
        seen.add(city.id)
    return cities


def effective_settings(settings: Settings) -> Settings:
    """The settings a one-city command works with: the city folder's when TWIN_CITY_DIR is set."""
    if settings.city_dir is None:
        return settings
    return city_folder(settings.city_dir).settings(settings)
