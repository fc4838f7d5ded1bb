// The attribute panel for a Bebauungsplan feature (XPlanGML, see planning.js): a title from its XPlanung class,
// the Festsetzungen grouped as a planner reads them (Art and Maß der baulichen Nutzung, Bauweise / Dach, further
// ones), the plan's status, dates and documents, and for a Baugebietsteilfläche the "Baurecht" quick check
// against the buildings standing in it (GET <check_url>?feature=<source_id>&buildings=<buildings_layer>).
// Every value from the data is set with textContent, never as HTML; only http(s) URLs become links.

import { resolveUrl } from "./api.js";
import { language, t } from "./i18n.js";
import { dateText } from "./labels.js";
import { safeLink } from "./picking.js";
import { planzvStyle, planzvSwatch, xplanClassLabel } from "./planzv.js";

// Properties the server adds for the viewer: never shown as rows.
const INTERNAL = new Set(["source_id", "plan_id", "plan_name", "xplan_class", "planzv"]);

// XPlanGML attribute names (BP_BaugebietsTeilFlaeche and friends): label, unit, kind ("number" for values that
// may arrive as numeric strings).
const ATTRIBUTES = {
  allgArtDerBaulNutzung: { de: "Allgemeine Art der baulichen Nutzung", en: "General type of land use" },
  besondereArtDerBaulNutzung: { de: "Besondere Art der baulichen Nutzung", en: "Type of building area" },
  sondernutzung: { de: "Sondernutzung", en: "Special use" },
  detaillierteArtDerBaulNutzung: { de: "Detaillierte Art der baulichen Nutzung", en: "Detailed type of use" },
  nutzungText: { de: "Nutzung (Text)", en: "Use (text)" },
  zweckbestimmung: { de: "Zweckbestimmung", en: "Purpose" },
  detaillierteZweckbestimmung: { de: "Detaillierte Zweckbestimmung", en: "Detailed purpose" },
  abweichungBauNVO: { de: "Abweichung von der BauNVO", en: "Deviation from the BauNVO" },
  GRZ: { de: "Grundflächenzahl (GRZ)", en: "Site occupancy index (GRZ)", kind: "number" },
  GRZmin: { de: "GRZ, mindestens", en: "GRZ, at least", kind: "number" },
  GRZmax: { de: "GRZ, höchstens", en: "GRZ, at most", kind: "number" },
  GFZ: { de: "Geschossflächenzahl (GFZ)", en: "Floor area ratio (GFZ)", kind: "number" },
  GFZmin: { de: "GFZ, mindestens", en: "GFZ, at least", kind: "number" },
  GFZmax: { de: "GFZ, höchstens", en: "GFZ, at most", kind: "number" },
  GR: { de: "Grundfläche (GR)", en: "Footprint area (GR)", unit: "m²", kind: "number" },
  GRmin: { de: "Grundfläche, mindestens", en: "Footprint area, at least", unit: "m²", kind: "number" },
  GRmax: { de: "Grundfläche, höchstens", en: "Footprint area, at most", unit: "m²", kind: "number" },
  GF: { de: "Geschossfläche (GF)", en: "Floor area (GF)", unit: "m²", kind: "number" },
  GFmin: { de: "Geschossfläche, mindestens", en: "Floor area, at least", unit: "m²", kind: "number" },
  GFmax: { de: "Geschossfläche, höchstens", en: "Floor area, at most", unit: "m²", kind: "number" },
  BMZ: { de: "Baumassenzahl (BMZ)", en: "Building volume ratio (BMZ)", kind: "number" },
  BM: { de: "Baumasse (BM)", en: "Building volume (BM)", unit: "m³", kind: "number" },
  Z: { de: "Vollgeschosse, höchstens (Z)", en: "Full storeys, at most (Z)", kind: "number" },
  ZMin: { de: "Vollgeschosse, mindestens", en: "Full storeys, at least", kind: "number" },
  ZMax: { de: "Vollgeschosse, höchstens (Bereich)", en: "Full storeys, at most (range)", kind: "number" },
  ZZwingend: { de: "Vollgeschosse, zwingend", en: "Full storeys, mandatory", kind: "number" },
  ZU: { de: "Vollgeschosse unter Geländeoberfläche", en: "Full storeys below ground", kind: "number" },
  "hoehenangabe.h": { de: "Höhe", en: "Height", unit: "m", kind: "number" },
  "hoehenangabe.hMin": { de: "Höhe, mindestens", en: "Height, at least", unit: "m", kind: "number" },
  "hoehenangabe.hMax": { de: "Höhe, höchstens", en: "Height, at most", unit: "m", kind: "number" },
  "hoehenangabe.hZwingend": { de: "Höhe, zwingend", en: "Height, mandatory", unit: "m", kind: "number" },
  "hoehenangabe.hoehenbezug": { de: "Höhenbezug", en: "Height reference" },
  "hoehenangabe.bezugspunkt": { de: "Bezugspunkt der Höhe", en: "Height measured at" },
  "hoehenangabe.abweichenderBezugspunkt": { de: "Abweichender Bezugspunkt", en: "Other reference point" },
  bauweise: { de: "Bauweise", en: "Building arrangement" },
  abweichendeBauweise: { de: "Abweichende Bauweise", en: "Other building arrangement" },
  bebauungsArt: { de: "Bebauungsart", en: "Type of buildings" },
  dachform: { de: "Dachform", en: "Roof type" },
  "dachgestaltung.dachform": { de: "Dachform", en: "Roof type" },
  detaillierteDachform: { de: "Detaillierte Dachform", en: "Detailed roof type" },
  "dachgestaltung.detaillierteDachform": { de: "Detaillierte Dachform", en: "Detailed roof type" },
  DN: { de: "Dachneigung", en: "Roof pitch", unit: "°", kind: "number" },
  DNmin: { de: "Dachneigung, mindestens", en: "Roof pitch, at least", unit: "°", kind: "number" },
  DNmax: { de: "Dachneigung, höchstens", en: "Roof pitch, at most", unit: "°", kind: "number" },
  DNZwingend: { de: "Dachneigung, zwingend", en: "Roof pitch, mandatory", unit: "°", kind: "number" },
  "dachgestaltung.DN": { de: "Dachneigung", en: "Roof pitch", unit: "°", kind: "number" },
  "dachgestaltung.DNmin": { de: "Dachneigung, mindestens", en: "Roof pitch, at least", unit: "°", kind: "number" },
  "dachgestaltung.DNmax": { de: "Dachneigung, höchstens", en: "Roof pitch, at most", unit: "°", kind: "number" },
  FR: { de: "Firstrichtung", en: "Ridge direction", unit: "°", kind: "number" },
  rechtscharakter: { de: "Rechtscharakter", en: "Legal character" },
  text: { de: "Textliche Festsetzung", en: "Textual regulation" },
  gliederung1: { de: "Gliederung 1", en: "Subdivision 1" },
  gliederung2: { de: "Gliederung 2", en: "Subdivision 2" },
  ebene: { de: "Ebene", en: "Level" },
  flaechenschluss: { de: "Flächenschluss", en: "Closes the plan area" },
  name: { de: "Name", en: "Name" },
  nummer: { de: "Nummer", en: "Number" },
  gml_id: { de: "GML-ID", en: "GML ID" },
}; // prettier-ignore

