"""What `twin ingest SOURCE...` names, expanded into single inputs: files, folders, globs and zip members.

A folder stands for the city model files in it (recursively); a glob pattern (quoted, so that the shell
leaves it alone) for the files it matches; a zip archive for its members (as the Länder ship 1-2 km tiles
zipped). Members are read straight out of the archive, never extracted, so a hostile archive can neither
write outside a folder nor fill the disk; its members' declared sizes are checked against a limit.
"""

from __future__ import annotations

import glob
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from twin.errors import InputError
from twin.ingest.detect import zip_holds_shapefile

# File name endings that a folder or archive is searched for (the content decides the format later).
CITY_MODEL_SUFFIXES = (
    ".gml",
    ".xml",
    ".citygml",
    ".json",
    ".city.json",
    ".jsonl",
    ".cityjson",
    ".city.jsonl",
)
# A member that claims to inflate more than this many times its compressed size is refused (zip bomb).
MAX_COMPRESSION_RATIO = 200
MAX_MEMBER_BYTES = 8 << 30


@dataclass(frozen=True)
class SourceRef:
    """One input: a file on disk, or a member of a zip archive on disk."""

    path: Path
    member: str | None = None

    @property
    def name(self) -> str:
        """How messages and the report name this input: the file, or 'archive.zip:member.gml'."""
        return str(self.path) if self.member is None else f"{self.path}:{self.member}"

    @property
    def file_name(self) -> str:
        """The input's own file name (the member's, for a zip member)."""
        return Path(self.member).name if self.member is not None else self.path.name

    def open(self) -> IO[bytes]:
        """The input's bytes, as a binary file object (a zip member is decompressed as it is read)."""
        if self.member is None:
            return self.path.open("rb")
        archive = zipfile.ZipFile(self.path)
        try:
            return archive.open(self.member)
        except KeyError as exc:
            archive.close()
            raise InputError(f"{self.name}: no such member in the archive") from exc

    def head(self, size: int = 4096) -> bytes:
        """The first `size` bytes."""
        with self.open() as handle:
            return handle.read(size)

    def size(self) -> int:
        """Bytes of the input (uncompressed, for a zip member)."""
        if self.member is None:
            return self.path.stat().st_size
        with zipfile.ZipFile(self.path) as archive:
            return archive.getinfo(self.member).file_size


def _is_glob(text: str) -> bool:
    return any(character in text for character in "*?[")


def _zip_members(path: Path) -> list[SourceRef]:
    """The city model members of a zip archive, refusing archives that would inflate absurdly."""
    try:
        with zipfile.ZipFile(path) as archive:
            infos = archive.infolist()
    except zipfile.BadZipFile as exc:
        raise InputError(f"{path}: damaged zip archive ({exc})") from exc
    members = []
    for info in infos:
        if info.is_dir() or not info.filename.lower().endswith(CITY_MODEL_SUFFIXES):
            continue
        ratio = info.file_size / max(info.compress_size, 1)
        if info.file_size > MAX_MEMBER_BYTES or (
            info.file_size > (1 << 24) and ratio > MAX_COMPRESSION_RATIO
        ):
            raise InputError(
                f"{path}: member {info.filename} claims {info.file_size} bytes from {info.compress_size} "
                "compressed: refused as a possible zip bomb"
            )
        members.append(SourceRef(path, info.filename))
    return members


def is_zip(path: Path) -> bool:
    """True for a file that starts like a zip archive."""
    try:
        with path.open("rb") as handle:
            return handle.read(4) == b"PK\x03\x04"
    except OSError:
        return False


def expand_sources(arguments: Iterable[Path | str]) -> list[SourceRef]:
    """The inputs named on the command line, in a stable order; InputError when one names nothing.

    A file stays itself (a zip archive becomes its city model members when it holds no Shapefile, which
    the footprint reader opens whole); a folder becomes the city model files below it; a pattern the files
    it matches. Each input appears once, even if named twice.
    """
    refs: list[SourceRef] = []
    for argument in arguments:
        text = str(argument)
        if not Path(text).exists() and _is_glob(text):
            matches = sorted(Path(match) for match in glob.glob(text, recursive=True))
            files = [match for match in matches if match.is_file()]
            if not files:
                raise InputError(f"{text}: the pattern matches no files")
            for match in files:
                refs.extend(_expand_file(match))
            continue
        path = Path(text)
        if not path.exists():
            raise InputError(f"{path}: file not found")
        if path.is_dir():
            files = sorted(
                child
                for child in path.rglob("*")
                if child.is_file() and (child.name.lower().endswith(CITY_MODEL_SUFFIXES) or is_zip(child))
            )
            if not files:
                raise InputError(f"{path}: the folder holds no CityGML, CityJSON or zip files")
            for child in files:
                refs.extend(_expand_file(child))
            continue
        refs.extend(_expand_file(path))
    return list(dict.fromkeys(refs))


def _expand_file(path: Path) -> list[SourceRef]:
    if not is_zip(path) or zip_holds_shapefile(path):
        return [SourceRef(path)]  # a file, or a zipped Shapefile: the footprint reader opens it whole
    members = _zip_members(path)
    if not members:
        raise InputError(f"{path}: zip archive without CityGML, CityJSON or Shapefile inside")
    return members
