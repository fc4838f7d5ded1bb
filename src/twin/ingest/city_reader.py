"""Reading many city model inputs into one set of buildings: parallel parsing, CRS, LoD choice, attributes.

Inputs (CityGML files, CityJSON files and CityJSONSeq streams, zip members) are parsed in worker processes,
one input per task, each by its streaming reader (`twin.ingest.citygml`, `twin.ingest.cityjson`) into
`CityChunk`s, which are repaired (`twin.ingest.surface_repair`) in the worker too. This process then names
each chunk's CRS, chooses the level of detail, drops duplicates and joins everything into `CityBuildings`.

Level of detail: without `--lod`, the highest LoD that every building has (so that the layer is uniform);
with `--lod`, that LoD, or for a building without it the highest it has below (counted in the report).
"""

from __future__ import annotations

import multiprocessing
import os
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
from pyproj import CRS

from twin.errors import CRSError, InputError
from twin.geo.crs import parse_crs
from twin.geo.srsname import parse_srs_name
from twin.ingest.citymodel import CityChunk, lod_code, lod_text
from twin.ingest.codelists import function_label, roof_type_label
from twin.ingest.detect import SourceFormat, detect_format, detect_head
from twin.ingest.model import IngestLog, take_rows
from twin.ingest.rings import Rings
from twin.ingest.sources import SourceRef
from twin.ingest.surface_repair import repair_polygons, select_polygons

CITY_FORMATS = (SourceFormat.CITYGML, SourceFormat.CITYJSON)
DUPLICATE = "duplicate building id (the same building twice, e.g. in two tiles): the first is kept"
# Inputs smaller than this in all are parsed in this process: forking workers costs more than it saves.
PARALLEL_MIN_BYTES = 4 << 20
Progress = Callable[[str, int, int], None]


@dataclass(frozen=True)
class CityOptions:
    """How city model inputs become buildings (CLI flags of `twin ingest`)."""

    crs: str | None = None
    lod: str | None = None


@dataclass
class CityBuildings:
    """Every building read, with the polygons of its chosen LoD in its source CRS (3D rings).

    `crs[building_crs[b]]` is building b's CRS; `lod` its LoD code (see `lod_code`).
    """

    polygons: Rings
    polygon_class: npt.NDArray[np.uint8]
    lod: npt.NDArray[np.int64]
    crs: list[CRS]
    crs_sources: list[str]  # per CRS, the first input that uses it (for messages)
    building_crs: npt.NDArray[np.int64]
    ids: pa.Array
    attributes: pa.Table
    empty_sources: list[str]

    def __len__(self) -> int:
        return self.polygons.building_count


def input_format(source: SourceRef) -> SourceFormat:
    """The format of one input from its first bytes; InputError naming it when unknown."""
    if source.member is None:
        return detect_format(source.path)
    try:
        head = source.head()
    except OSError as exc:
        raise InputError(f"{source.name}: cannot be read ({exc})") from exc
    return detect_head(head, source.name)


@dataclass
class Parsed:
    """A chunk as a worker returns it: repaired, its attributes already an Arrow table (compact to send)."""

    chunk: CityChunk  # with `attributes` emptied
    attributes: pa.Table

    def __len__(self) -> int:
        return len(self.chunk)


def _parse(source: SourceRef, fmt: SourceFormat) -> list[Parsed]:
    """Parse and repair one input (runs in a worker process)."""
    if fmt == SourceFormat.CITYGML:
        from twin.ingest.citygml import read_citygml

        chunks = read_citygml(source)
    else:
        from twin.ingest.cityjson import read_cityjson

        chunks = read_cityjson(source)
    out = []
    for chunk in chunks:
        repaired = repair_polygons(chunk)
        out.append(Parsed(replace(repaired, attributes=[]), attribute_table(repaired.attributes)))
    return out


