// Style by attribute: categories (codes, strings) or a colour ramp (numbers) as Cesium3DTileStyle conditions,
// composed with the layer's opacity and the selected building's highlight, plus a legend.

import * as Cesium from "../../cesium/index.js";
import { language, onLanguageChange, t } from "./i18n.js";
import { attributeLabel, codeLabel } from "./labels.js";

export const HIGHLIGHT = "#ffcc00"; // the default; the theme's highlight replaces it (createStyling options)
// Colour-blind safe qualitative palette (Okabe-Ito + Tol), then grey for "other".
const PALETTE = [
  "#0072b2", "#e69f00", "#009e73", "#cc79a7", "#56b4e9", "#d55e00",
  "#8c564b", "#882255", "#44aa99", "#999933", "#aa4499", "#332288",
]; // prettier-ignore
const OTHER = "#b8b8b8";
// A sequential ramp (viridis, 5 classes), low to high.
const RAMP = ["#440154", "#3b528b", "#21918c", "#5ec962", "#fde725"];

/** A Cesium expression reading property `name` of a feature. */
function variable(name) {
  return /^[A-Za-z_][A-Za-z0-9_]*$/.test(name) ? `\${${name}}` : `\${feature['${quote(name)}']}`;
}

function quote(text) {
  return String(text).replace(/\\/g, "\\\\").replace(/'/g, "\\'");
}

function literal(value) {
  return typeof value === "number" ? String(value) : `'${quote(value)}'`;
}

function color(hex, alpha) {
  return `color('${hex}', ${alpha})`;
}

function formatNumber(value) {
  return new Intl.NumberFormat(language(), { maximumFractionDigits: 1, useGrouping: false }).format(value);
}

/** The class bounds of a ramp over [min, max]: RAMP.length equal intervals (whole numbers stay whole). */
function rampBounds(property) {
  const { min, max } = property;
  const step = (max - min) / RAMP.length;
  return RAMP.map((_, i) => min + step * i);
}

/** Conditions and legend for styling by `property` (a summary from /api/config). */
export function attributeRules(property, alpha = 1) {
  const name = variable(property.id);
  if (property.kind === "number") {
    const bounds = rampBounds(property);
    const conditions = [];
    for (let i = RAMP.length - 1; i > 0; i -= 1) {
      conditions.push([`Number(${name}) >= ${bounds[i]}`, color(RAMP[i], alpha)]);
    }
    conditions.push([`Number(${name}) >= ${property.min}`, color(RAMP[0], alpha)]);
    const legend = () =>
      RAMP.map((hex, i) => ({
        color: hex,
        label: t("style.range", {
          from: formatNumber(bounds[i]),
          to: formatNumber(i + 1 < RAMP.length ? bounds[i + 1] : property.max),
        }),
      }));
    return { conditions, legend, fallback: OTHER, fallbackLabel: () => t("value.none") };
  }
  const categories = property.categories ?? [];
  const conditions = categories.map((category, i) => [
    property.type === "number" ? `Number(${name}) === ${Number(category.value)}` : `${name} === ${literal(category.value)}`,
    color(PALETTE[i % PALETTE.length], alpha),
  ]);
  const legend = () =>
    categories.map((category, i) => ({
      color: PALETTE[i % PALETTE.length],
      label: codeLabel(property.id, category.value) ?? String(category.value),
    }));
  return { conditions, legend, fallback: OTHER, fallbackLabel: () => t("value.other") };
}

/**
 * The Cesium3DTileStyle for one building layer, or undefined for the plain look.
 * `property`: the attribute summary to colour by (or null); `selectedId`: the source_id to highlight, in
 * `highlight` (a CSS colour).
 */
export function composeStyle(
  layer,
  { property = null, opacity = 1, selectedId = null, highlight = HIGHLIGHT } = {},
) {
  const alpha = Math.round(opacity * 100) / 100;
  const conditions = [];
  if (selectedId !== null && selectedId !== undefined) {
    conditions.push([`\${source_id} === '${quote(selectedId)}'`, color(highlight, alpha)]);
  }
  if (property) {
    const rules = attributeRules(property, alpha);
    conditions.push(...rules.conditions, ["true", color(rules.fallback, alpha)]);
  } else if (layer.style && conditions.length === 0) {
    return new Cesium.Cesium3DTileStyle(layer.style); // a configured style wins when nothing else applies
  } else if (conditions.length > 0 || alpha < 1) {
    // Other features keep the layer's own colour where it has one (e.g. translucent envelopes), else white.
    const own = typeof layer.style?.color === "string" ? layer.style.color : null;
    conditions.push(["true", own ?? color("#ffffff", alpha)]);
  }
  return conditions.length ? new Cesium.Cesium3DTileStyle({ color: { conditions } }) : undefined;
}

/**
 * Keeps every building tileset's style in step with its opacity, the chosen attribute and the selection.
 * `choice` is {layer, property} or null; onChange listeners hear about every change (for the share link).
 * `options.highlight`: the selected building's colour (the theme's highlight; default HIGHLIGHT).
 */
export function createStyling(viewer, tilesets, options = {}) {
  const highlight = options.highlight ?? HIGHLIGHT;
  const state = {};
  for (const [id, tileset] of Object.entries(tilesets)) {
    state[id] = { opacity: tileset.twinLayer.opacity ?? 1, selectedId: null };
  }
  let choice = null;
  const listeners = [];

  const apply = (id) => {
    const tileset = tilesets[id];
    const property = choice?.layer === id ? choice.property : null;
    tileset.style = composeStyle(tileset.twinLayer, { ...state[id], property, highlight });
    viewer.scene.requestRender();
  };
  const changed = () => listeners.forEach((listener) => listener());
  Object.keys(tilesets).forEach(apply);

  return {
    /** Layers with styleable attributes: [{layer, properties}] */
    choices() {
      return Object.values(tilesets)
        .map((tileset) => ({
          layer: tileset.twinLayer,
          properties: (tileset.twinLayer.properties ?? []).filter((p) => p.kind !== "text"),
        }))
        .filter((entry) => entry.properties.length > 0);
    },
    setOpacity(id, opacity) {
      state[id].opacity = opacity;
      apply(id);
    },
    /** Colour layer `id` by attribute `name` (null: back to the default look). Returns true if known. */
    setChoice(id, name) {
      const previous = choice?.layer;
      const property = tilesets[id]?.twinLayer.properties?.find((p) => p.id === name && p.kind !== "text");
      choice = property ? { layer: id, property } : null;
      if (previous && previous !== id) apply(previous);
      if (tilesets[id]) apply(id);
      changed();
      return Boolean(property);
    },
    choice: () => (choice ? { layer: choice.layer, property: choice.property.id } : null),
    legend() {
      if (!choice) return [];
      const rules = attributeRules(choice.property);
      return [...rules.legend(), { color: rules.fallback, label: rules.fallbackLabel() }];
    },
    /** Highlight building `sourceId` of layer `id` through the style (null clears). */
    select(id, sourceId) {
      if (!state[id]) return;
      state[id].selectedId = sourceId;
      apply(id);
    },
    onChange: (listener) => listeners.push(listener),
  };
}

/** The style control: one select over layer attributes, and the legend under it. */
export function setupStyleControl(styling, select, legendList) {
  const render = () => {
    const current = styling.choice();
    const none = document.createElement("option");
    none.value = "";
    none.textContent = t("style.none");
    const groups = styling.choices().map(({ layer, properties }) => {
      const group = document.createElement("optgroup");
      group.label = typeof layer.title === "string" ? layer.title : (layer.title?.[language()] ?? layer.id);
      for (const property of properties) {
        const option = document.createElement("option");
        option.value = `${layer.id}:${property.id}`;
        option.textContent = attributeLabel(property.id);
        group.append(option);
      }
      return group;
    });
    select.replaceChildren(none, ...groups);
    select.value = current ? `${current.layer}:${current.property}` : "";
    const items = styling.legend().map((entry) => {
      const item = document.createElement("li");
      const swatch = document.createElement("span");
      swatch.className = "swatch";
      swatch.style.background = entry.color;
      swatch.setAttribute("aria-hidden", "true");
      const label = document.createElement("span");
      label.textContent = entry.label;
      item.append(swatch, label);
      return item;
    });
    legendList.replaceChildren(...items);
    legendList.hidden = items.length === 0;
  };
  select.addEventListener("change", () => {
    const [layer, ...rest] = select.value.split(":");
    if (!select.value) {
      const current = styling.choice();
      styling.setChoice(current?.layer ?? "", null);
    } else {
      styling.setChoice(layer, rest.join(":"));
    }
  });
  styling.onChange(render);
  onLanguageChange(render);
  render();
  select.closest("section").hidden = styling.choices().length === 0;
}
