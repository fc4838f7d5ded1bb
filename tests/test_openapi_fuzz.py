"""Schemathesis over /openapi.json: generated requests to every operation never get a server error.

The app runs in-process (ASGI, no network) on a data dir with one small ingested layer and one external
layer; requests carry the admin token so the write operations get past authentication and their bodies are
fuzzed too. Bounded and deterministic: at most 25 examples per operation, derandomized.
"""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from shapely.geometry import box

from twin.api import create_app
from twin.catalog import Catalog, LayerRecord
from twin.pipeline import IngestOptions, ingest
from twin.settings import Settings

TOKEN = "fuzz-admin-token-0123456789"
LAYER = "reihe"


@pytest.fixture(scope="module")
def fuzz_settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """A data dir with a small ingested building layer and an external WMS layer."""
    folder = tmp_path_factory.mktemp("fuzz")
    count = 30
    frame = gpd.GeoDataFrame(
        {
            "name": [f"Haus {i}" for i in range(count)],
            "storeys": list(range(1, count + 1)),
            "area": [100.0 + i for i in range(count)],
        },
        geometry=[box(704_000 + 20 * i, 5_707_000, 704_010 + 20 * i, 5_707_010) for i in range(count)],
        crs="EPSG:25832",
    )
    frame.to_file(folder / "reihe.gpkg", driver="GPKG")
    config = Settings(data_dir=folder / "data", admin_token=TOKEN)
    ingest([folder / "reihe.gpkg"], IngestOptions(layer_id=LAYER, title="Reihe"), config)
    catalog = Catalog(config.catalog_url)
    catalog.upsert(LayerRecord(id="luftbild", title="Luftbild", kind="wms", url="https://example.de/wms"))
    catalog.close()
    return config


@pytest.fixture(scope="module")
def api_schema(fuzz_settings: Settings) -> schemathesis.BaseSchema:
    """The app's own OpenAPI document, bound to the app through ASGI."""
    return schemathesis.openapi.from_asgi("/openapi.json", create_app(fuzz_settings))


# The operations, read from an app that touches nothing (create_app has no side effects), so each one is a
# test of its own. (schemathesis.pytest.from_fixture would do this but fails on pytest 9.)
OPERATIONS = [
    (path, method.upper())
    for path, methods in create_app(Settings(data_dir=Path("unused"))).openapi()["paths"].items()
    for method in methods
]


@pytest.mark.parametrize(("path", "method"), OPERATIONS, ids=[f"{m} {p}" for p, m in OPERATIONS])
def test_no_server_errors(api_schema: schemathesis.BaseSchema, path: str, method: str) -> None:
    operation = api_schema[path][method]

    @given(case=operation.as_strategy())
    @settings(
        max_examples=25,
        derandomize=True,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    )
    def call(case: schemathesis.Case) -> None:
        # Collection ids drawn at random are all 404s; aim the OGC operations at the real layer so their
        # query parameters are what gets fuzzed.
        if path.startswith("/ogc/collections/{collection_id}") and case.path_parameters is not None:
            case.path_parameters["collection_id"] = LAYER
        case.call_and_validate(headers={"Authorization": f"Bearer {TOKEN}"}, checks=[not_a_server_error])

    call()
