// twin viewer: reads /api/config, builds the scene, the layer tree and the attribute panel.
// Nothing city-specific lives here: another Kommune changes its profile and data, never this code.
//
// Test hook: window.twin = {viewer, tilesets, config, ready, flight, setLanguage, picking}.
// `ready` resolves once the initial flight has ended and every visible tileset has loaded its tiles.

import * as Cesium from "/cesium/index.js";
import { LANGUAGES, language, localized, onLanguageChange, setLanguage, t, translate } from "./i18n.js";
import { basemapProvider, buildLayerTree, flattenLayers, loadTilesets, setupBasemaps } from "./layers.js";
import { setupPicking } from "./picking.js";

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

async function fetchConfig() {
  const response = await fetch("/api/config", { headers: { Accept: "application/json" } });
  if (!response.ok) {
    throw new Error(`/api/config: HTTP ${response.status}`);
  }
  return response.json();
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

function showCity(config) {
  const name = document.getElementById("city-name");
  const subtitle = document.getElementById("city-subtitle");
  const render = () => {
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

function setupLanguageSwitch(config) {
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
  const requested = new URLSearchParams(window.location.search).get("lang");
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

async function start() {
  translate();
  showStatus("status.loading");
  const config = await fetchConfig();
  setupLanguageSwitch(config);
  showCity(config);
  setupPanelToggle();

  const viewer = createViewer(config);
  window.twin.viewer = viewer;
  window.twin.config = config;

  const layers = flattenLayers(config.layers);
  document.getElementById("layer-empty").hidden = layers.length > 0;
  setupBasemaps(viewer, config.basemaps, document.getElementById("basemap-select"));
  window.twin.picking = setupPicking(viewer, document.getElementById("feature-panel"));

  // Start the flight and the tileset loading together; wait for the tiles only once the camera is there.
  const flight = flyToCamera(viewer, config.camera, 1.5);
  window.twin.flight = flight;
  const { tilesets, failed } = await loadTilesets(viewer, layers, {
    maximumScreenSpaceError: config.viewer.maximum_screen_space_error,
  });
  window.twin.tilesets = tilesets;
  window.twin.failed = failed;
  buildLayerTree(document.getElementById("layer-tree"), config.layers, tilesets, viewer);

  await flight;
  showStatus("status.tiles");
  const visible = Object.values(tilesets).filter((tileset) => tileset.show);
  await Promise.all(visible.map((tileset) => tilesLoaded(viewer, tileset)));
  showStatus("status.ready");
  return window.twin;
}

window.twin = { viewer: null, tilesets: {}, config: null, language, setLanguage };
window.twin.ready = start().catch((error) => {
  console.error(error);
  showStatus("status.error", { message: error.message ?? String(error) });
  throw error;
});