def parse_all(sources: list[SourceRef], formats: list[SourceFormat], progress: Progress) -> list[Parsed]:
    """Every input's chunks, in input order; two worker processes when the inputs are large."""
    total = sum(source.size() for source in sources)
    workers = min(2, os.cpu_count() or 1)
    chunks: list[Parsed] = []
    progress("read", 0, len(sources))
    if workers > 1 and len(sources) > 1 and total >= PARALLEL_MIN_BYTES:
        context = multiprocessing.get_context("fork")
        with ProcessPoolExecutor(workers, mp_context=context) as pool:
            for done, result in enumerate(pool.map(_parse, sources, formats, chunksize=1), start=1):
                chunks.extend(result)
                progress("read", done, len(sources))
    else:
        for done, (source, fmt) in enumerate(zip(sources, formats, strict=True), start=1):
            chunks.extend(_parse(source, fmt))
            progress("read", done, len(sources))
    return chunks


def _chunk_crs(chunk: CityChunk, override: CRS | None, cache: dict[str, CRS]) -> CRS | None:
    if override is not None:
        return override
    if chunk.crs is None:
        if not len(chunk):
            return None
        raise CRSError(f"{chunk.source}: declares no CRS; pass --crs, e.g. --crs EPSG:25832")
    if chunk.crs not in cache:
        try:
            cache[chunk.crs] = parse_srs_name(chunk.crs)
        except CRSError as exc:
            raise CRSError(f"{chunk.source}: {exc.message}") from exc
    return cache[chunk.crs]


def _building_lods(chunk: CityChunk) -> npt.NDArray[np.uint64]:
    """Per building, a bit mask of the LoD codes it has polygons of."""
    rings = chunk.polygons
    masks = np.zeros(rings.building_count, dtype=np.uint64)
    if len(chunk.polygon_lod):
        bits = np.left_shift(np.uint64(1), chunk.polygon_lod.astype(np.uint64))
        np.bitwise_or.at(masks, rings.polygon_building, bits)
    return masks


def choose_lods(masks: npt.NDArray[np.uint64], wanted: str | None, log: IngestLog) -> npt.NDArray[np.int64]:
    """The LoD code each building is shown at (-1: none), from its LoD bit masks; explained in the log."""
    has_any = masks != 0
    chosen = np.full(len(masks), -1, dtype=np.int64)
    if not has_any.any():
        return chosen
    codes = np.arange(64, dtype=np.uint64)
    present = ((masks[:, None] >> codes[None, :]) & np.uint64(1)).astype(bool)  # (B, 64)
    available = Counter({lod_text(int(c)): int(n) for c, n in enumerate(present.sum(axis=0)) if n})
    if wanted is None:
        common = np.flatnonzero(present[has_any].all(axis=0))
        if len(common):
            target = int(common.max())
            chosen[has_any] = target
            log.notes.append(f"level of detail {lod_text(target)}, the highest every building has "
                             f"(buildings per LoD: {dict(sorted(available.items()))})")  # fmt: skip
            return chosen
        target = 63
        log.warn("the buildings have no level of detail in common: each is shown at its highest "
                 f"(buildings per LoD: {dict(sorted(available.items()))})")  # fmt: skip
    else:
        try:
            target = lod_code(wanted)
        except ValueError as exc:
            raise InputError(f"--lod: '{wanted}' is not a level of detail such as 2 or 2.2") from exc
    # A whole LoD ('2') stands for its family (CityJSON's 2.0-2.3: the highest there is), '2.2' for itself.
    whole = wanted is not None and "." not in wanted.strip()
    family_top = target + 9 if whole else target
    below = present & (codes[None, :] <= family_top)
    best = np.where(below.any(axis=1), 63 - np.argmax(below[:, ::-1], axis=1), -1)
    # A building with nothing at or below the target shows its lowest LoD above it.
    above = np.where(present.any(axis=1), np.argmax(present, axis=1), -1)
    chosen = np.where(best >= 0, best, above)
    chosen[~has_any] = -1
    if wanted is not None:
        other = int(np.count_nonzero(has_any & ((chosen < target) | (chosen > family_top))))
        log.notes.append(f"level of detail {wanted.strip()} (--lod)"
                         + (f"; {other} buildings without it use their nearest" if other else ""))  # fmt: skip
    return chosen


