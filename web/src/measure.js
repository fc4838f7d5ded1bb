// Measure distance, height difference and area on the 3D scene (picked on tiles, else on the ellipsoid).
// Readouts in m and m²; Esc or "clear" ends a measurement.

import * as Cesium from "../../cesium/index.js";
import { language, onLanguageChange, t } from "./i18n.js";

const LINE = Cesium.Color.fromCssColorString("#ff6a00");

/** Metres, formatted for the active language ("12,34"). */
function metres(value) {
  return new Intl.NumberFormat(language(), { maximumFractionDigits: 2, minimumFractionDigits: 2 }).format(value);
}

/** Sum of straight segment lengths (metres, ECEF). */
export function pathLength(points) {
  let total = 0;
  for (let i = 1; i < points.length; i += 1) {
    total += Cesium.Cartesian3.distance(points[i - 1], points[i]);
  }
  return total;
}

/** Horizontal area (m²) of the polygon through `points`, in the local east-north plane of the first point. */
export function horizontalArea(points) {
  if (points.length < 3) return 0;
  const toLocal = Cesium.Matrix4.inverse(Cesium.Transforms.eastNorthUpToFixedFrame(points[0]), new Cesium.Matrix4());
  const local = points.map((p) => Cesium.Matrix4.multiplyByPoint(toLocal, p, new Cesium.Cartesian3()));
  let twice = 0;
  for (let i = 0; i < local.length; i += 1) {
    const a = local[i];
    const b = local[(i + 1) % local.length];
    twice += a.x * b.y - b.x * a.y;
  }
  return Math.abs(twice) / 2;
}

/** Vertical difference (m, ellipsoidal heights) and horizontal distance (m) between two points. */
export function heightDifference(a, b) {
  const ca = Cesium.Cartographic.fromCartesian(a);
  const cb = Cesium.Cartographic.fromCartesian(b);
  const flatB = Cesium.Cartesian3.fromRadians(cb.longitude, cb.latitude, ca.height);
  return { vertical: Math.abs(cb.height - ca.height), horizontal: Cesium.Cartesian3.distance(a, flatB) };
}

/** The scene position under a window position: depth-picked on tiles or the globe, else the ellipsoid. */
export function scenePosition(viewer, windowPosition) {
  const scene = viewer.scene;
  if (scene.pickPositionSupported) {
    const picked = scene.pick(windowPosition);
    const position = scene.pickPosition(windowPosition);
    if (Cesium.defined(position) && (Cesium.defined(picked) || scene.globe.depthTestAgainstTerrain)) {
      return position;
    }
  }
  return viewer.camera.pickEllipsoid(windowPosition, scene.globe.ellipsoid) ?? null;
}

/** Install the measuring tool in `panel`; returns {active(), setMode(mode), addPoint(cartesian), clear(), result()}. */
export function setupMeasure(viewer, panel) {
  const output = panel.querySelector("#measure-result");
  const hint = panel.querySelector("#measure-hint");
  const modeInputs = [...panel.querySelectorAll("input[name=measure-mode]")];
  let mode = null;
  let points = [];
  let entities = [];
  let result = null;

  const draw = () => {
    entities.forEach((entity) => viewer.entities.remove(entity));
    entities = points.map((position) =>
      viewer.entities.add({
        position,
        point: { pixelSize: 9, color: LINE, outlineColor: Cesium.Color.WHITE, outlineWidth: 2,
          disableDepthTestDistance: Number.POSITIVE_INFINITY },
      }),
    );
    if (points.length >= 2) {
      const line = mode === "area" ? [...points, points[0]] : points;
      entities.push(viewer.entities.add({
        polyline: { positions: line, width: 3, material: LINE, depthFailMaterial: LINE.withAlpha(0.5) },
      }));
    }
    if (mode === "area" && points.length >= 3) {
      entities.push(viewer.entities.add({
        polygon: { hierarchy: points, perPositionHeight: true, material: LINE.withAlpha(0.3) },
      }));
    }
    viewer.scene.requestRender();
  };

  const compute = () => {
    result = null;
    if (mode === "distance" && points.length >= 2) {
      result = { mode, value: pathLength(points) };
    } else if (mode === "height" && points.length >= 2) {
      const { vertical, horizontal } = heightDifference(points[0], points[points.length - 1]);
      result = { mode, value: vertical, horizontal };
    } else if (mode === "area" && points.length >= 3) {
      result = { mode, value: horizontalArea(points), perimeter: pathLength([...points, points[0]]) };
    }
  };

  const render = () => {
    hint.textContent = mode ? t(`measure.hint.${mode}`) : "";
    if (!result) {
      output.textContent = "";
      return;
    }
    output.textContent = t(`measure.result.${result.mode}`, {
      value: metres(result.value),
      horizontal: metres(result.horizontal ?? 0),
      perimeter: metres(result.perimeter ?? 0),
    });
  };
  onLanguageChange(render);

  function clear() {
    points = [];
    result = null;
    draw();
    render();
  }

  function setMode(next) {
    mode = next;
    modeInputs.forEach((input) => (input.checked = input.value === next));
    clear();
  }

  function addPoint(position) {
    if (!mode) return;
    if (mode === "height" && points.length >= 2) points = [];
    points.push(position);
    compute();
    draw();
    render();
  }

  modeInputs.forEach((input) => input.addEventListener("change", () => setMode(input.value)));
  panel.querySelector("#measure-clear").addEventListener("click", clear);
  const handler = new Cesium.ScreenSpaceEventHandler(viewer.scene.canvas);
  handler.setInputAction((click) => {
    if (!mode) return;
    const position = scenePosition(viewer, click.position);
    if (position) {
      addPoint(position);
    } else {
      output.textContent = t("measure.nopoint");
    }
  }, Cesium.ScreenSpaceEventType.LEFT_CLICK);

  return {
    active: () => mode !== null,
    setMode,
    start: () => setMode(mode ?? modeInputs.find((i) => i.checked)?.value ?? "distance"),
    stop: () => {
      clear();
      mode = null;
      render();
    },
    addPoint,
    clear,
    result: () => result,
  };
}
