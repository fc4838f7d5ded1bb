"""PlanZV style categories of XPlanGML features: which colour family a plan object is drawn in.

The Planzeichenverordnung (PlanZV) gives each kind of Festsetzung its colour: Wohnbauflächen red, gemischte
Bauflächen brown, gewerbliche grey, Sonderbauflächen orange, Gemeinbedarf magenta, Verkehr yellow, Grün green,
Wasser blue, ... The ingest stores one category key per feature (column ``planzv``); the viewer
(web/src/planzv.js) owns the colours and the legend's words. Keys, not colours, cross the API.
"""

from __future__ import annotations

from collections.abc import Mapping

Value = str | int | float | bool | None

# BauNVO Baugebiete (besondereArtDerBaulNutzung) and Bauflächen (allgArtDerBaulNutzung) by their code's family.
_BESONDERE = {
    "1000": "wohnen", "1100": "wohnen", "1200": "wohnen", "1300": "wohnen",
    "1400": "gemischt", "1450": "gemischt", "1500": "gemischt", "1550": "gemischt", "1600": "gemischt",
    "1700": "gewerbe", "1800": "gewerbe",
}  # fmt: skip
_ALLGEMEINE = {"1000": "wohnen", "2000": "gemischt", "3000": "gewerbe", "4000": "sonder"}

# Classes by their name (the same in BP_, FP_ and SO_ where both exist).
_BY_CLASS = {
    "UeberbaubareGrundstuecksFlaeche": "ueberbaubar",
    "BauGrenze": "baugrenze",
    "BauLinie": "baulinie",
    "Bereich": "bereich",
    "GemeinbedarfsFlaeche": "gemeinbedarf",
    "SpielSportanlagenFlaeche": "gemeinbedarf",
    "StrassenVerkehrsFlaeche": "verkehr",
    "VerkehrsflaecheBesondererZweckbestimmung": "verkehr",
    "StrassenbegrenzungsLinie": "verkehr",
    "BereichOhneEinAusfahrtLinie": "verkehr",
    "EinfahrtsbereichLinie": "verkehr",
    "GruenFlaeche": "gruen",
    "AnpflanzungBindungErhaltung": "gruen",
    "SchutzPflegeEntwicklungsFlaeche": "gruen",
    "SchutzPflegeEntwicklungsMassnahme": "gruen",
    "KleintierhaltungFlaeche": "gruen",
    "GewaesserFlaeche": "wasser",
    "WasserwirtschaftsFlaeche": "wasser",
    "WaldFlaeche": "wald",
    "LandwirtschaftsFlaeche": "landwirtschaft",
    "VerEntsorgung": "sonstiges",
}


def planzv_category(cls: str, attributes: Mapping[str, Value]) -> str:
    """The style category of a feature of class ``cls`` (e.g. ``BP_BaugebietsTeilFlaeche``)."""
    if cls.endswith("_Plan"):
        return "geltungsbereich"
    name = cls.split("_", 1)[1] if "_" in cls else cls
    if name in ("BaugebietsTeilFlaeche", "BebauungsFlaeche", "BaugebietsFlaeche"):
        besondere = str(attributes.get("besondereArtDerBaulNutzung") or "")
        if besondere.startswith(("2", "3", "4")):
            return "sonder"
        if besondere in _BESONDERE:
            return _BESONDERE[besondere]
        return _ALLGEMEINE.get(str(attributes.get("allgArtDerBaulNutzung") or ""), "sonstiges")
    return _BY_CLASS.get(name, "sonstiges")
