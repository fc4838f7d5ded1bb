// twin viewer: reads api/config (below the API base, see api.js), builds the scene, the layer tree and the
// attribute panel. Nothing city-specific lives here: another Kommune changes its profile and data, never this
// code; its colours and logo come from the configuration too.
//
// Test hook: window.twin = {viewer, tilesets, planning, config, ready, flight, setLanguage, picking, styling,
// search, measure, sun, shareLink(), screenshot(), flyToHit(hit), apiBase, theme}. `config` has its URLs
// resolved against the API base; `theme` is the applied theme (also on <html>'s style as CSS variables).
// `ready` resolves once the initial flight has ended, every visible tileset has loaded its tiles and a shared
// link's selection has been restored.

import * as Cesium from "../../cesium/index.js";
import { apiBase, apiUrl, resolveConfigUrls } from "./api.js";
import { LANGUAGES, language, localized, onLanguageChange, setLanguage, t, translate } from "./i18n.js";
import {
  basemapProvider,
  buildLayerTree,
  flattenLayers,
  loadTilesets,
  setLayerVisible,
  setupBasemaps,
} from "./layers.js";
import { setupMeasure } from "./measure.js";
import { findFeature, setupPicking } from "./picking.js";
import { loadPlanningLayers, styleEnvelopeLayer } from "./planning.js";
import { captureScene, downloadScreenshot } from "./screenshot.js";
import { setupSearch } from "./search.js";
import { applyCamera, cameraState, readState, writeState } from "./share.js";
import { createStyling, setupStyleControl } from "./style.js";
import { setupSun } from "./sun.js";
import { applyTheme } from "./theme.js";

// No Cesium ion: no token, no ion terrain or imagery; everything comes from this server or the profile.
Cesium.Ion.defaultAccessToken = "";

const status = document.getElementById("status");
let statusMessage = { key: "status.loading", params: {} };

function renderStatus() {
  status.textContent = t(statusMessage.key, statusMessage.params);
  status.hidden = !status.textContent;
}

function showStatus(key, params = {}) {
  statusMessage = { key, params };
  renderStatus();
}
onLanguageChange(renderStatus);

/** The configuration from the API, its URLs resolved against the API base. */
async function fetchConfig() {
  const url = apiUrl("api/config");
  let response;
  try {
    response = await fetch(url, { headers: { Accept: "application/json" } });
  } catch (error) {
    throw new Error(`${url}: ${error.message ?? error}`); // unreachable, or refused by CORS
  }
  if (!response.ok) {
    throw new Error(`${url}: HTTP ${response.status}`);
  }
  return resolveConfigUrls(await response.json());
}

function createViewer(config) {
  const basemap = config.basemaps.find((b) => b.default) ?? config.basemaps[0];
  const viewer = new Cesium.Viewer("cesium", {
    baseLayer: basemap ? Cesium.ImageryLayer.fromProviderAsync(basemapProvider(basemap)) : false,
    terrainProvider: new Cesium.EllipsoidTerrainProvider(),
    baseLayerPicker: false,
    geocoder: false,
    homeButton: false,
    sceneModePicker: false,
    navigationHelpButton: false,
    animation: false,
    timeline: false,
    fullscreenButton: false,
    infoBox: false,
    selectionIndicator: false,
    shouldAnimate: false,
    requestRenderMode: true,
    maximumRenderTimeChange: Infinity,
    shadows: Boolean(config.viewer.shadows),
  });
  // A fixed daytime instant: the same sun light (and pictures) on every load.
  const time = Cesium.JulianDate.fromIso8601(config.viewer.time);
  viewer.clock.currentTime = time;
  viewer.clock.shouldAnimate = false;
  viewer.scene.globe.enableLighting = false;
  viewer.scene.globe.depthTestAgainstTerrain = false;
  // Timings for the bench (performance.now() milliseconds since navigation start).
  const removeFirstFrame = viewer.scene.postRender.addEventListener(() => {
    removeFirstFrame();
    window.twin.marks.firstFrame = performance.now();
  });
  return viewer;
}

