// Readable labels for well-known attribute names, and for the code lists some attributes carry.
// Unknown attributes keep their raw name; unknown codes are shown as they are.

import { functionEntries, functionEntry, roofTypeEntries, roofTypeEntry } from "./codelists.js";
import { language } from "./i18n.js";
import { xplanClassLabel } from "./planzv.js";

const ATTRIBUTES = {
  source_id: { de: "Objekt-ID", en: "Object ID" },
  gml_id: { de: "GML-ID", en: "GML ID" },
  name: { de: "Name", en: "Name" },
  adresse: { de: "Adresse", en: "Address" },
  address: { de: "Adresse", en: "Address" },
  addresses: { de: "Adressen", en: "Addresses", format: "list" },
  hoehe: { de: "Gebäudehöhe", en: "Building height", unit: "m" },
  height: { de: "Modellhöhe", en: "Model height", unit: "m" },
  traufhoehe: { de: "Traufhöhe", en: "Eaves height", unit: "m" },
  firsthoehe: { de: "Firsthöhe", en: "Ridge height", unit: "m" },
  bodenhoehe: { de: "Geländehöhe", en: "Ground height", unit: "m" },
  geschosse: { de: "Geschosse", en: "Storeys" },
  storeys: { de: "Geschosse", en: "Storeys" },
  gebaeudefunktion: { de: "Gebäudefunktion", en: "Building function", codes: "function" },
  function: { de: "Gebäudefunktion", en: "Building function", codes: "function" },
  dachform: { de: "Dachform", en: "Roof type", codes: "roof" },
  roof_type: { de: "Dachform", en: "Roof type", codes: "roof" },
  baujahr: { de: "Baujahr", en: "Year of construction" },
  year_built: { de: "Baujahr", en: "Year of construction" },
  grundflaeche: { de: "Grundfläche", en: "Footprint area", unit: "m²" },
  lod: { de: "Detailstufe", en: "Level of detail", format: "lod" },
  quelle: { de: "Quelle", en: "Source" },
  height_rule: { de: "Höhenquelle", en: "Height source", format: "heightRule" },
  funktion_text: { de: "Funktion (Text)", en: "Function (text)" },
  strasse: { de: "Straße", en: "Street" },
  hausnummer: { de: "Hausnummer", en: "House number" },
  plz: { de: "Postleitzahl", en: "Postcode" },
  ort: { de: "Ort", en: "Place" },
  planart: { de: "Planart", en: "Plan type", codes: "planart" },
  nutzung: { de: "Nutzung", en: "Land use" },
  rechtsstand: { de: "Rechtsstand", en: "Legal status", codes: "status" },
  planstatus: { de: "Planstatus", en: "Plan status" },
  inkrafttretensdatum: { de: "In Kraft seit", en: "In force since", format: "date" },
  aufstellungsbeschlussdatum: { de: "Aufstellungsbeschluss", en: "Decision to draw up", format: "date" },
  planaufstellendegemeinde: { de: "Planaufstellende Gemeinde", en: "Planning municipality" },
  dienststelle: { de: "Dienststelle", en: "Office" },
  amt: { de: "Amt", en: "Office" },
  dokument: { de: "Dokument", en: "Document" },
  externereferenz: { de: "Planunterlagen", en: "Plan documents" },

  // The building envelopes of a Bebauungsplan (3D Tiles made from its XPlanGML Festsetzungen).
  festsetzung: { de: "Festsetzung", en: "Regulation" },
  rule: { de: "Regel", en: "Rule" },
  envelope_height: { de: "Höhe der Hüllkurve", en: "Envelope height", unit: "m" },
  plan_id: { de: "Plan", en: "Plan" },
  xplan_class: { de: "XPlanung-Klasse", en: "XPlanung class", codes: "xplan" },

  // The canonical names the CityGML/CityJSON ingest writes (twin.ingest.citymodel).
  class: { de: "Gebäudeklasse", en: "Building class" },
  function_label: { de: "Funktion (Bezeichnung)", en: "Function (label)" },
  usage: { de: "Gebäudenutzung", en: "Building usage", codes: "function" },
  usage_label: { de: "Nutzung (Bezeichnung)", en: "Usage (label)" },
  roof_type_label: { de: "Dachform (Bezeichnung)", en: "Roof type (label)" },
  class_code_space: { de: "Codeliste der Gebäudeklasse", en: "Building class code list" },
  function_code_space: { de: "Codeliste der Funktion", en: "Function code list" },
  usage_code_space: { de: "Codeliste der Nutzung", en: "Usage code list" },
  roof_type_code_space: { de: "Codeliste der Dachform", en: "Roof type code list" },
  measured_height: { de: "Gemessene Höhe", en: "Measured height", unit: "m" },
  storeys_above_ground: { de: "Geschosse über Grund", en: "Storeys above ground" },
  storeys_below_ground: { de: "Geschosse unter Grund", en: "Storeys below ground" },
  year_of_construction: { de: "Baujahr", en: "Year of construction" },
  year_of_demolition: { de: "Abrissjahr", en: "Year of demolition" },
  street: { de: "Straße", en: "Street" },
  house_number: { de: "Hausnummer", en: "House number" },
  postcode: { de: "Postleitzahl", en: "Postcode" },
  locality: { de: "Ort", en: "Locality" },
  creation_date: { de: "Erstellungsdatum", en: "Creation date", format: "date" },
  building_parts: { de: "Gebäudeteile", en: "Building parts" },
  source_file: { de: "Quelldatei", en: "Source file" },

  // Generic attributes of the NRW LoD2 buildings (looked up in lower case).
  gemeindeschluessel: { de: "Gemeindeschlüssel", en: "Municipality key" },
  datenquelledachhoehe: { de: "Datenquelle Dachhöhe", en: "Data source of the roof height" },
  datenquellebodenhoehe: { de: "Datenquelle Bodenhöhe", en: "Data source of the ground height" },
  datenquellelage: { de: "Datenquelle Lage", en: "Data source of the position" },
  grundrissaktualitaet: { de: "Grundrissaktualität", en: "Footprint up to date as of", format: "date" },
  geometrietyp2dreferenz: { de: "Geometrietyp 2D-Referenz", en: "Geometry type of the 2D reference" },
};