const GROUPS = [
  {
    key: "plan.group.art",
    names: ["allgArtDerBaulNutzung", "besondereArtDerBaulNutzung", "sondernutzung", "detaillierteArtDerBaulNutzung",
            "nutzungText", "zweckbestimmung", "detaillierteZweckbestimmung", "abweichungBauNVO"],
  },
  {
    key: "plan.group.mass",
    names: ["GRZ", "GRZmin", "GRZmax", "GFZ", "GFZmin", "GFZmax", "GR", "GRmin", "GRmax", "GF", "GFmin", "GFmax",
            "BMZ", "BM", "Z", "ZMin", "ZMax", "ZZwingend", "ZU", "hoehenangabe.h", "hoehenangabe.hMin",
            "hoehenangabe.hMax", "hoehenangabe.hZwingend", "hoehenangabe.hoehenbezug", "hoehenangabe.bezugspunkt",
            "hoehenangabe.abweichenderBezugspunkt"],
  },
  {
    key: "plan.group.bauweise",
    names: ["bauweise", "abweichendeBauweise", "bebauungsArt", "dachform", "dachgestaltung.dachform",
            "detaillierteDachform", "dachgestaltung.detaillierteDachform", "DN", "DNmin", "DNmax", "DNZwingend",
            "dachgestaltung.DN", "dachgestaltung.DNmin", "dachgestaltung.DNmax", "FR"],
  },
  { key: "plan.group.other", names: null }, // every other attribute, in data order (rechtscharakter, text, ...)
]; // prettier-ignore