/** Fly to the configured view; resolves when the camera has arrived (or the flight was cancelled). */
function flyToCamera(viewer, camera, duration) {
  const target = Cesium.Cartesian3.fromDegrees(camera.longitude, camera.latitude, camera.height);
  const offset = new Cesium.HeadingPitchRange(
    Cesium.Math.toRadians(camera.heading),
    Cesium.Math.toRadians(camera.pitch),
    camera.range,
  );
  return new Promise((resolve) => {
    viewer.camera.flyToBoundingSphere(new Cesium.BoundingSphere(target, 1), {
      offset,
      duration,
      complete: resolve,
      cancel: resolve,
    });
  });
}

/** Resolves when the tileset has loaded everything the current view needs (checked after a fresh frame). */
function tilesLoaded(viewer, tileset) {
  return new Promise((resolve) => {
    const removePostRender = viewer.scene.postRender.addEventListener(() => {
      removePostRender();
      if (tileset.tilesLoaded) {
        resolve();
        return;
      }
      const removeLoaded = tileset.allTilesLoaded.addEventListener(() => {
        removeLoaded();
        resolve();
      });
    });
    viewer.scene.requestRender();
  });
}

/** Resolves once the entity display (draped planning polygons are built in workers) is ready; renders meanwhile. */
function dataSourcesReady(viewer) {
  return new Promise((resolve) => {
    const remove = viewer.scene.postRender.addEventListener(() => {
      if (viewer.dataSourceDisplay.ready) {
        remove();
        resolve();
      } else {
        setTimeout(() => viewer.scene.requestRender(), 50);
      }
    });
    viewer.scene.requestRender();
  });
}

function showCity(config) {
  const name = document.getElementById("city-name");
  const subtitle = document.getElementById("city-subtitle");
  const logo = document.getElementById("city-logo");
  if (config.city.logo) {
    logo.addEventListener("error", () => {
      console.warn(`city logo ${config.city.logo} did not load`);
      logo.hidden = true;
    });
    logo.src = config.city.logo;
    logo.hidden = false;
  }
  const render = () => {
    logo.alt = localized(config.city.name);
    name.textContent = localized(config.city.name);
    subtitle.textContent = localized(config.city.subtitle);
    document.title = `${localized(config.city.name)} – ${t("app.title")}`;
  };
  if (config.city.homepage) {
    name.href = config.city.homepage;
    name.target = "_blank";
    name.rel = "noopener";
  }
  render();
  onLanguageChange(render);
  document.getElementById("attribution").textContent = config.attribution.join(" · ");
}

function setupLanguageSwitch(config, shared) {
  const available = config.languages.available.filter((code) => LANGUAGES.includes(code));
  const buttons = [...document.querySelectorAll(".lang-button")];
  for (const button of buttons) {
    button.hidden = !available.includes(button.dataset.lang);
    button.addEventListener("click", () => setLanguage(button.dataset.lang));
  }
  onLanguageChange((code) => {
    for (const button of buttons) {
      button.setAttribute("aria-pressed", String(button.dataset.lang === code));
    }
  });
  const requested = shared.lang ?? new URLSearchParams(window.location.search).get("lang");
  setLanguage(available.includes(requested) ? requested : config.languages.default);
}

function setupPanelToggle() {
  const button = document.getElementById("toggle-layers");
  const panel = document.getElementById("layer-panel");
  const narrow = window.matchMedia("(max-width: 700px)");
  const set = (open) => {
    panel.classList.toggle("collapsed", !open);
    button.setAttribute("aria-expanded", String(open));
  };
  set(!narrow.matches);
  button.addEventListener("click", () => set(panel.classList.contains("collapsed")));
}

