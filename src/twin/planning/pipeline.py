"""`twin ingest` for XPlanGML: plans as a features layer (OGC API, draped in the viewer) plus their permitted
building envelopes as a 3D Tiles layer ``<layer>-envelopes``.

Every plan object keeps its gml:id (``source_id``), class (``xplan_class``), plan (``plan_id``, ``plan_name``),
PlanZV style category (``planzv``) and every XPlanGML attribute under its own name, with a German label in
``<name>_label`` for coded ones. Presentation objects (XP_PPO, XP_PTO, ...: label positions of the printed plan)
and objects without geometry are counted and left out. Plan-level metadata (name, number, legal status,
dates, municipality, documents) goes into the catalog: the layer's ``planning`` for one plan, and
``extra.plans`` for each. The envelopes (twin.planning.envelopes) are ingested through the footprint path as
prisms of their permitted height, each feature carrying its plan, Festsetzung and rule.
"""

from __future__ import annotations

import tempfile
import time
from collections import Counter
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import shapely

from twin.errors import InputError
from twin.ingest.sources import SourceRef
from twin.planning.categories import planzv_category
from twin.planning.envelopes import envelopes
from twin.settings import Settings
from twin.tiles import publish as publishing

if TYPE_CHECKING:
    from twin.ingest.xplan import XPlanDocument, XPlanFeature
    from twin.pipeline import IngestOptions, Progress

PRESENTATION_PREFIXES = ("XP_P", "XP_LPO", "XP_FPO", "XP_TPO", "XP_Praesentationsobjekt")
ENVELOPE_SUFFIX = "-envelopes"
_DATES = {
    "aufstellungsbeschlussDatum": "aufstellungsbeschluss",
    "satzungsbeschlussDatum": "satzungsbeschluss",
    "ausfertigungsDatum": "ausfertigung",
    "inkrafttretensDatum": "inkrafttreten",
    "untergangsDatum": "untergang",
    "auslegungsStartDatum": "auslegung_start",
    "auslegungsEndDatum": "auslegung_ende",
}


def ingest_plans(
    sources: list[SourceRef],
    options: IngestOptions,
    settings: Settings,
    progress: Progress,
    layer_id: str,
    started: float,
) -> dict[str, Any]:
    """Read, transform, publish and register the plans in ``sources`` (and their envelopes)."""
    from twin.ingest.xplan import read_xplan

    documents = []
    for index, source in enumerate(sources):
        documents.append(read_xplan(source))
        progress("read plans", index + 1, len(sources))
    if not any(document.plans for document in documents):
        raise InputError(f"{sources[0].name}: no plan (BP_Plan, FP_Plan, SO_Plan, ...) in the input")
    skipped: Counter[str] = Counter()
    rows: list[tuple[XPlanFeature, dict[str, str]]] = []
    geometries: list[shapely.Geometry] = []
    plans: list[dict[str, Any]] = []
    all_envelopes: list[tuple[Any, dict[str, str]]] = []
    envelope_skips: Counter[str] = Counter()
    problems: list[str] = []
    storey_height = options.footprints.storey_height
    for document in documents:
        to_crs84 = _transformer(document, options.footprints.crs)
        by_id = {feature.id: feature for feature in document.features}
        source_geometries: list[shapely.Geometry] = []
        plan_of = _plan_of(document)
        problems += document.problems
        for plan in document.plans:
            plans.append(_plan_metadata(plan, document))
        for feature in [*document.plans, *document.features]:
            if feature.cls.startswith(PRESENTATION_PREFIXES):
                skipped[f"presentation object ({feature.cls})"] += 1
                continue
            if feature.geometry is None or feature.geometry.is_empty:
                skipped[f"no geometry ({feature.cls})"] += 1
                continue
            plan = plan_of(feature)
            rows.append((feature, {"plan_id": plan.id if plan else "", "plan_name": _name(plan)}))
            source_geometries.append(feature.geometry)
        geometries += to_crs84(source_geometries) if source_geometries else []
        found, reasons = envelopes(document.features, storey_height)
        envelope_skips.update(reasons)
        outlines = to_crs84([envelope.geometry for envelope in found]) if found else []
        for envelope, outline in zip(found, outlines, strict=True):
            plan = plan_of(by_id[envelope.festsetzung])
            all_envelopes.append(
                (envelope, {"plan_id": plan.id if plan else "", "plan_name": _name(plan), "crs84": outline})
            )
    table = _attribute_table(rows)
    shapes = np.array(geometries, dtype=object)
    staging = publishing.new_staging_dir(settings.data_dir, layer_id)
    try:
        from twin.features_parquet import write_feature_table

        write_feature_table(staging / "features.parquet", shapes, table)
        envelope_report = (
            _ingest_envelopes(all_envelopes, options, settings, layer_id) if all_envelopes else None
        )
        bbox = [float(v) for v in shapely.total_bounds(shapes)] if len(shapes) else None
        rules = Counter(envelope.rule.split(" =")[0] for envelope, _ in all_envelopes)
        report = _report(layer_id, sources, rows, skipped, problems, plans, envelope_report, envelope_skips,
                         rules, bbox, started)  # fmt: skip
        (staging / "report.json").write_text(_json(report), encoding="utf-8")
        _register(settings, staging, layer_id, options, report, bbox, plans)
    except BaseException:
        import shutil

        shutil.rmtree(staging, ignore_errors=True)
        raise
    return report