// XPlanung BP_Rechtsstand as XPlanGML spells it (PlanningInfo.status), and its numeric codes.
const STATUS = {
  Aufstellungsbeschluss: { de: "Aufstellungsbeschluss", en: "Decision to draw up" },
  Entwurf: { de: "Entwurf", en: "Draft" },
  FruehzeitigeBehoerdenBeteiligung: { de: "Frühzeitige Behördenbeteiligung", en: "Early authority consultation" },
  FruehzeitigeOeffentlichkeitsBeteiligung: {
    de: "Frühzeitige Öffentlichkeitsbeteiligung", en: "Early public participation",
  },
  BehoerdenBeteiligung: { de: "Behördenbeteiligung", en: "Authority consultation" },
  OeffentlicheAuslegung: { de: "Öffentliche Auslegung", en: "Public display" },
  Satzung: { de: "Satzung", en: "Adopted as by-law" },
  InkraftGetreten: { de: "In Kraft getreten", en: "In force" },
  TeilweiseUntergegangen: { de: "Teilweise untergegangen", en: "Partly void" },
  Untergegangen: { de: "Untergegangen", en: "Void" },
  Aufgehoben: { de: "Aufgehoben", en: "Repealed" },
  AusserKraft: { de: "Außer Kraft", en: "No longer in force" },
}; // prettier-ignore
const STATUS_CODES = {
  1000: "Aufstellungsbeschluss", 2000: "Entwurf", 2100: "FruehzeitigeBehoerdenBeteiligung",
  2200: "FruehzeitigeOeffentlichkeitsBeteiligung", 2300: "BehoerdenBeteiligung", 2400: "OeffentlicheAuslegung",
  3000: "Satzung", 4000: "InkraftGetreten", 4500: "TeilweiseUntergegangen", 5000: "Untergegangen",
  50000: "Aufgehoben", 50001: "AusserKraft",
}; // prettier-ignore

const DATES = ["aufstellungsbeschluss", "auslegung_start", "auslegung_ende", "satzungsbeschluss", "ausfertigung",
               "inkrafttreten", "untergang"]; // prettier-ignore

function isEmpty(value) {
  return value === undefined || value === null || value === "";
}

function localizedEntry(entry) {
  return entry[language()] ?? entry.de;
}

/** The plan status `value` (XPlanGML name or code) in words in the active language; unknown values as they are. */
export function statusText(value) {
  if (isEmpty(value)) return t("value.empty");
  const entry = STATUS[value] ?? STATUS[STATUS_CODES[String(value).trim()]];
  return entry ? localizedEntry(entry) : String(value);
}

/** The label of XPlanGML attribute `name` in the active language (unknown names: the name itself). */
export function planAttributeLabel(name) {
  const entry = ATTRIBUTES[name] ?? ATTRIBUTES[String(name).replace(/\[\d+\]/g, "")];
  return entry ? localizedEntry(entry) : name;
}

