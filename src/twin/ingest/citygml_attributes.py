"""A CityGML building's attributes as one flat dict with twin's canonical names (see twin.ingest.citymodel).

Read from the building's own child elements; where the building lacks one, the first BuildingPart that has
it gives it (AdV files often put function and roof type on the parts). Covers CityGML 1.0/2.0 (bldg:*,
gen:stringAttribute...) and 3.0 (con:dateOfConstruction, con:height, gen:genericAttribute) and the xAL
address forms of both (xAL 2: ThoroughfareName...; xAL 3: Thoroughfare/NameElement...).
"""

from __future__ import annotations

import json
from typing import Any

from lxml import etree

TEXT_ATTRIBUTES = {"class": "class", "function": "function", "usage": "usage", "roofType": "roof_type"}
NUMBER_ATTRIBUTES = {"measuredHeight": "measured_height"}
INTEGER_ATTRIBUTES = {
    "storeysAboveGround": "storeys_above_ground",
    "storeysBelowGround": "storeys_below_ground",
    "yearOfConstruction": "year_of_construction",
    "yearOfDemolition": "year_of_demolition",
}
GENERIC_TYPES = {
    "stringAttribute": str, "intAttribute": int, "doubleAttribute": float, "measureAttribute": float,
    "dateAttribute": str, "uriAttribute": str,
    "StringAttribute": str, "IntAttribute": int, "DoubleAttribute": float, "MeasureAttribute": float,
    "DateAttribute": str, "UriAttribute": str,
}  # fmt: skip


def _local(tag: Any) -> str:
    return tag.rpartition("}")[2] if isinstance(tag, str) else ""


def _text(element: etree._Element) -> str:
    return (element.text or "").strip()


def _number(text: str, kind: type) -> Any:
    try:
        value = float(text)
    except ValueError:
        return text or None
    if kind is int:
        return int(value) if value.is_integer() else value
    return value


def _year(text: str) -> int | str | None:
    """A year from '1985', '1985-01-01' or '1985-01-01T00:00:00'."""
    try:
        return int(text[:4]) if len(text) >= 4 and text[:4].isdigit() else (text or None)
    except ValueError:
        return text or None


def _generic(element: etree._Element, out: dict[str, Any], prefix: str = "") -> None:
    """gen:*Attribute (1.0/2.0: name attribute and gen:value; 3.0: gen:name and gen:value) and sets."""
    kind = _local(element.tag)
    if kind in ("genericAttributeSet", "GenericAttributeSet"):
        name = element.get("name") or next(
            (_text(child) for child in element if _local(child.tag) == "name"), ""
        )
        for child in element:
            for inner in child.iter() if _local(child.tag) == "genericAttribute" else [child]:
                if _local(inner.tag) in GENERIC_TYPES or _local(inner.tag).endswith("AttributeSet"):
                    _generic(inner, out, f"{prefix}{name}.")
        return
    converter = GENERIC_TYPES.get(kind)
    if converter is None:
        return
    name = element.get("name")
    value_text = ""
    for child in element:
        child_name = _local(child.tag)
        if child_name == "name" and not name:
            name = _text(child)
        elif child_name == "value":
            value_text = _text(child)
    if not name or not value_text:
        return
    key = prefix + name
    if key in out:
        return
    out[key] = value_text if converter is str else _number(value_text, converter)


def _address(element: etree._Element) -> dict[str, Any]:
    """Street, house number, postcode and locality from xAL 2 or xAL 3, and a one-line address."""
    parts: dict[str, str] = {}
    for node in element.iter():
        name = _local(node.tag)
        text = _text(node)
        if not text:
            continue
        if name == "ThoroughfareName" or (
            name == "NameElement" and _local(node.getparent().tag) == "Thoroughfare"
        ):
            parts.setdefault("street", text)
        elif name == "ThoroughfareNumber" or (
            name == "Number" and _local(node.getparent().tag) == "Thoroughfare"
        ):
            parts.setdefault("house_number", text)
        elif name == "PostalCodeNumber" or (
            name == "Identifier" and _local(node.getparent().tag) == "PostCode"
        ):
            parts.setdefault("postcode", text)
        elif name == "LocalityName" or (name == "NameElement" and _local(node.getparent().tag) == "Locality"):
            parts.setdefault("locality", text)
    out: dict[str, Any] = dict(parts)
    line = " ".join(filter(None, [parts.get("street"), parts.get("house_number")]))
    place = " ".join(filter(None, [parts.get("postcode"), parts.get("locality")]))
    if line or place:
        out["address"] = ", ".join(filter(None, [line, place]))
    return out


def _own_attributes(element: etree._Element) -> dict[str, Any]:
    out: dict[str, Any] = {}
    addresses: list[dict[str, Any]] = []
    for child in element:
        name = _local(child.tag)
        if not name:
            continue
        text = _text(child)
        if name == "name" and text:
            out.setdefault("name", text)
        elif name == "creationDate" and text:
            out.setdefault("creation_date", text[:10])
        elif name in TEXT_ATTRIBUTES and text:
            key = TEXT_ATTRIBUTES[name]
            # Several functions (or usages): all of them, in order.
            out[key] = f"{out[key]};{text}" if key in out else text
            if child.get("codeSpace") and f"{key}_code_space" not in out:
                out[f"{key}_code_space"] = child.get("codeSpace")
        elif name in NUMBER_ATTRIBUTES and text:
            out.setdefault(NUMBER_ATTRIBUTES[name], _number(text, float))
        elif name in INTEGER_ATTRIBUTES and text:
            key = INTEGER_ATTRIBUTES[name]
            out.setdefault(key, _year(text) if key.startswith("year") else _number(text, int))
        elif name in ("dateOfConstruction", "dateOfDemolition") and text:
            key = "year_of_construction" if name == "dateOfConstruction" else "year_of_demolition"
            out.setdefault(key, _year(text))
        elif name == "height":  # CityGML 3.0 con:height/con:Height
            value = next((_text(node) for node in child.iter() if _local(node.tag) == "value"), "")
            if value:
                out.setdefault("measured_height", _number(value, float))
        elif name in GENERIC_TYPES or name.endswith("AttributeSet"):
            _generic(child, out)
        elif name == "genericAttribute":
            for inner in child:
                _generic(inner, out)
        elif name == "address":
            addresses.append(_address(child))
    if addresses:
        for key, value in addresses[0].items():
            out.setdefault(key, value)
        if len(addresses) > 1:
            out["addresses"] = json.dumps([a.get("address") for a in addresses], ensure_ascii=False)
    return out


def building_attributes(building: etree._Element) -> dict[str, Any]:
    """The building's attributes, completed from its BuildingParts where it lacks one."""
    out = _own_attributes(building)
    parts = [
        part
        for member in building
        if _local(member.tag) == "consistsOfBuildingPart"
        for part in member
        if _local(part.tag) == "BuildingPart"
    ]
    if parts:
        out["building_parts"] = len(parts)
        for part in parts:
            for key, value in _own_attributes(part).items():
                out.setdefault(key, value)
    return out