def _transformer(document: XPlanDocument, override: str | None) -> Any:
    from pyproj import Transformer
    from pyproj.exceptions import CRSError

    crs = override or document.crs
    if not crs:
        raise InputError(
            f"{document.source}: no CRS (srsName) in the file; give it with --crs, e.g. EPSG:25832"
        )
    try:
        transformer = Transformer.from_crs(crs, "OGC:CRS84", always_xy=True)
    except CRSError as exc:
        raise InputError(f"{document.source}: unknown CRS '{crs}': {exc}") from None

    def transform(geometries: list[shapely.Geometry]) -> list[shapely.Geometry]:
        # All of a document's coordinates in one PROJ call (per geometry, single points made PROJ take the
        # scalar path, with NumPy's deprecation warning, and many calls cost more than one).
        array = shapely.from_wkb(shapely.to_wkb(np.array(geometries, dtype=object)))
        coordinates = shapely.get_coordinates(array)
        if len(coordinates) == 0:
            return list(array)
        lon, lat = transformer.transform(coordinates[:, 0], coordinates[:, 1])
        return list(shapely.set_coordinates(array, np.column_stack([lon, lat])))

    return transform


def _plan_of(document: XPlanDocument) -> Any:
    """feature -> its plan: through gehoertZuBereich/gehoertZuPlan and the plans' bereich references."""
    plans = {plan.id: plan for plan in document.plans}
    by_bereich: dict[str, XPlanFeature] = {}
    for plan in document.plans:
        for bereich in plan.refs.get("bereich", []):
            by_bereich[bereich] = plan
    for feature in document.features:
        for target in feature.refs.get("gehoertZuPlan", []):
            if target in plans:
                by_bereich.setdefault(feature.id, plans[target])
    only = document.plans[0] if len(document.plans) == 1 else None

    def plan_of(feature: XPlanFeature) -> XPlanFeature | None:
        if feature.id in plans:
            return plans[feature.id]
        for bereich in feature.refs.get("gehoertZuBereich", []):
            if bereich in by_bereich:
                return by_bereich[bereich]
        return by_bereich.get(feature.id, only)

    return plan_of


def _name(plan: XPlanFeature | None) -> str:
    return str(plan.attributes.get("name") or plan.id) if plan is not None else ""


