// PlanZV-like drawing of Bebauungsplan features: one entry per `planzv` category the server writes (see
// twin's XPlanGML ingest), with its colour, how it is drawn (a semi-transparent fill on the ground, a line, or an
// outline only) and its legend label in German and English. Also the German names of the XPlanung classes.

import { language } from "./i18n.js";

/**
 * Categories in the legend's fixed order (as PlanZV lists them: Art der baulichen Nutzung, Gemeinbedarf,
 * Verkehr, Grün, Wasser, Landwirtschaft/Wald, then the lines and boundaries).
 * `draw`: "fill" (area), "light" (a faint fill with a dashed outline), "line" (a line, or an area's outline),
 * "outline" (an area's exterior ring only, no fill). `alpha`: the fill's opacity at full layer opacity.
 */
export const PLANZV = Object.freeze({
  wohnen: { color: "#e0605a", draw: "fill", alpha: 0.65, de: "Wohnbauflächen", en: "Residential" },
  gemischt: { color: "#b07a4f", draw: "fill", alpha: 0.65, de: "Gemischte Bauflächen", en: "Mixed use" },
  gewerbe: { color: "#9a9a9a", draw: "fill", alpha: 0.65, de: "Gewerbliche Bauflächen", en: "Commercial" },
  sonder: { color: "#f0a030", draw: "fill", alpha: 0.65, de: "Sonderbauflächen", en: "Special use" },
  gemeinbedarf: {
    color: "#d77fb3", draw: "fill", alpha: 0.65, de: "Flächen für den Gemeinbedarf", en: "Community facilities",
  },
  verkehr: { color: "#f2d16b", draw: "fill", alpha: 0.7, de: "Verkehrsflächen", en: "Traffic areas" },
  gruen: { color: "#7cc070", draw: "fill", alpha: 0.65, de: "Grünflächen", en: "Green spaces" },
  wasser: { color: "#6fb3e0", draw: "fill", alpha: 0.7, de: "Wasserflächen", en: "Water" },
  wald: { color: "#3a7d3a", draw: "fill", alpha: 0.65, de: "Flächen für Wald", en: "Forest" },
  landwirtschaft: {
    color: "#d8e08a", draw: "fill", alpha: 0.65, de: "Flächen für die Landwirtschaft", en: "Agriculture",
  },
  ueberbaubar: {
    color: "#ffffff", draw: "light", alpha: 0.3, line: "#1f5fbf", width: 2,
    de: "Überbaubare Grundstücksfläche", en: "Buildable plot area",
  },
  baugrenze: { color: "#1f5fbf", draw: "line", dashed: true, width: 3, de: "Baugrenze", en: "Building boundary" },
  baulinie: { color: "#c0392b", draw: "line", width: 3, de: "Baulinie", en: "Building line" },
  bereich: { color: "#7a7a7a", draw: "outline", width: 2, de: "Planbereich", en: "Plan section" },
  geltungsbereich: {
    color: "#000000", draw: "outline", width: 5, de: "Grenze des Geltungsbereichs", en: "Plan boundary",
  },
  sonstiges: { color: "#bbbbbb", draw: "fill", alpha: 0.5, de: "Sonstige Festsetzungen", en: "Other" },
}); // prettier-ignore

export const PLANZV_ORDER = Object.freeze(Object.keys(PLANZV));

/** The drawing of category `key` (unknown keys: "sonstiges"). */
export function planzvStyle(key) {
  return PLANZV[key] ?? PLANZV.sonstiges;
}

/** The legend label of category `key` in the active language (unknown keys: the key itself). */
export function planzvLabel(key) {
  const entry = PLANZV[key];
  return entry ? entry[language()] ?? entry.de : String(key);
}

/**
 * The CSS background of a legend swatch for category `key`: a plain colour for areas, a (dashed) bar for
 * lines and outlines.
 */
