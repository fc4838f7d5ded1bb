"""CRS names as city models write them (GML srsName, CityJSON referenceSystem) turned into pyproj CRSs.

Seen in real files: `EPSG:25832`, `urn:ogc:def:crs:EPSG::25832`, OGC compound URNs
(`urn:ogc:def:crs,crs:EPSG::25832,crs:EPSG::5783`), OGC http URIs (`https://www.opengis.net/def/crs/EPSG/0/7415`,
also the `crs-compound?1=...&2=...` form), and the AdV's own URNs of the German Länder
(`urn:adv:crs:ETRS89_UTM32*DE_DHHN2016_NH*GCG2016`: horizontal*vertical*quasigeoid). A reference to a CRS
defined inside the file (`#local-CRS-1`, a local engineering CRS) cannot be placed on the Earth and is
refused unless the user names the CRS.
"""

from __future__ import annotations

import re
from urllib.parse import parse_qsl, urlparse

import pyproj
from pyproj import CRS
from pyproj.crs import CompoundCRS

from twin.errors import CRSError

# The AdV's CRS names (GeoInfoDok, "Koordinatenreferenzsysteme") → EPSG codes.
ADV_HORIZONTAL = {
    "ETRS89_UTM32": 25832,
    "ETRS89_UTM33": 25833,
    "ETRS89_LAT-LON": 4258,
    "ETRS89_LAT-LON_H": 4937,
    "DE_DHDN_3GK2": 31466,
    "DE_DHDN_3GK3": 31467,
    "DE_DHDN_3GK4": 31468,
    "DE_DHDN_3GK5": 31469,
    "DE_DHDN_LAT-LON": 4314,
    "DE_42-83_3GK4": 2398,
    "DE_42-83_3GK5": 2399,
    "DE_RD/83_3GK4": 3398,
    "DE_RD/83_3GK5": 3399,
}
ADV_VERTICAL = {
    "DE_DHHN2016_NH": 7837,
    "DE_DHHN92_NH": 5783,
    "DE_DHHN85_NN": 5784,
    "DE_SNN76_NH": 5785,
}
_EPSG_URN = re.compile(r"^urn:(?:x-)?ogc:def:crs:EPSG:[\d.]*:(\d+)$", re.IGNORECASE)
_EPSG_URI = re.compile(r"^https?://www\.opengis\.net/def/crs/EPSG/[\d.]+/(\d+)/?$", re.IGNORECASE)
_OGC_URI = re.compile(r"^https?://www\.opengis\.net/def/crs/OGC/[\d.]+/(CRS84h?)/?$", re.IGNORECASE)


class LocalCRSError(CRSError):
    """The source refers to a local (engineering) CRS that cannot be placed on the Earth."""


def _compound(parts: list[CRS], name: str) -> CRS:
    if len(parts) == 1:
        return parts[0]
    return CompoundCRS(name=" + ".join(part.name for part in parts), components=parts)


def _epsg(code: str | int, original: str) -> CRS:
    try:
        return CRS.from_epsg(int(code))
    except pyproj.exceptions.CRSError as exc:
        raise CRSError(f"unknown EPSG code {code} in CRS name '{original}'") from exc


def _single(text: str, original: str) -> CRS:
    """One CRS reference (no compound syntax)."""
    text = text.strip()
    for pattern in (_EPSG_URN, _EPSG_URI):
        match = pattern.match(text)
        if match:
            return _epsg(match.group(1), original)
    match = _OGC_URI.match(text)
    if match:
        return CRS.from_user_input(f"OGC:{match.group(1).upper().replace('H', 'h')}")
    if re.fullmatch(r"(?i)epsg:\d+", text):
        return _epsg(text.split(":")[1], original)
    raise CRSError(f"unrecognised CRS name '{original}'")


def parse_srs_name(name: str) -> CRS:
    """The CRS a city model names; CRSError for unknown names, LocalCRSError for local ones."""
    text = name.strip()
    if not text:
        raise CRSError("empty CRS name")
    if text.startswith("#") or text.lower().startswith("local") or "engineeringcrs" in text.lower():
        raise LocalCRSError(
            f"uses a local engineering CRS ('{text}') that cannot be placed on the Earth; "
            "pass --crs with the CRS its coordinates are really in"
        )
    lowered = text.lower()
    if lowered.startswith("urn:adv:crs:"):
        return _adv(text)
    if lowered.startswith("urn:ogc:def:crs,") or lowered.startswith("urn:x-ogc:def:crs,"):
        # urn:ogc:def:crs,crs:EPSG::25832,crs:EPSG::5783
        pieces = text.split(",")[1:]
        parts = [_single("urn:ogc:def:" + piece.strip(), text) for piece in pieces if piece.strip()]
        return _compound(parts, text)
    if "/def/crs-compound" in lowered:
        query = dict(parse_qsl(urlparse(text).query))
        parts = [
            _single(query[key], text) for key in sorted(query, key=lambda k: int(k) if k.isdigit() else 0)
        ]
        return _compound(parts, text)
    try:
        return _single(text, text)
    except CRSError:
        pass
    try:  # anything else pyproj understands: 'EPSG:25832+7837', WKT, PROJ strings
        return CRS.from_user_input(text)
    except pyproj.exceptions.CRSError as exc:
        raise CRSError(f"unrecognised CRS name '{text}'") from exc


def _adv(text: str) -> CRS:
    """urn:adv:crs:HORIZONTAL[*VERTICAL[*QUASIGEOID]]."""
    names = text[len("urn:adv:crs:") :].split("*")
    horizontal = ADV_HORIZONTAL.get(names[0].upper())
    if horizontal is None:
        raise CRSError(f"unknown AdV CRS '{names[0]}' in '{text}'")
    parts = [CRS.from_epsg(horizontal)]
    if len(names) > 1:
        vertical = ADV_VERTICAL.get(names[1].upper())
        if vertical is None:
            raise CRSError(f"unknown AdV height system '{names[1]}' in '{text}'")
        parts.append(CRS.from_epsg(vertical))
    return _compound(parts, text)


_SRS_NAME = re.compile(rb'srsName\s*=\s*"([^"]+)"|"referenceSystem"\s*:\s*"([^"]+)"')


def sniff_srs_name(head: bytes) -> str | None:
    """The first CRS name in the first bytes of a CityGML or CityJSON file (UTF-8), if there is one."""
    match = _SRS_NAME.search(head)
    if match is None:
        return None
    return (match.group(1) or match.group(2)).decode("utf-8", errors="replace")