/** Fly to a search hit, show its layer, then select the building once its tile is loaded. */
async function flyToHit(viewer, hit, context) {
  const { tilesets, picking, tree } = context;
  setLayerVisible(tree, hit.layer, true);
  const range = Math.max(120, hit.height * 4);
  await flyToCamera(
    viewer,
    { longitude: hit.lon, latitude: hit.lat, height: hit.height / 2, heading: Cesium.Math.toDegrees(viewer.camera.heading), pitch: -35, range },
    1.0,
  );
  const tileset = tilesets[hit.layer];
  if (!tileset) return null;
  await tilesLoaded(viewer, tileset);
  const feature = findFeature(tileset, hit.id);
  return feature ? picking.select(feature) : null;
}

/** Open the tool panel `name` (or close it when it is open); only one tool panel at a time. */
function setupTools(tools) {
  const buttons = [...document.querySelectorAll(".tool-button[data-tool]")];
  let open = null;
  const set = (name) => {
    if (open && tools[open].close) tools[open].close();
    open = name === open ? null : name;
    for (const button of buttons) {
      const on = button.dataset.tool === open;
      button.setAttribute("aria-pressed", String(on));
      document.getElementById(`${button.dataset.tool}-panel`).hidden = !on;
    }
    if (open && tools[open].open) tools[open].open();
  };
  buttons.forEach((button) => button.addEventListener("click", () => set(button.dataset.tool)));
  document.querySelectorAll(".tool-close").forEach((button) => button.addEventListener("click", () => set(open)));
  document.addEventListener("keydown", (event) => {
    if (event.key === "Escape" && open === "measure" && tools.measure.escape) {
      tools.measure.escape();
    }
  });
  return { open: (name) => name !== open && set(name), close: () => open && set(open) };
}

