// Click a building: highlight it and list its metadata in the attribute panel.
// Every value from the data is set with textContent, never as HTML.

import * as Cesium from "../../cesium/index.js";
import { language, localized, onLanguageChange, t } from "./i18n.js";
import {
  attributeFormat,
  attributeLabel,
  attributeUnit,
  codeLabel,
  dateText,
  heightRuleText,
  isCoded,
  orderAttributes,
} from "./labels.js";
import { describePlanFeature } from "./plan_panel.js";

const DEFAULT_HIGHLIGHT = "#ffcc00";

function isEmpty(value) {
  return value === undefined || value === null || value === "";
}

/** The items of a list attribute: a JSON list ("addresses" as the ingest writes it), an array, or null. */
function listItems(value) {
  if (Array.isArray(value)) {
    return value;
  }
  if (typeof value !== "string" || !value.trim().startsWith("[")) {
    return null;
  }
  try {
    const items = JSON.parse(value);
    return Array.isArray(items) ? items : null;
  } catch {
    return null;
  }
}

/**
 * The text of one attribute value in the active language. `row` (all [name, value] pairs of the feature, as a
 * Map) gives a coded attribute its stored `<name>_label` and `<name>_code_space`.
 */
function formatValue(name, value, row = new Map()) {
  if (isEmpty(value)) {
    return t("value.empty");
  }
  if (typeof value === "boolean") {
    return value ? t("value.yes") : t("value.no");
  }
  const code = codeLabel(name, value, row.get(`${name}_code_space`) ?? null, row.get(`${name}_label`) ?? null);
  if (code) {
    return code;
  }
  const format = attributeFormat(name);
  if (format === "lod" && /^\d+(\.\d+)?$/.test(String(value).trim())) {
    return `LoD ${String(value).trim()}`;
  }
  if (format === "date") {
    return dateText(value);
  }
  if (format === "heightRule") {
    return heightRuleText(value);
  }
  if (format === "list") {
    const items = listItems(value);
    if (items) {
      return items.map((item) => (isEmpty(item) ? t("value.empty") : String(item))).join("\n");
    }
  }
  if (typeof value === "number" || typeof value === "bigint") {
    // Whole numbers are often years, codes or ids: no thousands separator ("1995", not "1.995").
    const whole = typeof value === "bigint" || Number.isInteger(value);
    const text = new Intl.NumberFormat(language(), { maximumFractionDigits: 2, useGrouping: !whole }).format(
      value,
    );
    const unit = attributeUnit(name);
    return unit ? `${text} ${unit}` : text;
  }
  if (ArrayBuffer.isView(value) || Array.isArray(value)) {
    return Array.from(value, (item) => formatValue("", item)).join(", ");
  }
  if (typeof value === "object") {
    // Cesium's vector and matrix types print their components.
    return typeof value.toString === "function" ? value.toString() : JSON.stringify(value);
  }
  return String(value);
}

/**
 * The rows a feature's attributes make: the panel's order, without a `<name>_label` whose coded attribute
 * `<name>` is there to show it (its value already reads "Wohnhaus (31001_1010)").
 */
function featureRows(entries) {
  const row = new Map(entries);
  const repeated = (name) => {
    const match = /^(.+)_label$/.exec(name);
    return Boolean(match) && isCoded(match[1]) && !isEmpty(row.get(match[1]));
  };
  return orderAttributes(entries.filter(([name]) => !repeated(name)));
}

/** An http(s) URL object for `value`, or null: only those become links (never javascript: or data:). */
export function safeLink(value) {
  if (typeof value !== "string" || !/^https?:\/\//i.test(value.trim())) {
    return null;
  }
  try {
    const url = new URL(value.trim());
    return url.protocol === "http:" || url.protocol === "https:" ? url : null;
  } catch {
    return null;
  }
}

function entityEntries(entity, time) {
  const bag = entity.properties;
  if (!bag) {
    return [];
  }
  return bag.propertyNames.map((name) => {
    const value = bag[name]?.getValue ? bag[name].getValue(time) : bag[name];
    return [name, value !== null && typeof value === "object" && !ArrayBuffer.isView(value) && !Array.isArray(value)
      ? JSON.stringify(value) : value];
  });
}

function metadataEntries(metadata) {
  if (!metadata || typeof metadata.getPropertyIds !== "function") {
    return [];
  }
  return metadata.getPropertyIds().map((id) => [id, metadata.getProperty(id)]);
}

