"""German and English labels for the codes in building attributes (function, usage, roof type).

CityGML and CityJSON store a building's function and roof type as codes of a code list named by the element's
codeSpace. Four lists are known here, kept as CSV files in the `codelists/` folder next to this module and read
on first use:

``adv_building_function``
    AdV/ALKIS AX_Gebaeudefunktion, GeoInfoDok 7.1: 234 codes, 1000 Wohngebäude ... 9998 Nach Quellenlage nicht
    zu spezifizieren. LoD2 data of the German Länder writes them as "31001_" + code (31001 is the ALKIS object
    type AX_Gebaeude; other prefixes, e.g. 51009_ for AX_SonstigesBauwerk, belong to other lists), sometimes as
    the bare 4-digit code. Source: gbd-consult/gbd-websuite app/gws/plugin/alkis/data/geo_info_dok/gid7.py,
    checked against apano-on/atkis db_import/addtables.sql (AAA schema 7.1.2). GeoInfoDok 6.0 lists (PostNAS)
    call 2412 "Wartehalle" and lack 2095 and 3054; 7.1 calls 2412 "Wartungshalle", which is used here.
``adv_roof_type``
    AdV Dachform (AX_Dachform, the same codes as the CityGML profile's RoofTypeTypeAdV): 15 codes.
``sig3d_building_function``, ``sig3d_roof_type``
    The SIG3D code lists of CityGML 2.0 (codeSpace ".../_AbstractBuilding_function.xml" and
    ".../_AbstractBuilding_roofType.xml"): 167 and 14 codes. Source: tudelft3d/3DCityDB-Tools-for-QGIS
    cdb4/ddl_scripts/postgresql/022_codelists.sql. SIG3D names them in English only; the German labels are
    ours, using the ALKIS term each SIG3D entry was translated from.

The English labels of all lists are our own translations. Every entry also keeps SIG3D's own name (empty for
the AdV lists), because the OGC example files write that name instead of the code ("gabled roof").
"""

from __future__ import annotations

import csv
import functools
import io
import re
from collections.abc import Callable, Mapping
from importlib import resources
from types import MappingProxyType
from typing import Literal, NamedTuple

Language = Literal["de", "en"]
CodeListName = Literal["adv_building_function", "adv_roof_type", "sig3d_building_function", "sig3d_roof_type"]
CODE_LISTS: tuple[CodeListName, ...] = (
    "adv_building_function",
    "adv_roof_type",
    "sig3d_building_function",
    "sig3d_roof_type",
)

# bldg:function values in AdV data are "<ALKIS object type>_<code>"; only AX_Gebaeude's are building functions.
ADV_FUNCTION_PREFIX = "31001_"
# Several functions (or roof types) in one attribute are joined with ";" by the CityGML reader.
SEPARATOR = ";"

_PREFIXED = re.compile(r"(\d{5})_(\d+)")
_WHOLE_NUMBER = re.compile(r"(\d+)(?:\.0*)?")
_NOT_WORD = re.compile(r"[\W_]+")


class Entry(NamedTuple):
    """One code's labels; `name` is SIG3D's own English name, "" in the AdV lists."""

    de: str
    en: str
    name: str


class _Table(NamedTuple):
    by_code: Mapping[str, Entry]
    by_name: Mapping[str, str]  # normalised label or name → code


def _normalised(text: str) -> str:
    """Lower case, every run of punctuation and spaces as one space: 'Half-hipped  roof' → 'half hipped roof'."""
    return _NOT_WORD.sub(" ", text.casefold()).strip()


@functools.cache
def _table(code_list: CodeListName) -> _Table:
    if code_list not in CODE_LISTS:
        raise ValueError(f"unknown code list {code_list!r}; known: {', '.join(CODE_LISTS)}")
    text = (
        resources.files("twin.ingest").joinpath("codelists", f"{code_list}.csv").read_text(encoding="utf-8")
    )
    by_code: dict[str, Entry] = {}
    by_name: dict[str, str] = {}
    for row in csv.DictReader(io.StringIO(text)):
        entry = Entry(row["de"], row["en"], row.get("name") or "")
        by_code[row["code"]] = entry
        for label in (entry.name, entry.de, entry.en):
            if label:
                by_name.setdefault(_normalised(label), row["code"])
    return _Table(MappingProxyType(by_code), MappingProxyType(by_name))