function number(value, { grouping = false, digits = 2 } = {}) {
  return new Intl.NumberFormat(language(), { maximumFractionDigits: digits, useGrouping: grouping }).format(value);
}

/** The shown value of attribute `name`: its `<name>_label`, a number with its unit, yes/no, or the raw value. */
function valueText(name, value, byName) {
  const label = byName.get(`${name}_label`);
  if (!isEmpty(label) && !isEmpty(value)) return String(label);
  if (isEmpty(value)) return t("value.empty");
  if (typeof value === "boolean") return value ? t("value.yes") : t("value.no");
  const entry = ATTRIBUTES[name.replace(/\[\d+\]/g, "")];
  const numeric =
    typeof value === "number" ||
    (entry?.kind === "number" && typeof value === "string" && /^-?\d+(\.\d+)?$/.test(value.trim()));
  if (numeric) {
    const text = number(Number(value), { grouping: Boolean(entry?.unit) && Math.abs(Number(value)) >= 10000 });
    return entry?.unit ? `${text} ${entry.unit}` : text;
  }
  if (Array.isArray(value)) return value.map((item) => (isEmpty(item) ? t("value.empty") : String(item))).join(", ");
  return String(value);
}

/** A property value as [name, value] pairs: nested objects flattened to "a.b" (several as "a[2].b"). */
function flatten(name, value, out) {
  if (value !== null && typeof value === "object" && !Array.isArray(value) && !ArrayBuffer.isView(value)) {
    for (const [key, inner] of Object.entries(value)) flatten(`${name}.${key}`, inner, out);
  } else if (Array.isArray(value) && value.length && value.every((v) => v !== null && typeof v === "object")) {
    value.forEach((item, i) => flatten(i === 0 ? name : `${name}[${i + 1}]`, item, out));
  } else {
    out.push([name, value]);
  }
  return out;
}

function entityEntries(entity, time) {
  const bag = entity.properties;
  if (!bag) return [];
  const out = [];
  for (const name of bag.propertyNames) {
    const property = bag[name];
    flatten(name, property?.getValue ? property.getValue(time) : property, out);
  }
  return out;
}

/** True if `entity` is a feature of an XPlanGML plan (it has an XPlanung class or a PlanZV category). */
export function isPlanFeature(entity, time) {
  const names = entity?.properties?.propertyNames ?? [];
  return names.includes("xplan_class") || names.includes("planzv");
}

function cell(tag, text) {
  const element = document.createElement(tag);
  element.textContent = text;
  return element;
}

/** A table row: data-attribute `name`, label, and a value (text, or a node). */
function row(name, label, value, title = null) {
  const tr = document.createElement("tr");
  tr.dataset.attribute = name;
  const th = cell("th", label);
  th.scope = "row";
  if (label !== name) th.title = name;
  const td = document.createElement("td");
  if (value instanceof Node) td.append(value);
  else td.textContent = value;
  if (title) td.title = title;
  tr.append(th, td);
  return tr;
}

function table(key, rows) {
  const heading = cell("h3", t(key));
  const element = document.createElement("table");
  element.className = "attributes";
  element.dataset.section = key;
  element.append(...rows);
  return [heading, element];
}

function link(url, text) {
  const href = safeLink(url);
  if (!href) return document.createTextNode(text || String(url));
  const anchor = cell("a", text || href.href);
  anchor.href = href.href;
  anchor.target = "_blank";
  anchor.rel = "noopener noreferrer";
  return anchor;
}