/**
 * What was picked, as sections of [name, value] pairs: a feature's own properties (EXT_structural_metadata,
 * batch tables), otherwise the metadata of its tile content, tile, content group and tileset.
 */
export function describePick(picked, time) {
  if (picked?.id instanceof Cesium.Entity && picked.id.twinLayer) {
    const plan = describePlanFeature(picked.id, picked.id.twinLayer, time); // an XPlanGML plan's feature
    if (plan) return plan;
    const entries = entityEntries(picked.id, time);
    return { layer: picked.id.twinLayer, entity: picked.id, sections: [{ key: "feature.section.feature", entries }] };
  }
  if (picked instanceof Cesium.Cesium3DTileFeature) {
    const entries = picked.getPropertyIds().map((id) => [id, picked.getProperty(id)]);
    return { tileset: picked.tileset, sections: [{ key: "feature.section.feature", entries }] };
  }
  const content = picked?.content;
  if (!content) {
    return null;
  }
  const sections = [
    { key: "feature.section.content", entries: metadataEntries(content.metadata) },
    { key: "feature.section.tile", entries: metadataEntries(content.tile?.metadata) },
    { key: "feature.section.group", entries: metadataEntries(content.group?.metadata) },
    { key: "feature.section.tileset", entries: metadataEntries(content.tileset?.metadata) },
  ].filter((section) => section.entries.length > 0);
  return { tileset: content.tileset, sections };
}

/** The attribute panel: shows a description, re-renders on a language switch, hides on close. */
export function createFeaturePanel(panel) {
  const body = panel.querySelector("#feature-body");
  const layerLine = panel.querySelector("#feature-layer");
  let shown = null;
  const closeListeners = [];

  const render = () => {
    if (!shown) {
      return;
    }
    const layer = shown.layer ?? shown.tileset?.twinLayer;
    layerLine.textContent = layer ? t("feature.layer", { layer: localized(layer.title) }) : "";
    if (typeof shown.render === "function") {
      body.replaceChildren(...shown.render()); // a description that draws itself (plan features)
      return;
    }
    const blocks = [];
    for (const section of shown.sections) {
      const heading = document.createElement("h3");
      heading.textContent = t(section.key);
      const table = document.createElement("table");
      table.className = "attributes";
      table.dataset.section = section.key;
      const byName = new Map(section.entries);
      const entries = section.key === "feature.section.feature" ? featureRows(section.entries) : section.entries;
      for (const [name, value] of entries) {
        const row = document.createElement("tr");
        row.dataset.attribute = name;
        const label = document.createElement("th");
        label.scope = "row";
        label.textContent = attributeLabel(name);
        if (attributeLabel(name) !== name) {
          label.title = name;
        }
        const cell = document.createElement("td");
        const link = safeLink(value);
        if (link) {
          const anchor = document.createElement("a");
          anchor.href = link.href;
          anchor.textContent = value;
          anchor.target = "_blank";
          anchor.rel = "noopener noreferrer";
          cell.append(anchor);
        } else {
          cell.textContent = formatValue(name, value, byName);
          const format = attributeFormat(name);
          if ((isCoded(name) || format === "date" || format === "heightRule") && !isEmpty(value)) {
            cell.title = String(value); // the value as stored: the code behind its label, the ISO date, ...
          }
          if (format === "list") {
            cell.classList.add("lines");
          }
        }
        row.append(label, cell);
        table.append(row);
      }
      blocks.push(heading, table);
    }
    if (blocks.length === 0) {
      const none = document.createElement("p");
      none.className = "hint";
      none.textContent = t("feature.none");
      blocks.push(none);
    }
    body.replaceChildren(...blocks);
  };
  onLanguageChange(render);
  panel.querySelector("#feature-close").addEventListener("click", () => {
    hide();
    for (const listener of closeListeners) {
      listener();
    }
  });

  function show(description) {
    shown = description;
    render();
    panel.hidden = false;
  }
  function hide() {
    shown = null;
    panel.hidden = true;
    body.replaceChildren();
  }
  return { show, hide, onClose: (listener) => closeListeners.push(listener) };
}

/** The source_id of a picked building feature, or null. */
function sourceId(picked) {
  if (!(picked instanceof Cesium.Cesium3DTileFeature) || !picked.hasProperty?.("source_id")) {
    return null;
  }
  const id = picked.getProperty("source_id");
  return id === undefined || id === null ? null : String(id);
}

