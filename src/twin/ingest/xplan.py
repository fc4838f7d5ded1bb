"""Streaming XPlanGML 4.1, 5.0 - 5.4 and 6.0 reader: plans and their features as a canonical model.

lxml's iterparse hands over one feature at a time (any element whose parent is a gml:featureMember,
gml:featureMembers, wfs:member or sf:featureMember, also inside a WFS FeatureCollection); the feature is turned
into an `XPlanFeature` and its element cleared with everything before it, so memory stays bounded by one
feature whatever the file's size. XML is parsed without DTDs, entity expansion or network access.

A feature's properties become (elements matched by local name):
- geometry: the first property holding a GML geometry (position, raeumlicherGeltungsbereich, geltungsbereich,
  ...), 2D, in the document's CRS, read and repaired as `twin.ingest.xplan_geometry` describes; every repair
  or skip is one line in `XPlanDocument.problems`: "<gml:id> (<cls>, line N): <what was done and why>";
- refs: properties with xlink:href, per property name (a nested one as "<property>.<child>"), targets
  without the '#' (an external URL without fragment stays whole);
- attributes: simple properties by local name, typed (int/float for numbers, bool for true/false, None for
  xsi:nil or empty; code-list properties and numbers with leading zeros stay str), repeated ones joined with
  "; "; nested data types as "<property>.<child>" (the second occurrence "<property>[1].<child>", ...);
  gml:name only as "name" when there is no xplan:name. gml:boundedBy and other GML properties are skipped.

Refused with InputError naming the file: malformed XML (with its line), a root element outside an XPlanGML
namespace (bare GML geometry fragments too; `read_geometry_fragment` reads those), XPlanGML versions other
than 4.1, 5.0 - 5.4 and 6.0, and a *_Plan without 'name' or whose 'planArt' is misspelled (e.g. planArtCode).
"""

from __future__ import annotations

import functools
import re
import zipfile
from dataclasses import dataclass, field

import shapely
from lxml import etree

from twin.errors import CRSError, InputError
from twin.geo.srsname import parse_srs_name
from twin.ingest.sources import SourceRef
from twin.ingest.xplan_geometry import GML_NAMESPACES, is_gml_geometry, local, read_geometry

Value = str | int | float | bool | None
XPLAN_NAMESPACE = re.compile(r"^https?://www\.xplanung\.de/xplangml/(\d+)/(\d+)/?$")
_XPLAN_HEAD = re.compile(rb"https?://www\.xplanung\.de/xplangml/\d+/\d+")
SUPPORTED_VERSIONS = ("4.1", "5.0", "5.1", "5.2", "5.3", "5.4", "6.0")
MEMBER_WRAPPERS = frozenset({"featureMember", "featureMembers", "member"})
COLLECTIONS = frozenset({"FeatureCollection", "SimpleFeatureCollection", "additionalObjects"})
PLANS_CHECKED = frozenset({"BP_Plan", "FP_Plan", "SO_Plan"})
HREF = "{http://www.w3.org/1999/xlink}href"
NIL = "{http://www.w3.org/2001/XMLSchema-instance}nil"
GML_IDS = ("{http://www.opengis.net/gml/3.2}id", "{http://www.opengis.net/gml}id")
# Properties whose values are codes of a code list or enumeration: kept as str even when numeric ("1200").
CODE_PROPERTIES = frozenset(
    {
        "rechtsstand", "planArt", "sonstPlanArt", "allgArtDerBaulNutzung", "besondereArtDerBaulNutzung",
        "detaillierteArtDerBaulNutzung", "sondernutzung", "nutzungsform", "bauweise", "bebauungsArt",
        "bebauungVordereGrenze", "bebauungRueckwaertigeGrenze", "bebauungSeitlicheGrenze", "dachform",
        "detaillierteDachform", "zweckbestimmung", "besondereZweckbestimmung", "detaillierteZweckbestimmung",
        "hoehenbezug", "bezugspunkt", "rechtscharakter", "sonstRechtscharakter", "verfahren", "typ",
        "gebietsArt", "sonstGebietsArt", "artDerFestlegung", "detailArtDerFestlegung", "massnahme",
        "gegenstand", "klassifizMassnahme", "ziel", "abbaugut", "rechtsstandSchG", "aenderungsArt",
        "rechtscharakterAenderung", "status", "ags", "rs", "kennziffer", "bedeutung",
        "artDerBebauung", "abweichendeBauweise", "vertikaleAusrichtung", "horizontaleAusrichtung",
    }
)  # fmt: skip
_INT = re.compile(r"^[+-]?(0|[1-9]\d{0,14})$")
_FLOAT = re.compile(r"^[+-]?(\d+\.\d*|\.\d+|\d+)([eE][+-]?\d+)?$")