def entries(code_list: CodeListName) -> Mapping[str, Entry]:
    """Every code of `code_list` (4-digit text, without the AdV object-type prefix) with its labels."""
    return _table(code_list).by_code


def _lookup(code_list: CodeListName, value: str) -> Entry | None:
    """The entry for a code ('3100', '3100.0') or for one of the list's labels or SIG3D names."""
    table = _table(code_list)
    number = _WHOLE_NUMBER.fullmatch(value)
    if number:
        return table.by_code.get(number.group(1))
    code = table.by_name.get(_normalised(value))
    return table.by_code[code] if code is not None else None


def _adv_function_code(value: str) -> str | None:
    """The AX_Gebaeudefunktion code in '31001_2463' or '2463'; None for other object types ('51009_1610')."""
    prefixed = _PREFIXED.fullmatch(value)
    if prefixed:
        return prefixed.group(2) if prefixed.group(1) == ADV_FUNCTION_PREFIX[:-1] else None
    return value


def _family(code_space: str | None) -> Literal["adv", "sig3d"] | None:
    """Which lists a codeSpace names: AdV ('.../BuildingFunctionTypeAdV.xml'), SIG3D, or neither."""
    if not code_space:
        return None
    lowered = code_space.casefold()
    if "AdV" in code_space or any(mark in lowered for mark in ("/adv/", "adv-online", "alkis")):
        return "adv"
    if "sig3d" in lowered or "_abstractbuilding_" in lowered:
        return "sig3d"
    return None


def label(code_list: CodeListName, code: str | int, language: Language = "de") -> str | None:
    """The label of `code` in one code list, or None when the list does not have it.

    AdV building functions may carry their object-type prefix ('31001_2463'); a label or SIG3D name of the list
    ('gabled roof') is accepted in place of the code.
    """
    value = str(code).strip()
    if code_list == "adv_building_function":
        adv_code = _adv_function_code(value)
        if adv_code is None:
            return None
        value = adv_code
    entry = _lookup(code_list, value)
    return getattr(entry, language) if entry is not None else None


def _function_entry(value: str, code_space: str | None) -> Entry | None:
    family = _family(code_space)
    if _PREFIXED.fullmatch(value) or family == "adv":
        adv_code = _adv_function_code(value)
        return _lookup("adv_building_function", adv_code) if adv_code is not None else None
    if family == "sig3d":
        return _lookup("sig3d_building_function", value)
    # No (or an unknown) codeSpace: German data means AdV codes. A bare code is not tried against SIG3D, whose
    # numbers overlap AdV's with other meanings (2000 is "post office" there); a written-out name is.
    entry = _lookup("adv_building_function", value)
    if entry is None and not _WHOLE_NUMBER.fullmatch(value):
        entry = _lookup("sig3d_building_function", value)
    return entry


def _roof_type_entry(value: str, code_space: str | None) -> Entry | None:
    family = _family(code_space)
    if family == "adv":
        return _lookup("adv_roof_type", value)
    if family == "sig3d":
        return _lookup("sig3d_roof_type", value)
    # The two roof lists share only 1000 (flat roof in both), so the code itself tells which list it is from.
    return _lookup("adv_roof_type", value) or _lookup("sig3d_roof_type", value)


def _labels(
    code: str | int,
    code_space: str | None,
    language: Language,
    find: Callable[[str, str | None], Entry | None],
) -> str | None:
    """Labels of one code or of several joined by ';'; an unknown one keeps its code, None if none is known."""
    parts = [part.strip() for part in str(code).split(SEPARATOR) if part.strip()]
    found = [find(part, code_space) for part in parts]
    if not any(found):
        return None
    return "; ".join(
        getattr(entry, language) if entry else part for part, entry in zip(parts, found, strict=True)
    )


def function_label(code: str | int, code_space: str | None = None, language: Language = "de") -> str | None:
    """The label of a building function code: '31001_2463' or '2463' (AdV), or a SIG3D code when `code_space`
    names the SIG3D list; None when the code is unknown (then only the code is stored)."""
    return _labels(code, code_space, language, _function_entry)


def roof_type_label(code: str | int, code_space: str | None = None, language: Language = "de") -> str | None:
    """The label of a roof type code: AdV Dachform ('3100') or SIG3D roofType ('1030'), told apart by
    `code_space` or, without one, by the code itself; None when the code is unknown."""
    return _labels(code, code_space, language, _roof_type_entry)