/**
 * Install the click handler: pick, highlight, fill the panel; a click on nothing clears it.
 * `options.styling` highlights buildings through their layer's style (survives restyling and tile reloads);
 * `options.enabled()` false lets another tool (measuring) have the clicks; `options.highlight` is the CSS colour of
 * what is picked (the theme's highlight; default #ffcc00).
 */
export function setupPicking(viewer, panel, options = {}) {
  const highlightColor = Cesium.Color.fromCssColorString(options.highlight ?? DEFAULT_HIGHLIGHT);
  const featurePanel = createFeaturePanel(panel);
  const styling = options.styling;
  const enabled = options.enabled ?? (() => true);
  let highlighted = null;
  let selection = null;
  const listeners = [];

  const clearHighlight = () => {
    if (highlighted) {
      try {
        highlighted.restore();
      } catch {
        // The tile holding it was unloaded meanwhile; nothing left to restore.
      }
      highlighted = null;
    }
    selection = null;
    viewer.scene.requestRender();
  };

  // Buildings with a source_id are highlighted by the style; other features are tinted alone;
  // content without features is tinted whole; planning entities get a highlight fill.
  const highlight = (picked) => {
    const id = sourceId(picked);
    const layerId = picked?.tileset?.twinLayer?.id;
    if (id !== null && styling && layerId) {
      styling.select(layerId, id);
      selection = { layer: layerId, id };
      return { restore: () => styling.select(layerId, null) };
    }
    if (picked instanceof Cesium.Cesium3DTileFeature) {
      const color = Cesium.Color.clone(picked.color);
      picked.color = highlightColor;
      return { restore: () => (picked.color = color) };
    }
    const entity = picked?.id;
    const polygonShown = entity instanceof Cesium.Entity && entity.polygon?.show?.getValue?.() !== false;
    if (entity instanceof Cesium.Entity && entity.polyline && !(entity.polygon && polygonShown)) {
      const material = entity.polyline.material; // a line, or an area drawn as its outline (Geltungsbereich)
      entity.polyline.material = highlightColor;
      return { restore: () => (entity.polyline.material = material) };
    }
    if (entity instanceof Cesium.Entity && entity.polygon) {
      const material = entity.polygon.material;
      entity.polygon.material = highlightColor.withAlpha(0.8);
      return { restore: () => (entity.polygon.material = material) };
    }
    const model = picked?.detail?.model;
    if (model && "color" in model) {
      const { color, colorBlendMode, colorBlendAmount } = model;
      model.color = highlightColor;
      model.colorBlendMode = Cesium.ColorBlendMode.MIX;
      model.colorBlendAmount = 0.6;
      return {
        restore: () => Object.assign(model, { color, colorBlendMode, colorBlendAmount }),
      };
    }
    return null;
  };
  featurePanel.onClose(() => {
    clearHighlight();
    listeners.forEach((listener) => listener(null));
  });

  const select = (picked) => {
    clearHighlight();
    const description = Cesium.defined(picked) ? describePick(picked, viewer.clock.currentTime) : null;
    if (!description) {
      featurePanel.hide();
      listeners.forEach((listener) => listener(null));
      return null;
    }
    highlighted = highlight(picked);
    featurePanel.show(description);
    viewer.scene.requestRender();
    listeners.forEach((listener) => listener(selection));
    return description;
  };

  const handler = new Cesium.ScreenSpaceEventHandler(viewer.scene.canvas);
  handler.setInputAction((click) => {
    if (enabled()) {
      select(viewer.scene.pick(click.position));
    }
  }, Cesium.ScreenSpaceEventType.LEFT_CLICK);
  return {
    select,
    clear: () => select(undefined),
    /** {layer, id} of the selected building, or null. */
    selection: () => selection,
    onSelect: (listener) => listeners.push(listener),
  };
}

/** The loaded feature of `tileset` whose source_id is `id`, or null (its tile may not be loaded). */
export function findFeature(tileset, id) {
  const stack = [tileset.root];
  while (stack.length) {
    const tile = stack.pop();
    const content = tile.content;
    const count = tile.contentReady ? (content?.featuresLength ?? 0) : 0;
    for (let i = 0; i < count; i += 1) {
      const feature = content.getFeature(i);
      if (String(feature.getProperty("source_id")) === id) {
        return feature;
      }
    }
    stack.push(...tile.children);
  }
  return null;
}
