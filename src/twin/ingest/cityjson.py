"""Read CityJSON 1.0/1.1/2.0 files and CityJSONSeq streams into CityChunks of buildings.

One building per CityJSON "Building" (that is not itself part of a building), with its "BuildingPart"
children merged in, recursively. Every other CityObject (roads, terrain, installations, rooms, extension
types) is counted as skipped with the reason "not a building (Type)". A building left without any polygon
is skipped here with a reason ("no geometry" when it had none), so chunks only hold buildings with polygons.
A building whose geometry is broken (unknown type, malformed boundaries, vertex index out of range, NaN
coordinates, no valid LoD) is skipped whole, never read in half. Appearances (materials, textures) are not
read, so files invalid only in their appearance read normally.

Attributes are the Building's own, completed from its parts (twin.ingest.cityjson_attributes). A plain
file is one JSON document, parsed whole. A CityJSONSeq (RFC 7464 record separators tolerated) is read line
by line: the header line gives the transform, CRS and templates, each CityJSONFeature line its own vertices
and CityObjects.
"""

from __future__ import annotations

import gc
import itertools
import json
from collections import defaultdict
from collections.abc import Iterator
from typing import IO, Any

from twin.errors import InputError
from twin.ingest.cityjson_attributes import building_attributes
from twin.ingest.cityjson_geometry import (
    INDEX_OUT_OF_RANGE,
    BoolArray,
    FloatArray,
    GeometryError,
    Polygons,
    Templates,
    nonfinite_vertices,
    parse_templates,
    parse_transform,
    read_geometry,
    real_vertices,
)
from twin.ingest.citymodel import CHUNK_BUILDINGS, ChunkBuilder, CityChunk
from twin.ingest.model import IngestLog
from twin.ingest.sources import SourceRef

SUPPORTED_VERSIONS = ("1.0", "1.1", "2.0")
BUILDING, BUILDING_PART = "Building", "BuildingPart"
_BOM = b"\xef\xbb\xbf"
_LINE_JUNK = b" \t\r\n\x1e"  # whitespace and the RFC 7464 record separator around a CityJSONSeq line


def read_cityjson(source: SourceRef) -> Iterator[CityChunk]:
    """Buildings of a CityJSON 1.0/1.1/2.0 file or a CityJSONSeq stream, in chunks of at most CHUNK_BUILDINGS.

    A CityJSONSeq is JSON Lines: a CityJSON header line, then CityJSONFeature lines; it is read line by line.
    Coordinates are in the source CRS (`chunk.crs`, as the file names it) after the file's transform.
    InputError naming the source for whole-file problems; per-building ones are counted in `chunk.log`.
    """
    name = source.name
    with source.open() as handle:
        first = handle.readline()
        document = _complete_json(first)
        if document is None:
            document = _load_json(name, first + handle.read())
        elif isinstance(document, dict) and document.get("type") == "CityJSON":
            rest = _rest_if_more(handle)
            if rest is not None:  # a complete CityJSON object, then more: a CityJSONSeq stream
                yield from _read_seq(source, document, rest)
                return
    yield from _read_document(source, document)


def is_cityjson_seq(head: bytes) -> bool:
    """True when these first bytes of a file are a CityJSONSeq: a CityJSON header line, then features."""
    lines = head.removeprefix(_BOM).split(b"\n")
    if len(lines) < 2:
        return False  # the first line is not complete within `head`
    header = _complete_json(lines[0])
    if not (isinstance(header, dict) and header.get("type") == "CityJSON"):
        return False
    for number, line in enumerate(lines[1:], start=1):
        content = line.strip(_LINE_JUNK)
        if not content:
            continue
        feature = _complete_json(content)
        if feature is not None:
            return isinstance(feature, dict) and feature.get("type") == "CityJSONFeature"
        # Unparseable: fine only when `head` cut the line off and a JSON object begins there.
        return number == len(lines) - 1 and content.startswith(b"{")
    return False


def _complete_json(line: bytes) -> Any:
    """The JSON value of one line, or None when it is not a complete JSON value."""
    content = line.removeprefix(_BOM).strip(_LINE_JUNK)
    if not content.startswith((b"{", b"[")):
        return None
    try:
        return _loads(content)
    except (ValueError, RecursionError):
        return None