def _attribute_table(rows: list[tuple[XPlanFeature, dict[str, str]]]) -> pa.Table:
    """twin's own columns, then every XPlanGML attribute typed as the city reader types attributes, and a
    ``<name>_label`` column after each coded one."""
    from twin.ingest.city_reader import attribute_table
    from twin.ingest.xplan_codes import code_label

    own = pa.table({
        "source_id": [feature.id for feature, _ in rows],
        "xplan_class": [feature.cls for feature, _ in rows],
        "plan_id": [extra["plan_id"] for _, extra in rows],
        "plan_name": [extra["plan_name"] for _, extra in rows],
        "planzv": [planzv_category(feature.cls, feature.attributes) for feature, _ in rows],
    })  # fmt: skip
    attributes = attribute_table([feature.attributes for feature, _ in rows])
    table = own
    for name in attributes.column_names:
        if name in own.column_names:
            continue
        column = attributes.column(name)
        table = table.append_column(name, column)
        if pa.types.is_string(column.type):
            labels = [
                None if text is None else code_label(name, text, feature.cls)
                for text, (feature, _) in zip(column.to_pylist(), rows, strict=True)
            ]
            if any(label is not None for label in labels):
                table = table.append_column(f"{name}_label", pa.array(labels, type=pa.string()))
    return table


def _plan_metadata(plan: XPlanFeature, document: XPlanDocument) -> dict[str, Any]:
    from twin.ingest.xplan_codes import code_label, rechtsstand_name

    attributes = plan.attributes
    status_code = str(attributes.get("rechtsstand") or "")
    dates = {}
    for source, target in _DATES.items():
        value = attributes.get(source)
        if isinstance(value, str) and _is_date(value.split(";")[0].strip()):
            dates[target] = value.split(";")[0].strip()
    documents = []
    for key, value in attributes.items():
        if (
            key.endswith(".referenzURL")
            and isinstance(value, str)
            and value.startswith(("http://", "https://"))
        ):
            title = attributes.get(key.replace(".referenzURL", ".referenzName")) or value.rsplit("/", 1)[-1]
            documents.append({"title": str(title)[:256], "url": value})
    return {
        "id": plan.id,
        "class": plan.cls,
        "name": str(attributes.get("name") or plan.id),
        "number": attributes.get("nummer"),
        "status": rechtsstand_name(status_code, plan.cls) if status_code else None,
        "status_label": code_label("rechtsstand", status_code, plan.cls) if status_code else None,
        "dates": dates,
        "gemeinde": attributes.get("gemeinde.gemeindeName"),
        "ags": attributes.get("gemeinde.ags"),
        "documents": documents,
        "source": document.source,
        "xplan_version": document.version,
    }


def _is_date(text: str) -> bool:
    try:
        date.fromisoformat(text)
    except ValueError:
        return False
    return True


def _ingest_envelopes(
    found: list[tuple[Any, dict[str, Any]]], options: IngestOptions, settings: Settings, layer_id: str
) -> dict[str, Any]:
    """The envelopes as a footprint layer ``<layer>-envelopes``: prisms of their permitted height."""
    from twin.features_parquet import write_feature_table
    from twin.ingest.footprints import FootprintOptions
    from twin.pipeline import IngestOptions, ingest

    geometries = np.array([extra["crs84"] for _, extra in found], dtype=object)
    table = pa.table({
        "source_id": [envelope.festsetzung for envelope, _ in found],
        "festsetzung": [envelope.festsetzung for envelope, _ in found],
        "height_source": [envelope.source for envelope, _ in found],
        "xplan_class": ["BP_UeberbaubareGrundstuecksFlaeche"] * len(found),
        "plan_id": [extra["plan_id"] for _, extra in found],
        "plan_name": [extra["plan_name"] for _, extra in found],
        "rule": [envelope.rule for envelope, _ in found],
        "envelope_height": pa.array([envelope.height for envelope, _ in found], type=pa.float64()),
    })  # fmt: skip
    title = options.title or layer_id
    with tempfile.TemporaryDirectory(prefix="twin-envelopes-") as scratch:
        path = Path(scratch) / "envelopes.parquet"
        write_feature_table(path, geometries, table)
        return ingest(
            [path],
            IngestOptions(
                layer_id=f"{layer_id}{ENVELOPE_SUFFIX}",
                title=f"{title} – zulässige Baukörper",
                footprints=FootprintOptions(height_attr="envelope_height", id_attr="festsetzung"),
                heights="ground",
                compression=options.compression,
                group=options.group,
                attribution=options.attribution,
                licence=options.licence,
            ),
            settings,
        )


