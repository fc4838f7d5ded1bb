"""Independent checks for the 3D Tiles that twin writes, following the specifications, not the writer.

Written against OGC 3D Tiles 1.1 (and 1.0 tilesets with b3dm content), glTF 2.0, KHR_mesh_quantization,
EXT_mesh_features and EXT_structural_metadata (with the 3D Metadata Specification's binary table format).
Nothing here imports twin: the GLB container, accessors, property tables and tileset hierarchy are read with
struct and numpy only, so a bug in the writer cannot hide behind the same bug in the reader.

Public API (tests import this module as ``import tilecheck``):

- ``run_gltf_validator`` / ``assert_gltf_valid``: the real Khronos glTF-Validator (npm ``gltf-validator``).
- ``read_glb`` -> ``Glb``: GLB / b3dm / .gltf reader, transparently gunzipping files compressed on disk.
- ``check_structural_metadata`` / ``read_property_table``: EXT_mesh_features + EXT_structural_metadata.
- ``tile_positions_ecef`` / ``glb_positions_world`` / ``scene_positions``: vertex positions as CesiumJS
  places them (node transforms, glTF y-up to 3D Tiles z-up, RTC, tile transforms).
- ``check_tileset`` / ``iter_contents``: tileset structure, bounding volumes, content files and geometry.

Every check raises AssertionError with a message saying where (file, JSON path) and what is wrong.
"""

from __future__ import annotations

import base64
import gzip
import json
import math
import re
import shutil
import struct
import subprocess
from collections.abc import Collection, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TypeGuard
from urllib.parse import unquote, urlparse

import numpy as np
import numpy.typing as npt

JsonDict = dict[str, Any]
FloatArray = npt.NDArray[np.float64]

REPO_ROOT = Path(__file__).resolve().parents[1]
VALIDATOR_SCRIPT = Path(__file__).resolve().parent / "js" / "validate_gltf.mjs"
VALIDATOR_PACKAGE = REPO_ROOT / "node_modules" / "gltf-validator"

# Issue codes that gltf-validator reports for the 3D Tiles glTF extensions it does not know: info-level
# UNSUPPORTED_EXTENSION for EXT_mesh_features / EXT_structural_metadata, and UNUSED_OBJECT for the buffer
# views that only property tables reference. They are expected and never make a tile invalid.
EXPECTED_UNKNOWN_EXTENSION_CODES: frozenset[str] = frozenset({"UNSUPPORTED_EXTENSION", "UNUSED_OBJECT"})

# ---------------------------------------------------------------------------------------------------------
# Errors
# ---------------------------------------------------------------------------------------------------------


class TileFormatError(ValueError):
    """A file is not a well-formed GLB / b3dm / glTF / tileset container (bad header, lengths, chunks)."""


class GltfValidatorUnavailable(RuntimeError):
    """Node.js or the npm package gltf-validator is not installed where tilecheck looks for it."""


def _fail(where: str, message: str) -> AssertionError:
    return AssertionError(f"{where}: {message}" if where else message)


# ---------------------------------------------------------------------------------------------------------
# 1. Khronos glTF-Validator
# ---------------------------------------------------------------------------------------------------------


def run_gltf_validator(
    paths: Iterable[Path | str], *, max_issues: int = 0, timeout: float = 600.0
) -> dict[Path, dict[str, Any]]:
    """Validate glTF/GLB files (also gzipped or inside b3dm) with the Khronos glTF-Validator, in one process.

    Returns, per input path (as given), the validator's issue summary: ``numErrors``, ``numWarnings``,
    ``numInfos``, ``numHints``, ``messages`` (each with ``code``, ``message``, ``severity`` 0=error
    1=warning 2=info 3=hint, ``pointer``), ``truncated``, plus ``info`` and ``validatorVersion``.
    ``max_issues`` 0 means unlimited. A file that cannot be read or parsed at all gets one error with code
    ``VALIDATOR_EXCEPTION``.
    """
    given = [Path(p) for p in paths]
    if not given:
        return {}
    node = shutil.which("node")
    if node is None:
        raise GltfValidatorUnavailable("Node.js (`node`) is not on PATH; gltf-validator needs Node 20+")
    if not (VALIDATOR_PACKAGE / "package.json").is_file():
        raise GltfValidatorUnavailable(
            f"npm package gltf-validator is missing ({VALIDATOR_PACKAGE}): run `npm ci` in {REPO_ROOT}"
        )
    absolute = [str(p.resolve()) for p in given]
    request = {"files": sorted(set(absolute)), "maxIssues": max_issues}
    proc = subprocess.run(
        [node, str(VALIDATOR_SCRIPT)],
        input=json.dumps(request),
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=REPO_ROOT,
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"gltf-validator run failed (exit {proc.returncode}): {proc.stderr.strip()}")
    result = json.loads(proc.stdout)
    reports: dict[Path, dict[str, Any]] = {}
    for original, key in zip(given, absolute, strict=True):
        report = result["reports"][key]
        summary = dict(report["issues"])
        summary["info"] = report.get("info", {})
        summary["validatorVersion"] = report.get("validatorVersion", result["validatorVersion"])
        reports[original] = summary
    return reports


def assert_gltf_valid(
    paths: Iterable[Path | str], *, allow_warnings: bool = True, ignore_codes: Collection[str] = ()
) -> None:
    """Raise AssertionError listing file, issue code, JSON pointer and message if any file has errors.

    Warnings pass by default; with ``allow_warnings=False`` they fail too, except the codes the validator
    emits for extensions it does not know (EXPECTED_UNKNOWN_EXTENSION_CODES) and those in ``ignore_codes``.
    Infos and hints never fail.
    """
    ignored = set(ignore_codes)
    problems: list[str] = []
    for path, report in run_gltf_validator(paths).items():
        bad = []
        for msg in report["messages"]:
            if msg["code"] in ignored:
                continue
            if msg["severity"] == 0 or (
                msg["severity"] == 1
                and not allow_warnings
                and msg["code"] not in EXPECTED_UNKNOWN_EXTENSION_CODES
            ):
                bad.append(msg)
        if bad or (report["numErrors"] and report["truncated"]):
            lines = [
                f"  {'ERROR' if m['severity'] == 0 else 'WARNING'} {m['code']} at {m.get('pointer', '')}: "
                f"{m['message']}"
                for m in bad[:25]
            ]
            if len(bad) > 25:
                lines.append(f"  ... and {len(bad) - 25} more")
            problems.append(f"{path}: {report['numErrors']} error(s), {report['numWarnings']} warning(s)")
            problems.extend(lines)
    if problems:
        raise AssertionError("gltf-validator found problems:\n" + "\n".join(problems))


# ---------------------------------------------------------------------------------------------------------
# 2. GLB / b3dm / glTF reader
# ---------------------------------------------------------------------------------------------------------

GLB_MAGIC = b"glTF"
CHUNK_JSON = 0x4E4F534A
CHUNK_BIN = 0x004E4942

# glTF accessor componentType -> little-endian numpy dtype
GLTF_COMPONENT_DTYPES: dict[int, str] = {
    5120: "<i1",  # BYTE
    5121: "<u1",  # UNSIGNED_BYTE
    5122: "<i2",  # SHORT
    5123: "<u2",  # UNSIGNED_SHORT
    5125: "<u4",  # UNSIGNED_INT
    5126: "<f4",  # FLOAT
}
GLTF_TYPE_COMPONENTS: dict[str, int] = {
    "SCALAR": 1,
    "VEC2": 2,
    "VEC3": 3,
    "VEC4": 4,
    "MAT2": 4,
    "MAT3": 9,
    "MAT4": 16,
}


def _maybe_gunzip(data: bytes) -> bytes:
    if data[:2] == b"\x1f\x8b":
        return gzip.decompress(data)
    return data


def _align(n: int, to: int) -> int:
    return (n + to - 1) // to * to