/** The plan rows: name, number, status, dates (dd.mm.yyyy), office, documents as links. */
function planRows(planning, planName) {
  const rows = [];
  if (!isEmpty(planName)) rows.push(row("plan.name", t("plan.name"), String(planName)));
  if (!isEmpty(planning.number)) rows.push(row("plan.number", t("plan.number"), String(planning.number)));
  if (!isEmpty(planning.status)) {
    rows.push(row("plan.status", t("plan.status"), statusText(planning.status), String(planning.status)));
  }
  for (const name of DATES) {
    const value = planning.dates?.[name];
    if (!isEmpty(value)) rows.push(row(`plan.date.${name}`, t(`plan.date.${name}`), dateText(value), String(value)));
  }
  if (!isEmpty(planning.office)) rows.push(row("plan.office", t("plan.office"), String(planning.office)));
  (planning.documents ?? []).forEach((document_, i) => {
    if (!document_?.url) return;
    rows.push(row(`plan.document.${i}`, t("plan.document"), link(document_.url, document_.title)));
  });
  return rows;
}

/** Where the Baurecht check of `layer` is, or null: {url, buildings} when check_url and buildings_layer are set. */
export function checkTarget(layer) {
  const url = layer?.check_url ?? layer?.planning?.check_url;
  const buildings = layer?.buildings_layer ?? layer?.planning?.buildings_layer;
  return !isEmpty(url) && !isEmpty(buildings) ? { url, buildings: String(buildings) } : null;
}

/** The URL of the check of feature `id` against the buildings layer `buildings` (`url` relative to the API base). */
export function checkUrl(url, id, buildings) {
  const target = new URL(resolveUrl(url), window.location.href);
  target.searchParams.set("feature", id);
  target.searchParams.set("buildings", buildings);
  return target.href;
}

const MARKS = { true: ["✓", "ok", "plan.check.ok"], false: ["✗", "fail", "plan.check.fail"] };

/** The answer of the check as rows and a list of checks (German sentences from the server). */
function checkResult(result) {
  const nodes = [];
  const m2 = (value) => (isEmpty(value) ? t("value.empty") : `${number(value, { grouping: true, digits: 0 })} m²`);
  const rows = [
    row("check.plot_area_m2", t("plan.check.plot"), m2(result.plot_area_m2)),
    row("check.buildings", t("plan.check.buildings"), isEmpty(result.buildings) ? t("value.empty") : number(result.buildings)),
    row("check.built_area_m2", t("plan.check.built"), m2(result.built_area_m2)),
  ];
  const grz = result.grz ?? {};
  const ratio = (value) => (isEmpty(value) ? t("value.empty") : number(value, { digits: 2 }));
  rows.push(row("check.grz", t("plan.check.grz"),
    t("plan.check.versus", { built: ratio(grz.built), allowed: isEmpty(grz.allowed) ? t("plan.check.none") : ratio(grz.allowed) })));
  const height = result.height ?? {};
  const metres = (value) => (isEmpty(value) ? t("value.empty") : `${number(value, { digits: 1 })} m`);
  const allowed = isEmpty(height.allowed) ? t("plan.check.none") : metres(height.allowed);
  rows.push(row("check.height", t("plan.check.height"), t("plan.check.versus", {
    built: metres(height.max_built), allowed: height.rule ? `${allowed} (${height.rule})` : allowed,
  }))); // prettier-ignore
  const element = document.createElement("table");
  element.className = "attributes";
  element.dataset.section = "plan.check";
  element.append(...rows);
  nodes.push(element);
  const list = document.createElement("ul");
  list.className = "plan-checks";
  for (const check of result.checks ?? []) {
    const [mark, kind, label] = MARKS[String(check.ok)] ?? ["–", "unknown", "plan.check.unknown"];
    const item = document.createElement("li");
    item.className = `plan-check-${kind}`;
    item.dataset.item = String(check.item ?? "");
    const symbol = cell("span", mark);
    symbol.className = "plan-check-mark";
    symbol.setAttribute("role", "img");
    symbol.setAttribute("aria-label", t(label));
    symbol.title = t(label);
    item.append(symbol, cell("span", String(check.text ?? check.item ?? "")));
    list.append(item);
  }
  nodes.push(list);
  return nodes;
}

/**
 * A description of picked plan feature `entity` (of planning layer `layer`) for the attribute panel, or null
 * when it is no XPlanGML feature: {layer, entity, plan: true, sections, render()}; `render()` gives the panel's
 * nodes in the active language (called again on a language switch).
 */
