// UI strings in German (first) and English, and helpers to apply them.
// Elements carry data-i18n="key" (text) or data-i18n-label="key" (aria-label and title).

const STRINGS = {
  de: {
    "app.title": "Digitaler Zwilling",
    "status.loading": "Lade …",
    "status.tiles": "Lade Kacheln …",
    "status.ready": "",
    "status.error": "Fehler: {message}",
    "map.label": "3D-Karte",
    "layers.title": "Ebenen",
    "layers.toggle": "Ebenen ein- oder ausblenden",
    "layers.empty": "Keine Ebenen vorhanden.",
    "layers.opacity": "Deckkraft von {layer}",
    "layers.failed": "{layer} konnte nicht geladen werden.",
    "layers.other": "Weitere Ebenen",
    "basemap.title": "Hintergrundkarte",
    "language.choose": "Sprache wählen",
    "feature.title": "Objektinformationen",
    "feature.close": "Objektinformationen schließen",
    "feature.layer": "Ebene: {layer}",
    "feature.none": "Für dieses Objekt sind keine Attribute hinterlegt.",
    "feature.section.feature": "Attribute",
    "feature.section.content": "Kachelinhalt",
    "feature.section.tile": "Kachel",
    "feature.section.group": "Gruppe",
    "feature.section.tileset": "Datensatz",
    "feature.attribute": "Attribut",
    "feature.value": "Wert",
    "value.yes": "ja",
    "value.no": "nein",
    "value.empty": "–",
    "value.other": "Sonstige",
    "value.none": "keine Angabe",
    "style.title": "Einfärben nach",
    "style.none": "Standard (keine Einfärbung)",
    "style.legend": "Legende",
    "style.range": "{from} bis {to}",
    "search.label": "Gebäude oder Adresse suchen",
    "search.placeholder": "Adresse, Name oder ID …",
    "search.results": "Suchergebnisse",
    "search.none": "Nichts gefunden.",
    "search.failed": "Suche fehlgeschlagen.",
    "tools.label": "Werkzeuge",
    "tools.measure": "Messen",
    "tools.sun": "Sonne",
    "tools.share": "Teilen",
    "tools.screenshot": "Bild",
    "tools.screenshot.label": "Ansicht als PNG-Bild speichern",
    "tools.close": "Werkzeug schließen",
    "measure.title": "Messen",
    "measure.mode": "Messart",
    "measure.distance": "Strecke",
    "measure.height": "Höhe",
    "measure.area": "Fläche",
    "measure.clear": "Löschen",
    "measure.hint.distance": "Punkte in der Szene anklicken; Esc bricht ab.",
    "measure.hint.height": "Zwei Punkte anklicken: Höhenunterschied; Esc bricht ab.",
    "measure.hint.area": "Mindestens drei Punkte anklicken; Esc bricht ab.",
    "measure.result.distance": "Strecke: {value} m",
    "measure.result.height": "Höhenunterschied: {value} m (horizontal {horizontal} m)",
    "measure.result.area": "Fläche: {value} m² (Umfang {perimeter} m)",
    "measure.nopoint": "Kein Punkt getroffen.",
    "sun.title": "Sonne und Schatten",
    "sun.date": "Datum",
    "sun.time": "Uhrzeit ({zone})",
    "sun.shadows": "Schatten anzeigen",
    "share.title": "Ansicht teilen",
    "share.link": "Link zu dieser Ansicht",
    "share.copy": "Kopieren",
    "share.copied": "Link kopiert.",
    "planning.legend": "Legende von {layer}",
    "layers.zoom": "Auf {layer} zoomen",
    "plan.group.art": "Art der baulichen Nutzung",
    "plan.group.mass": "Maß der baulichen Nutzung",
    "plan.group.bauweise": "Bauweise / Dach",
    "plan.group.other": "Weitere Festsetzungen",
    "plan.group.plan": "Plan",
    "plan.name": "Plan",
    "plan.number": "Plannummer",
    "plan.status": "Rechtsstand",
    "plan.office": "Zuständige Stelle",
    "plan.document": "Dokument",
    "plan.date.aufstellungsbeschluss": "Aufstellungsbeschluss",
    "plan.date.auslegung_start": "Öffentliche Auslegung ab",
    "plan.date.auslegung_ende": "Öffentliche Auslegung bis",
    "plan.date.satzungsbeschluss": "Satzungsbeschluss",
    "plan.date.ausfertigung": "Ausfertigung",
    "plan.date.inkrafttreten": "Inkrafttreten",
    "plan.date.untergang": "Außerkrafttreten",
    "plan.check.title": "Baurecht",
    "plan.check.button": "Baurecht prüfen",
    "plan.check.loading": "Prüfe …",
    "plan.check.error": "Prüfung fehlgeschlagen: {message}",
    "plan.check.plot": "Fläche des Baugebiets",
    "plan.check.buildings": "Gebäude darin",
    "plan.check.built": "Bebaute Fläche",
    "plan.check.grz": "GRZ (bebaut / zulässig)",
    "plan.check.height": "Höhe (höchstes Gebäude / zulässig)",
    "plan.check.versus": "{built} / zulässig {allowed}",
    "plan.check.none": "nicht festgesetzt",
    "plan.check.ok": "eingehalten",
    "plan.check.fail": "nicht eingehalten",
    "plan.check.unknown": "nicht prüfbar",
  },
  en: {
    "app.title": "Digital twin",
    "status.loading": "Loading …",
    "status.tiles": "Loading tiles …",
    "status.ready": "",
    "status.error": "Error: {message}",
    "map.label": "3D map",
    "layers.title": "Layers",
    "layers.toggle": "Show or hide layers",
    "layers.empty": "No layers available.",
    "layers.opacity": "Opacity of {layer}",
    "layers.failed": "{layer} could not be loaded.",
    "layers.other": "Other layers",
    "basemap.title": "Base map",
    "language.choose": "Choose language",
    "feature.title": "Object information",
    "feature.close": "Close object information",
    "feature.layer": "Layer: {layer}",
    "feature.none": "No attributes are stored for this object.",
    "feature.section.feature": "Attributes",
    "feature.section.content": "Tile content",
    "feature.section.tile": "Tile",
    "feature.section.group": "Group",
    "feature.section.tileset": "Dataset",
    "feature.attribute": "Attribute",
    "feature.value": "Value",
    "value.yes": "yes",
    "value.no": "no",
    "value.empty": "–",
    "value.other": "Other",
    "value.none": "not specified",
    "style.title": "Colour by",
    "style.none": "Default (no colouring)",
    "style.legend": "Legend",
    "style.range": "{from} to {to}",
    "search.label": "Search building or address",
    "search.placeholder": "Address, name or ID …",
    "search.results": "Search results",
    "search.none": "Nothing found.",
    "search.failed": "Search failed.",
    "tools.label": "Tools",
    "tools.measure": "Measure",
    "tools.sun": "Sun",
    "tools.share": "Share",
    "tools.screenshot": "Picture",
    "tools.screenshot.label": "Save the view as a PNG picture",
    "tools.close": "Close tool",
    "measure.title": "Measure",
    "measure.mode": "Measurement",
    "measure.distance": "Distance",
    "measure.height": "Height",
    "measure.area": "Area",
    "measure.clear": "Clear",
    "measure.hint.distance": "Click points in the scene; Esc cancels.",
    "measure.hint.height": "Click two points: height difference; Esc cancels.",
    "measure.hint.area": "Click at least three points; Esc cancels.",
    "measure.result.distance": "Distance: {value} m",
    "measure.result.height": "Height difference: {value} m (horizontal {horizontal} m)",
    "measure.result.area": "Area: {value} m² (perimeter {perimeter} m)",
    "measure.nopoint": "No point hit.",
    "sun.title": "Sun and shadow",
    "sun.date": "Date",
    "sun.time": "Time ({zone})",
    "sun.shadows": "Show shadows",
    "share.title": "Share view",
    "share.link": "Link to this view",
    "share.copy": "Copy",
    "share.copied": "Link copied.",
    "planning.legend": "Legend of {layer}",
    "layers.zoom": "Zoom to {layer}",
    "plan.group.art": "Type of land use",
    "plan.group.mass": "Extent of land use",
    "plan.group.bauweise": "Building arrangement / roof",
    "plan.group.other": "Further regulations",
    "plan.group.plan": "Plan",
    "plan.name": "Plan",
    "plan.number": "Plan number",
    "plan.status": "Legal status",
    "plan.office": "Responsible office",
    "plan.document": "Document",
    "plan.date.aufstellungsbeschluss": "Decision to draw up",
    "plan.date.auslegung_start": "Public display from",
    "plan.date.auslegung_ende": "Public display until",
    "plan.date.satzungsbeschluss": "Adopted as by-law",
    "plan.date.ausfertigung": "Engrossed",
    "plan.date.inkrafttreten": "In force since",
    "plan.date.untergang": "No longer in force since",
    "plan.check.title": "Building rights",
    "plan.check.button": "Check permitted use",
    "plan.check.loading": "Checking …",
    "plan.check.error": "Check failed: {message}",
    "plan.check.plot": "Area of the building zone",
    "plan.check.buildings": "Buildings in it",
    "plan.check.built": "Built-up area",
    "plan.check.grz": "GRZ (built / permitted)",
    "plan.check.height": "Height (tallest building / permitted)",
    "plan.check.versus": "{built} / permitted {allowed}",
    "plan.check.none": "not regulated",
    "plan.check.ok": "met",
    "plan.check.fail": "not met",
    "plan.check.unknown": "cannot be checked",
  },
};

