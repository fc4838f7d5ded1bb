"""/ogc: OGC API - Features - Part 1: Core, with GeoJSON in CRS84.

Every catalogued layer that is published with a ``features.parquet`` (ingested building and feature layers)
is a collection; building layers serve their footprints with their attributes. 3D Tiles layers also link
their tileset. The data access is ``twin.features``; this module only binds it to HTTP.

Choices where the standard leaves room:
- Unknown query parameters are a 400 (Requirement /req/core/query-param-unknown); every property of a
  collection is a parameter for equality filtering (Recommendation /rec/core/fc-filters), typed by its column.
- ``limit`` defaults to 10; a value above 10,000 is served as 10,000 rather than refused (the standard's
  permission for limits beyond the maximum).
- ``datetime`` is validated but does not restrict: building layers have no temporal property.
- Invalid parameter values are 400 with problem details (Requirement /req/core/query-param-invalid).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Annotated, Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Path, Request, Response

from twin.api.deps import CatalogDep, FeaturesDep
from twin.catalog import LayerRecord
from twin.catalog.schema import INGESTED_KINDS, check_http_url
from twin.errors import NotFoundError
from twin.features import DEFAULT_LIMIT, MAX_LIMIT, FeatureStore, feature_collection_json, feature_json
from twin.features import parse_query as parse_items_query
from twin.features import query as query_features

router = APIRouter(prefix="/ogc", tags=["OGC API Features"])

JSON = "application/json"
GEOJSON = "application/geo+json"
OPENAPI = "application/vnd.oai.openapi+json;version=3.0"
CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
TILESET_REL = "http://www.opengis.net/def/rel/ogc/1.0/tileset"
CONFORMANCE = [
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/oas30",
]
LICENCE_URLS = {
    "dl-de/by-2-0": "https://www.govdata.de/dl-de/by-2-0",
    "dl-de/zero-2-0": "https://www.govdata.de/dl-de/zero-2-0",
    "cc0-1.0": "https://creativecommons.org/publicdomain/zero/1.0/",
    "cc-by-4.0": "https://creativecommons.org/licenses/by/4.0/",
    "odbl-1.0": "https://opendatacommons.org/licenses/odbl/1-0/",
}
JSON_RESPONSES: dict[int | str, dict[str, Any]] = {200: {"content": {JSON: {}}}}
CollectionId = Annotated[str, Path(description="a layer id", max_length=200)]

# The items operation's standard parameters, declared for the OpenAPI document (FastAPI does not parse them:
# attribute filters make the parameter set open, so the handler validates the whole query itself).
ITEMS_PARAMETERS: list[dict[str, Any]] = [
    {
        "name": "bbox",
        "in": "query",
        "required": False,
        "style": "form",
        "explode": False,
        "description": "only features intersecting west,south,east,north (CRS84 degrees; 6 numbers with heights)",
        "schema": {"type": "array", "minItems": 4, "maxItems": 6, "items": {"type": "number"}},
    },
    {
        "name": "limit",
        "in": "query",
        "required": False,
        "style": "form",
        "explode": False,
        "description": f"features per page (default {DEFAULT_LIMIT}; more than {MAX_LIMIT} means {MAX_LIMIT})",
        "schema": {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "default": DEFAULT_LIMIT},
    },
    {
        "name": "offset",
        "in": "query",
        "required": False,
        "description": "features to skip (the next link carries it)",
        "schema": {"type": "integer", "minimum": 0, "default": 0},
    },
    {
        "name": "datetime",
        "in": "query",
        "required": False,
        "description": "RFC 3339 instant or interval (validated; building layers have no time, so all match)",
        "schema": {"type": "string"},
    },
    {
        "name": "f",
        "in": "query",
        "required": False,
        "description": "output format; GeoJSON is the only one",
        "schema": {"type": "string", "enum": ["json", "geojson"]},
    },
]


def _base(request: Request) -> str:
    return str(request.base_url).rstrip("/")


def _link(href: str, rel: str, media_type: str, title: str) -> dict[str, str]:
    return {"href": href, "rel": rel, "type": media_type, "title": title}


def _json(body: Any, media_type: str = JSON) -> Response:
    return Response(json.dumps(body, ensure_ascii=False), media_type=media_type)


def _licence_url(licence: str) -> str | None:
    if licence.startswith(("http://", "https://")):
        try:
            return check_http_url(licence)
        except ValueError:
            return None
    return LICENCE_URLS.get(licence.strip().lower())


def _collection(layer: LayerRecord, base: str) -> dict[str, Any]:
    """The collection description of one layer."""
    href = f"{base}/ogc/collections/{layer.id}"
    links = [
        _link(href, "self", JSON, "this collection"),
        _link(f"{href}/items", "items", GEOJSON, "the features (GeoJSON)"),
    ]
    if layer.kind == "3dtiles":
        tileset = f"{base}/tiles/{layer.id}/tileset.json"
        links.append(_link(tileset, TILESET_REL, JSON, "3D Tiles tileset"))
        links.append(_link(tileset, "alternate", JSON, "3D Tiles tileset"))
    licence = _licence_url(layer.licence)
    if licence:
        links.append(_link(licence, "license", "text/html", layer.licence))
    collection: dict[str, Any] = {
        "id": layer.id,
        "title": layer.title,
        "description": layer.description,
        "itemType": "feature",
        "crs": [CRS84],
        "links": links,
    }
    if layer.bbox:
        collection["extent"] = {"spatial": {"bbox": [layer.bbox], "crs": CRS84}}
    if layer.attribution:
        collection["attribution"] = layer.attribution
    return collection


def _feature_layer(catalog: CatalogDep, features: FeatureStore, collection_id: str) -> LayerRecord:
    """The catalogued layer behind a collection id; 404 unless it is ingested and has features."""
    layer = catalog.get(collection_id)
    if layer.kind not in INGESTED_KINDS or not features.has_features(layer.id):
        raise NotFoundError(f"collection '{collection_id}' does not exist")
    return layer


@router.get("", summary="Landing page", responses=JSON_RESPONSES)
def landing_page(request: Request) -> Response:
    """What this OGC API offers: links to the API definition, the conformance classes and the collections."""
    base = _base(request)
    return _json(
        {
            "title": "twin: OGC API Features",
            "description": "Building footprints and planning features of the digital twin (GeoJSON, CRS84).",
            "links": [
                _link(f"{base}/ogc", "self", JSON, "this document"),
                _link(f"{base}/openapi.json", "service-desc", OPENAPI, "the API definition"),
                _link(f"{base}/docs", "service-doc", "text/html", "the API documentation"),
                _link(f"{base}/ogc/conformance", "conformance", JSON, "conformance classes"),
                _link(f"{base}/ogc/collections", "data", JSON, "the collections"),
            ],
        }
    )


@router.get("/conformance", summary="Conformance classes", responses=JSON_RESPONSES)
def conformance() -> Response:
    """The conformance classes this API implements: Core, GeoJSON, OpenAPI 3.0."""
    return _json({"conformsTo": CONFORMANCE})


@router.get("/collections", summary="Feature collections", responses=JSON_RESPONSES)
def collections(request: Request, catalog: CatalogDep, features: FeaturesDep) -> Response:
    """Every ingested layer published with features."""
    base = _base(request)
    layers = [
        layer for layer in catalog.list() if layer.kind in INGESTED_KINDS and features.has_features(layer.id)
    ]
    return _json(
        {
            "links": [_link(f"{base}/ogc/collections", "self", JSON, "the collections")],
            "collections": [_collection(layer, base) for layer in layers],
        }
    )


@router.get("/collections/{collection_id}", summary="One feature collection", responses=JSON_RESPONSES)
def collection(
    collection_id: CollectionId, request: Request, catalog: CatalogDep, features: FeaturesDep
) -> Response:
    """One collection: title, extent (CRS84), links to its items and, for 3D Tiles layers, its tileset."""
    return _json(_collection(_feature_layer(catalog, features, collection_id), _base(request)))


def _page_url(request: Request, offset: int, limit: int) -> str:
    """This request's URL with another offset (and the effective limit); other parameters kept."""
    params = [(k, v) for k, v in request.query_params.multi_items() if k not in ("offset", "limit")]
    params += [("limit", str(limit)), ("offset", str(offset))]
    return f"{_base(request)}{request.url.path}?{urlencode(params, safe=',')}"