def _typed_array(values: list[Any]) -> pa.Array:
    """One attribute column from Python values: bool, int64 or float64 when all values are, else text."""
    kinds = {type(value) for value in values if value is not None}
    if kinds <= {bool}:
        return pa.array(values, type=pa.bool_())
    if kinds <= {int}:
        return pa.array(values, type=pa.int64())
    if kinds <= {int, float}:
        return pa.array([None if v is None else float(v) for v in values], type=pa.float64())
    texts = [
        None if v is None else ("true" if v is True else "false" if v is False else str(v)) for v in values
    ]
    return pa.array(texts, type=pa.string())


def attribute_table(rows: list[dict[str, Any]]) -> pa.Table:
    """The attributes of buildings (one dict each, missing keys are nulls) as an Arrow table."""
    names = list(dict.fromkeys(name for row in rows for name in row))
    if not names:
        return pa.table({"_": pa.nulls(len(rows))}).select([])
    return pa.table({name: _typed_array([row.get(name) for row in rows]) for name in names})


def _unify(tables: list[pa.Table]) -> pa.Table:
    """Concatenate attribute tables whose columns differ in presence or type (numbers widen, else text)."""
    tables = [table for table in tables if table.num_rows]
    if not tables:
        return pa.table({"_": pa.nulls(0)}).select([])
    if len(tables) == 1:
        return tables[0]
    types: dict[str, set[pa.DataType]] = {}
    for table in tables:
        for field in table.schema:
            types.setdefault(field.name, set()).add(field.type)
    target: dict[str, pa.DataType] = {}
    for name, found in types.items():
        if len(found) == 1:
            target[name] = next(iter(found))
        elif found <= {pa.int64(), pa.float64()}:
            target[name] = pa.float64()
        else:
            target[name] = pa.string()
    unified = []
    for table in tables:
        columns = []
        for name, kind in target.items():
            if name in table.column_names:
                column = table.column(name)
                columns.append(column if column.type == kind else column.cast(kind))
            else:
                columns.append(pa.nulls(table.num_rows, kind))
        unified.append(pa.table(columns, names=list(target)))
    return pa.concat_tables(unified)


def read_city_buildings(
    sources: list[SourceRef],
    formats: list[SourceFormat],
    options: CityOptions,
    log: IngestLog,
    progress: Progress,
) -> CityBuildings:
    """Read, repair and join the buildings of city model inputs (`formats` as `input_format` gave them);
    InputError/CRSError naming the input."""
    for source, fmt in zip(sources, formats, strict=True):
        if fmt not in CITY_FORMATS:
            raise InputError(
                f"{source.name}: {fmt.value} cannot be ingested together with city models (CityGML, CityJSON); "
                "ingest it as a layer of its own"
            )
    parsed: list[Parsed | None] = list(parse_all(sources, formats, progress))
    override = parse_crs(options.crs) if options.crs else None
    cache: dict[str, CRS] = {}
    crs_list: list[CRS] = []
    crs_sources: list[str] = []
    chunk_crs: list[int] = []
    masks = []
    sources_seen: dict[str, bool] = {}
    for item in parsed:
        assert item is not None
        chunk = item.chunk
        log.merge(chunk.log)
        sources_seen[chunk.source] = sources_seen.get(chunk.source, False) or len(chunk) > 0
        masks.append(_building_lods(chunk))
        crs = _chunk_crs(chunk, override, cache)
        if crs is None:
            chunk_crs.append(-1)
            continue
        if crs not in crs_list:
            crs_list.append(crs)
            crs_sources.append(chunk.source)
        chunk_crs.append(crs_list.index(crs))
    chosen = choose_lods(np.concatenate(masks) if masks else np.zeros(0, np.uint64), options.lod, log)
    kept: list[_Kept] = []
    seen: set[str] = set()
    offset = 0
    for index, crs_index in enumerate(chunk_crs):
        item, parsed[index] = parsed[index], None  # each chunk is let go once its buildings are kept
        assert item is not None
        chunk = item.chunk
        lods = chosen[offset : offset + len(chunk)]
        offset += len(chunk)
        selected = select_polygons(chunk, np.take(lods, chunk.polygons.polygon_building) == chunk.polygon_lod)
        has_polygons = np.diff(selected.polygons.building_polygon_start) > 0
        empty = [chunk.ids[i] for i in np.flatnonzero(~has_polygons)]
        log.skip("no usable polygons (no geometry, or all dropped by the repair rules)", empty)
        duplicates, rows = [], []
        for i in np.flatnonzero(has_polygons).tolist():
            if chunk.ids[i] in seen:
                duplicates.append(chunk.ids[i])
            else:
                seen.add(chunk.ids[i])
                rows.append(i)
        log.skip(DUPLICATE, duplicates)
        kept.append(_Kept.of(selected, item.attributes, np.asarray(rows, dtype=np.int64), lods, crs_index))
    lod = np.concatenate([part.lod for part in kept]) if kept else np.zeros(0, np.int64)
    polygons = Rings.concat([part.polygons for part in kept]) if kept else Rings.empty(has_z=True)
    return CityBuildings(
        polygons=polygons,
        polygon_class=np.concatenate([part.polygon_class for part in kept])
        if kept
        else np.zeros(0, np.uint8),
        lod=lod,
        crs=crs_list,
        crs_sources=crs_sources,
        building_crs=np.concatenate([part.crs for part in kept]) if kept else np.zeros(0, np.int64),
        ids=pa.array([i for part in kept for i in part.ids], type=pa.string()),
        attributes=_with_labels(_unify([part.attributes for part in kept]), lod),
        empty_sources=sorted(source for source, has in sources_seen.items() if not has),
    )