// XPlanung BP_PlanArt (plan type) and BP_Rechtsstand (legal status), the common values.
const PLANART_CODES = {
  1000: { de: "Bebauungsplan", en: "Development plan" },
  10000: { de: "Einfacher Bebauungsplan", en: "Simple development plan" },
  10001: { de: "Qualifizierter Bebauungsplan", en: "Qualified development plan" },
  3000: { de: "Vorhabenbezogener Bebauungsplan", en: "Project-related development plan" },
  4000: { de: "Innenbereichssatzung", en: "Inner-area bylaw" },
  5000: { de: "Außenbereichssatzung", en: "Outer-area bylaw" },
  7000: { de: "Örtliche Bauvorschrift", en: "Local building regulation" },
  9999: { de: "Sonstiges", en: "Other" },
};
const STATUS_CODES = {
  1000: { de: "Aufstellungsbeschluss", en: "Decision to draw up" },
  2000: { de: "Entwurf", en: "Draft" },
  3000: { de: "Satzung", en: "Bylaw" },
  4000: { de: "In Kraft getreten", en: "In force" },
  4500: { de: "Teilweise untergegangen", en: "Partly void" },
  5000: { de: "Untergegangen", en: "Void" },
};

// Rows of the attribute panel: what a planner reads first (name, function, address, heights, years), then
// attributes this table does not know (in their data order), then where the data came from.
const LEADING = [
  "xplan_class", "rule", "envelope_height", "festsetzung",
  "name", "function", "gebaeudefunktion", "usage", "class", "roof_type", "dachform",
  "address", "adresse", "addresses", "street", "strasse", "house_number", "hausnummer", "postcode", "plz",
  "locality", "ort", "measured_height", "hoehe", "height", "traufhoehe", "firsthoehe", "bodenhoehe",
  "storeys_above_ground", "storeys_below_ground", "geschosse", "storeys", "grundflaeche",
  "year_of_construction", "baujahr", "year_built", "year_of_demolition",
]; // prettier-ignore
const TRAILING = [
  "source_id", "gml_id", "lod", "building_parts", "height_rule", "creation_date", "source_file",
  "gemeindeschluessel", "grundrissaktualitaet", "datenquellelage", "datenquellebodenhoehe",
  "datenquelledachhoehe", "geometrietyp2dreferenz",
]; // prettier-ignore

// Values of height_rule (twin.ingest.attributes and the city model ingest).
const HEIGHT_RULES = {
  geometry: { de: "aus dem 3D-Modell", en: "from the 3D model" },
  storeys: { de: "aus der Geschosszahl geschätzt", en: "estimated from the number of storeys" },
  default: { de: "Standardhöhe (keine Angabe)", en: "default height (none given)" },
  attribute: { de: "Attribut „{name}“", en: "attribute “{name}”" },
};

/** The readable label of attribute `name` in the active language, or `name` itself. */
export function attributeLabel(name) {
  const known = ATTRIBUTES[String(name).toLowerCase()];
  return known ? known[language()] : name;
}

/** The unit of a well-known attribute ("m", "m²") or "". */
export function attributeUnit(name) {
  return ATTRIBUTES[String(name).toLowerCase()]?.unit ?? "";
}

/** How values of attribute `name` are shown: "date", "lod", "heightRule", "list" or null (as they are). */
export function attributeFormat(name) {
  return ATTRIBUTES[String(name).toLowerCase()]?.format ?? null;
}