def _loads(data: bytes) -> Any:
    """json.loads with the cyclic garbage collector paused (a whole file's document, or one line).

    Parsed JSON holds no cycles, and the collector's passes over the millions of new objects of a large
    document cost 3-4 times the parse itself (measured on 12 MB: 0.6 s with, 0.17 s without).
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        return json.loads(data)
    finally:
        if enabled:
            gc.enable()


def _rest_if_more(handle: IO[bytes]) -> Iterator[bytes] | None:
    """The lines after the first if anything but blank lines follows it (line numbers kept), else None."""
    skipped: list[bytes] = []
    for line in handle:
        skipped.append(line)
        if line.strip(_LINE_JUNK):
            return itertools.chain(skipped, handle)
    return None


def _load_json(name: str, data: bytes) -> Any:
    if not data or data.isspace():  # (no strip: it would copy a large file)
        raise InputError(f"{name}: file is empty")
    try:
        return _loads(data.removeprefix(_BOM))
    except json.JSONDecodeError as exc:
        raise InputError(f"{name}: not JSON ({exc.msg} at line {exc.lineno} column {exc.colno})") from exc
    except UnicodeDecodeError as exc:
        raise InputError(f"{name}: not JSON (not UTF-8 text)") from exc
    except RecursionError as exc:
        raise InputError(f"{name}: JSON nested too deeply to be CityJSON") from exc


def _check_root(name: str, document: Any, seq_header: bool = False) -> None:
    """InputError naming the file unless `document` is a CityJSON object of a version twin reads.

    A CityJSONSeq header may leave out its (empty) CityObjects and vertices.
    """
    if not isinstance(document, dict):
        raise InputError(f"{name}: JSON but not CityJSON (the top level is a {type(document).__name__})")
    kind = document.get("type")
    if kind == "CityJSONFeature":
        raise InputError(
            f"{name}: a lone CityJSONFeature without the CityJSON header line of a CityJSONSeq (transform, CRS)"
        )
    if kind != "CityJSON":
        raise InputError(f"{name}: JSON but not CityJSON (type {kind!r})")
    version = document.get("version")
    # A patch number ('2.0.1') reads as its minor version: patches do not change the encoding.
    text = str(version) if isinstance(version, str | int | float) else ""
    if ".".join(text.split(".")[:2]) not in SUPPORTED_VERSIONS:
        raise InputError(
            f"{name}: CityJSON version {version!r} is not supported (twin reads "
            f"{', '.join(SUPPORTED_VERSIONS)}; `cjio FILE upgrade` converts older files)"
        )
    if seq_header:
        return
    if not isinstance(document.get("CityObjects"), dict):
        raise InputError(f"{name}: CityJSON without CityObjects")
    if not isinstance(document.get("vertices"), list):
        raise InputError(f"{name}: CityJSON without vertices")


def _reference_system(document: dict[str, Any]) -> str | None:
    metadata = document.get("metadata")
    crs = metadata.get("referenceSystem") if isinstance(metadata, dict) else None
    return crs if isinstance(crs, str) and crs.strip() else None


class _Reader:
    """Turns CityObjects into buildings of one source and collects them into chunks."""

    def __init__(self, document: dict[str, Any], name: str) -> None:
        self.name = name
        self.crs = _reference_system(document)
        try:
            self.scale, self.translate = parse_transform(document.get("transform"))
        except ValueError as exc:
            raise InputError(f"{name}: {exc}") from exc
        self.templates: Templates | None = parse_templates(document.get("geometry-templates"))
        self.chunks_made = 0
        self.buildings_read = 0
        self.index_failures = 0  # buildings skipped for out-of-range indices: all of them is a broken file
        # The builder empties itself after every chunk it builds.
        self.builder = ChunkBuilder(self.name, self.crs)

    @property
    def log(self) -> IngestLog:
        """The log of the chunk being collected."""
        return self.builder.log

    def vertices(self, raw: Any) -> FloatArray:
        """Real coordinates (source units) of a vertex list; ValueError when it is malformed."""
        return real_vertices(raw, self.scale, self.translate)

    def add_objects(self, objects: dict[str, Any], vertices: FloatArray) -> Iterator[CityChunk]:
        """Read the buildings among `objects`, yielding a chunk whenever CHUNK_BUILDINGS are collected."""
        nonfinite = nonfinite_vertices(vertices)
        # Children from both ends of the link (some files list only one): a parent's own "children" order
        # first, then any object that names it in "parents"; without repeats.
        children: defaultdict[str, dict[str, None]] = defaultdict(dict)
        for key, obj in objects.items():
            if isinstance(obj, dict) and "children" in obj:
                children[key].update(dict.fromkeys(_id_list(obj["children"])))
        for key, obj in objects.items():
            if isinstance(obj, dict) and "parents" in obj:
                for parent in _id_list(obj["parents"]):
                    children[parent][key] = None
        skipped: defaultdict[str, list[str]] = defaultdict(list)
        merged: set[str] = set()
        for key, obj in objects.items():
            kind = obj.get("type") if isinstance(obj, dict) else None
            if kind == BUILDING_PART:
                continue  # merged into its building below, or reported at the end
            if kind != BUILDING or not isinstance(obj, dict):
                skipped[f"not a building ({kind})" if isinstance(kind, str) else "not a CityObject"].append(
                    key
                )
                continue
            if any(_kind(objects.get(p)) in (BUILDING, BUILDING_PART) for p in _id_list(obj.get("parents"))):
                continue  # a building inside a building: merged as a part
            parts = _parts(key, objects, children, merged)
            self._add_building(key, obj, [objects[p] for p in parts], vertices, nonfinite)
            if len(self.builder) >= CHUNK_BUILDINGS:
                yield self.build()
        for key, obj in objects.items():
            kind = _kind(obj)
            if kind in (BUILDING, BUILDING_PART) and key not in merged:  # orphans, or parents in a cycle
                skipped[f"{kind} without a top-level Building"].append(key)
        for reason, ids in skipped.items():
            self.log.skip(reason, ids)

    def _add_building(
        self,
        key: str,
        obj: dict[str, Any],
        parts: list[Any],
        vertices: FloatArray,
        nonfinite: BoolArray | None,
    ) -> None:
        geometries: list[Polygons] = []
        try:
            for member in [obj, *parts]:
                listed = member.get("geometry") or []
                if not isinstance(listed, list):
                    raise GeometryError("geometry is not a list")
                for geometry in listed:
                    polygons = read_geometry(geometry, vertices, nonfinite, self.templates)
                    if polygons is not None:
                        geometries.append(polygons)
        except GeometryError as exc:
            self.index_failures += str(exc) == INDEX_OUT_OF_RANGE
            self.log.skip(str(exc), [key])
            return
        if not any(g.polygon_ring_counts for g in geometries):
            dropped = any(g.dropped_rings for g in geometries)
            self.log.skip("no surface with 3 or more vertices" if dropped else "no geometry", [key])
            return
        for g in geometries:
            self.builder.add_polygons(g.coords, g.ring_counts, g.polygon_ring_counts, g.classes, g.lod)
        self.log.repair(
            "ring with fewer than 3 vertices left out", int(any(g.dropped_rings for g in geometries))
        )
        self.log.repair(
            "invalid semantics: surfaces classified by orientation",
            int(not all(g.semantics_valid for g in geometries)),
        )
        self.builder.end_building(key, building_attributes(obj, parts))
        self.buildings_read += 1

    def build(self) -> CityChunk:
        """The chunk of the buildings collected so far (surfaces without semantics classified)."""
        chunk = self.builder.build()
        self.chunks_made += 1
        return chunk

    def finish(self) -> Iterator[CityChunk]:
        """The last chunk (always one per source, so that its skips and CRS reach the report)."""
        if not self.buildings_read and self.index_failures:
            raise InputError(
                f"{self.name}: vertex indices beyond the vertex list in every building "
                "(a truncated or damaged file?)"
            )
        if (
            len(self.builder)
            or not self.chunks_made
            or self.log.skipped
            or self.log.repaired
            or self.log.warnings
        ):
            yield self.build()


def _read_document(source: SourceRef, document: Any) -> Iterator[CityChunk]:
    _check_root(source.name, document)
    reader = _Reader(document, source.name)
    try:
        vertices = reader.vertices(document["vertices"])
    except ValueError as exc:
        raise InputError(f"{source.name}: {exc}") from exc
    yield from reader.add_objects(document["CityObjects"], vertices)
    yield from reader.finish()


def _read_seq(source: SourceRef, header: dict[str, Any], rest: Iterator[bytes]) -> Iterator[CityChunk]:
    _check_root(source.name, header, seq_header=True)
    reader = _Reader(header, source.name)
    if header.get("CityObjects"):  # the header should hold none, but if it does they are buildings too
        yield from _read_feature(reader, header, "line 1")
    for number, line in enumerate(rest, start=2):
        yield from _read_line(reader, line, number)
    yield from reader.finish()


def _read_line(reader: _Reader, line: bytes, number: int) -> Iterator[CityChunk]:
    content = line.strip(_LINE_JUNK)
    if not content:
        return
    try:
        feature = json.loads(content)
    except (ValueError, RecursionError):
        reader.log.skip("CityJSONSeq line is not JSON", [f"line {number}"])
        return
    where = f"line {number}"
    if isinstance(feature, dict) and isinstance(feature.get("id"), str):
        where = feature["id"]
    kind = feature.get("type") if isinstance(feature, dict) else None
    if kind != "CityJSONFeature":
        reader.log.skip(f"not a CityJSONFeature (type {kind!r})", [where])
        return
    yield from _read_feature(reader, feature, where)


def _read_feature(reader: _Reader, feature: dict[str, Any], where: str) -> Iterator[CityChunk]:
    objects = feature.get("CityObjects")
    if not isinstance(objects, dict):
        reader.log.skip("CityJSONFeature without CityObjects", [where])
        return
    try:
        vertices = reader.vertices(feature.get("vertices"))
    except ValueError as exc:
        reader.log.skip(f"CityJSONFeature with invalid vertices ({exc})", [where])
        return
    yield from reader.add_objects(objects, vertices)


def _id_list(value: Any) -> list[str]:
    return [item for item in value if isinstance(item, str)] if isinstance(value, list) else []


def _kind(obj: Any) -> Any:
    return obj.get("type") if isinstance(obj, dict) else None


def _parts(
    key: str, objects: dict[str, Any], children: dict[str, dict[str, None]], merged: set[str]
) -> list[str]:
    """The BuildingParts (and buildings) below a building, depth first; each merged into one building only."""
    parts: list[str] = []
    stack = list(reversed(children.get(key, [])))
    merged.add(key)
    while stack:
        child = stack.pop()
        if child in merged or _kind(objects.get(child)) not in (BUILDING, BUILDING_PART):
            continue  # installations, rooms etc. are counted as skipped where they are listed
        merged.add(child)
        parts.append(child)
        stack.extend(reversed(children.get(child, [])))
    return parts