@dataclass
class _Kept:
    """The buildings kept of one chunk: polygons of their chosen LoD, their LoD and CRS, ids, attributes."""

    polygons: Rings
    polygon_class: npt.NDArray[np.uint8]
    lod: npt.NDArray[np.int64]
    crs: npt.NDArray[np.int64]
    ids: list[str]
    attributes: pa.Table

    @staticmethod
    def of(
        chunk: CityChunk, table: pa.Table, rows: npt.NDArray[np.int64], lods: npt.NDArray[np.int64], crs: int
    ) -> _Kept:
        """Buildings `rows` of a chunk whose polygons are already those of the chosen LoD (`lods[row]`)."""
        attributes = take_rows(table, pa.array(rows))
        source_file = pa.array([_file_name(chunk.source)] * len(rows), type=pa.string())
        if "source_file" in attributes.column_names:
            attributes = attributes.drop_columns(["source_file"])
        return _Kept(
            polygons=chunk.polygons.take(rows),
            polygon_class=chunk.polygon_class[chunk.polygons.polygon_index(rows)],
            lod=np.take(lods, rows),
            crs=np.full(len(rows), crs, dtype=np.int64),
            ids=[chunk.ids[i] for i in rows.tolist()],
            attributes=attributes.append_column("source_file", source_file),
        )


def _file_name(source: str) -> str:
    """The file name of an input as `SourceRef.name` gives it ('a/b.gml', or 'a/t.zip:x/b.gml')."""
    return source.rpartition(":")[2].rpartition("/")[2] if ":" in source else os.path.basename(source)


# Code-list attributes that get a German label column next to them.
LABELLED = {"function": function_label, "usage": function_label, "roof_type": roof_type_label}


def _with_labels(table: pa.Table, lod: npt.NDArray[np.int64]) -> pa.Table:
    """The attributes with a German label beside each coded value, the LoD, and no code-space columns.

    The code space (which code list a CityGML value is from) chooses the label and is not kept: it is
    bookkeeping of the source, not an attribute of the building.
    """
    for name, labeller in LABELLED.items():
        if name not in table.column_names:
            continue
        codes = table.column(name).cast(pa.string()).to_pylist()
        space_name = f"{name}_code_space"
        spaces = (
            table.column(space_name).to_pylist() if space_name in table.column_names else [None] * len(codes)
        )
        known: dict[tuple[str, str | None], str | None] = {}
        labels: list[str | None] = []
        for code, space in zip(codes, spaces, strict=True):
            if code is None:
                labels.append(None)
                continue
            if (code, space) not in known:
                known[(code, space)] = labeller(code, space)
            labels.append(known[(code, space)])
        position = table.column_names.index(name) + 1
        table = table.add_column(position, f"{name}_label", pa.array(labels, type=pa.string()))
    table = table.drop_columns([c for c in table.column_names if c.endswith("_code_space")])
    return table.append_column("lod", pa.array([lod_text(code) for code in lod.tolist()], type=pa.string()))