@dataclass
class XPlanFeature:
    """One feature of an XPlanGML document (a plan, a Bereich, a Festsetzung, a presentation object, ...)."""

    id: str
    cls: str
    geometry: shapely.Geometry | None
    attributes: dict[str, Value] = field(default_factory=dict)
    refs: dict[str, list[str]] = field(default_factory=dict)
    line: int = 0


@dataclass
class XPlanDocument:
    """A whole XPlanGML document: its plans, every other feature, and what was repaired or skipped."""

    source: str
    version: str
    crs: str | None
    plans: list[XPlanFeature] = field(default_factory=list)
    features: list[XPlanFeature] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def is_xplan(head: bytes) -> bool:
    """True when the first bytes of a file show an XPlanGML namespace (for format detection)."""
    return _XPLAN_HEAD.search(head) is not None


def _version(namespace: str) -> str | None:
    match = XPLAN_NAMESPACE.match(namespace)
    return None if match is None else f"{match.group(1)}.{match.group(2)}"


@functools.lru_cache(maxsize=64)
def crs_code(srs_name: str) -> str:
    """'urn:adv:crs:ETRS89_UTM32' → 'EPSG:25832' (the horizontal part of a compound CRS); the name itself
    when it is not an EPSG CRS."""
    try:
        crs = parse_srs_name(srs_name)
    except CRSError:
        return srs_name.strip()
    horizontal = crs.sub_crs_list[0] if crs.is_compound else crs
    code = horizontal.to_epsg()
    return f"EPSG:{code}" if code is not None else srs_name.strip()


def is_code_property(name: str) -> bool:
    """True for a property whose values are codes (kept as str)."""
    return name in CODE_PROPERTIES or name.startswith(("weitere", "detaillierte"))


def typed(name: str, text: str | None, code: bool = False) -> Value:
    """A simple property's text as a typed value (see the module docstring); `code` keeps it a str."""
    if text is None:
        return None
    value = text.strip()
    if not value:
        return None
    if code or is_code_property(name):
        return value
    if value in ("true", "false"):
        return value == "true"
    if _INT.match(value):
        return int(value)
    if _FLOAT.match(value) and not (value.lstrip("+-").startswith("0") and value.lstrip("+-")[1:2].isdigit()):
        return float(value)
    return value


def _is_gml(element: etree._Element) -> bool:
    tag = element.tag
    return isinstance(tag, str) and tag.startswith("{") and tag[1:].partition("}")[0] in GML_NAMESPACES


def _href_target(href: str) -> str:
    if href.startswith("#"):
        return href[1:]
    match = re.search(r"""@gml:id\s*=\s*['"]([^'"]+)['"]""", href)
    if match:
        return match.group(1)
    return href.rpartition("#")[2] if "#" in href else href