/** True if attribute `name` carries codes of a code list (function, roof type, plan type, ...). */
export function isCoded(name) {
  return Boolean(ATTRIBUTES[String(name).toLowerCase()]?.codes);
}

/** `entries` ([name, value] pairs) in the panel's order: well-known first, provenance last, others between. */
export function orderAttributes(entries) {
  const rank = (name, index) => {
    const key = String(name).toLowerCase();
    if (LEADING.includes(key)) return LEADING.indexOf(key);
    if (TRAILING.includes(key)) return LEADING.length + entries.length + TRAILING.indexOf(key);
    return LEADING.length + index;
  };
  return entries
    .map((entry, index) => [rank(entry[0], index), entry])
    .sort((a, b) => a[0] - b[0])
    .map(([, entry]) => entry);
}

/** A height_rule value in words ("aus dem 3D-Modell"); unknown rules are returned as they are. */
export function heightRuleText(value) {
  const text = String(value);
  const [rule, ...rest] = text.split(":");
  const entry = HEIGHT_RULES[rule];
  if (!entry || (rule === "attribute") !== rest.length > 0) {
    return text;
  }
  const name = rest.join(":");
  return entry[language()].replace("{name}", name ? attributeLabel(name) : "");
}

/** An ISO date ("2021-01-23") in the active language's form ("23.01.2021"); anything else as it is. */
export function dateText(value) {
  const text = String(value).trim();
  const match = /^(\d{4})-(\d{2})-(\d{2})$/.exec(text);
  if (!match) {
    return text;
  }
  const date = new Date(Date.UTC(Number(match[1]), Number(match[2]) - 1, Number(match[3])));
  if (Number.isNaN(date.getTime()) || date.getUTCDate() !== Number(match[3])) {
    return text;
  }
  const locale = language() === "en" ? "en-GB" : "de-DE";
  return new Intl.DateTimeFormat(locale, { dateStyle: "medium", timeZone: "UTC" }).format(date);
}

/** Candidate {de, en} entries of one code of code list `list` (several when the code space is unknown). */
function codeEntries(list, code, codeSpace) {
  if (codeSpace) {
    const entry = codeEntry(list, code, codeSpace);
    return entry ? [entry] : [];
  }
  if (list === "function") {
    return functionEntries(code);
  }
  if (list === "roof") {
    return roofTypeEntries(code);
  }
  const entry = codeEntry(list, code, null);
  return entry ? [entry] : [];
}

/** The {de, en} entry of one code of code list `list`, or null. */
function codeEntry(list, code, codeSpace) {
  if (list === "function") {
    return functionEntry(code, codeSpace);
  }
  if (list === "roof") {
    return roofTypeEntry(code, codeSpace);
  }
  if (list === "planart") {
    return PLANART_CODES[code] ?? null;
  }
  if (list === "status") {
    return STATUS_CODES[code] ?? null;
  }
  if (list === "xplan") {
    const de = xplanClassLabel(code, "de");
    return de ? { de, en: xplanClassLabel(code, "en") } : null;
  }
  return null;
}

/**
 * A code value made readable: "Wohngebäude (31001_1000)"; values that are not known codes give null.
 * Several codes joined by ";" are labelled one by one. `codeSpace` (the attribute's `<name>_code_space`, when
 * the caller has it) picks the code list where AdV and SIG3D codes overlap; without it AdV is assumed.
 * `storedLabel` (the German `<name>_label` the ingest stored, "; "-joined for several codes) wins in German and
 * tells which list a code is from; in English it is shown where no list has the code.
 */
export function codeLabel(name, value, codeSpace = null, storedLabel = null) {
  const list = ATTRIBUTES[String(name).toLowerCase()]?.codes;
  if (!list || value === undefined || value === null) {
    return null;
  }
  const codes = String(value)
    .split(";")
    .map((code) => code.trim())
    .filter((code) => code !== "");
  const storedText = typeof storedLabel === "string" ? storedLabel.trim() : "";
  let stored = storedText ? storedText.split(";").map((part) => part.trim()) : [];
  if (stored.length !== codes.length) {
    // A label that does not split like the codes belongs to them as a whole (one code), or to none of them.
    stored = codes.length === 1 && storedText ? [storedText] : [];
  }
  const labels = codes.map((code, i) => {
    const own = stored[i] && stored[i] !== code ? stored[i] : null;
    const candidates = codeEntries(list, code, codeSpace);
    const entry = own ? (candidates.find((candidate) => candidate.de === own) ?? null) : (candidates[0] ?? null);
    if (language() === "de" && own) {
      return own;
    }
    return entry ? entry[language()] : own;
  });
  if (!labels.some((label) => label)) {
    return null;
  }
  return codes.map((code, i) => (labels[i] ? `${labels[i]} (${code})` : code)).join("; ");
}
