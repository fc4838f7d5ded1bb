"""German labels for the XPlanGML code lists the twin shows (enumerations of XPlanung 4.1 - 6.0).

XPlanGML writes enumeration values as numeric codes (`<xplan:rechtsstand>4000</xplan:rechtsstand>`); the
reader keeps them as strings and these tables turn them into text for people. The codes were checked against
the XPlanung object model as far as memory of the schemas goes (no network here); the notes below say where
versions differ or where that check is less certain. Only the code lists named here are covered: any other
property or code gives None, never a guess.
"""

from __future__ import annotations

# BP_Rechtsstand: enumeration name (as the catalog stores it) and German text.
# 4500 TeilweiseUntergegangen exists since XPlanGML 5.x; 50000 Aufgehoben and 50001 AusserKraft were added with
# 5.3/6.0 (from memory of the change log: treat the version boundary as uncertain, the codes are certain).
BP_RECHTSSTAND: dict[str, tuple[str, str]] = {
    "1000": ("Aufstellungsbeschluss", "Aufstellungsbeschluss"),
    "2000": ("Entwurf", "Entwurf"),
    "2100": ("FruehzeitigeBehoerdenBeteiligung", "Frühzeitige Beteiligung der Behörden"),
    "2200": ("FruehzeitigeOeffentlichkeitsBeteiligung", "Frühzeitige Beteiligung der Öffentlichkeit"),
    "2300": ("BehoerdenBeteiligung", "Beteiligung der Behörden"),
    "2400": ("OeffentlicheAuslegung", "Öffentliche Auslegung"),
    "3000": ("Satzung", "Satzung"),
    "4000": ("InkraftGetreten", "In Kraft getreten"),
    "4500": ("TeilweiseUntergegangen", "Teilweise untergegangen"),
    "5000": ("Untergegangen", "Untergegangen"),
    "50000": ("Aufgehoben", "Aufgehoben"),
    "50001": ("AusserKraft", "Außer Kraft"),
}
# FP_Rechtsstand differs from BP only in 3000 (Plan) and 4000 (Wirksamkeit); no 4500.
FP_RECHTSSTAND: dict[str, tuple[str, str]] = {
    **{code: value for code, value in BP_RECHTSSTAND.items() if code not in ("3000", "4000", "4500")},
    "3000": ("Plan", "Plan beschlossen"),
    "4000": ("Wirksamkeit", "Wirksam"),
}

ALLG_ART_DER_BAUL_NUTZUNG = {  # XP_AllgArtDerBaulNutzung (BauNVO § 1 Abs. 1)
    "1000": "Wohnbaufläche",
    "2000": "Gemischte Baufläche",
    "3000": "Gewerbliche Baufläche",
    "4000": "Sonderbaufläche",
    "9999": "Sonstige Baufläche",
}
BESONDERE_ART_DER_BAUL_NUTZUNG = {  # XP_BesondereArtDerBaulNutzung (BauNVO § 1 Abs. 2)
    "1000": "Kleinsiedlungsgebiet (WS)",
    "1100": "Reines Wohngebiet (WR)",
    "1200": "Allgemeines Wohngebiet (WA)",
    "1300": "Besonderes Wohngebiet (WB)",
    "1400": "Dorfgebiet (MD)",
    "1450": "Dörfliches Wohngebiet (MDW)",  # since XPlanGML 5.4 / BauNVO 2021
    "1500": "Mischgebiet (MI)",
    "1550": "Urbanes Gebiet (MU)",  # since XPlanGML 5.0 / BauNVO 2017
    "1600": "Kerngebiet (MK)",
    "1700": "Gewerbegebiet (GE)",
    "1800": "Industriegebiet (GI)",
    "2000": "Sondergebiet Erholung (SO)",
    "2100": "Sonstiges Sondergebiet (SO)",
    "3000": "Wochenendhausgebiet",
    "4000": "Sondergebiet",
    "9999": "Sonstiges Gebiet",
}
BAUWEISE = {  # BP_Bauweise
    "1000": "offene Bauweise",
    "2000": "geschlossene Bauweise",
    "3000": "abweichende Bauweise",
}
DACHFORM = {  # BP_Dachform
    "1000": "Flachdach",
    "2100": "Pultdach",
    "2200": "versetztes Pultdach",
    "3000": "geneigtes Dach",
    "3100": "Satteldach",
    "3200": "Walmdach",
    "3300": "Krüppelwalmdach",
    "3400": "Mansarddach",
    "3500": "Zeltdach",
    "3600": "Kegeldach",
    "3700": "Kuppeldach",
    "3800": "Sheddach",
    "3900": "Bogendach",
    "4000": "Turmdach",
    "4100": "Tonnendach",
    "5000": "Mischform",
    "9999": "Sonstiges",
}
# XP_ArtHoehenbezug. XPlanGML 4.1 knows fewer values (1000, 2000, 2500, 3000 from memory); the labels of the
# later codes are the 5.x / 6.0 ones.
HOEHENBEZUG = {
    "1000": "absolut, Normalhöhennull (NHN)",
    "1100": "absolut, Normalnull (NN)",
    "1200": "absolut, DHHN",
    "2000": "relativ zur Geländeoberkante",
    "2500": "relativ zur Gehweg-Oberkante",
    "3000": "relativ zur Bezugshöhe",
    "3500": "relativ zur Straße",
    "4000": "relativ zur Erdgeschoss-Fußbodenhöhe (EFH)",
}

