"""Permitted building envelopes: each Baufenster (BP_UeberbaubareGrundstuecksFlaeche) as a prism of the height
its Festsetzungen allow.

The rule, in this order, first from the Baufenster's own attributes, then from the Baugebiet
(BP_BaugebietsTeilFlaeche) it overlaps most:

1. a height (XP_Hoehenangabe): the largest of ``hMax``, ``h``, ``hZwingend`` over all its Höhenangaben whose
   reference is relative to the ground or unset (``hoehenbezug`` 2000-4000 or missing); heights above NHN
   (``hoehenbezug`` 1000-1200) need the terrain and are left out with a reason;
2. else the number of full storeys (``ZMax``, ``Z``, ``ZZwingend``, the largest given) × the storey height
   (``--storey-height``, 3 m by default), the rule saying so ("Z = 3 × 3.0 m").

A Baufenster without either has no envelope (counted with its reason). Heights are above the ground: the
envelope stands where the ground is (``--heights ground``) until terrain exists.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import shapely

Value = str | int | float | bool | None

BAUFENSTER = "BP_UeberbaubareGrundstuecksFlaeche"
BAUGEBIET = "BP_BaugebietsTeilFlaeche"
_HEIGHT_KEY = re.compile(r"^hoehenangabe(\[\d+\])?\.(hMax|h|hZwingend)$")
_STOREY_KEYS = ("ZMax", "Z", "ZZwingend")
_ABSOLUTE_BEZUG = frozenset({"1000", "1100", "1200"})


class PlanObject(Protocol):
    """What the envelope rule reads of a plan feature (twin.ingest.xplan.XPlanFeature has it)."""

    id: str
    cls: str
    geometry: shapely.Geometry | None
    attributes: dict[str, Value]


@dataclass(frozen=True)
class Envelope:
    """One Baufenster's permitted envelope."""

    festsetzung: str  # gml:id of the Baufenster
    geometry: shapely.Geometry  # its polygon, in the plan's CRS
    height: float  # metres above the ground
    rule: str  # how the height follows from the plan, e.g. "hMax = 12.5 m (Baugebiet GML_...)"
    source: str  # gml:id of the feature the height came from (the Baufenster or its Baugebiet)


def _number(value: Value) -> float | None:
    if isinstance(value, bool) or value is None:
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if np.isfinite(number) and number > 0 else None


def height_rule(attributes: Mapping[str, Value], storey_height: float) -> tuple[float, str] | str:
    """(height, rule) from one feature's Festsetzungen, or the reason there is none."""
    heights: list[tuple[float, str]] = []
    absolute = False
    for key, value in attributes.items():
        match = _HEIGHT_KEY.match(key)
        number = _number(value)
        if match is None or number is None:
            continue
        prefix = key[: key.index(".")]
        if str(attributes.get(f"{prefix}.hoehenbezug") or "") in _ABSOLUTE_BEZUG:
            absolute = True
            continue
        heights.append((number, f"{match.group(2)} = {number:g} m"))
    if heights:
        return max(heights)
    storeys = [(n, key) for key in _STOREY_KEYS if (n := _number(attributes.get(key))) is not None]
    if storeys:
        count, key = max(storeys)
        return count * storey_height, f"{key} = {count:g} × {storey_height:g} m"
    if absolute:
        return "the height is given above NHN, which needs the terrain"
    return "no height and no number of storeys"


def envelopes(features: Sequence[PlanObject], storey_height: float) -> tuple[list[Envelope], dict[str, int]]:
    """The envelopes of every Baufenster among ``features``, and the count of Baufenster left out per reason."""
    areas = [f for f in features if f.cls == BAUGEBIET and f.geometry is not None and f.geometry.area > 0]
    tree = shapely.STRtree([f.geometry for f in areas]) if areas else None
    out: list[Envelope] = []
    skipped: dict[str, int] = {}
    for window in features:
        if window.cls != BAUFENSTER or window.geometry is None or window.geometry.area <= 0:
            continue
        found = height_rule(window.attributes, storey_height)
        source = window.id
        if isinstance(found, str) and tree is not None:
            host = _largest_overlap(window.geometry, tree, areas)
            if host is not None:
                inherited = height_rule(host.attributes, storey_height)
                if not isinstance(inherited, str):
                    found = (inherited[0], f"{inherited[1]} (Baugebiet)")
                    source = host.id
        if isinstance(found, str):
            skipped[found] = skipped.get(found, 0) + 1
            continue
        height, rule = found
        out.append(Envelope(window.id, window.geometry, height, rule, source))
    return out, skipped


def _largest_overlap(
    geometry: shapely.Geometry, tree: shapely.STRtree, areas: Sequence[PlanObject]
) -> PlanObject | None:
    candidates = tree.query(geometry, predicate="intersects")
    best, best_area = None, 0.0
    for index in candidates:
        area = shapely.intersection(geometry, areas[int(index)].geometry).area
        if area > best_area:
            best, best_area = areas[int(index)], area
    return best