@dataclass
class Glb:
    """A parsed glTF asset: its JSON, resolved buffers, and container facts needed by the checks.

    ``bin`` is the GLB BIN chunk payload (None for .gltf or a GLB without BIN chunk); ``buffers[i]`` are the
    bytes of ``gltf["buffers"][i]`` (the BIN chunk, a data: URI, or an external file). For b3dm containers,
    ``feature_table`` / ``batch_table`` hold the JSON headers and ``rtc_center`` the RTC_CENTER (tile
    frame, metres) if present. Chunk lengths are those of the GLB (None for .gltf).
    """

    gltf: JsonDict
    buffers: list[bytes]
    bin: bytes | None = None
    path: Path | None = None
    container: Literal["glb", "gltf", "b3dm"] = "glb"
    json_chunk_length: int | None = None
    bin_chunk_length: int | None = None
    feature_table: JsonDict = field(default_factory=dict)
    batch_table: JsonDict = field(default_factory=dict)
    rtc_center: FloatArray | None = None

    @property
    def name(self) -> str:
        """The file path for messages, or '<bytes>' for an in-memory asset."""
        return str(self.path) if self.path is not None else "<bytes>"

    def item(self, kind: str, index: int) -> JsonDict:
        """Return ``gltf[kind][index]``, raising TileFormatError if it does not exist."""
        items = self.gltf.get(kind, [])
        if not isinstance(index, int) or isinstance(index, bool) or not 0 <= index < len(items):
            raise TileFormatError(f"{self.name}: {kind}[{index}] does not exist ({len(items)} defined)")
        entry = items[index]
        if not isinstance(entry, dict):
            raise TileFormatError(f"{self.name}: {kind}[{index}] is not an object")
        return entry

    def buffer_view_range(self, index: int) -> tuple[int, int, int]:
        """Return (buffer index, byteOffset, byteLength) of a buffer view, checked against its buffer."""
        view = self.item("bufferViews", index)
        buffer_index = view.get("buffer")
        if not _is_int(buffer_index):
            raise TileFormatError(
                f"{self.name}: bufferViews[{index}].buffer {buffer_index!r} is not an index"
            )
        buffer = self.item("buffers", buffer_index)
        offset = view.get("byteOffset", 0)
        length = view.get("byteLength")
        if not isinstance(offset, int) or offset < 0 or not isinstance(length, int) or length < 1:
            raise TileFormatError(f"{self.name}: bufferViews[{index}] has invalid byteOffset/byteLength")
        declared = buffer.get("byteLength")
        actual = len(self.buffers[buffer_index])
        end = offset + length
        if not isinstance(declared, int) or end > declared or end > actual:
            raise TileFormatError(
                f"{self.name}: bufferViews[{index}] ends at byte {end}, beyond buffers[{buffer_index}] "
                f"(byteLength {declared}, {actual} bytes present)"
            )
        return buffer_index, offset, length

    def buffer_view_bytes(self, index: int) -> memoryview:
        """Return the bytes of a buffer view (range-checked); EXT_meshopt_compression views are decoded."""
        view = self.item("bufferViews", index)
        compressed = view.get("extensions", {}).get("EXT_meshopt_compression")
        if compressed is not None:
            return memoryview(self._meshopt_view(index, view, compressed))
        buffer_index, offset, length = self.buffer_view_range(index)
        return memoryview(self.buffers[buffer_index])[offset : offset + length]

    def _meshopt_view(self, index: int, view: JsonDict, ext: JsonDict) -> bytes:
        """Decode an EXT_meshopt_compression bufferView with meshoptimizer's reference decoder."""
        import meshopt

        source = self.buffers[ext["buffer"]][
            ext.get("byteOffset", 0) : ext.get("byteOffset", 0) + ext["byteLength"]
        ]
        if len(source) != ext["byteLength"]:
            raise TileFormatError(f"{self.name}: bufferViews[{index}] meshopt data runs past its buffer")
        decoded = meshopt.decode_gltf_buffer(
            bytes(source), ext["count"], ext["byteStride"], ext.get("mode", "ATTRIBUTES"), ext.get("filter")
        )
        data = np.ascontiguousarray(decoded).tobytes()
        if len(data) != view["byteLength"]:
            raise TileFormatError(
                f"{self.name}: bufferViews[{index}] decodes to {len(data)} bytes, byteLength is {view['byteLength']}"
            )
        return data

    def accessor(self, index: int) -> npt.NDArray[Any]:
        """Read an accessor to numpy: shape (count,) for SCALAR, (count, n) for VECn, (count, n, n) MATn.

        Integer components keep their dtype unless ``normalized``, which maps them to float64 by the glTF
        rules (signed: max(c / (2^(b-1) - 1), -1); unsigned: c / (2^b - 1)). Honours byteStride and the
        4-byte column alignment of matrices; an accessor without bufferView reads as zeros.
        """
        acc = self.item("accessors", index)
        if "sparse" in acc:
            raise NotImplementedError(
                f"{self.name}: accessors[{index}] is sparse; tilecheck does not read those"
            )
        component_type = acc.get("componentType")
        acc_type = acc.get("type")
        count = acc.get("count")
        if component_type not in GLTF_COMPONENT_DTYPES or acc_type not in GLTF_TYPE_COMPONENTS:
            raise TileFormatError(
                f"{self.name}: accessors[{index}] has invalid componentType {component_type!r} "
                f"or type {acc_type!r}"
            )
        if not isinstance(count, int) or count < 1:
            raise TileFormatError(
                f"{self.name}: accessors[{index}].count {count!r} is not a positive integer"
            )
        dtype = np.dtype(GLTF_COMPONENT_DTYPES[component_type])
        size = dtype.itemsize
        # Matrix columns start on 4-byte boundaries (glTF 2.0, 3.6.2.4): MAT2/MAT3 of 1- or 2-byte
        # components carry padding after each column.
        columns = int(acc_type[3]) if acc_type.startswith("MAT") else 1
        column_values = GLTF_TYPE_COMPONENTS[acc_type] // columns
        column_bytes = _align(column_values * size, 4) if columns > 1 else column_values * size
        element_bytes = columns * column_bytes

        if "bufferView" not in acc:
            flat = np.zeros((count, GLTF_TYPE_COMPONENTS[acc_type]), dtype=dtype)
        else:
            view_index = acc["bufferView"]
            data = self.buffer_view_bytes(view_index)
            stride = self.item("bufferViews", view_index).get("byteStride") or element_bytes
            offset = acc.get("byteOffset", 0)
            if not isinstance(offset, int) or offset < 0:
                raise TileFormatError(f"{self.name}: accessors[{index}].byteOffset {offset!r} is invalid")
            if stride < element_bytes:
                raise TileFormatError(
                    f"{self.name}: accessors[{index}] element is {element_bytes} bytes, "
                    f"byteStride only {stride}"
                )
            needed = offset + stride * (count - 1) + element_bytes
            if needed > len(data):
                raise TileFormatError(
                    f"{self.name}: accessors[{index}] needs {needed} bytes of bufferViews[{view_index}], "
                    f"which has {len(data)}"
                )
            rows = np.ndarray(
                shape=(count, columns, column_bytes),
                dtype=np.uint8,
                buffer=data,
                offset=offset,
                strides=(stride, column_bytes, 1),
            )
            packed = np.ascontiguousarray(rows[:, :, : column_values * size])
            flat = packed.view(dtype).reshape(count, -1)

        values: npt.NDArray[Any] = flat
        if acc.get("normalized", False):
            if dtype.kind == "f" or dtype.itemsize == 4:
                raise TileFormatError(
                    f"{self.name}: accessors[{index}] is normalized but componentType {component_type} is "
                    "FLOAT or UNSIGNED_INT"
                )
            bits = dtype.itemsize * 8
            if dtype.kind == "i":
                values = np.maximum(flat.astype(np.float64) / (2 ** (bits - 1) - 1), -1.0)
            else:
                values = flat.astype(np.float64) / (2**bits - 1)
        if acc_type == "SCALAR":
            return values.reshape(count)
        if acc_type.startswith("MAT"):
            # Stored column-major: element [col][row]; return [row][col].
            return values.reshape(count, columns, columns).transpose(0, 2, 1)
        return values.reshape(count, GLTF_TYPE_COMPONENTS[acc_type])


