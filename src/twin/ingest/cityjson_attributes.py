"""CityJSON attributes under twin's canonical names (see twin.ingest.citymodel).

CityJSON's standard attributes (measuredHeight, roofType, storeysAboveGround...) are renamed and typed as
their canonical columns (codes as text, heights float, counts and years int); other attributes keep their
names, with nested values as JSON text. Addresses (CityJSON 1.0's one xAL object, 1.1/2.0's list) become
street, house_number, postcode, locality and a one-line address.
"""

from __future__ import annotations

import json
import re
from typing import Any

# CityJSON's standard attributes and their canonical names (see twin.ingest.citymodel).
CANONICAL_NAMES = {
    "measuredHeight": "measured_height", "roofType": "roof_type", "storeysAboveGround": "storeys_above_ground",
    "storeysBelowGround": "storeys_below_ground", "yearOfConstruction": "year_of_construction",
    "yearOfDemolition": "year_of_demolition", "function": "function", "usage": "usage", "class": "class",
    "creationDate": "creation_date",
}  # fmt: skip
TEXT_ATTRIBUTES = frozenset({"roof_type", "function", "usage", "class", "creation_date"})  # codes as text
_INT64 = 2**63
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def building_attributes(obj: dict[str, Any], parts: list[Any]) -> dict[str, Any]:
    """A building's attributes under canonical names (see twin.ingest.citymodel); values str/int/float/bool.

    Its own first; where it lacks one, the first BuildingPart that has it gives it (as the CityGML reader
    does: AdV data often carries function and roof type on the parts).
    """
    out = _own_attributes(obj)
    for part in parts:
        for name, value in _own_attributes(part).items():
            out.setdefault(name, value)
    if parts:
        out["building_parts"] = len(parts)
    return out


def _own_attributes(obj: dict[str, Any]) -> dict[str, Any]:
    raw = obj.get("attributes")
    raw = raw if isinstance(raw, dict) else {}
    out: dict[str, Any] = {}
    for name, value in raw.items():  # generic ones first: a standard attribute wins a name clash
        if name not in CANONICAL_NAMES and not (name == "address" and not isinstance(value, str)):
            plain = _plain(value)
            if plain is not None:
                out[name] = plain
    for name, canonical in CANONICAL_NAMES.items():
        value = _canonical(canonical, raw.get(name))
        if value is not None:
            out[canonical] = value
    address = obj.get("address", raw.get("address"))
    if address is not None and not isinstance(address, str):
        out.update(address_attributes(address))
    return out


def address_attributes(address: Any) -> dict[str, str]:
    """street, house_number, postcode, locality and a one-line `address` of the first address.

    CityJSON 1.0 has one address object (xAL names: PostalCode, LocalityName); 1.1 and 2.0 a list
    (Postcode, Locality). The line reads 'Street Number, Postcode Locality', without missing parts;
    several different addresses are also listed in `addresses` (JSON text), as the CityGML reader does.
    """
    entries = [a for a in (address if isinstance(address, list) else [address]) if isinstance(a, dict)]
    lines: list[str] = []
    out: dict[str, str] = {}
    for entry in entries:
        parts = {
            "street": _text(entry.get("ThoroughfareName")),
            "house_number": _text(entry.get("ThoroughfareNumber")),
            "postcode": _text(entry.get("PostalCode", entry.get("Postcode"))),
            "locality": _text(entry.get("LocalityName", entry.get("Locality"))),
        }
        street = " ".join(filter(None, [parts["street"], parts["house_number"]]))
        line = ", ".join(
            filter(None, [street, " ".join(filter(None, [parts["postcode"], parts["locality"]]))])
        )
        if not out:
            out = {name: value for name, value in parts.items() if value}
            if line:
                out["address"] = line
        if line and line not in lines:
            lines.append(line)
    if len(lines) > 1:
        out["addresses"] = json.dumps(lines, ensure_ascii=False)
    return out


def _text(value: Any) -> str | None:
    if value is None or isinstance(value, dict | list):
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)  # a code written as 1000.0 is still '1000'
    text = str(value).strip()
    return text or None


def _plain(value: Any) -> str | int | float | bool | None:
    """An attribute value as str, int, float or bool (nested values as JSON text), None when missing."""
    if value is None or isinstance(value, bool | str | float):
        return value
    if isinstance(value, int):
        return value if -_INT64 <= value < _INT64 else str(value)  # pyarrow holds int64 at most
    return json.dumps(value, ensure_ascii=False)


def _canonical(name: str, value: Any) -> str | int | float | bool | None:
    """A standard attribute typed as its canonical column: codes as text, height float, counts and years int."""
    if value is None:
        return None
    if name in TEXT_ATTRIBUTES:
        if isinstance(value, list) and all(isinstance(v, str | int | float) for v in value):
            return ";".join(filter(None, map(_text, value))) or None  # several functions: all, in order
        if name == "creation_date" and isinstance(value, str) and _ISO_DATE.match(value):
            return value[:10]  # the date of a date-time
        return _plain(value) if isinstance(value, dict | list | bool) else _text(value)
    number = value.strip().replace(",", ".") if isinstance(value, str) else value
    if isinstance(number, bool):
        return number
    if name.startswith("year_") and isinstance(number, str) and _ISO_DATE.match(number):
        number = number[:4]  # a year from a date, '1985-01-01'
    try:
        as_float = float(number)
    except (TypeError, ValueError):
        return _plain(value)
    if name == "measured_height":
        return as_float
    return int(as_float) if as_float.is_integer() and abs(as_float) < _INT64 else _plain(value)
