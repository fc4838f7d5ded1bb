"""Detect a source file's format from its content, never from its name alone."""

from __future__ import annotations

import json
import zipfile
from enum import StrEnum
from pathlib import Path

from twin.errors import InputError


class SourceFormat(StrEnum):
    """Formats twin recognises."""

    GEOJSON = "GeoJSON"
    GEOJSONSEQ = "GeoJSONSeq"
    GEOPACKAGE = "GeoPackage"
    SHAPEFILE = "Shapefile"
    SHAPEFILE_ZIP = "Shapefile (zip)"
    GEOPARQUET = "GeoParquet"
    FLATGEOBUF = "FlatGeobuf"
    CITYJSON = "CityJSON"
    CITYGML = "CityGML"
    XPLANGML = "XPlanGML"


FOOTPRINT_FORMATS = {
    SourceFormat.GEOJSON,
    SourceFormat.GEOJSONSEQ,
    SourceFormat.GEOPACKAGE,
    SourceFormat.SHAPEFILE,
    SourceFormat.SHAPEFILE_ZIP,
    SourceFormat.GEOPARQUET,
    SourceFormat.FLATGEOBUF,
}

_SNIFF_BYTES = 4096


def detect_format(path: Path) -> SourceFormat:
    """Return the format of `path` from its first bytes; InputError naming the file if unknown."""
    if not path.exists():
        raise InputError(f"{path}: file not found")
    if path.is_dir():
        raise InputError(f"{path}: is a folder, not a file")
    size = path.stat().st_size
    if size == 0:
        raise InputError(f"{path}: file is empty")
    with path.open("rb") as handle:
        head = handle.read(_SNIFF_BYTES)
    if head.startswith(b"PK\x03\x04"):
        return _detect_zip(path)
    return detect_head(head, str(path))


def _text_of(head: bytes) -> str:
    """The first bytes as text: UTF-16 (with a byte order mark, as Brandenburg's CityGML) or UTF-8."""
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        return head[: len(head) - len(head) % 2].decode("utf-16", errors="replace").lstrip("\ufeff")
    if len(head) > 3 and head[0] == 0 and head[1] == ord("<"):
        return head[: len(head) - len(head) % 2].decode("utf-16-be", errors="replace")
    if len(head) > 3 and head[0] == ord("<") and head[1] == 0:
        return head[: len(head) - len(head) % 2].decode("utf-16-le", errors="replace")
    return head.decode("utf-8", errors="replace").lstrip("\ufeff")


def detect_head(head: bytes, name: str) -> SourceFormat:
    """The format of an input from its first bytes; `name` is how messages call it."""
    if not head:
        raise InputError(f"{name}: file is empty")
    if head.startswith(b"SQLite format 3\x00"):
        return SourceFormat.GEOPACKAGE
    if head.startswith(b"PAR1"):
        return SourceFormat.GEOPARQUET
    if head.startswith(b"fgb\x03"):
        return SourceFormat.FLATGEOBUF
    if len(head) >= 4 and int.from_bytes(head[:4], "big") == 9994:
        return SourceFormat.SHAPEFILE
    if head.startswith(b"PK\x03\x04"):
        raise InputError(f"{name}: a zip archive inside a zip archive; unpack the outer one first")
    if head.startswith(b"\x1f\x8b"):
        raise InputError(f"{name}: gzip-compressed file; decompress it first")

    text = _text_of(head).lstrip(" \t\r\n")
    lowered = text[:1024].lower()
    if lowered.startswith("<!doctype html") or lowered.startswith("<html") or "<html" in lowered[:300]:
        raise InputError(f"{name}: is an HTML page, not geodata (a download that returned an error page?)")
    if text.startswith("<"):
        return _detect_xml(name, text)
    if text.startswith("{") or text.startswith("\x1e"):
        return _detect_json(name, text)
    raise InputError(
        f"{name}: not a recognised geodata format (expected GeoJSON, GeoPackage, Shapefile, GeoParquet, "
        "FlatGeobuf, CityGML or CityJSON)"
    )


def zip_holds_shapefile(path: Path) -> bool:
    """Whether a zip archive holds a Shapefile (which the footprint reader opens whole); InputError if damaged."""
    try:
        with zipfile.ZipFile(path) as archive:
            return any(name.lower().endswith(".shp") for name in archive.namelist())
    except zipfile.BadZipFile as exc:
        raise InputError(f"{path}: damaged zip archive ({exc})") from exc


def _detect_zip(path: Path) -> SourceFormat:
    if zip_holds_shapefile(path):
        return SourceFormat.SHAPEFILE_ZIP
    raise InputError(f"{path}: zip archive without a Shapefile (.shp) inside")


def _detect_xml(name: str, text: str) -> SourceFormat:
    if "xplan" in text.lower():
        return SourceFormat.XPLANGML
    if "citygml" in text.lower():
        return SourceFormat.CITYGML
    raise InputError(f"{name}: XML file that is neither CityGML nor XPlanGML")


def _detect_json(name: str, text: str) -> SourceFormat:
    compact = text.replace(" ", "").replace("\n", "").replace("\r", "").replace("\t", "")
    # "type" usually comes first, but JSON has no key order: "CityObjects" says it as well.
    if '"type":"CityJSON' in compact or '"CityObjects":' in compact:
        return SourceFormat.CITYJSON
    if text.startswith("\x1e"):
        return SourceFormat.GEOJSONSEQ
    if any(f'"type":"{kind}"' in compact for kind in ("FeatureCollection", "Feature")):
        first_line = text.split("\n", 1)[0]
        if first_line.rstrip().endswith("}") and '"type":"Feature"' in first_line.replace(" ", ""):
            # One complete feature on the first line and more lines after it: newline-delimited GeoJSON.
            try:
                json.loads(first_line)
                if "\n" in text.strip():
                    return SourceFormat.GEOJSONSEQ
            except json.JSONDecodeError:
                pass
        return SourceFormat.GEOJSON
    if '"features"' in compact or '"geometry"' in compact:
        return SourceFormat.GEOJSON
    raise InputError(f"{name}: JSON file that is neither GeoJSON nor CityJSON")
