"""Settings from the environment (prefix ``TWIN_``), validated once and passed explicitly.

Nothing here runs at import time: callers build ``Settings()`` (or ``Settings(data_dir=...)`` in tests)
and hand it to the CLI, the pipeline or ``create_app(settings)``.
"""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from twin.errors import ConfigError

DEVELOPMENT_TOKEN = "change-me"


class Settings(BaseSettings):
    """All run-time configuration of twin."""

    model_config = SettingsConfigDict(env_prefix="TWIN_", extra="ignore")

    environment: Literal["development", "production"] = "development"
    data_dir: Path = Path("twin-data")
    database_url: str | None = Field(
        default=None, description="SQLAlchemy URL; default: SQLite file catalog.sqlite in the data dir"
    )
    admin_token: str = DEVELOPMENT_TOKEN
    cors_origins: Annotated[list[str], NoDecode] = Field(default_factory=lambda: ["*"])
    profile: Path | None = Field(default=None, description="city profile (TOML) for the viewer configuration")
    grid_dirs: Annotated[list[Path], NoDecode] = Field(
        default_factory=list,
        description="extra folders PROJ searches for grids such as de_bkg_gcg2016.tif (comma separated)",
    )
    web_dir: Path | None = Field(default=None, description="folder of the static viewer; default: web/")
    tile_cache_mb: float = Field(default=256, ge=0, description="tile cache per worker process, MiB")
    city_dir: Path | None = Field(
        default=None,
        description="a city folder (made by `twin init`): its profile.toml, data/ and admin token replace "
        "TWIN_PROFILE, TWIN_DATA_DIR and TWIN_ADMIN_TOKEN",
    )
    cities_dir: Path | None = Field(
        default=None,
        description="a folder of city folders: `twin serve` serves each under /<folder name>/ and lists them at /",
    )

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _split_origins(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("grid_dirs", mode="before")
    @classmethod
    def _split_dirs(cls, value: object) -> object:
        if isinstance(value, str):
            return [Path(part.strip()) for part in value.split(",") if part.strip()]
        return value

    @model_validator(mode="after")
    def _enforce_non_default_secrets(self) -> Settings:
        if self.environment != "development" and (
            self.admin_token == DEVELOPMENT_TOKEN or len(self.admin_token) < 16
        ):
            raise ConfigError(
                "TWIN_ADMIN_TOKEN must be set to a secret of at least 16 characters outside development "
                f"(for example: {secrets.token_urlsafe(24)})"
            )
        return self

    @property
    def catalog_url(self) -> str:
        """The catalog database URL (SQLite in the data dir unless TWIN_DATABASE_URL says otherwise)."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'catalog.sqlite').resolve()}"

    @property
    def layers_dir(self) -> Path:
        """Folder of the published layers (one entry per layer id)."""
        return self.data_dir / "layers"