BEBAUUNGSART = {  # BP_BebauungsArt (BauNVO § 22 Abs. 2: which house types the offene Bauweise allows)
    "1000": "nur Einzelhäuser",
    "2000": "nur Doppelhäuser",
    "3000": "nur Hausgruppen",
    "4000": "nur Einzel- und Doppelhäuser",
    "5000": "nur Einzelhäuser und Hausgruppen",
    "6000": "nur Doppelhäuser und Hausgruppen",
    "7000": "nur Reihenhäuser",
    "8000": "Einzelhäuser, Doppelhäuser und Hausgruppen",
}

RECHTSCHARAKTER = {  # BP_Rechtscharakter / XP_Rechtscharakter (the legal nature of a plan object)
    "1000": "Festsetzung",
    "2000": "Nachrichtliche Übernahme",
    "3000": "Hinweis",
    "4000": "Vermerk",
    "5000": "Kennzeichnung",
    "9998": "unbekannt",
}

_LABELS: dict[str, dict[str, str]] = {
    "allgArtDerBaulNutzung": ALLG_ART_DER_BAUL_NUTZUNG,
    "besondereArtDerBaulNutzung": BESONDERE_ART_DER_BAUL_NUTZUNG,
    "bauweise": BAUWEISE,
    "dachform": DACHFORM,
    "hoehenbezug": HOEHENBEZUG,
    "bebauungsArt": BEBAUUNGSART,
    "rechtscharakter": RECHTSCHARAKTER,
}


def _property_name(prop: str) -> str:
    """'hoehenangabe[1].hoehenbezug' → 'hoehenbezug': the attribute keys of the reader work too."""
    return prop.rpartition(".")[2].partition("[")[0]


def _rechtsstand(cls: str | None) -> dict[str, tuple[str, str]]:
    return FP_RECHTSSTAND if cls is not None and cls.startswith("FP_") else BP_RECHTSSTAND


def code_label(property: str, code: str, cls: str | None = None) -> str | None:
    """German text for a code of a code-list property, or None when the property or code is not known.

    `cls` (e.g. "FP_Plan") matters only for rechtsstand, whose codes 3000/4000 mean different things in a
    Flächennutzungsplan; without it the Bebauungsplan meaning is used.
    """
    name = _property_name(property)
    key = str(code).strip()
    if name == "rechtsstand":
        entry = _rechtsstand(cls).get(key)
        return None if entry is None else entry[1]
    table = _LABELS.get(name)
    return None if table is None else table.get(key)


def rechtsstand_name(code: str | int, cls: str | None = None) -> str | None:
    """The enumeration name of a rechtsstand code ("4000" → "InkraftGetreten"), as the catalog stores it."""
    entry = _rechtsstand(cls).get(str(code).strip())
    return None if entry is None else entry[0]