def _parse_glb_bytes(data: bytes, name: str) -> tuple[JsonDict, bytes | None, int, int | None]:
    if len(data) < 20 or data[:4] != GLB_MAGIC:
        raise TileFormatError(f"{name}: not a GLB (magic {data[:4]!r})")
    version, length = struct.unpack_from("<II", data, 4)
    if version != 2:
        raise TileFormatError(f"{name}: GLB version {version}, expected 2")
    if length != len(data):
        raise TileFormatError(f"{name}: GLB header length {length} but the GLB has {len(data)} bytes")
    offset = 12
    chunks: list[tuple[int, bytes, int]] = []
    while offset < length:
        if offset + 8 > length:
            raise TileFormatError(f"{name}: truncated GLB chunk header at byte {offset}")
        chunk_length, chunk_type = struct.unpack_from("<II", data, offset)
        if offset + 8 + chunk_length > length:
            raise TileFormatError(f"{name}: GLB chunk at byte {offset} runs past the end of the file")
        if chunk_length % 4:
            raise TileFormatError(
                f"{name}: GLB chunk at byte {offset} has length {chunk_length}, not 4-aligned"
            )
        chunks.append((chunk_type, data[offset + 8 : offset + 8 + chunk_length], chunk_length))
        offset += 8 + chunk_length
    if not chunks or chunks[0][0] != CHUNK_JSON:
        raise TileFormatError(f"{name}: the first GLB chunk is not JSON")
    try:
        gltf = json.loads(chunks[0][1].decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise TileFormatError(f"{name}: GLB JSON chunk does not parse: {exc}") from exc
    if not isinstance(gltf, dict):
        raise TileFormatError(f"{name}: GLB JSON chunk is not an object")
    bin_chunk: bytes | None = None
    bin_length: int | None = None
    for position, (chunk_type, payload, chunk_length) in enumerate(chunks[1:], start=1):
        if chunk_type == CHUNK_BIN:
            if position != 1 or bin_chunk is not None:
                raise TileFormatError(f"{name}: the BIN chunk must be the second chunk, and only one")
            bin_chunk, bin_length = payload, chunk_length
        elif chunk_type == CHUNK_JSON:
            raise TileFormatError(f"{name}: more than one JSON chunk")
    return gltf, bin_chunk, chunks[0][2], bin_length


def _resolve_buffers(
    gltf: JsonDict, bin_chunk: bytes | None, base_dir: Path | None, name: str
) -> list[bytes]:
    buffers: list[bytes] = []
    for i, buffer in enumerate(gltf.get("buffers", [])):
        uri = buffer.get("uri")
        if buffer.get("extensions", {}).get("EXT_meshopt_compression", {}).get("fallback"):
            # A fallback buffer holds no data: its views are read through EXT_meshopt_compression.
            if uri is not None:
                raise TileFormatError(f"{name}: buffers[{i}] is a meshopt fallback buffer with a uri")
            buffers.append(b"")
            continue
        if uri is None:
            if i != 0 or bin_chunk is None:
                raise TileFormatError(f"{name}: buffers[{i}] has no uri and there is no GLB BIN chunk for it")
            data = bin_chunk
        elif uri.startswith("data:"):
            header, _, payload = uri.partition(",")
            if not header.endswith(";base64"):
                raise TileFormatError(f"{name}: buffers[{i}] data URI is not base64")
            data = base64.b64decode(payload)
        else:
            if base_dir is None:
                raise TileFormatError(
                    f"{name}: buffers[{i}] refers to external file {uri!r} but no path is known"
                )
            data = (base_dir / unquote(uri)).read_bytes()
        declared = buffer.get("byteLength")
        if not isinstance(declared, int) or declared < 1 or declared > len(data):
            raise TileFormatError(
                f"{name}: buffers[{i}].byteLength {declared!r} does not fit the {len(data)} bytes present"
            )
        buffers.append(data)
    return buffers


def decompress_meshopt(glb: Glb) -> bytes:
    """A plain GLB of the same asset with every EXT_meshopt_compression bufferView decoded.

    Lets the Khronos validator check the accessor data itself (index ranges, unit normals, min/max), which
    it cannot do through a compression extension it does not know.
    """
    gltf = json.loads(json.dumps(glb.gltf))
    views = gltf.get("bufferViews", [])
    parts: list[bytes] = []
    length = 0
    for index, view in enumerate(views):
        data = bytes(glb.buffer_view_bytes(index))
        pad = (-length) % 8
        parts.append(b"\0" * pad)
        length += pad
        view["buffer"] = 0
        view["byteOffset"] = length
        view["byteLength"] = len(data)
        view.pop("extensions", None)
        parts.append(data)
        length += len(data)
    parts.append(b"\0" * ((-length) % 8))
    blob = b"".join(parts)
    gltf["buffers"] = [{"byteLength": len(blob)}]
    for key in ("extensionsUsed", "extensionsRequired"):
        if key in gltf:
            gltf[key] = [e for e in gltf[key] if e != "EXT_meshopt_compression"]
            if not gltf[key]:
                del gltf[key]
    text = json.dumps(gltf, separators=(",", ":")).encode()
    text += b" " * ((-len(text)) % 8)
    total = 12 + 8 + len(text) + 8 + len(blob)
    return b"".join(
        [
            struct.pack("<III", 0x46546C67, 2, total),
            struct.pack("<II", len(text), 0x4E4F534A),
            text,
            struct.pack("<II", len(blob), 0x004E4942),
            blob,
        ]
    )


def read_glb(source: Path | str | bytes, *, base_dir: Path | None = None) -> Glb:
    """Parse a GLB, a b3dm (its embedded GLB), or a .gltf JSON file; gzip on disk is undone first.

    ``source`` is a path or the file's bytes; ``base_dir`` resolves external buffer URIs for bytes input.
    Raises TileFormatError for a malformed container (magic, version, lengths, chunk layout, buffers).
    """
    path: Path | None = None
    if isinstance(source, bytes):
        raw = source
    else:
        path = Path(source)
        raw = path.read_bytes()
        base_dir = base_dir or path.parent
    name = str(path) if path is not None else "<bytes>"
    data = _maybe_gunzip(raw)

    if data[:4] == b"b3dm":
        if len(data) < 28:
            raise TileFormatError(f"{name}: b3dm shorter than its 28-byte header")
        version, length, ft_json, ft_bin, bt_json, bt_bin = struct.unpack_from("<6I", data, 4)
        if version != 1:
            raise TileFormatError(f"{name}: b3dm version {version}, expected 1")
        if length != len(data):
            raise TileFormatError(
                f"{name}: b3dm header byteLength {length} but the file has {len(data)} bytes"
            )
        glb_start = 28 + ft_json + ft_bin + bt_json + bt_bin
        if glb_start > length:
            raise TileFormatError(f"{name}: b3dm feature/batch table lengths run past the end of the file")
        try:
            feature_table = json.loads(data[28 : 28 + ft_json]) if ft_json else {}
            bt_start = 28 + ft_json + ft_bin
            batch_table = json.loads(data[bt_start : bt_start + bt_json]) if bt_json else {}
        except json.JSONDecodeError as exc:
            raise TileFormatError(f"{name}: b3dm feature/batch table JSON does not parse: {exc}") from exc
        rtc = feature_table.get("RTC_CENTER")
        rtc_center: FloatArray | None = None
        if isinstance(rtc, list):
            rtc_center = np.asarray(rtc, dtype=np.float64)
        elif isinstance(rtc, dict):
            rtc_center = np.frombuffer(data, "<f4", 3, 28 + ft_json + rtc["byteOffset"]).astype(np.float64)
        gltf, bin_chunk, json_len, bin_len = _parse_glb_bytes(data[glb_start:], name)
        return Glb(
            gltf=gltf,
            buffers=_resolve_buffers(gltf, bin_chunk, base_dir, name),
            bin=bin_chunk,
            path=path,
            container="b3dm",
            json_chunk_length=json_len,
            bin_chunk_length=bin_len,
            feature_table=feature_table,
            batch_table=batch_table,
            rtc_center=rtc_center,
        )
    if data[:4] == GLB_MAGIC:
        gltf, bin_chunk, json_len, bin_len = _parse_glb_bytes(data, name)
        return Glb(
            gltf=gltf,
            buffers=_resolve_buffers(gltf, bin_chunk, base_dir, name),
            bin=bin_chunk,
            path=path,
            container="glb",
            json_chunk_length=json_len,
            bin_chunk_length=bin_len,
        )
    if data.lstrip()[:1] == b"{":
        try:
            gltf = json.loads(data.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise TileFormatError(f"{name}: glTF JSON does not parse: {exc}") from exc
        return Glb(
            gltf=gltf, buffers=_resolve_buffers(gltf, None, base_dir, name), path=path, container="gltf"
        )
    raise TileFormatError(f"{name}: neither GLB, b3dm nor glTF JSON (starts with {data[:4]!r})")


# ---------------------------------------------------------------------------------------------------------
# 3. EXT_mesh_features + EXT_structural_metadata
# ---------------------------------------------------------------------------------------------------------

META_COMPONENT_DTYPES: dict[str, str] = {
    "INT8": "<i1",
    "UINT8": "<u1",
    "INT16": "<i2",
    "UINT16": "<u2",
    "INT32": "<i4",
    "UINT32": "<u4",
    "INT64": "<i8",
    "UINT64": "<u8",
    "FLOAT32": "<f4",
    "FLOAT64": "<f8",
}
META_TYPE_COMPONENTS: dict[str, int] = {
    "SCALAR": 1,
    "VEC2": 2,
    "VEC3": 3,
    "VEC4": 4,
    "MAT2": 4,
    "MAT3": 9,
    "MAT4": 16,
    "STRING": 1,
    "BOOLEAN": 1,
    "ENUM": 1,
}
NUMERIC_TYPES = frozenset({"SCALAR", "VEC2", "VEC3", "VEC4", "MAT2", "MAT3", "MAT4"})
OFFSET_TYPES: dict[str, str] = {"UINT8": "<u1", "UINT16": "<u2", "UINT32": "<u4", "UINT64": "<u8"}
FEATURE_ID_COMPONENT_TYPES = frozenset({5121, 5123, 5126})  # UNSIGNED_BYTE, UNSIGNED_SHORT, FLOAT
IDENTIFIER = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")


def _is_int(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: object) -> TypeGuard[float]:
    return (isinstance(value, int | float) and not isinstance(value, bool)) and math.isfinite(value)


def _int_range(component_type: str) -> tuple[int, int]:
    info = np.iinfo(np.dtype(META_COMPONENT_DTYPES[component_type]))
    return int(info.min), int(info.max)


def _check_value_shape(
    value: Any, prop: JsonDict, enums: JsonDict, where: str, *, what: str, floats: bool = False
) -> None:
    """Check a JSON value (noData, default, offset...) has the structure and type of the property's values.

    ``floats`` accepts any finite number as component (for values given after normalization: offset,
    scale, min, max, default); otherwise integer component types need integers in their range.
    """
    ptype = prop["type"]
    is_array = prop.get("array", False)
    fixed = prop.get("count") if is_array else None

    def element(v: Any, at: str) -> None:
        if ptype == "STRING":
            if not isinstance(v, str):
                raise _fail(where, f"{what}{at} must be a string for a STRING property, got {v!r}")
        elif ptype == "ENUM":
            names = {e.get("name") for e in enums.get(prop.get("enumType", ""), {}).get("values", [])}
            if not isinstance(v, str) or v not in names:
                raise _fail(where, f"{what}{at} must be a name of enum {prop.get('enumType')!r}, got {v!r}")
        elif ptype == "BOOLEAN":
            if not isinstance(v, bool):
                raise _fail(where, f"{what}{at} must be a boolean, got {v!r}")
        else:
            n = META_TYPE_COMPONENTS[ptype]
            comps = [v] if ptype == "SCALAR" else v
            if not isinstance(comps, list) or len(comps) != n:
                raise _fail(
                    where, f"{what}{at} must be {'a number' if n == 1 else f'{n} numbers'}, got {v!r}"
                )
            component_type = prop["componentType"]
            for c in comps:
                if component_type.startswith("FLOAT") or floats:
                    if not _is_number(c):
                        raise _fail(where, f"{what}{at} component {c!r} is not a finite number")
                else:
                    low, high = _int_range(component_type)
                    if not _is_int(c) or not low <= c <= high:
                        raise _fail(where, f"{what}{at} component {c!r} is not a {component_type} integer")

    if is_array:
        if not isinstance(value, list):
            raise _fail(where, f"{what} must be an array for an array property, got {value!r}")
        if fixed is not None and len(value) != fixed:
            raise _fail(where, f"{what} must have {fixed} elements, has {len(value)}")
        for i, v in enumerate(value):
            element(v, f"[{i}]")
    else:
        element(value, "")


def _check_schema(schema: JsonDict, where: str, *, require_schema_id: bool) -> None:
    if not isinstance(schema, dict):
        raise _fail(where, "schema is not an object")
    if require_schema_id and not (isinstance(schema.get("id"), str) and schema["id"]):
        raise _fail(where, "schema.id is required (a non-empty string)")
    enums = schema.get("enums", {})
    if not isinstance(enums, dict):
        raise _fail(where, "schema.enums is not an object")
    for enum_id, enum in enums.items():
        at = f"{where} schema.enums.{enum_id}"
        if not IDENTIFIER.match(enum_id):
            raise _fail(at, "enum ID must match ^[a-zA-Z_][a-zA-Z0-9_]*$")
        value_type = enum.get("valueType", "UINT16")
        if value_type not in META_COMPONENT_DTYPES or value_type.startswith("FLOAT"):
            raise _fail(at, f"valueType {value_type!r} is not an integer component type")
        values = enum.get("values")
        if not isinstance(values, list) or not values:
            raise _fail(at, "values must be a non-empty array")
        low, high = _int_range(value_type)
        names = [v.get("name") for v in values]
        numbers = [v.get("value") for v in values]
        if not all(isinstance(n, str) and n for n in names) or len(set(names)) != len(names):
            raise _fail(at, f"enum value names must be unique non-empty strings: {names}")
        if not all(_is_int(n) and low <= n <= high for n in numbers) or len(set(numbers)) != len(numbers):
            raise _fail(at, f"enum values must be unique {value_type} integers: {numbers}")
    classes = schema.get("classes", {})
    if not isinstance(classes, dict):
        raise _fail(where, "schema.classes is not an object")
    for class_id, cls in classes.items():
        if not IDENTIFIER.match(class_id):
            raise _fail(
                f"{where} schema.classes", f"class ID {class_id!r} must match ^[a-zA-Z_][a-zA-Z0-9_]*$"
            )
        properties = cls.get("properties", {})
        if not isinstance(properties, dict):
            raise _fail(f"{where} schema.classes.{class_id}", "properties is not an object")
        for prop_id, prop in properties.items():
            _check_class_property(
                prop_id, prop, enums, f"{where} schema.classes.{class_id}.properties.{prop_id}"
            )


def _check_class_property(prop_id: str, prop: JsonDict, enums: JsonDict, at: str) -> None:
    if not IDENTIFIER.match(prop_id):
        raise _fail(at, "property ID must match ^[a-zA-Z_][a-zA-Z0-9_]*$")
    ptype = prop.get("type")
    if ptype not in META_TYPE_COMPONENTS:
        raise _fail(at, f"type {ptype!r} is not one of {sorted(META_TYPE_COMPONENTS)}")
    component_type = prop.get("componentType")
    if ptype in NUMERIC_TYPES:
        if component_type not in META_COMPONENT_DTYPES:
            raise _fail(at, f"componentType {component_type!r} is not one of {sorted(META_COMPONENT_DTYPES)}")
    elif component_type is not None:
        raise _fail(at, f"componentType is only for SCALAR/VECN/MATN, not {ptype}")
    if ptype == "ENUM":
        if prop.get("enumType") not in enums:
            raise _fail(at, f"enumType {prop.get('enumType')!r} is not declared in schema.enums")
    elif "enumType" in prop:
        raise _fail(at, "enumType is only for ENUM properties")
    is_array = prop.get("array", False)
    if not isinstance(is_array, bool):
        raise _fail(at, f"array must be a boolean, got {is_array!r}")
    if "count" in prop and (not is_array or not _is_int(prop["count"]) or prop["count"] < 2):
        raise _fail(at, f"count {prop['count']!r} needs array=true and an integer >= 2")
    normalized = prop.get("normalized", False)
    if normalized and (ptype not in NUMERIC_TYPES or str(component_type).startswith("FLOAT")):
        raise _fail(at, "normalized is only for SCALAR/VECN/MATN with an integer componentType")
    for key in ("offset", "scale"):
        if key in prop:
            if ptype not in NUMERIC_TYPES or not (str(component_type).startswith("FLOAT") or normalized):
                raise _fail(at, f"{key} is only for FLOAT32/FLOAT64 or normalized numeric properties")
            if is_array and "count" not in prop:
                raise _fail(at, f"{key} is not allowed on variable-length arrays")
            _check_value_shape(prop[key], prop, enums, at, what=key, floats=True)
    for key in ("min", "max"):
        if key in prop:
            if ptype not in NUMERIC_TYPES or (is_array and "count" not in prop):
                raise _fail(at, f"{key} is only for SCALAR/VECN/MATN and fixed-length arrays of them")
            _check_value_shape(prop[key], prop, enums, at, what=key, floats=True)
    if "required" in prop and not isinstance(prop["required"], bool):
        raise _fail(at, f"required must be a boolean, got {prop['required']!r}")
    if "noData" in prop:
        if ptype == "BOOLEAN":
            raise _fail(at, "BOOLEAN properties may not have a noData value")
        _check_value_shape(prop["noData"], prop, enums, at, what="noData")
    if "default" in prop:
        _check_value_shape(prop["default"], prop, enums, at, what="default", floats=True)


@dataclass
class _Column:
    """The decoded binary storage of one property table property (raw, before normalization)."""

    elements: list[Any]  # one entry per element: str, bool, int, float or list of components
    array_offsets: npt.NDArray[Any] | None  # per-entity element offsets, variable-length arrays only


def _offsets(
    glb: Glb, view: Any, offset_type: str, n: int, where: str, what: str, *, alignment: int | None
) -> npt.NDArray[Any]:
    if offset_type not in OFFSET_TYPES:
        raise _fail(where, f"{what}Type {offset_type!r} is not one of {sorted(OFFSET_TYPES)}")
    dtype = np.dtype(OFFSET_TYPES[offset_type])
    data = _view_bytes(glb, view, dtype.itemsize, where, what, alignment=alignment)
    if n * dtype.itemsize > len(data):
        raise _fail(
            where,
            f"{what} bufferView {view} has {len(data)} bytes, "
            f"needs {n} x {offset_type} = {n * dtype.itemsize}",
        )
    offsets = np.frombuffer(data, dtype, n).astype(np.int64)
    if offsets[0] != 0:
        raise _fail(where, f"{what} must start at 0, starts at {offsets[0]}")
    if np.any(np.diff(offsets) < 0):
        bad = int(np.argmax(np.diff(offsets) < 0))
        raise _fail(where, f"{what} decrease at entry {bad + 1} ({offsets[bad]} -> {offsets[bad + 1]})")
    return offsets


def _view_bytes(
    glb: Glb, view: Any, component_size: int, where: str, what: str, *, alignment: int | None
) -> bytes:
    try:
        buffer_index, offset, length = glb.buffer_view_range(view)
    except TileFormatError as exc:
        raise _fail(where, f"{what}: {exc}") from exc
    if offset % component_size:
        raise _fail(
            where,
            f"{what} bufferView {view} byteOffset {offset} is not a multiple of its "
            f"component size {component_size}",
        )
    if alignment and offset % alignment:
        raise _fail(
            where,
            f"{what} bufferView {view} starts at byte {offset} of buffer {buffer_index}, "
            f"not {alignment}-byte aligned",
        )
    return bytes(glb.buffers[buffer_index][offset : offset + length])


def _read_column(
    glb: Glb,
    prop: JsonDict,
    table_prop: JsonDict,
    count: int,
    enums: JsonDict,
    where: str,
    *,
    alignment: int | None,
) -> _Column:
    ptype = prop["type"]
    is_array = prop.get("array", False)
    fixed = prop.get("count") if is_array else None
    variable = is_array and fixed is None
    if "values" not in table_prop:
        raise _fail(where, "values (bufferView index) is required")
    if variable and "arrayOffsets" not in table_prop:
        raise _fail(where, "arrayOffsets is required for a variable-length array property")
    if not variable and "arrayOffsets" in table_prop:
        raise _fail(where, "arrayOffsets given for a property that is not a variable-length array")
    if ptype == "STRING" and "stringOffsets" not in table_prop:
        raise _fail(where, "stringOffsets is required for a STRING property")
    if ptype != "STRING" and "stringOffsets" in table_prop:
        raise _fail(where, "stringOffsets given for a property that is not a STRING")

    array_offsets: npt.NDArray[Any] | None = None
    if variable:
        array_offsets = _offsets(
            glb,
            table_prop["arrayOffsets"],
            table_prop.get("arrayOffsetType", "UINT32"),
            count + 1,
            where,
            "arrayOffsets",
            alignment=alignment,
        )
        n_elements = int(array_offsets[-1])
    else:
        n_elements = count * (fixed or 1)

    if ptype == "STRING":
        values = _view_bytes(glb, table_prop["values"], 1, where, "values", alignment=alignment)
        string_offsets = _offsets(
            glb,
            table_prop["stringOffsets"],
            table_prop.get("stringOffsetType", "UINT32"),
            n_elements + 1,
            where,
            "stringOffsets",
            alignment=alignment,
        )
        if string_offsets[-1] > len(values):
            raise _fail(
                where,
                f"stringOffsets end at byte {string_offsets[-1]}, "
                f"beyond the {len(values)}-byte values bufferView",
            )
        strings: list[Any] = []
        for i in range(n_elements):
            chunk = values[string_offsets[i] : string_offsets[i + 1]]
            try:
                strings.append(chunk.decode("utf-8"))
            except UnicodeDecodeError as exc:
                raise _fail(where, f"string {i} is not valid UTF-8: {exc}") from exc
        return _Column(strings, array_offsets)

    if ptype == "BOOLEAN":
        values = _view_bytes(glb, table_prop["values"], 1, where, "values", alignment=alignment)
        needed = (n_elements + 7) // 8
        if needed > len(values):
            raise _fail(
                where, f"values bufferView has {len(values)} bytes, needs {needed} for {n_elements} bits"
            )
        bits = np.unpackbits(np.frombuffer(values, np.uint8, needed), bitorder="little")
        if bits[n_elements:].any():
            raise _fail(where, "unused bits after the last BOOLEAN value must be 0")
        return _Column([bool(b) for b in bits[:n_elements]], array_offsets)

    component_type = (
        enums[prop["enumType"]].get("valueType", "UINT16") if ptype == "ENUM" else prop["componentType"]
    )
    dtype = np.dtype(META_COMPONENT_DTYPES[component_type])
    n_components = META_TYPE_COMPONENTS[ptype]
    values = _view_bytes(glb, table_prop["values"], dtype.itemsize, where, "values", alignment=alignment)
    needed = n_elements * n_components * dtype.itemsize
    if needed > len(values):
        raise _fail(
            where,
            f"values bufferView has {len(values)} bytes, "
            f"needs {n_elements} x {n_components} x {component_type} = {needed}",
        )
    flat = np.frombuffer(values, dtype, n_elements * n_components)
    if dtype.kind == "f" and not np.all(np.isfinite(flat)):
        raise _fail(
            where, f"values contain NaN or infinity (first at component {int(np.argmin(np.isfinite(flat)))})"
        )
    if ptype == "ENUM":
        allowed = {e["value"] for e in enums[prop["enumType"]]["values"]}
        unknown = sorted(set(flat.tolist()) - allowed)
        if unknown:
            raise _fail(where, f"enum values {unknown[:10]} are not declared in enum {prop['enumType']!r}")
    if ptype == "SCALAR" or ptype == "ENUM":
        return _Column(flat.tolist(), array_offsets)
    return _Column(flat.reshape(n_elements, n_components).tolist(), array_offsets)


def _normalize_and_transform(value: Any, prop: JsonDict, table_prop: JsonDict, component_type: str) -> Any:
    normalized = prop.get("normalized", False)
    offset = table_prop.get("offset", prop.get("offset"))
    scale = table_prop.get("scale", prop.get("scale"))
    if not normalized and offset is None and scale is None:
        return value

    def component(c: Any, off: Any, sca: Any) -> float:
        x = float(c)
        if normalized:
            bits = np.dtype(META_COMPONENT_DTYPES[component_type]).itemsize * 8
            x = (
                max(x / (2 ** (bits - 1) - 1), -1.0)
                if component_type.startswith("INT")
                else x / (2**bits - 1)
            )
        return (0.0 if off is None else float(off)) + (1.0 if sca is None else float(sca)) * x

    def apply(v: Any, off: Any, sca: Any) -> Any:
        if isinstance(v, list):
            return [
                apply(
                    item,
                    off[i] if isinstance(off, list) else off,
                    sca[i] if isinstance(sca, list) else sca,
                )
                for i, item in enumerate(v)
            ]
        return component(v, off, sca)

    return apply(value, offset, scale)


def _enum_names(enums: JsonDict, enum_type: str) -> dict[int, str]:
    return {e["value"]: e["name"] for e in enums[enum_type]["values"]}


def _table_entities(
    glb: Glb, table: JsonDict, schema: JsonDict, where: str, *, alignment: int | None
) -> dict[str, list[Any]]:
    classes = schema.get("classes", {})
    enums = schema.get("enums", {})
    if not isinstance(table, dict):
        raise _fail(where, "property table is not an object")
    class_id = table.get("class")
    if class_id not in classes:
        raise _fail(where, f"class {class_id!r} is not declared in the schema")
    count = table.get("count")
    if not _is_int(count) or count < 1:
        raise _fail(where, f"count {count!r} must be an integer >= 1")
    class_props = classes[class_id].get("properties", {})
    table_props = table.get("properties", {})
    if not isinstance(table_props, dict):
        raise _fail(where, "properties is not an object")
    for prop_id, prop in class_props.items():
        if prop.get("required") and prop_id not in table_props:
            raise _fail(where, f"required property {prop_id!r} of class {class_id!r} is missing")
    result: dict[str, list[Any]] = {}
    for prop_id, table_prop in table_props.items():
        at = f"{where}.properties.{prop_id}"
        if prop_id not in class_props:
            raise _fail(at, f"property is not defined by class {class_id!r}")
        prop = class_props[prop_id]
        column = _read_column(glb, prop, table_prop, count, enums, at, alignment=alignment)
        fixed = prop.get("count") if prop.get("array", False) else None
        entities: list[Any] = []
        for i in range(count):
            if column.array_offsets is not None:
                raw: Any = column.elements[column.array_offsets[i] : column.array_offsets[i + 1]]
            elif fixed:
                raw = column.elements[i * fixed : (i + 1) * fixed]
            else:
                raw = column.elements[i]
            entities.append(raw)
        result[prop_id] = entities
    return result


def _metadata_extension(glb: Glb) -> JsonDict | None:
    ext = glb.gltf.get("extensions", {}).get("EXT_structural_metadata")
    if ext is not None and not isinstance(ext, dict):
        raise _fail(glb.name, "EXT_structural_metadata is not an object")
    return ext


def _schema(glb: Glb, ext: JsonDict) -> JsonDict:
    if "schema" in ext and "schemaUri" in ext:
        raise _fail(glb.name, "EXT_structural_metadata has both schema and schemaUri")
    if "schemaUri" in ext:
        raise NotImplementedError(f"{glb.name}: external schemaUri is not supported by tilecheck")
    if "schema" not in ext:
        raise _fail(glb.name, "EXT_structural_metadata has neither schema nor schemaUri")
    schema: JsonDict = ext["schema"]
    return schema


def check_structural_metadata(
    glb: Glb, *, alignment: int | None = 8, require: bool = True, require_schema_id: bool = True
) -> None:
    """Check EXT_structural_metadata and EXT_mesh_features of a glTF asset; AssertionError says what is wrong.

    Checks: both extensions listed in extensionsUsed, not in extensionsRequired; schema, classes, enums
    and property definitions well formed (types, componentType, enumType, array/count, normalized,
    offset/scale, noData of the property's type; schema.id unless ``require_schema_id=False``); each
    property table's class, count and required properties; every values / arrayOffsets / stringOffsets
    bufferView exists and is long enough, aligned to its component size (spec) and to ``alignment`` bytes
    within its buffer, i.e. the GLB BIN chunk (project rule, default 8; None for the spec only); offsets
    start at 0, never decrease and end inside the values; strings are UTF-8; no NaN/inf float values;
    enum values declared; unused BOOLEAN bits 0; GLB JSON and BIN chunks padded to 8 bytes; for every
    EXT_mesh_features featureId: featureCount >= 1, its propertyTable exists and has count == featureCount,
    ``_FEATURE_ID_n`` accessors are SCALAR UNSIGNED_BYTE/UNSIGNED_SHORT/FLOAT (not normalized, integral) and
    every feature ID is < featureCount or equals nullFeatureId. ``require=False`` accepts an asset without
    EXT_structural_metadata. Feature ID textures and property textures/attributes are not sampled.
    """
    try:
        _check_structural_metadata(glb, alignment, require, require_schema_id)
    except TileFormatError as exc:
        raise AssertionError(str(exc)) from exc


def _check_structural_metadata(
    glb: Glb, alignment: int | None, require: bool, require_schema_id: bool
) -> None:
    name = glb.name
    ext = _metadata_extension(glb)
    used = glb.gltf.get("extensionsUsed", [])
    has_mesh_features = any(
        "EXT_mesh_features" in prim.get("extensions", {})
        for mesh in glb.gltf.get("meshes", [])
        for prim in mesh.get("primitives", [])
    )
    if ext is None:
        if require:
            raise _fail(name, "the asset has no EXT_structural_metadata extension")
        if not has_mesh_features:
            return
    else:
        if "EXT_structural_metadata" not in used:
            raise _fail(name, "EXT_structural_metadata is used but not listed in extensionsUsed")
    if has_mesh_features and "EXT_mesh_features" not in used:
        raise _fail(name, "EXT_mesh_features is used but not listed in extensionsUsed")
    for optional in ("EXT_structural_metadata", "EXT_mesh_features"):
        # Both specs: optional extensions, listed in extensionsUsed but not extensionsRequired (a client
        # without them could still draw the geometry).
        if optional in glb.gltf.get("extensionsRequired", []):
            raise _fail(name, f"{optional} must not be listed in extensionsRequired (it is optional)")

    if glb.container in ("glb", "b3dm"):
        # EXT_structural_metadata, Binary Data Storage: both GLB chunks padded to 8-byte boundaries.
        if glb.json_chunk_length is not None and glb.json_chunk_length % 8:
            raise _fail(name, f"GLB JSON chunk length {glb.json_chunk_length} is not padded to 8 bytes")
        if glb.bin_chunk_length is not None and glb.bin_chunk_length % 8:
            raise _fail(name, f"GLB BIN chunk length {glb.bin_chunk_length} is not padded to 8 bytes")

    tables: list[JsonDict] = []
    if ext is not None:
        schema = _schema(glb, ext)
        _check_schema(schema, f"{name} EXT_structural_metadata", require_schema_id=require_schema_id)
        tables = ext.get("propertyTables", [])
        if not isinstance(tables, list):
            raise _fail(name, "EXT_structural_metadata.propertyTables is not an array")
        for t, table in enumerate(tables):
            _table_entities(
                glb, table, schema, f"{name} EXT_structural_metadata.propertyTables[{t}]", alignment=alignment
            )

    for m, mesh in enumerate(glb.gltf.get("meshes", [])):
        for p, prim in enumerate(mesh.get("primitives", [])):
            features = prim.get("extensions", {}).get("EXT_mesh_features")
            if features is not None:
                _check_mesh_features(glb, prim, features, tables, f"{name} meshes[{m}].primitives[{p}]")
            prim_meta = prim.get("extensions", {}).get("EXT_structural_metadata")
            if prim_meta is not None:
                for kind in ("propertyTextures", "propertyAttributes"):
                    for ref in prim_meta.get(kind, []):
                        if ext is None or not (_is_int(ref) and 0 <= ref < len(ext.get(kind, []))):
                            raise _fail(
                                f"{name} meshes[{m}].primitives[{p}]",
                                f"EXT_structural_metadata.{kind} {ref!r} does not exist",
                            )


def _check_mesh_features(
    glb: Glb, prim: JsonDict, features: JsonDict, tables: list[JsonDict], where: str
) -> None:
    feature_ids = features.get("featureIds")
    if not isinstance(feature_ids, list) or not feature_ids:
        raise _fail(where, "EXT_mesh_features.featureIds must be a non-empty array")
    attributes = prim.get("attributes", {})
    for f, fid in enumerate(feature_ids):
        at = f"{where} EXT_mesh_features.featureIds[{f}]"
        feature_count = fid.get("featureCount")
        if not _is_int(feature_count) or feature_count < 1:
            raise _fail(at, f"featureCount {feature_count!r} must be an integer >= 1")
        null_id = fid.get("nullFeatureId")
        if null_id is not None and (not _is_int(null_id) or null_id < 0):
            raise _fail(at, f"nullFeatureId {null_id!r} must be an integer >= 0")
        if "propertyTable" in fid:
            table_index = fid["propertyTable"]
            if not _is_int(table_index) or not 0 <= table_index < len(tables):
                raise _fail(
                    at, f"propertyTable {table_index!r} does not exist ({len(tables)} property tables)"
                )
            table_count = tables[table_index].get("count")
            if table_count != feature_count:
                raise _fail(
                    at,
                    f"featureCount {feature_count} differs from "
                    f"propertyTables[{table_index}].count {table_count}",
                )
        if "attribute" in fid and "texture" in fid:
            raise _fail(at, "a feature ID has either attribute or texture, not both")
        if "texture" in fid:
            continue  # Feature ID textures are not sampled here.
        if "attribute" in fid:
            n = fid["attribute"]
            semantic = f"_FEATURE_ID_{n}"
            if not _is_int(n) or n < 0 or semantic not in attributes:
                raise _fail(at, f"attribute {n!r} needs a {semantic} attribute in the primitive")
            accessor_index = attributes[semantic]
            acc = glb.item("accessors", accessor_index)
            if acc.get("type") != "SCALAR":
                raise _fail(at, f"{semantic} accessor type is {acc.get('type')!r}, must be SCALAR")
            if acc.get("componentType") not in FEATURE_ID_COMPONENT_TYPES:
                raise _fail(
                    at,
                    f"{semantic} accessor componentType {acc.get('componentType')} is not "
                    "UNSIGNED_BYTE (5121), UNSIGNED_SHORT (5123) or FLOAT (5126)",
                )
            if acc.get("normalized", False):
                raise _fail(at, f"{semantic} accessor must not be normalized")
            try:
                ids = glb.accessor(accessor_index).astype(np.float64)
            except TileFormatError as exc:
                raise _fail(at, str(exc)) from exc
            if not np.all(np.isfinite(ids)) or np.any(ids != np.round(ids)) or np.any(ids < 0):
                raise _fail(at, f"{semantic} holds values that are not non-negative integers")
        else:
            position = attributes.get("POSITION")
            vertex_count = glb.item("accessors", position).get("count", 0) if position is not None else 0
            ids = np.arange(vertex_count, dtype=np.float64)
        valid = ids < feature_count
        if null_id is not None:
            valid |= ids == null_id
        if not np.all(valid):
            bad = ids[~valid]
            raise _fail(
                at,
                f"{bad.size} feature IDs are >= featureCount {feature_count} and not nullFeatureId "
                f"{null_id} (max {int(bad.max())})",
            )


def read_property_table(glb: Glb, index: int = 0, *, alignment: int | None = None) -> dict[str, list[Any]]:
    """Decode every property of ``EXT_structural_metadata.propertyTables[index]`` to Python values.

    Returns property ID -> list of ``count`` values: str, bool, int, float, enum names, lists for VECN/MATN
    (MATN column-major) and arrays; ``normalized`` integers become floats and offset/scale are applied;
    values equal to the class property's ``noData`` become None (``default`` is not substituted).
    Raises AssertionError when the binary storage is malformed (same checks as check_structural_metadata,
    with only the spec's component-size alignment unless ``alignment`` is given).
    """
    ext = _metadata_extension(glb)
    if ext is None:
        raise _fail(glb.name, "the asset has no EXT_structural_metadata extension")
    schema = _schema(glb, ext)
    tables = ext.get("propertyTables", [])
    if not 0 <= index < len(tables):
        raise IndexError(f"{glb.name}: propertyTables[{index}] does not exist ({len(tables)} tables)")
    table = tables[index]
    where = f"{glb.name} EXT_structural_metadata.propertyTables[{index}]"
    raw = _table_entities(glb, table, schema, where, alignment=alignment)
    class_props = schema["classes"][table["class"]]["properties"]
    enums = schema.get("enums", {})
    decoded: dict[str, list[Any]] = {}
    for prop_id, values in raw.items():
        prop = class_props[prop_id]
        table_prop = table["properties"][prop_id]
        no_data = prop.get("noData")
        out: list[Any] = []
        for value in values:
            if no_data is not None and _equals_no_data(value, no_data, prop, enums):
                out.append(None)
                continue
            if prop["type"] == "ENUM":
                names = _enum_names(enums, prop["enumType"])
                out.append([names[v] for v in value] if isinstance(value, list) else names[value])
            elif prop["type"] in NUMERIC_TYPES:
                out.append(_normalize_and_transform(value, prop, table_prop, prop["componentType"]))
            else:
                out.append(value)
        decoded[prop_id] = out
    return decoded


def _equals_no_data(value: Any, no_data: Any, prop: JsonDict, enums: JsonDict) -> bool:
    if prop["type"] == "ENUM":
        names = _enum_names(enums, prop["enumType"])
        named = [names[v] for v in value] if isinstance(value, list) else names[value]
        return bool(named == no_data)
    if prop["type"] in NUMERIC_TYPES:
        # Compare in the stored component type, so a FLOAT32 noData like 0.1 matches its float32 bits.
        dtype = np.dtype(META_COMPONENT_DTYPES[prop["componentType"]])
        stored, sentinel = np.asarray(value), np.asarray(no_data)
        return stored.shape == sentinel.shape and bool(np.all(stored.astype(dtype) == sentinel.astype(dtype)))
    return bool(value == no_data)


# ---------------------------------------------------------------------------------------------------------
# 4. Positions as CesiumJS places them
# ---------------------------------------------------------------------------------------------------------

# glTF is y-up; 3D Tiles is z-up. CesiumJS rotates glTF content by +90 degrees about x:
# x_tile = x_gltf, y_tile = -z_gltf, z_tile = y_gltf.
Y_UP_TO_Z_UP: FloatArray = np.array(
    [[1.0, 0.0, 0.0, 0.0], [0.0, 0.0, -1.0, 0.0], [0.0, 1.0, 0.0, 0.0], [0.0, 0.0, 0.0, 1.0]]
)

WGS84_A = 6378137.0
WGS84_F = 1.0 / 298.257223563
WGS84_E2 = WGS84_F * (2.0 - WGS84_F)


def _node_matrix(node: JsonDict) -> FloatArray:
    if "matrix" in node:
        return np.asarray(node["matrix"], dtype=np.float64).reshape(4, 4).T  # column-major in glTF
    t = np.asarray(node.get("translation", [0.0, 0.0, 0.0]), dtype=np.float64)
    x, y, z, w = (float(v) for v in node.get("rotation", [0.0, 0.0, 0.0, 1.0]))
    s = np.asarray(node.get("scale", [1.0, 1.0, 1.0]), dtype=np.float64)
    rotation = np.array(
        [
            [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
            [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
            [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)],
        ]
    )
    matrix = np.eye(4)
    matrix[:3, :3] = rotation * s  # R @ diag(s)
    matrix[:3, 3] = t
    return matrix


def _apply(matrix: FloatArray, points: FloatArray) -> FloatArray:
    result: FloatArray = points @ matrix[:3, :3].T + matrix[:3, 3]
    return result


def scene_positions(glb: Glb) -> FloatArray:
    """Vertex positions of all mesh primitives in the default scene, node transforms applied (glTF y-up).

    Quantized (KHR_mesh_quantization) and normalized positions are decoded; float64, shape (N, 3).
    Primitives of one mesh that share a POSITION accessor (e.g. one primitive per material over the same
    vertices) share their vertices: each accessor counts once per node.
    """
    gltf = glb.gltf
    scenes = gltf.get("scenes", [])
    if not scenes:
        return np.zeros((0, 3))
    scene = glb.item("scenes", gltf.get("scene", 0))
    chunks: list[FloatArray] = []
    seen: set[tuple[int, int]] = set()

    def visit(node_index: int, parent: FloatArray, path: tuple[int, ...]) -> None:
        if node_index in path:
            raise _fail(glb.name, f"node hierarchy has a cycle through nodes[{node_index}]")
        node = glb.item("nodes", node_index)
        if "EXT_mesh_gpu_instancing" in node.get("extensions", {}):
            raise NotImplementedError(f"{glb.name}: nodes[{node_index}] uses EXT_mesh_gpu_instancing")
        world = parent @ _node_matrix(node)
        if "mesh" in node:
            for prim in glb.item("meshes", node["mesh"]).get("primitives", []):
                position = prim.get("attributes", {}).get("POSITION")
                if position is not None and (node_index, position) not in seen:
                    seen.add((node_index, position))
                    positions = glb.accessor(position).astype(np.float64)
                    chunks.append(_apply(world, positions.reshape(-1, 3)))
        for child in node.get("children", []):
            visit(child, world, (*path, node_index))

    for root in scene.get("nodes", []):
        visit(root, np.eye(4), ())
    return np.concatenate(chunks) if chunks else np.zeros((0, 3))


def glb_positions_world(
    glb: Glb, tile_transform: FloatArray | None = None, *, up_axis: str = "Y"
) -> FloatArray:
    """Vertex positions in the tileset frame (ECEF metres for geo tilesets), as CesiumJS computes them.

    world = tile_transform @ translate(RTC) @ (glTF up-axis -> z-up) @ node transforms @ position, where RTC
    is the b3dm RTC_CENTER or the glTF CESIUM_RTC center; ``tile_transform`` is the tile's computed
    transform (product of tile transforms from the root), identity if None. ``up_axis`` is the tileset's
    asset.gltfUpAxis (3D Tiles 1.0; "Y" by default, "Z" means no rotation).
    """
    matrix = np.eye(4) if tile_transform is None else np.asarray(tile_transform, dtype=np.float64)
    rtc = glb.rtc_center
    cesium_rtc = glb.gltf.get("extensions", {}).get("CESIUM_RTC")
    if cesium_rtc is not None:
        rtc = np.asarray(cesium_rtc["center"], dtype=np.float64)
    if rtc is not None:
        translate = np.eye(4)
        translate[:3, 3] = rtc
        matrix = matrix @ translate
    if up_axis == "Y":
        matrix = matrix @ Y_UP_TO_Z_UP
    elif up_axis != "Z":
        raise NotImplementedError(f"gltfUpAxis {up_axis!r} is not supported by tilecheck")
    return _apply(matrix, scene_positions(glb))


def geodetic_to_ecef(lon: npt.ArrayLike, lat: npt.ArrayLike, height: npt.ArrayLike) -> FloatArray:
    """WGS84 longitude/latitude (radians) and ellipsoidal height (metres) to ECEF metres, shape (N, 3)."""
    lon_a, lat_a, h_a = np.broadcast_arrays(
        np.asarray(lon, np.float64), np.asarray(lat, np.float64), np.asarray(height, np.float64)
    )
    n = WGS84_A / np.sqrt(1.0 - WGS84_E2 * np.sin(lat_a) ** 2)
    x = (n + h_a) * np.cos(lat_a) * np.cos(lon_a)
    y = (n + h_a) * np.cos(lat_a) * np.sin(lon_a)
    z = (n * (1.0 - WGS84_E2) + h_a) * np.sin(lat_a)
    return np.stack([x.ravel(), y.ravel(), z.ravel()], axis=1)


def ecef_to_geodetic(points: npt.ArrayLike) -> tuple[FloatArray, FloatArray, FloatArray]:
    """ECEF metres (N, 3) to WGS84 longitude, latitude (radians) and ellipsoidal height (metres)."""
    p = np.asarray(points, dtype=np.float64).reshape(-1, 3)
    x, y, z = p[:, 0], p[:, 1], p[:, 2]
    rho = np.hypot(x, y)
    lon = np.arctan2(y, x)
    lat = np.arctan2(z, rho * (1.0 - WGS84_E2))
    for _ in range(8):  # fixed-point iteration; converges to < 1e-12 rad within a few steps off the poles
        n = WGS84_A / np.sqrt(1.0 - WGS84_E2 * np.sin(lat) ** 2)
        lat = np.arctan2(z + WGS84_E2 * n * np.sin(lat), rho)
    height = rho * np.cos(lat) + z * np.sin(lat) - WGS84_A * np.sqrt(1.0 - WGS84_E2 * np.sin(lat) ** 2)
    return lon, lat, height


# ---------------------------------------------------------------------------------------------------------
# 5. Tilesets
# ---------------------------------------------------------------------------------------------------------


def _read_json_file(path: Path) -> JsonDict:
    try:
        raw = _maybe_gunzip(path.read_bytes())
    except OSError as exc:
        raise _fail(str(path), f"cannot read: {exc}") from exc
    if raw.startswith(b"\xef\xbb\xbf"):
        raise _fail(
            str(path), "JSON starts with a UTF-8 byte order mark (BOM), which 3D Tiles does not allow"
        )
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise _fail(str(path), f"invalid JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise _fail(str(path), "tileset JSON is not an object")
    return data


def _head(path: Path, size: int = 64) -> bytes:
    """The first bytes of a file, gunzipped if it is gzip-compressed on disk."""
    with path.open("rb") as file:
        start = file.read(size)
    if start[:2] == b"\x1f\x8b":
        with gzip.open(path, "rb") as unzipped:
            return unzipped.read(size)
    return start


def _is_tileset_json(path: Path) -> bool:
    try:
        if _head(path).lstrip(b"\xef\xbb\xbf \t\r\n")[:1] != b"{":
            return False
        raw = _maybe_gunzip(path.read_bytes())
    except OSError:
        return False
    try:
        data = json.loads(raw.decode("utf-8-sig"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        return path.suffix.lower() == ".json"
    return isinstance(data, dict) and ("root" in data or "geometricError" in data)


def _matrix(value: Any, where: str) -> FloatArray:
    if not isinstance(value, list) or len(value) != 16 or not all(_is_number(v) for v in value):
        raise _fail(where, f"transform must be 16 finite numbers, got {value!r}")
    matrix = np.asarray(value, dtype=np.float64).reshape(4, 4).T  # column-major
    if not np.allclose(matrix[3], [0.0, 0.0, 0.0, 1.0], rtol=0.0, atol=0.0):
        raise _fail(where, f"transform is not affine (last row {matrix[3].tolist()}, must be [0, 0, 0, 1])")
    if abs(np.linalg.det(matrix[:3, :3])) < 1e-12:
        raise _fail(where, "transform is not invertible (its 3x3 part has determinant 0)")
    return matrix


@dataclass
class TileVisit:
    """One tile met while walking a tileset (and its external tilesets) from the root, depth first.

    ``where`` names the tile for messages ("tileset.json root.children[2]"); ``world`` is the tile's
    computed transform (root to this tile, 4x4, column vectors); ``parent`` the parent tile's visit
    (for an external tileset's root: the tile whose content references it).
    """

    tile: JsonDict
    where: str
    world: FloatArray
    tileset_path: Path
    tileset: JsonDict
    parent: TileVisit | None
    up_axis: str


def _resolve_uri(tileset_path: Path, uri: Any, where: str) -> Path:
    if not isinstance(uri, str) or not uri:
        raise _fail(where, f"content uri must be a non-empty string, got {uri!r}")
    parsed = urlparse(uri)
    if parsed.scheme or parsed.netloc or uri.startswith("/"):
        raise _fail(where, f"content uri {uri!r} is not a relative path; tilecheck checks only local files")
    return tileset_path.parent / unquote(parsed.path)


def _content_entries(tile: JsonDict, where: str) -> list[tuple[JsonDict, str]]:
    if "content" in tile and "contents" in tile:
        raise _fail(where, "a tile must not have both content and contents")
    if "content" in tile:
        if not isinstance(tile["content"], dict):
            raise _fail(where, "content is not an object")
        return [(tile["content"], f"{where}.content")]
    contents = tile.get("contents", [])
    if not isinstance(contents, list):
        raise _fail(where, "contents is not an array")
    return [(c, f"{where}.contents[{i}]") for i, c in enumerate(contents)]


def _walk(
    tileset_path: Path,
    parent: TileVisit | None = None,
    stack: tuple[Path, ...] = (),
) -> Iterator[TileVisit]:
    tileset_path = Path(tileset_path)
    resolved = tileset_path.resolve()
    if resolved in stack:
        chain = " -> ".join(p.name for p in (*stack, resolved))
        raise _fail(str(tileset_path), f"external tileset cycle: {chain}")
    tileset = _read_json_file(tileset_path)
    name = str(tileset_path)
    asset = tileset.get("asset")
    if not isinstance(asset, dict):
        raise _fail(name, "asset is missing (required)")
    if asset.get("version") not in ("1.0", "1.1"):
        raise _fail(name, f"asset.version must be '1.0' or '1.1', got {asset.get('version')!r}")
    up_axis = asset.get("gltfUpAxis", parent.up_axis if parent is not None else "Y")
    root = tileset.get("root")
    if not isinstance(root, dict):
        raise _fail(name, "root is missing (required)")
    yield from _walk_tile(root, f"{name} root", tileset_path, tileset, parent, up_axis, (*stack, resolved))


def _walk_tile(
    tile: JsonDict,
    where: str,
    tileset_path: Path,
    tileset: JsonDict,
    parent: TileVisit | None,
    up_axis: str,
    stack: tuple[Path, ...],
) -> Iterator[TileVisit]:
    if "implicitTiling" in tile or "3DTILES_implicit_tiling" in tile.get("extensions", {}):
        raise NotImplementedError(f"{where}: implicit tiling is not supported by tilecheck")
    parent_world = parent.world if parent is not None else np.eye(4)
    world = (
        parent_world @ _matrix(tile["transform"], f"{where}.transform")
        if "transform" in tile
        else parent_world
    )
    visit = TileVisit(tile, where, world, tileset_path, tileset, parent, up_axis)
    yield visit
    for content, content_where in _content_entries(tile, where):
        uri = content.get("uri", content.get("url"))
        path = _resolve_uri(tileset_path, uri, content_where)
        if path.is_file() and _is_tileset_json(path):
            yield from _walk(path, visit, stack)
    children = tile.get("children", [])
    if not isinstance(children, list):
        raise _fail(where, "children is not an array")
    for i, child in enumerate(children):
        if not isinstance(child, dict):
            raise _fail(f"{where}.children[{i}]", "tile is not an object")
        yield from _walk_tile(child, f"{where}.children[{i}]", tileset_path, tileset, visit, up_axis, stack)


def iter_contents(tileset_path: Path) -> Iterator[tuple[JsonDict, Path]]:
    """Yield (tile JSON, content file path) for every tile content, descending into external tilesets.

    External tileset JSON files themselves are not yielded (their tiles' contents are). Paths are
    resolved relative to the tileset JSON that names them; they may not exist (check_tileset checks that).
    """
    for visit in _walk(tileset_path):
        for content, content_where in _content_entries(visit.tile, visit.where):
            path = _resolve_uri(visit.tileset_path, content.get("uri", content.get("url")), content_where)
            if not (path.is_file() and _is_tileset_json(path)):
                yield visit.tile, path


def tile_positions_ecef(tileset_path: Path, content: str | Path, *, glb: Glb | None = None) -> FloatArray:
    """Decode a content's vertex positions to ECEF metres (float64, (N, 3)) the way CesiumJS places them.

    ``content`` is the content URI relative to ``tileset_path`` or a path to the file; the tile that
    references it is found in the tileset (external tilesets included) and its computed transform (all
    ancestor tile transforms), RTC (b3dm RTC_CENTER / CESIUM_RTC), the glTF y-up to z-up rotation and the
    glTF node transforms are applied. Raises LookupError if no tile references the file.
    """
    tileset_path = Path(tileset_path)
    target = Path(content) if Path(content).is_absolute() else tileset_path.parent / unquote(str(content))
    target = target.resolve()
    for visit in _walk(tileset_path):
        for entry, entry_where in _content_entries(visit.tile, visit.where):
            path = _resolve_uri(visit.tileset_path, entry.get("uri", entry.get("url")), entry_where)
            if path.resolve() == target:
                return glb_positions_world(glb or read_glb(path), visit.world, up_axis=visit.up_axis)
    raise LookupError(f"no tile in {tileset_path} references {content}")


# --- bounding volumes -------------------------------------------------------------------------------------

MEAN_EARTH_RADIUS = 6_356_752.0  # polar radius: the smallest, so angle tolerances err on the lenient side


@dataclass(frozen=True)
class Volume:
    """A bounding volume in the tileset's world frame (ECEF metres for geo tilesets).

    box: ``center`` (3,) and ``half_axes`` (3, 3), columns the half-axis vectors; sphere: ``center`` and
    ``radius``; region: ``region`` (west, south, east, north radians, min/max height metres), never
    transformed.
    """

    kind: Literal["box", "sphere", "region"]
    center: FloatArray = field(default_factory=lambda: np.zeros(3))
    half_axes: FloatArray = field(default_factory=lambda: np.zeros((3, 3)))
    radius: float = 0.0
    region: tuple[float, float, float, float, float, float] = (0.0, 0.0, 0.0, 0.0, 0.0, 0.0)


def _check_bounding_volume(bv: Any, where: str) -> None:
    if not isinstance(bv, dict):
        raise _fail(where, "boundingVolume is missing or not an object")
    kinds = [k for k in ("box", "region", "sphere") if k in bv]
    if not kinds:
        raise _fail(where, f"boundingVolume has none of box, region, sphere: {sorted(bv)}")
    if "box" in bv:
        box = bv["box"]
        if not isinstance(box, list) or len(box) != 12 or not all(_is_number(v) for v in box):
            raise _fail(where, f"boundingVolume.box must be 12 finite numbers, got {box!r}")
    if "sphere" in bv:
        sphere = bv["sphere"]
        if not isinstance(sphere, list) or len(sphere) != 4 or not all(_is_number(v) for v in sphere):
            raise _fail(where, f"boundingVolume.sphere must be 4 finite numbers, got {sphere!r}")
        if sphere[3] < 0:
            raise _fail(where, f"boundingVolume.sphere radius {sphere[3]} is negative")
    if "region" in bv:
        region = bv["region"]
        if not isinstance(region, list) or len(region) != 6 or not all(_is_number(v) for v in region):
            raise _fail(where, f"boundingVolume.region must be 6 finite numbers, got {region!r}")
        west, south, east, north, low, high = region
        if not (-math.pi <= west <= math.pi and -math.pi <= east <= math.pi):
            raise _fail(
                where, f"boundingVolume.region west/east {west}, {east} are outside [-pi, pi] radians"
            )
        if not (-math.pi / 2 <= south <= math.pi / 2 and -math.pi / 2 <= north <= math.pi / 2):
            raise _fail(
                where, f"boundingVolume.region south/north {south}, {north} are outside [-pi/2, pi/2]"
            )
        if south > north:
            raise _fail(where, f"boundingVolume.region south {south} > north {north}")
        if low > high:
            raise _fail(where, f"boundingVolume.region minimum height {low} > maximum height {high}")


def _volume(bv: Any, world: FloatArray, where: str) -> Volume:
    _check_bounding_volume(bv, where)
    if "box" in bv:
        box = np.asarray(bv["box"], dtype=np.float64)
        return Volume(
            "box", center=_apply(world, box[:3][None])[0], half_axes=world[:3, :3] @ box[3:].reshape(3, 3).T
        )
    if "region" in bv:
        west, south, east, north, low, high = (float(v) for v in bv["region"])
        return Volume("region", region=(west, south, east, north, low, high))
    sphere = np.asarray(bv["sphere"], dtype=np.float64)
    scale = float(np.max(np.linalg.norm(world[:3, :3], axis=0)))
    return Volume("sphere", center=_apply(world, sphere[:3][None])[0], radius=float(sphere[3]) * scale)


def _box_frame(vol: Volume) -> tuple[FloatArray, FloatArray]:
    """Return (basis with unit-length stand-ins for zero half-axes, half-axis lengths)."""
    axes = vol.half_axes.copy()
    lengths = np.linalg.norm(axes, axis=0)
    degenerate = lengths < 1e-12
    if degenerate.any():
        # A flat (or line/point) box: replace the zero half-axes by unit vectors spanning the complement.
        u, _, _ = np.linalg.svd(axes)
        fill = [u[:, j] for j in range(3)][int((~degenerate).sum()) :]
        for j, column in zip(np.flatnonzero(degenerate), fill, strict=True):
            axes[:, j] = column
    return axes, lengths


def _lon_width(west: float, east: float) -> float:
    """Longitude extent (radians) of a region, east of west; west > east crosses the antimeridian."""
    return east - west if east >= west else east - west + 2 * math.pi


def _outside_distance(vol: Volume, points: FloatArray) -> FloatArray:
    """How far (metres, approximately) each world point lies outside the volume; <= 0 means inside."""
    points = np.asarray(points, dtype=np.float64).reshape(-1, 3)
    if vol.kind == "sphere":
        result: FloatArray = np.linalg.norm(points - vol.center, axis=1) - vol.radius
        return result
    if vol.kind == "box":
        axes, lengths = _box_frame(vol)
        local = np.linalg.solve(axes, (points - vol.center).T).T  # units of each (stand-in) half-axis
        excess = np.where(lengths > 1e-12, (np.abs(local) - 1.0) * lengths, np.abs(local))
        box_result: FloatArray = excess.max(axis=1)
        return box_result
    west, south, east, north, low, high = vol.region
    lon, lat, height = ecef_to_geodetic(points)
    width = _lon_width(west, east)
    offset = (lon - west) % (2 * math.pi)
    lon_out = np.where(offset <= width, 0.0, np.minimum(offset - width, 2 * math.pi - offset))
    lat_out = np.maximum(south - lat, lat - north)
    parallel_radius = MEAN_EARTH_RADIUS * np.cos(np.clip(lat, -math.pi / 2, math.pi / 2)) + 1e-9
    region_result: FloatArray = np.maximum.reduce(
        [lon_out * parallel_radius, lat_out * MEAN_EARTH_RADIUS, low - height, height - high]
    )
    return region_result


_GRID = np.array([[i, j, k] for i in (-1.0, 0.0, 1.0) for j in (-1.0, 0.0, 1.0) for k in (-1.0, 0.0, 1.0)])
_DIRECTIONS = np.array([v / np.linalg.norm(v) for v in _GRID if np.any(v)])


def _sample_points(vol: Volume) -> FloatArray:
    """Points on the volume's boundary (and centre) that a containing volume must contain."""
    if vol.kind == "box":
        result: FloatArray = vol.center + _GRID @ vol.half_axes.T
        return result
    if vol.kind == "sphere":
        sphere_points: FloatArray = np.vstack([vol.center, vol.center + vol.radius * _DIRECTIONS])
        return sphere_points
    west, south, east, north, low, high = vol.region
    lon = west + np.linspace(0.0, _lon_width(west, east), 9)
    lat = np.linspace(south, north, 9)
    lon_grid, lat_grid, h_grid = np.meshgrid(lon, lat, [low, high], indexing="ij")
    return geodetic_to_ecef(lon_grid, lat_grid, h_grid)


def _excess_inside(child: Volume, parent: Volume) -> float:
    """How far (metres) the child volume reaches outside the parent volume (<= 0: contained)."""
    if child.kind == "region" and parent.kind == "region":
        cw, cs, ce, cn, cl, ch = child.region
        pw, ps, pe, pn, pl, ph = parent.region
        two_pi = 2 * math.pi
        start = (cw - pw) % two_pi
        if start > two_pi - 1e-12:
            start -= two_pi
        # Longitude overshoot measured along the child's widest parallel.
        widest = 0.0 if cs * cn <= 0 else min(abs(cs), abs(cn))
        lon_excess = max(start + _lon_width(cw, ce) - _lon_width(pw, pe), -start)
        lat_excess = max(ps - cs, cn - pn)
        return max(
            lon_excess * MEAN_EARTH_RADIUS * math.cos(widest),
            lat_excess * MEAN_EARTH_RADIUS,
            pl - cl,
            ch - ph,
        )
    if child.kind == "sphere" and parent.kind == "sphere":
        return float(np.linalg.norm(child.center - parent.center) + child.radius - parent.radius)
    if child.kind == "sphere" and parent.kind == "box":
        axes, lengths = _box_frame(parent)
        orthogonal = np.allclose(
            (axes.T @ axes)[~np.eye(3, dtype=bool)], 0.0, atol=1e-9 * max(lengths.max(), 1)
        )
        if orthogonal:
            units = axes / np.linalg.norm(axes, axis=0)
            distances = np.abs(units.T @ (child.center - parent.center)) + child.radius - lengths
            return float(distances.max())
    return float(_outside_distance(parent, _sample_points(child)).max())


def _bounding_volume_of(visit: TileVisit) -> Volume:
    return _volume(visit.tile.get("boundingVolume"), visit.world, visit.where)


# --- the tileset check -------------------------------------------------------------------------------------


class _Problems:
    """Collects AssertionError messages so one run reports every problem, not only the first."""

    def __init__(self) -> None:
        self.messages: list[str] = []

    @contextmanager
    def collect(self) -> Iterator[None]:
        try:
            yield
        except AssertionError as exc:
            self.messages.append(str(exc))


def _check_geometric_error(visit: TileVisit) -> None:
    error = visit.tile.get("geometricError")
    if not _is_number(error):
        raise _fail(visit.where, f"geometricError is missing or not a finite number: {error!r}")
    if error < 0:
        raise _fail(visit.where, f"geometricError {error} is negative")
    if visit.parent is not None:
        parent_error = visit.parent.tile.get("geometricError")
        if _is_number(parent_error) and error > parent_error:
            raise _fail(visit.where, f"geometricError {error} is greater than its parent's {parent_error}")


def _check_refine(visit: TileVisit) -> None:
    is_root = visit.parent is None or visit.parent.tileset_path != visit.tileset_path
    if "refine" in visit.tile:
        if visit.tile["refine"] not in ("ADD", "REPLACE"):
            raise _fail(
                visit.where, f"refine must be 'ADD' or 'REPLACE' (uppercase), got {visit.tile['refine']!r}"
            )
    elif is_root:
        raise _fail(visit.where, "refine is required at the root tile")


def _check_contained(visit: TileVisit, volume: Volume, tolerance: float) -> None:
    if visit.parent is None:
        return
    try:
        parent_volume = _bounding_volume_of(visit.parent)
    except AssertionError:
        return  # reported at the parent
    excess = _excess_inside(volume, parent_volume)
    if excess > tolerance:
        raise _fail(
            visit.where,
            f"bounding volume ({volume.kind}) is not inside its parent's ({parent_volume.kind}, "
            f"{visit.parent.where}): it reaches {excess:.4f} m outside",
        )


def _check_content(
    visit: TileVisit,
    volume: Volume | None,
    content: JsonDict,
    where: str,
    *,
    tolerance: float,
    check_geometry: bool,
    check_metadata: bool,
    skipped: list[str] | None,
) -> None:
    uri = content.get("uri")
    if uri is None:
        hint = " ('url' is the pre-1.0 name)" if "url" in content else ""
        raise _fail(where, f"content.uri is missing{hint}")
    path = _resolve_uri(visit.tileset_path, uri, where)
    if not path.is_file():
        raise _fail(where, f"content file {uri!r} does not exist ({path})")
    content_volume = None
    if "boundingVolume" in content:
        content_volume = _volume(content["boundingVolume"], visit.world, f"{where}.boundingVolume")
    if _is_tileset_json(path):
        return  # walked (and checked) as an external tileset
    head = _head(path, 4)
    if head not in (GLB_MAGIC, b"b3dm"):
        if skipped is not None:
            skipped.append(f"{where}: {uri} (magic {head!r}) not decoded: tilecheck decodes GLB and b3dm")
        return
    try:
        glb = read_glb(path)
    except TileFormatError as exc:
        raise _fail(where, str(exc)) from exc
    if check_metadata and _metadata_extension(glb) is not None:
        check_structural_metadata(glb)
    if not check_geometry:
        return
    points = glb_positions_world(glb, visit.world, up_axis=visit.up_axis)
    for label, vol in (("tile", volume), ("content", content_volume)):
        if vol is None or len(points) == 0:
            continue
        distance = _outside_distance(vol, points)
        outside = distance > tolerance
        if outside.any():
            worst = int(np.argmax(distance))
            raise _fail(
                where,
                f"{int(outside.sum())} of {len(points)} vertices of {uri} lie outside the {label} "
                f"bounding volume ({vol.kind}); worst {distance[worst]:.4f} m outside at "
                f"{points[worst].round(3).tolist()}",
            )


def check_tileset(
    tileset_path: Path,
    *,
    tolerance: float = 1e-3,
    check_geometry: bool = True,
    check_metadata: bool = True,
    skipped: list[str] | None = None,
) -> None:
    """Check a tileset JSON (and its external tilesets and contents); AssertionError lists every problem.

    Checks: JSON is UTF-8 without BOM (gzip on disk allowed); asset.version is "1.0"/"1.1"; tileset and
    tile geometricError present, finite, >= 0, and a child's <= its parent's; refine only "ADD"/"REPLACE"
    and present at each tileset's root; transforms are 16 numbers, affine and invertible; bounding
    volumes (box 12 numbers, region in radians with south <= north and min <= max height, sphere radius
    >= 0) well formed; each child's bounding volume inside its parent's (common world frame, ``tolerance``
    metres); not both content and contents; every content URI is a relative path to an existing file;
    external tilesets are checked recursively (cycles rejected); GLB and b3dm contents parse and all their
    vertices (as placed by tile_positions_ecef) lie inside the tile's bounding volume and the content's
    own boundingVolume; contents with EXT_structural_metadata pass check_structural_metadata
    (``check_metadata``). Other content types (pnts, i3dm, cmpt, ...) are not decoded: a note goes to
    ``skipped`` if given. Problems that stop the walk (unreadable JSON, missing asset/root, bad transform,
    external tileset cycle) end it; others are collected. Implicit tiling raises NotImplementedError.
    """
    problems = _Problems()
    tilesets_checked: set[Path] = set()
    with problems.collect():
        for visit in _walk(Path(tileset_path)):
            if visit.tileset_path not in tilesets_checked:
                tilesets_checked.add(visit.tileset_path)
                error = visit.tileset.get("geometricError")
                if not _is_number(error) or error < 0:
                    problems.messages.append(
                        f"{visit.tileset_path}: tileset geometricError must be a number >= 0, got {error!r}"
                    )
            with problems.collect():
                _check_geometric_error(visit)
            with problems.collect():
                _check_refine(visit)
            volume: Volume | None = None
            with problems.collect():
                volume = _bounding_volume_of(visit)
            if "viewerRequestVolume" in visit.tile:
                with problems.collect():
                    _check_bounding_volume(
                        visit.tile["viewerRequestVolume"], f"{visit.where}.viewerRequestVolume"
                    )
            if volume is not None:
                with problems.collect():
                    _check_contained(visit, volume, tolerance)
            with problems.collect():
                entries = _content_entries(visit.tile, visit.where)
                for content, content_where in entries:
                    with problems.collect():
                        _check_content(
                            visit,
                            volume,
                            content,
                            content_where,
                            tolerance=tolerance,
                            check_geometry=check_geometry,
                            check_metadata=check_metadata,
                            skipped=skipped,
                        )
    if problems.messages:
        shown = problems.messages[:50]
        more = len(problems.messages) - len(shown)
        raise AssertionError(
            f"{len(problems.messages)} problem(s) in {tileset_path}:\n"
            + "\n".join(f"- {m}" for m in shown)
            + (f"\n... and {more} more" if more else "")
        )