export const LANGUAGES = Object.keys(STRINGS);

let current = "de";
const listeners = [];

/** The active language code ("de" or "en"). */
export function language() {
  return current;
}

/** The string for `key` in the active language, with {name} placeholders filled from `params`. */
export function t(key, params = {}) {
  const template = STRINGS[current]?.[key] ?? STRINGS.de[key] ?? key;
  return template.replace(/\{(\w+)\}/g, (_, name) => String(params[name] ?? ""));
}

/** A label from the configuration: a plain string, or one string per language ({de: ..., en: ...}). */
export function localized(value) {
  if (value === null || value === undefined) {
    return "";
  }
  if (typeof value === "string") {
    return value;
  }
  return value[current] ?? value.de ?? Object.values(value)[0] ?? "";
}

/** Fill every data-i18n / data-i18n-label element under `root` (text only, never HTML). */
export function translate(root = document) {
  for (const element of root.querySelectorAll("[data-i18n]")) {
    element.textContent = t(element.dataset.i18n);
  }
  for (const element of root.querySelectorAll("[data-i18n-label]")) {
    const label = t(element.dataset.i18nLabel);
    element.setAttribute("aria-label", label);
    element.setAttribute("title", label);
  }
  for (const element of root.querySelectorAll("[data-i18n-placeholder]")) {
    element.setAttribute("placeholder", t(element.dataset.i18nPlaceholder));
  }
}

/** Switch the UI language and tell every listener (unknown codes are ignored). */
export function setLanguage(code) {
  if (!STRINGS[code]) {
    return;
  }
  current = code;
  document.documentElement.lang = code;
  translate();
  for (const listener of listeners) {
    listener(code);
  }
}

/** Call `listener(code)` after every language switch. */
export function onLanguageChange(listener) {
  listeners.push(listener);
}
