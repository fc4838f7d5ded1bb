// Layer tree (groups, a checkbox and an opacity slider per layer), 3D Tiles loading and base maps.

import * as Cesium from "../../cesium/index.js";
import { localized, onLanguageChange, t } from "./i18n.js";

/** Escape text for the few Cesium APIs that take HTML (credits). */
export function escapeHtml(text) {
  return String(text).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** An ImageryProvider promise for one base map entry of the configuration. */
export function basemapProvider(basemap) {
  const credit = basemap.attribution ? new Cesium.Credit(escapeHtml(basemap.attribution)) : undefined;
  const maximumLevel = basemap.maximum_level ?? undefined;
  switch (basemap.type) {
    case "tms":
      return Cesium.TileMapServiceImageryProvider.fromUrl(basemap.url, { credit, maximumLevel });
    case "xyz":
      return Promise.resolve(new Cesium.UrlTemplateImageryProvider({ url: basemap.url, credit, maximumLevel }));
    case "wms":
      return Promise.resolve(
        new Cesium.WebMapServiceImageryProvider({
          url: basemap.url,
          layers: basemap.layers,
          parameters: { format: basemap.format, transparent: false },
          credit,
          maximumLevel,
        }),
      );
    case "wmts":
      return Promise.resolve(
        new Cesium.WebMapTileServiceImageryProvider({
          url: basemap.url,
          layer: basemap.layer,
          style: basemap.style,
          tileMatrixSetID: basemap.tile_matrix_set,
          format: basemap.format,
          tilingScheme: new Cesium.WebMercatorTilingScheme(),
          credit,
          maximumLevel,
        }),
      );
    default:
      return Promise.reject(new Error(`unknown base map type ${basemap.type}`));
  }
}

/** Fill the base map selector and switch the globe's imagery when it changes. */
export function setupBasemaps(viewer, basemaps, select) {
  const render = () => {
    const chosen = select.value;
    select.replaceChildren(
      ...basemaps.map((basemap) => {
        const option = document.createElement("option");
        option.value = basemap.id;
        option.textContent = localized(basemap.title);
        return option;
      }),
    );
    select.value = chosen || (basemaps.find((b) => b.default) ?? basemaps[0])?.id || "";
  };
  render();
  onLanguageChange(render);
  select.addEventListener("change", () => {
    const basemap = basemaps.find((b) => b.id === select.value);
    if (!basemap) {
      return;
    }
    const layers = viewer.imageryLayers;
    layers.removeAll();
    layers.add(Cesium.ImageryLayer.fromProviderAsync(basemapProvider(basemap)));
    viewer.scene.requestRender();
  });
}

/** Every layer entry of the tree, depth first. */
export function flattenLayers(nodes) {
  return nodes.flatMap((node) => (node.type === "group" ? flattenLayers(node.children) : [node]));
}

/**
 * Lower a tileset by `height` metres along the local vertical at its centre: the globe has no terrain, so
 * buildings with real ellipsoidal heights (NHN + quasigeoid, tens of metres) would float above it.
 */
function lowerToEllipsoid(tileset, height) {
  const centre = Cesium.Cartographic.fromCartesian(tileset.boundingSphere.center);
  const at = Cesium.Cartesian3.fromRadians(centre.longitude, centre.latitude, 0);
  const below = Cesium.Cartesian3.fromRadians(centre.longitude, centre.latitude, -height);
  const offset = Cesium.Cartesian3.subtract(below, at, new Cesium.Cartesian3());
  tileset.modelMatrix = Cesium.Matrix4.fromTranslation(offset);
}

/**
 * Load every 3D Tiles layer of the tree into the scene.
 * Returns {tilesets: {id: Cesium3DTileset}, failed: [id]}; a failing layer does not stop the others.
 */
export async function loadTilesets(viewer, layers, options) {
  const tilesets = {};
  const failed = [];
  await Promise.all(
    layers
      .filter((layer) => (layer.kind === "3dtiles" || layer.kind === "external-3dtiles") && layer.url)
      .map(async (layer) => {
        try {
          const tileset = await Cesium.Cesium3DTileset.fromUrl(layer.url, {
            maximumScreenSpaceError: options.maximumScreenSpaceError,
          });
          tileset.show = layer.visible;
          tileset.twinLayer = layer;
          if (layer.ground_height) lowerToEllipsoid(tileset, layer.ground_height);
          viewer.scene.primitives.add(tileset);
          tilesets[layer.id] = tileset;
        } catch (error) {
          console.warn(`layer ${layer.id}: ${error}`);
          failed.push(layer.id);
        }
      }),
  );
  return { tilesets, failed };
}

function legendList(entries, label) {
  const list = document.createElement("ul");
  list.className = "legend";
  const render = () => {
    list.setAttribute("aria-label", label());
    list.replaceChildren(
      ...entries.map((entry) => {
        const item = document.createElement("li");
        const swatch = document.createElement("span");
        swatch.className = "swatch";
        swatch.style.background = entry.color;
        swatch.setAttribute("aria-hidden", "true");
        const text = document.createElement("span");
        text.textContent = entry.label();
        item.append(swatch, text);
        return item;
      }),
    );
  };
  render();
  onLanguageChange(render);
  return list;
}

/**
 * One layer's row. `handles[id]` is what the scene holds for the layer: {show, setOpacity(o), zoom(), legend?}
 * (a tileset or a planning data source); a layer without a handle failed to load.
 */
function layerItem(layer, handles) {
  const item = document.createElement("li");
  item.className = "layer";
  item.dataset.layer = layer.id;
  const handle = handles[layer.id];

  const row = document.createElement("div");
  row.className = "layer-row";
  const label = document.createElement("label");
  label.className = "layer-toggle";
  const checkbox = document.createElement("input");
  checkbox.type = "checkbox";
  checkbox.checked = Boolean(layer.visible);
  checkbox.disabled = !handle;
  checkbox.dataset.layer = layer.id;
  const name = document.createElement("span");
  name.className = "layer-name";
  label.append(checkbox, name);
  const zoom = document.createElement("button");
  zoom.type = "button";
  zoom.className = "icon-button layer-zoom";
  zoom.disabled = !handle;
  row.append(label, zoom);
  item.append(row);

  const slider = document.createElement("input");
  slider.type = "range";
  slider.min = "0";
  slider.max = "1";
  slider.step = "0.1";
  slider.value = String(layer.opacity ?? 1);
  slider.className = "layer-opacity";
  slider.disabled = !handle;
  item.append(slider);

  if (handle?.legend?.length) {
    item.append(legendList(handle.legend, () => t("planning.legend", { layer: localized(layer.title) })));
  }

  const note = document.createElement("p");
  note.className = "layer-note";
  item.append(note);

  const render = () => {
    const title = localized(layer.title);
    name.textContent = title;
    slider.setAttribute("aria-label", t("layers.opacity", { layer: title }));
    zoom.setAttribute("aria-label", t("layers.zoom", { layer: title }));
    zoom.title = t("layers.zoom", { layer: title });
    note.textContent = handle ? "" : t("layers.failed", { layer: title });
    note.hidden = Boolean(handle);
  };
  render();
  onLanguageChange(render);

  if (handle) {
    checkbox.addEventListener("change", () => {
      handle.show = checkbox.checked;
    });
    slider.addEventListener("input", () => handle.setOpacity(Number(slider.value)));
    zoom.addEventListener("click", () => handle.zoom());
  }
  return item;
}

/** Show or hide layer `id` through its checkbox (keeps the tree and the scene in step). */
export function setLayerVisible(container, id, visible) {
  const checkbox = container.querySelector(`input[type=checkbox][data-layer="${CSS.escape(id)}"]`);
  if (checkbox && !checkbox.disabled && checkbox.checked !== visible) {
    checkbox.checked = visible;
    checkbox.dispatchEvent(new Event("change"));
  }
}

function groupItem(group, handles) {
  const item = document.createElement("li");
  item.className = "layer-group";
  const details = document.createElement("details");
  details.open = group.expanded !== false;
  const summary = document.createElement("summary");
  const render = () => {
    summary.textContent = localized(group.title);
  };
  render();
  onLanguageChange(render);
  details.append(summary, buildList(group.children, handles));
  item.append(details);
  return item;
}

function buildList(nodes, handles) {
  const list = document.createElement("ul");
  for (const node of nodes) {
    list.append(
      node.type === "group" ? groupItem(node, handles) : layerItem(node, handles),
    );
  }
  return list;
}

/** Render the layer tree into `container`; `handles` as for layerItem. */
export function buildLayerTree(container, nodes, handles) {
  container.replaceChildren(buildList(nodes, handles));
}