def _report(
    layer_id: str, sources: list[SourceRef], rows: list[Any], skipped: Counter[str], problems: list[str],
    plans: list[dict[str, Any]], envelope_report: dict[str, Any] | None, envelope_skips: Counter[str],
    envelope_rules: Counter[str], bbox: list[float] | None, started: float,
) -> dict[str, Any]:  # fmt: skip
    classes = Counter(feature.cls for feature, _ in rows)
    notes = [
        f"{len(plans)} plan(s): "
        + ", ".join(f"{p['name']} ({p['status'] or 'Rechtsstand unbekannt'})" for p in plans)
    ]
    if envelope_report is not None:
        notes.append(
            f"{envelope_report['features_written']} building envelopes in layer {envelope_report['layer']}"
        )
    notes += [f"no envelope for {count} Baufenster: {reason}" for reason, count in envelope_skips.items()]
    return {
        "layer": layer_id,
        "kind": "features",
        "sources": [source.name for source in sources],
        "features_read": len(rows) + sum(skipped.values()),
        "features_written": len(rows),
        "classes": dict(classes),
        "plans": plans,
        "skipped": dict(skipped),
        "repaired": {"geometry": len(problems)},
        "problems": problems[:200],
        "envelopes": envelope_report["features_written"] if envelope_report else 0,
        "envelope_rules": dict(envelope_rules),
        "height_rules": {},
        "tiles": envelope_report["tiles"] if envelope_report else 0,
        "tile_bytes_total": envelope_report["tile_bytes_total"] if envelope_report else 0,
        "notes": notes,
        "warnings": [],
        "bbox": bbox,
        "duration_s": round(time.perf_counter() - started, 3),
    }


def _register(
    settings: Settings, staging: Path, layer_id: str, options: IngestOptions, report: dict[str, Any],
    bbox: list[float] | None, plans: list[dict[str, Any]],
) -> None:  # fmt: skip
    from typing import get_args

    from pydantic import ValidationError

    from twin.catalog.schema import PlanningInfo, PlanStatus

    planning = None
    if len(plans) == 1:
        plan = plans[0]
        documents = plan["documents"][:100]
        # The catalog knows the Rechtsstand of Bebauungspläne; others (FP's "Wirksamkeit") stay in extra.plans.
        status = plan["status"] if plan["status"] in get_args(PlanStatus) else None
        try:
            planning = PlanningInfo(status=status, number=_text(plan["number"]), dates=plan["dates"],
                                    documents=documents, style_attribute="planzv")  # fmt: skip
        except ValidationError:
            # Dates out of legal order or an odd document link: keep what is certain.
            planning = PlanningInfo(status=status, number=_text(plan["number"]), style_attribute="planzv")
    else:
        planning = PlanningInfo(style_attribute="planzv")
    extra = {"plans": plans, "envelopes": f"{layer_id}{ENVELOPE_SUFFIX}" if report["envelopes"] else None}
    publish_features(settings, staging, layer_id, options, report, bbox, planning, extra)


def publish_features(
    settings: Settings, staging: Path, layer_id: str, options: IngestOptions, report: dict[str, Any],
    bbox: list[float] | None, planning: Any, extra: dict[str, Any],
) -> None:  # fmt: skip
    """Publish a features layer's staging folder and register it (kind "features") in one step."""
    from twin.registrar import open_catalog, register

    fields = {"title": options.title, "group": options.group, "attribution": options.attribution,
              "licence": options.licence}  # fmt: skip
    catalog = open_catalog(settings)
    try:
        register(catalog, settings, staging, layer_id, fields, report, bbox, kind="features", planning=planning,
                 extra_fields=extra)  # fmt: skip
    finally:
        catalog.close()


def _text(value: Any) -> str | None:
    return None if value is None else str(value)[:64]


def _json(report: dict[str, Any]) -> str:
    import json

    return json.dumps(report, indent=2, ensure_ascii=False, default=str)
