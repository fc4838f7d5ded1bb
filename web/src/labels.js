// Readable labels for well-known attribute names, and for the code lists some attributes carry.
// Unknown attributes keep their raw name; unknown codes are shown as they are.

import { functionEntry, roofTypeEntry } from "./codelists.js";
import { language } from "./i18n.js";

const ATTRIBUTES = {
  source_id: { de: "Objekt-ID", en: "Object ID" },
  gml_id: { de: "GML-ID", en: "GML ID" },
  name: { de: "Name", en: "Name" },
  adresse: { de: "Adresse", en: "Address" },
  address: { de: "Adresse", en: "Address" },
  addresses: { de: "Adressen", en: "Addresses" },
  hoehe: { de: "Gebäudehöhe", en: "Building height", unit: "m" },
  height: { de: "Modellhöhe", en: "Model height", unit: "m" },
  traufhoehe: { de: "Traufhöhe", en: "Eaves height", unit: "m" },
  firsthoehe: { de: "Firsthöhe", en: "Ridge height", unit: "m" },
  bodenhoehe: { de: "Geländehöhe", en: "Ground height", unit: "m" },
  geschosse: { de: "Geschosse", en: "Storeys" },
  storeys: { de: "Geschosse", en: "Storeys" },
  gebaeudefunktion: { de: "Gebäudefunktion", en: "Building function", codes: "function" },
  function: { de: "Funktion", en: "Function", codes: "function" },
  dachform: { de: "Dachform", en: "Roof type", codes: "roof" },
  roof_type: { de: "Dachform", en: "Roof type", codes: "roof" },
  baujahr: { de: "Baujahr", en: "Year of construction" },
  year_built: { de: "Baujahr", en: "Year of construction" },
  grundflaeche: { de: "Grundfläche", en: "Footprint area", unit: "m²" },
  lod: { de: "Detailstufe (LoD)", en: "Level of detail (LoD)" },
  quelle: { de: "Quelle", en: "Source" },
  height_rule: { de: "Höhenquelle", en: "Height source" },
  funktion_text: { de: "Funktion (Text)", en: "Function (text)" },
  strasse: { de: "Straße", en: "Street" },
  hausnummer: { de: "Hausnummer", en: "House number" },
  plz: { de: "Postleitzahl", en: "Postcode" },
  ort: { de: "Ort", en: "Place" },
  planart: { de: "Planart", en: "Plan type", codes: "planart" },
  nutzung: { de: "Nutzung", en: "Land use" },
  rechtsstand: { de: "Rechtsstand", en: "Legal status", codes: "status" },
  planstatus: { de: "Planstatus", en: "Plan status" },
  inkrafttretensdatum: { de: "In Kraft seit", en: "In force since" },
  aufstellungsbeschlussdatum: { de: "Aufstellungsbeschluss", en: "Decision to draw up" },
  planaufstellendegemeinde: { de: "Planaufstellende Gemeinde", en: "Planning municipality" },
  dienststelle: { de: "Dienststelle", en: "Office" },
  amt: { de: "Amt", en: "Office" },
  dokument: { de: "Dokument", en: "Document" },
  externereferenz: { de: "Planunterlagen", en: "Plan documents" },

  // The canonical names the CityGML/CityJSON ingest writes (twin.ingest.citymodel).
  class: { de: "Gebäudeklasse", en: "Building class" },
  function_label: { de: "Funktion (Bezeichnung)", en: "Function (label)" },
  usage: { de: "Nutzung", en: "Usage", codes: "function" },
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
  creation_date: { de: "Erstellungsdatum", en: "Creation date" },
  building_parts: { de: "Gebäudeteile", en: "Building parts" },
  source_file: { de: "Quelldatei", en: "Source file" },

  // Generic attributes of the NRW LoD2 buildings (looked up in lower case).
  gemeindeschluessel: { de: "Gemeindeschlüssel", en: "Municipality key" },
  datenquelledachhoehe: { de: "Datenquelle Dachhöhe", en: "Data source of the roof height" },
  datenquellebodenhoehe: { de: "Datenquelle Bodenhöhe", en: "Data source of the ground height" },
  datenquellelage: { de: "Datenquelle Lage", en: "Data source of the position" },
  grundrissaktualitaet: { de: "Grundrissaktualität", en: "Footprint currency" },
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

/** The readable label of attribute `name` in the active language, or `name` itself. */
export function attributeLabel(name) {
  const known = ATTRIBUTES[String(name).toLowerCase()];
  return known ? known[language()] : name;
}

/** The unit of a well-known attribute ("m", "m²") or "". */
export function attributeUnit(name) {
  return ATTRIBUTES[name.toLowerCase()]?.unit ?? "";
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
  return null;
}

/**
 * A code value made readable: "Wohngebäude (31001_1000)"; values that are not known codes give null.
 * Several codes joined by ";" are labelled one by one. `codeSpace` (the attribute's `<name>_code_space`, when
 * the caller has it) picks the code list where AdV and SIG3D codes overlap; without it AdV is assumed.
 */
export function codeLabel(name, value, codeSpace = null) {
  const list = ATTRIBUTES[String(name).toLowerCase()]?.codes;
  if (!list) {
    return null;
  }
  const codes = String(value)
    .split(";")
    .map((code) => code.trim())
    .filter((code) => code !== "");
  const entries = codes.map((code) => codeEntry(list, code, codeSpace));
  if (!entries.some((entry) => entry)) {
    return null;
  }
  return codes.map((code, i) => (entries[i] ? `${entries[i][language()]} (${code})` : code)).join("; ");
}