class _FeatureReader:
    """Turns one fully parsed feature element into an XPlanFeature (and notes problems)."""

    def __init__(self, source: str, version: str, dimension: int) -> None:
        self.source = source
        self.version = version
        self.dimension = dimension
        self.srs_names: list[str] = []

    def read(self, element: etree._Element, problems: list[str]) -> XPlanFeature:
        cls = local(element.tag)
        feature_id = str(element.get(GML_IDS[0]) or element.get(GML_IDS[1]) or "")
        feature = XPlanFeature(feature_id, cls, None, {}, {}, element.sourceline or 0)
        values: dict[str, list[Value]] = {}
        nested_seen: dict[str, int] = {}
        gml_name: list[Value] = []
        geometry_done = False
        for prop in element:
            name = local(prop.tag)
            if not name:
                continue
            namespace = prop.tag[1:].partition("}")[0] if prop.tag.startswith("{") else ""
            href = prop.get(HREF)
            if href is not None:
                feature.refs.setdefault(name, []).append(_href_target(href))
                continue
            children = [child for child in prop if isinstance(child.tag, str)]
            if namespace in GML_NAMESPACES:
                if name == "name" and not children:
                    gml_name.append(typed(name, prop.text))
                continue
            if not children:
                values.setdefault(name, []).append(
                    None if prop.get(NIL) == "true" else typed(name, prop.text)
                )
            elif _is_gml(children[0]):  # a geometry (unsupported GML types give a 'skipped' line)
                if not geometry_done:
                    geometry_done = True
                    self._geometry(feature, children[0], problems)
            else:
                index = nested_seen.get(name, 0)
                nested_seen[name] = index + 1
                prefix = name if index == 0 else f"{name}[{index}]"
                for data in children:
                    self._nested(prefix, data, values, feature.refs, is_code_property(name))
        for key, items in values.items():
            feature.attributes[key] = (
                items[0] if len(items) == 1 else "; ".join(str(item) for item in items if item is not None)
            )
        if "name" not in feature.attributes and gml_name:
            feature.attributes["name"] = gml_name[0] if len(gml_name) == 1 else "; ".join(map(str, gml_name))
        if cls.endswith("_Plan"):
            self._check_plan(element, feature)
        return feature

    def _nested(
        self,
        prefix: str,
        data: etree._Element,
        values: dict[str, list[Value]],
        refs: dict[str, list[str]],
        code: bool,
    ) -> None:
        """The children of a data type element (XP_Hoehenangabe, XP_Gemeinde, ...) as '<prefix>.<child>'.

        Inside a code-list property (zweckbestimmung/BP_KomplexeZweckbestGruen/allgemein) values stay str."""
        seen: dict[str, int] = {}
        for child in data:
            name = local(child.tag)
            if not name:
                continue
            key = f"{prefix}.{name}"
            href = child.get(HREF)
            if href is not None:
                refs.setdefault(key, []).append(_href_target(href))
                continue
            grandchildren = [inner for inner in child if isinstance(inner.tag, str)]
            if not grandchildren:
                values.setdefault(key, []).append(
                    None if child.get(NIL) == "true" else typed(name, child.text, code)
                )
            elif not _is_gml(grandchildren[0]):
                index = seen.get(name, 0)
                seen[name] = index + 1
                for inner in grandchildren:
                    self._nested(key if index == 0 else f"{key}[{index}]", inner, values, refs, code)

    def _geometry(self, feature: XPlanFeature, element: etree._Element, problems: list[str]) -> None:
        srs = element.get("srsName")
        if srs:
            self.srs_names.append(srs)
        geom, notes = read_geometry(element, self.dimension)
        feature.geometry = geom
        if notes:
            problems.append(f"{feature.id} ({feature.cls}, line {feature.line}): {'; '.join(notes)}")

    def _check_plan(self, element: etree._Element, feature: XPlanFeature) -> None:
        """The cheap schema checks: a plan needs a name, and planArt must not be misspelled."""
        names = {local(child.tag): child for child in element if isinstance(child.tag, str)}
        if feature.cls in PLANS_CHECKED and "planArt" not in names:
            for name, child in names.items():
                if name.startswith("planArt"):
                    raise InputError(
                        f"{self.source}: line {child.sourceline}: element '{name}' is not allowed in "
                        f"{feature.cls} (XPlanGML {self.version})"
                    )
        if "name" not in feature.attributes:
            raise InputError(
                f"{self.source}: line {feature.line}: {feature.cls} {feature.id} has no 'name' "
                f"(required in XPlanGML {self.version})"
            )


def _root_version(root: etree._Element, source: str) -> str | None:
    """The XPlanGML version of the root; None for a WFS collection that declares none (its members tell)."""
    tag = root.tag if isinstance(root.tag, str) else ""
    namespace = tag[1:].partition("}")[0] if tag.startswith("{") else ""
    version = _version(namespace)
    if version is None and local(tag) in COLLECTIONS:  # a WFS response: the declared XPlanGML namespace
        declared = [_version(uri) for uri in root.nsmap.values() if uri]
        version = next((item for item in declared if item), None)
        if version is None:
            return None
    return _supported(version, namespace, tag, source)


def _supported(version: str | None, namespace: str, tag: str, source: str) -> str:
    if version is None:
        prefix = "gml:" if namespace in GML_NAMESPACES else (f"{{{namespace}}}" if namespace else "")
        raise InputError(f"{source}: not an XPlanGML document: root element is {prefix}{local(tag)}")
    if version not in SUPPORTED_VERSIONS:
        raise InputError(
            f"{source}: XPlanGML {version} is not supported (only {', '.join(SUPPORTED_VERSIONS)})"
        )
    return version


