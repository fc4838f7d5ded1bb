// Click a building: highlight it and list its metadata in the attribute panel.
// Every value from the data is set with textContent, never as HTML.

import * as Cesium from "/cesium/index.js";
import { language, localized, onLanguageChange, t } from "./i18n.js";
import { attributeLabel, attributeUnit, codeLabel } from "./labels.js";

const HIGHLIGHT = Cesium.Color.fromCssColorString("#ffcc00");

function formatValue(name, value) {
  if (value === undefined || value === null || value === "") {
    return t("value.empty");
  }
  if (typeof value === "boolean") {
    return value ? t("value.yes") : t("value.no");
  }
  const code = codeLabel(name, value);
  if (code) {
    return code;
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
export function describePick(picked) {
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
    const layer = shown.tileset?.twinLayer;
    layerLine.textContent = layer ? t("feature.layer", { layer: localized(layer.title) }) : "";
    const blocks = [];
    for (const section of shown.sections) {
      const heading = document.createElement("h3");
      heading.textContent = t(section.key);
      const table = document.createElement("table");
      table.className = "attributes";
      table.dataset.section = section.key;
      for (const [name, value] of section.entries) {
        const row = document.createElement("tr");
        row.dataset.attribute = name;
        const label = document.createElement("th");
        label.scope = "row";
        label.textContent = attributeLabel(name);
        if (attributeLabel(name) !== name) {
          label.title = name;
        }
        const cell = document.createElement("td");
        cell.textContent = formatValue(name, value);
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

/** Install the click handler: pick, highlight the feature, fill the panel; a click on nothing clears it. */
export function setupPicking(viewer, panel) {
  const featurePanel = createFeaturePanel(panel);
  let highlighted = null;

  const clearHighlight = () => {
    if (highlighted) {
      try {
        highlighted.restore();
      } catch {
        // The tile holding it was unloaded meanwhile; nothing left to restore.
      }
      highlighted = null;
    }
    viewer.scene.requestRender();
  };

  // A feature (EXT_mesh_features, batch table) is tinted alone; content without features is tinted whole.
  const highlight = (picked) => {
    if (picked instanceof Cesium.Cesium3DTileFeature) {
      const color = Cesium.Color.clone(picked.color);
      picked.color = HIGHLIGHT;
      return { restore: () => (picked.color = color) };
    }
    const model = picked?.detail?.model;
    if (model && "color" in model) {
      const { color, colorBlendMode, colorBlendAmount } = model;
      model.color = HIGHLIGHT;
      model.colorBlendMode = Cesium.ColorBlendMode.MIX;
      model.colorBlendAmount = 0.6;
      return {
        restore: () => Object.assign(model, { color, colorBlendMode, colorBlendAmount }),
      };
    }
    return null;
  };
  featurePanel.onClose(clearHighlight);

  const select = (picked) => {
    clearHighlight();
    const description = Cesium.defined(picked) ? describePick(picked) : null;
    if (!description) {
      featurePanel.hide();
      return null;
    }
    highlighted = highlight(picked);
    featurePanel.show(description);
    viewer.scene.requestRender();
    return description;
  };

  const handler = new Cesium.ScreenSpaceEventHandler(viewer.scene.canvas);
  handler.setInputAction((click) => {
    select(viewer.scene.pick(click.position));
  }, Cesium.ScreenSpaceEventType.LEFT_CLICK);
  return { select, clear: () => select(undefined) };
}