export function describePlanFeature(entity, layer, time) {
  if (!isPlanFeature(entity, time)) return null;
  const entries = entityEntries(entity, time);
  const byName = new Map(entries);
  const xplanClass = byName.get("xplan_class");
  const category = byName.get("planzv");
  const check = xplanClass === "BP_BaugebietsTeilFlaeche" ? checkTarget(layer) : null;
  const state = { status: "idle", result: null, error: null, node: null };

  const fillCheck = () => {
    const node = state.node;
    if (!node) return;
    if (state.status === "loading") node.replaceChildren(cell("p", t("plan.check.loading")));
    else if (state.status === "error") node.replaceChildren(cell("p", t("plan.check.error", { message: state.error })));
    else if (state.status === "done") node.replaceChildren(...checkResult(state.result));
    else node.replaceChildren();
  };
  const runCheck = async () => {
    state.status = "loading";
    fillCheck();
    try {
      const url = checkUrl(check.url, String(byName.get("source_id") ?? ""), check.buildings);
      const response = await fetch(url, { headers: { Accept: "application/json" } });
      if (!response.ok) throw new Error(`HTTP ${response.status}`);
      state.result = await response.json();
      state.status = "done";
    } catch (error) {
      state.error = error.message ?? String(error);
      state.status = "error";
    }
    fillCheck();
  };

  const render = () => {
    const nodes = [];
    const header = document.createElement("div");
    header.className = "plan-header";
    const swatch = document.createElement("span");
    swatch.className = "swatch";
    swatch.setAttribute("aria-hidden", "true");
    swatch.style.background = planzvSwatch(category ?? "sonstiges");
    const title = cell("h3", xplanClassLabel(xplanClass) ?? (xplanClass ? String(xplanClass).replace(/^[A-Z]{2}_/, "") : planzvStyle(category)[language()]));
    title.className = "plan-title";
    title.id = "plan-title";
    if (xplanClass) title.title = String(xplanClass);
    header.append(swatch, title);
    nodes.push(header);
    const planName = byName.get("plan_name") ?? layer?.title;
    if (!isEmpty(planName)) {
      const name = cell("p", typeof planName === "string" ? planName : (planName[language()] ?? planName.de ?? ""));
      name.className = "plan-name";
      nodes.push(name);
    }
    const shown = entries.filter(([name, value]) => {
      if (INTERNAL.has(name) || /_(label|code_space)$/.test(name)) return false;
      return !isEmpty(value);
    });
    const used = new Set();
    for (const group of GROUPS) {
      const names = group.names ?? shown.map(([name]) => name).filter((name) => !used.has(name));
      const rows = [];
      for (const name of names) {
        if (used.has(name) || !byName.has(name) || !shown.some(([n]) => n === name)) continue;
        used.add(name);
        const value = byName.get(name);
        const label = byName.get(`${name}_label`);
        rows.push(row(name, planAttributeLabel(name), valueText(name, value, byName), isEmpty(label) ? null : String(value)));
      }
      if (rows.length) nodes.push(...table(group.key, rows));
    }
    const plan = planRows(layer?.planning ?? {}, null);
    if (plan.length) nodes.push(...table("plan.group.plan", plan));
    if (check) {
      const button = cell("button", t("plan.check.button"));
      button.type = "button";
      button.id = "plan-check";
      button.className = "plan-check-button";
      button.disabled = state.status === "loading";
      button.addEventListener("click", () => {
        button.disabled = true;
        runCheck().finally(() => (button.disabled = false));
      });
      const result = document.createElement("div");
      result.id = "plan-check-result";
      result.className = "plan-check-result";
      result.setAttribute("aria-live", "polite");
      state.node = result;
      fillCheck();
      nodes.push(cell("h3", t("plan.check.title")), button, result);
    }
    return nodes;
  };
  return { layer, entity, plan: true, sections: [{ key: "feature.section.feature", entries }], render };
}