def _envelope(element: etree._Element) -> tuple[str | None, int | None]:
    """srsName and dimension of the Envelope inside a gml:boundedBy."""
    for envelope in element:
        if local(envelope.tag) == "Envelope":
            dimension = envelope.get("srsDimension")
            if dimension is None:
                corners = [child for child in envelope if local(child.tag) in ("lowerCorner", "pos")]
                dimension = str(len((corners[0].text or "").split())) if corners else None
            return envelope.get("srsName"), int(dimension) if dimension and dimension.isdigit() else None
    return None, None


def _parse_error(source: str, exc: etree.XMLSyntaxError) -> InputError:
    return InputError(f"{source}: line {exc.lineno}: not well-formed XML: {exc.msg}")


def read_xplan(ref: SourceRef) -> XPlanDocument:
    """Read an XPlanGML document (file or zip member); InputError naming the file when it cannot be used."""
    source = ref.name
    document: XPlanDocument | None = None
    reader: _FeatureReader | None = None
    names: list[str] = []
    envelope_srs: str | None = None
    try:
        with ref.open() as handle:
            context = etree.iterparse(
                handle,
                events=("start", "end"),
                resolve_entities=False,
                no_network=True,
                load_dtd=False,
                huge_tree=True,
                remove_comments=True,
            )
            for event, element in context:
                name = local(element.tag)
                if event == "start":
                    found = None
                    if not names:
                        found = _root_version(element, source)
                    elif document is None and names[-1] in MEMBER_WRAPPERS:
                        # A WFS collection that declared no XPlanGML namespace: the first member's tells.
                        tag = element.tag if isinstance(element.tag, str) else ""
                        namespace = tag[1:].partition("}")[0] if tag.startswith("{") else ""
                        found = _supported(_version(namespace), namespace, tag, source)
                    if found is not None:
                        document = XPlanDocument(source, found, None)
                        reader = _FeatureReader(source, found, 2)
                    names.append(name)
                    continue
                names.pop()
                if document is None or reader is None:  # a WFS collection before its first member
                    if name == "boundedBy" and len(names) == 1:
                        envelope_srs = envelope_srs or _envelope(element)[0]
                    continue
                parent = names[-1] if names else ""
                if parent in MEMBER_WRAPPERS and name not in COLLECTIONS and name not in MEMBER_WRAPPERS:
                    feature = reader.read(element, document.problems)
                    (document.plans if feature.cls.endswith("_Plan") else document.features).append(feature)
                    element.clear(keep_tail=True)
                    while element.getprevious() is not None:
                        del element.getparent()[0]
                elif name in MEMBER_WRAPPERS or (name == "boundedBy" and len(names) == 1):
                    if name == "boundedBy":
                        srs, dimension = _envelope(element)
                        envelope_srs = envelope_srs or srs
                        reader.dimension = dimension if dimension in (2, 3) else reader.dimension
                    element.clear(keep_tail=True)
                    while element.getprevious() is not None:
                        del element.getparent()[0]
    except etree.XMLSyntaxError as exc:
        raise _parse_error(source, exc) from exc
    except (OSError, zipfile.BadZipFile) as exc:
        raise InputError(f"{source}: cannot be read ({exc})") from exc
    if document is None or reader is None:
        raise InputError(f"{source}: no XPlanGML feature in the document")
    srs_name = envelope_srs or (reader.srs_names[0] if reader.srs_names else None)
    document.crs = crs_code(srs_name) if srs_name else None
    return document


def read_geometry_fragment(ref: SourceRef) -> tuple[shapely.Geometry | None, list[str]]:
    """A bare GML geometry file (gml:Polygon, gml:Ring, gml:MultiSurface, ...) read with the same geometry
    rules and repair as read_xplan: (geometry or None, notes on what was repaired or why it was skipped)."""
    parser = etree.XMLParser(
        resolve_entities=False, no_network=True, load_dtd=False, huge_tree=True, remove_comments=True
    )
    try:
        with ref.open() as handle:
            root = etree.parse(handle, parser).getroot()
    except etree.XMLSyntaxError as exc:
        raise _parse_error(ref.name, exc) from exc
    except (OSError, zipfile.BadZipFile) as exc:
        raise InputError(f"{ref.name}: cannot be read ({exc})") from exc
    if not is_gml_geometry(root):
        raise InputError(f"{ref.name}: not a GML geometry: root element is {local(root.tag)}")
    return read_geometry(root)
