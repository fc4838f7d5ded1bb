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