async function start() {
  translate();
  showStatus("status.loading");
  const shared = readState(window.location.hash);
  const config = await fetchConfig();
  window.twin.theme = applyTheme(config.theme);
  setupLanguageSwitch(config, shared);
  showCity(config);
  setupPanelToggle();

  const viewer = createViewer(config);
  window.twin.viewer = viewer;
  window.twin.config = config;

  const layers = flattenLayers(config.layers);
  if (shared.layers) {
    for (const layer of layers) layer.visible = shared.layers.includes(layer.id);
  }
  document.getElementById("layer-empty").hidden = layers.length > 0;
  // A plan's building envelopes (3D Tiles) are translucent in the city's colour unless configured otherwise.
  for (const layer of layers) styleEnvelopeLayer(layer, window.twin.theme.primary);
  setupBasemaps(viewer, config.basemaps, document.getElementById("basemap-select"));

  // A shared link puts the camera where it was; otherwise fly to the profile's view.
  let flight;
  if (shared.camera) {
    applyCamera(viewer.camera, shared.camera);
    flight = Promise.resolve();
  } else {
    flight = flyToCamera(viewer, config.camera, 1.5);
  }
  window.twin.flight = flight;
  const [{ tilesets, failed }, planningResult] = await Promise.all([
    loadTilesets(viewer, layers, { maximumScreenSpaceError: config.viewer.maximum_screen_space_error }),
    loadPlanningLayers(viewer, layers),
  ]);
  const { planning } = planningResult;
  window.twin.tilesets = tilesets;
  window.twin.planning = planning;
  window.twin.failed = [...failed, ...planningResult.failed];

  const styling = createStyling(viewer, tilesets, { highlight: window.twin.theme.highlight });
  window.twin.styling = styling;
  let measure = null;
  const picking = setupPicking(viewer, document.getElementById("feature-panel"), {
    styling,
    highlight: window.twin.theme.highlight,
    enabled: () => !measure?.active(),
  });
  window.twin.picking = picking;
  measure = setupMeasure(viewer, document.getElementById("measure-panel"));
  window.twin.measure = measure;

  const handles = {};
  for (const [id, tileset] of Object.entries(tilesets)) {
    handles[id] = {
      get show() { return tileset.show; },
      set show(value) { tileset.show = value; viewer.scene.requestRender(); changed(); },
      setOpacity: (opacity) => styling.setOpacity(id, opacity),
      zoom: () => viewer.zoomTo(tileset),
    };
  }
  for (const [id, { dataSource, legend, setOpacity }] of Object.entries(planning)) {
    handles[id] = {
      get show() { return dataSource.show; },
      set show(value) { dataSource.show = value; viewer.scene.requestRender(); changed(); },
      setOpacity: setOpacity ?? ((opacity) => {
        for (const entity of dataSource.entities.values) {
          const material = entity.polygon?.material;
          if (material?.color) material.color = material.color.getValue().withAlpha(opacity * 0.7);
        }
        viewer.scene.requestRender();
      }),
      zoom: () => viewer.zoomTo(dataSource),
      legend,
    };
  }
  const tree = document.getElementById("layer-tree");
  buildLayerTree(tree, config.layers, handles);
  setupStyleControl(styling, document.getElementById("style-select"), document.getElementById("style-legend"));

  const sun = setupSun(viewer, document.getElementById("sun-panel"), config.viewer.timezone ?? "Europe/Berlin");
  sun.set({ time: shared.time ?? config.viewer.time, shadows: shared.shadows ?? Boolean(config.viewer.shadows) });
  window.twin.sun = sun;
  if (shared.style) styling.setChoice(shared.style.layer, shared.style.property);

  // The share link: the current state, kept in the address bar (replaceState: no history entry per move).
  const shareLink = () => {
    const state = {
      camera: cameraState(viewer.camera),
      layers: Object.entries(handles).filter(([, handle]) => handle.show).map(([id]) => id),
      selection: picking.selection(),
      style: styling.choice(),
      ...sun.get(),
      lang: language(),
    };
    const url = new URL(window.location.href);
    url.hash = writeState(state);
    return url.toString();
  };
  let ready = false;
  function changed() {
    if (ready) history.replaceState(null, "", shareLink());
  }
  viewer.camera.moveEnd.addEventListener(changed);
  picking.onSelect(changed);
  styling.onChange(changed);
  sun.onChange(changed);
  onLanguageChange(changed);
  window.twin.shareLink = shareLink;

  const shareInput = document.getElementById("share-link");
  const shareNote = document.getElementById("share-note");
  const tools = setupTools({
    measure: { open: () => measure.start(), close: () => measure.stop(), escape: () => measure.clear() },
    sun: {},
    share: {
      open: () => {
        shareInput.value = shareLink();
        shareNote.textContent = "";
        shareInput.select();
      },
    },
  });
  window.twin.tools = tools;
  document.getElementById("share-copy").addEventListener("click", async () => {
    shareInput.value = shareLink();
    shareInput.select();
    try {
      await navigator.clipboard.writeText(shareInput.value);
      shareNote.textContent = t("share.copied");
    } catch {
      document.execCommand?.("copy");
    }
  });
  document.getElementById("screenshot-button").addEventListener("click", () =>
    downloadScreenshot(viewer, localized(config.city.name)),
  );
  window.twin.screenshot = () => captureScene(viewer);
  window.twin.tilesLoaded = () =>
    Promise.all(Object.values(tilesets).filter((ts) => ts.show).map((ts) => tilesLoaded(viewer, ts)));

  const context = { tilesets, picking, tree };
  window.twin.flyToHit = (hit) => flyToHit(viewer, hit, context);
  window.twin.search = setupSearch(document.getElementById("search"), window.twin.flyToHit);

  await flight;
  showStatus("status.tiles");
  const visible = Object.values(tilesets).filter((tileset) => tileset.show);
  await Promise.all([...visible.map((tileset) => tilesLoaded(viewer, tileset)), dataSourcesReady(viewer)]);
  if (shared.selection && tilesets[shared.selection.layer]) {
    const feature = findFeature(tilesets[shared.selection.layer], shared.selection.id);
    if (feature) picking.select(feature);
  }
  ready = true;
  window.twin.marks.ready = performance.now();
  showStatus("status.ready");
  return window.twin;
}

window.twin = { viewer: null, tilesets: {}, config: null, language, setLanguage, marks: {}, apiBase, theme: null };
window.twin.ready = start().catch((error) => {
  console.error(error);
  showStatus("status.error", { message: error.message ?? String(error) });
  throw error;
});
