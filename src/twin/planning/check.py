"""The Baurecht quick check: the buildings standing on a plan area against the area's Festsetzungen.

For one Baugebiet (or any plan area) and a building layer: the built Grundflächenzahl (footprint area of the
buildings inside / the area's size; only the parts inside count) against ``GRZ`` (or ``GR`` in m²), and the
highest building whose footprint lies mostly inside against the permitted height (twin.planning.envelopes'
rule: ``hMax``/``h``, else ``Z`` × storey height). Areas are computed in a Lambert azimuthal equal-area
projection centred on the plan area, so they are exact whatever the layer's CRS was.

This is a first look for planners, not a legal assessment: the plot is the plan area (not the cadastral
parcel), and the buildings' heights are those of the building layer.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa
import shapely

from twin.errors import InputError, NotFoundError
from twin.features import FeatureTable
from twin.planning.envelopes import height_rule

MOSTLY_INSIDE = 0.5
"""A building counts for the height check when at least this share of its footprint lies in the area."""


def _value(table: FeatureTable, row: int, name: str) -> Any:
    if name not in table.attributes.column_names:
        return None
    return table.attributes.column(name)[row].as_py()


def _number(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if np.isfinite(number) else None


def baurecht_check(
    plan: FeatureTable, feature_id: str, buildings: FeatureTable, storey_height: float = 3.0
) -> dict[str, Any]:
    """The check's figures and verdicts for plan feature ``feature_id`` against ``buildings``."""
    from pyproj import Transformer

    row = plan.id_index.get(feature_id)
    if row is None:
        raise NotFoundError(f"no plan feature '{feature_id}'")
    area = plan.geometries[row]
    if area is None or shapely.get_type_id(area) not in (3, 6):
        raise InputError(f"plan feature '{feature_id}' is not an area")
    centre = area.centroid
    to_metres = Transformer.from_crs(
        "OGC:CRS84", f"+proj=laea +lat_0={centre.y} +lon_0={centre.x} +ellps=GRS80 +units=m", always_xy=True
    )

    def metric(geometry: Any) -> Any:
        return shapely.transform(
            geometry, lambda xy: np.column_stack(to_metres.transform(xy[:, 0], xy[:, 1]))
        )

    plot = metric(area)
    west, south, east, north = area.bounds
    bounds = buildings.bounds
    near = np.flatnonzero(
        (bounds[:, 0] <= east) & (bounds[:, 2] >= west) & (bounds[:, 1] <= north) & (bounds[:, 3] >= south)
    )
    candidates = buildings.geometries[near]
    hit = near[shapely.intersects(candidates, area)] if len(near) else near
    footprints = [metric(buildings.geometries[i]) for i in hit]
    inside = [shapely.intersection(footprint, plot).area for footprint in footprints]
    built = float(sum(inside))
    plot_area = float(plot.area)
    heights = (
        pa.array([])
        if "height" not in buildings.attributes.column_names
        else buildings.attributes.column("height")
    )
    max_height = None
    for index, footprint, part in zip(hit, footprints, inside, strict=True):
        if footprint.area > 0 and part / footprint.area >= MOSTLY_INSIDE and len(heights):
            height = _number(heights[int(index)].as_py())
            if height is not None and (max_height is None or height > max_height):
                max_height = height

    grz_allowed = _number(_value(plan, row, "GRZ"))
    if grz_allowed is None and (gr := _number(_value(plan, row, "GR"))) is not None and plot_area > 0:
        grz_allowed = gr / plot_area
    attributes = {name: _value(plan, row, name) for name in plan.attributes.column_names}
    rule = height_rule(attributes, storey_height)
    height_allowed, height_text = (None, rule) if isinstance(rule, str) else rule
    grz_built = built / plot_area if plot_area > 0 else 0.0

    checks = [_grz_check(grz_built, grz_allowed), _height_check(max_height, height_allowed, height_text)]
    return {
        "feature": feature_id,
        "plot_area_m2": round(plot_area, 1),
        "buildings": len(hit),
        "built_area_m2": round(built, 1),
        "grz": {"built": round(grz_built, 3), "allowed": grz_allowed},
        "height": {"max_built": max_height, "allowed": height_allowed, "rule": height_text},
        "checks": checks,
    }


def _grz_check(built: float, allowed: float | None) -> dict[str, Any]:
    if allowed is None:
        return {"item": "GRZ", "ok": None, "text": f"Bebaute GRZ {built:.2f}; der Plan setzt keine GRZ fest."}
    ok = built <= allowed + 1e-9
    verdict = "eingehalten" if ok else "überschritten"
    return {"item": "GRZ", "ok": ok, "text": f"Bebaute GRZ {built:.2f}, zulässig {allowed:.2f}: {verdict}."}


def _height_check(built: float | None, allowed: float | None, rule: str) -> dict[str, Any]:
    if built is None:
        return {"item": "Höhe", "ok": None, "text": "Kein Gebäude mit Höhe liegt überwiegend in der Fläche."}
    if allowed is None:
        return {
            "item": "Höhe",
            "ok": None,
            "text": f"Höchstes Gebäude {built:.1f} m; keine Höhe ableitbar ({rule}).",
        }
    ok = built <= allowed + 1e-6
    verdict = "eingehalten" if ok else "überschritten"
    return {"item": "Höhe", "ok": ok,
            "text": f"Höchstes Gebäude {built:.1f} m, zulässig {allowed:.1f} m ({rule}): {verdict}."}  # fmt: skip
