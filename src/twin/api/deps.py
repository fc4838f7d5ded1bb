"""Per-app state and the dependencies that hand it to the routers.

The app keeps its Settings and a lazily opened Catalog on ``app.state``; nothing is global, so tests can build
as many apps with different settings as they like.
"""

from __future__ import annotations

import secrets
import threading
from collections.abc import Sequence
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from twin.catalog import Catalog
from twin.errors import AuthError, ForbiddenError
from twin.features import FeatureStore
from twin.settings import Settings


class AppState:
    """What one app instance shares between requests: its settings, catalog connection and feature cache."""

    def __init__(self, settings: Settings, other_tokens: Sequence[str] = ()) -> None:
        self.settings = settings
        # The admin tokens of the other cities one server hosts: such a token is known but gives no right here.
        self.other_tokens = tuple(other_tokens)
        self._catalog: Catalog | None = None
        self._lock = threading.Lock()
        # Opens nothing until a layer's features are asked for.
        self.features = FeatureStore(settings.data_dir)

    @property
    def catalog(self) -> Catalog:
        """The catalog, opened on first use (so building the app touches no database)."""
        if self._catalog is None:
            with self._lock:
                if self._catalog is None:
                    self._catalog = Catalog(self.settings.catalog_url)
        return self._catalog

    def close(self) -> None:
        """Release the catalog's connections."""
        if self._catalog is not None:
            self._catalog.engine.dispose()
            self._catalog = None


def get_state(request: Request) -> AppState:
    """The AppState of the app serving this request."""
    state: AppState = request.app.state.twin
    return state


def get_settings(state: Annotated[AppState, Depends(get_state)]) -> Settings:
    """The app's settings."""
    return state.settings


def get_catalog(state: Annotated[AppState, Depends(get_state)]) -> Catalog:
    """The app's layer catalog."""
    return state.catalog


def get_features(state: Annotated[AppState, Depends(get_state)]) -> FeatureStore:
    """The app's cache of published layers' features (OGC API Features)."""
    return state.features


_bearer = HTTPBearer(auto_error=False, description="the admin token (TWIN_ADMIN_TOKEN)")


def require_admin(
    state: Annotated[AppState, Depends(get_state)],
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> None:
    """Refuse the request unless it carries ``Authorization: Bearer <admin token>`` (constant time).

    401 for a missing or unknown token; 403 for the token of another city on the same server.
    """
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise AuthError("this request needs 'Authorization: Bearer <admin token>'")
    given = credentials.credentials.encode()
    if secrets.compare_digest(given, state.settings.admin_token.encode()):
        return
    # Every token is compared (no early exit), so the time taken does not tell which one matched.
    foreign = [secrets.compare_digest(given, token.encode()) for token in state.other_tokens]
    if any(foreign):
        raise ForbiddenError("this admin token belongs to another city")
    raise AuthError("the admin token is not valid")


SettingsDep = Annotated[Settings, Depends(get_settings)]
CatalogDep = Annotated[Catalog, Depends(get_catalog)]
FeaturesDep = Annotated[FeatureStore, Depends(get_features)]
AdminDep = Depends(require_admin)