export function planzvSwatch(key) {
  const style = planzvStyle(key);
  if (style.draw === "fill") return style.color;
  const ink = style.draw === "light" ? style.line : style.color;
  const band = `linear-gradient(transparent 35%, ${ink} 35% 65%, transparent 65%)`;
  if (style.draw === "light" || style.dashed) {
    // white gaps over the bar make it dashed; the light area keeps a faint fill behind it
    return `repeating-linear-gradient(90deg, transparent 0 4px, #ffffff 4px 6px), ${band}`;
  }
  return style.draw === "outline" ? `${band}, linear-gradient(#ffffff, #ffffff)` : band;
}

/** Categories present in `keys` (any iterable), in PlanZV order; unknown keys count as "sonstiges". */
export function planzvCategories(keys) {
  const present = new Set([...keys].map((key) => (PLANZV[key] ? key : "sonstiges")));
  return PLANZV_ORDER.filter((key) => present.has(key));
}

// XPlanung classes (BP_ Bebauungsplan, FP_ Flächennutzungsplan, SO_ sonstige), German first.
const CLASSES = {
  BP_Plan: { de: "Geltungsbereich", en: "Plan boundary" },
  BP_Bereich: { de: "Planbereich", en: "Plan section" },
  BP_BaugebietsTeilFlaeche: { de: "Baugebietsteilfläche", en: "Building area section" },
  BP_UeberbaubareGrundstuecksFlaeche: { de: "Überbaubare Grundstücksfläche", en: "Buildable plot area" },
  BP_BauGrenze: { de: "Baugrenze", en: "Building boundary" },
  BP_BauLinie: { de: "Baulinie", en: "Building line" },
  BP_GruenFlaeche: { de: "Grünfläche", en: "Green space" },
  BP_StrassenVerkehrsFlaeche: { de: "Straßenverkehrsfläche", en: "Road area" },
  BP_StrassenbegrenzungsLinie: { de: "Straßenbegrenzungslinie", en: "Road boundary line" },
  BP_VerkehrsflaecheBesondererZweckbestimmung: {
    de: "Verkehrsfläche besonderer Zweckbestimmung", en: "Traffic area for a special purpose",
  },
  BP_GemeinbedarfsFlaeche: { de: "Fläche für den Gemeinbedarf", en: "Community facilities area" },
  BP_SpielSportanlagenFlaeche: { de: "Fläche für Spiel- und Sportanlagen", en: "Play and sports area" },
  BP_GewaesserFlaeche: { de: "Wasserfläche", en: "Water area" },
  BP_WaldFlaeche: { de: "Waldfläche", en: "Forest area" },
  BP_LandwirtschaftsFlaeche: { de: "Fläche für die Landwirtschaft", en: "Agricultural area" },
  BP_NebenanlagenFlaeche: { de: "Fläche für Nebenanlagen", en: "Ancillary buildings area" },
  BP_GemeinschaftsanlagenFlaeche: { de: "Fläche für Gemeinschaftsanlagen", en: "Shared facilities area" },
  BP_VerEntsorgung: { de: "Fläche für Ver- und Entsorgung", en: "Utilities area" },
  BP_AnpflanzungBindungErhaltung: {
    de: "Anpflanzung, Bindung und Erhaltung", en: "Planting and preservation",
  },
  BP_NutzungsartenGrenze: { de: "Nutzungsartengrenze", en: "Boundary between uses" },
  BP_FirstRichtungsLinie: { de: "Firstrichtung", en: "Ridge direction" },
  BP_TextAbschnittFlaeche: { de: "Textliche Festsetzung", en: "Textual regulation" },
  FP_Plan: { de: "Geltungsbereich", en: "Plan boundary" },
  FP_BebauungsFlaeche: { de: "Baufläche", en: "Building area" },
}; // prettier-ignore

/** The readable name of XPlanung class `name` ("BP_BauGrenze" -> "Baugrenze") in `lang` (default: the active
 * language), or null when unknown. */
export function xplanClassLabel(name, lang = language()) {
  const entry = CLASSES[name];
  return entry ? (entry[lang] ?? entry.de) : null;
}
