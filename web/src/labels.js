// Readable labels for well-known attribute names, and for the AdV code lists some attributes carry.
// Unknown attributes keep their raw name; unknown codes are shown as they are.

import { language } from "./i18n.js";

const ATTRIBUTES = {
  source_id: { de: "Objekt-ID", en: "Object ID" },
  gml_id: { de: "GML-ID", en: "GML ID" },
  name: { de: "Name", en: "Name" },
  adresse: { de: "Adresse", en: "Address" },
  address: { de: "Adresse", en: "Address" },
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

// ALKIS/AdV building functions (Gebäudefunktion, code list 31001) - the most frequent ones.
const FUNCTION_CODES = {
  "31001_1000": { de: "Wohngebäude", en: "Residential building" },
  "31001_1010": { de: "Wohnhaus", en: "House" },
  "31001_1020": { de: "Wohnheim", en: "Residential home" },
  "31001_1100": { de: "Gemischt genutztes Gebäude mit Wohnen", en: "Mixed use building with housing" },
  "31001_1120": { de: "Wohngebäude mit Handel und Dienstleistungen", en: "Residential with trade and services" },
  "31001_1123": { de: "Wohn- und Geschäftsgebäude", en: "Residential and commercial building" },
  "31001_2030": { de: "Kreditinstitut", en: "Bank" },
  "31001_2050": { de: "Geschäftsgebäude", en: "Commercial building" },
  "31001_2056": { de: "Apotheke", en: "Pharmacy" },
  "31001_2071": { de: "Hotel, Motel, Pension", en: "Hotel, motel, guest house" },
  "31001_2081": { de: "Gaststätte, Restaurant", en: "Pub, restaurant" },
  "31001_3010": { de: "Verwaltungsgebäude", en: "Administration building" },
  "31001_3040": { de: "Kirche", en: "Church" },
  "31001_3050": { de: "Museum", en: "Museum" },
  "31001_2000": { de: "Gebäude für Wirtschaft oder Gewerbe", en: "Commercial or industrial building" },
  "31001_2010": { de: "Gebäude für Handel und Dienstleistungen", en: "Trade and services building" },
  "31001_2020": { de: "Bürogebäude", en: "Office building" },
  "31001_2463": { de: "Garage", en: "Garage" },
  "31001_3000": { de: "Gebäude für öffentliche Zwecke", en: "Public building" },
};

// AdV/CityGML roof types (Dachform).
const ROOF_CODES = {
  1000: { de: "Flachdach", en: "Flat roof" },
  2100: { de: "Pultdach", en: "Monopitch roof" },
  2200: { de: "Versetztes Pultdach", en: "Dual pent roof" },
  3100: { de: "Satteldach", en: "Gabled roof" },
  3200: { de: "Walmdach", en: "Hipped roof" },
  3300: { de: "Krüppelwalmdach", en: "Half-hipped roof" },
  3400: { de: "Mansardendach", en: "Mansard roof" },
  3500: { de: "Zeltdach", en: "Pavilion roof" },
  3600: { de: "Kegeldach", en: "Cone roof" },
  3700: { de: "Kuppeldach", en: "Dome roof" },
  3800: { de: "Sheddach", en: "Sawtooth roof" },
  3900: { de: "Bogendach", en: "Arch roof" },
  4000: { de: "Turmdach", en: "Tower roof" },
  5000: { de: "Mischform", en: "Mixed roof" },
  9999: { de: "Sonstiges", en: "Other" },
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

/** A code value made readable: "Wohngebäude (31001_1000)"; other values are returned as null. */
export function codeLabel(name, value) {
  const list = ATTRIBUTES[String(name).toLowerCase()]?.codes;
  if (!list) {
    return null;
  }
  const raw = String(value).trim();
  let entry = null;
  if (list === "function") {
    entry = FUNCTION_CODES[raw] ?? FUNCTION_CODES[`31001_${raw}`];
  } else if (list === "roof") {
    entry = ROOF_CODES[raw];
  } else if (list === "planart") {
    entry = PLANART_CODES[raw];
  } else if (list === "status") {
    entry = STATUS_CODES[raw];
  }
  return entry ? `${entry[language()]} (${raw})` : null;
}