@router.get(
    "/collections/{collection_id}/items",
    summary="Features of a collection",
    responses={200: {"content": {GEOJSON: {}}, "description": "a GeoJSON FeatureCollection"}},
    openapi_extra={"parameters": ITEMS_PARAMETERS},
)
def items(
    collection_id: CollectionId, request: Request, catalog: CatalogDep, features: FeaturesDep
) -> Response:
    """Features in the bbox whose properties equal the given ``<property>=<value>`` parameters, a page at a time.

    Paging: ``limit`` and ``offset``; the ``next`` link leads to the following page until all are seen.
    """
    layer = _feature_layer(catalog, features, collection_id)
    table = features.table(layer.id)
    request_query = parse_items_query(request.query_params.multi_items(), table)
    page = query_features(table, request_query)
    base = _base(request)
    limit, offset = request_query.limit, request_query.offset
    links = [
        _link(_page_url(request, offset, limit), "self", GEOJSON, "this page"),
        _link(f"{base}/ogc/collections/{layer.id}", "collection", JSON, "the collection"),
    ]
    if offset + len(page.indices) < page.number_matched:
        links.append(
            _link(_page_url(request, offset + len(page.indices), limit), "next", GEOJSON, "next page")
        )
    if offset > 0:
        links.append(
            _link(_page_url(request, max(0, offset - limit), limit), "prev", GEOJSON, "previous page")
        )
    time_stamp = datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
    return Response(feature_collection_json(table, page, time_stamp, links), media_type=GEOJSON)


@router.get(
    "/collections/{collection_id}/items/{feature_id:path}",
    summary="One feature",
    responses={200: {"content": {GEOJSON: {}}, "description": "a GeoJSON Feature"}},
)
def item(
    collection_id: CollectionId,
    feature_id: Annotated[str, Path(description="the feature's source id", max_length=500)],
    request: Request,
    catalog: CatalogDep,
    features: FeaturesDep,
) -> Response:
    """One feature by its id (the source id of the building); 404 if the collection has none such."""
    layer = _feature_layer(catalog, features, collection_id)
    table = features.table(layer.id)
    href = f"{_base(request)}/ogc/collections/{layer.id}"
    links = [
        _link(f"{href}/items/{quote(feature_id, safe='')}", "self", GEOJSON, "this feature"),
        _link(href, "collection", JSON, "the collection"),
    ]
    return Response(feature_json(table, feature_id, links), media_type=GEOJSON)
