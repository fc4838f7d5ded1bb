// The view as a link: camera, visible layers, selected building, style, time, shadows and language live in
// the URL's hash (#cam=lon,lat,height,heading,pitch,roll&layers=a,b&sel=layer/id&style=layer/attribute&...).
// The hash is kept current while the user works, so the address bar is always a link to this view.

import * as Cesium from "../../cesium/index.js";

const round = (value, digits) => Number(value.toFixed(digits));

/** The camera as [lon, lat, height, heading, pitch, roll]: degrees to ~1 cm, metres to 1 cm, angles to 0.01°. */
export function cameraState(camera) {
  const c = camera.positionCartographic;
  return [
    round(Cesium.Math.toDegrees(c.longitude), 7),
    round(Cesium.Math.toDegrees(c.latitude), 7),
    round(c.height, 2),
    round(Cesium.Math.toDegrees(camera.heading), 2),
    round(Cesium.Math.toDegrees(camera.pitch), 2),
    round(Cesium.Math.toDegrees(camera.roll), 2),
  ];
}

/** Put the camera where `cam` ([lon, lat, height, heading, pitch, roll]) says. */
export function applyCamera(camera, cam) {
  const [lon, lat, height, heading, pitch, roll] = cam;
  camera.setView({
    destination: Cesium.Cartesian3.fromDegrees(lon, lat, height),
    orientation: {
      heading: Cesium.Math.toRadians(heading),
      pitch: Cesium.Math.toRadians(pitch),
      roll: Cesium.Math.toRadians(roll),
    },
  });
}

const pair = (text) => {
  const at = text.indexOf("/");
  return at > 0 ? { layer: decodeURIComponent(text.slice(0, at)), id: decodeURIComponent(text.slice(at + 1)) } : null;
};

/** The state a link carries, read from `hash` ("#..."); absent parts are null. */
export function readState(hash) {
  const params = new URLSearchParams(hash.replace(/^#/, ""));
  const cam = params.get("cam")?.split(",").map(Number);
  const style = params.has("style") ? pair(params.get("style")) : null;
  return {
    camera: cam && cam.length === 6 && cam.every(Number.isFinite) ? cam : null,
    layers: params.has("layers") ? params.get("layers").split(",").filter(Boolean).map(decodeURIComponent) : null,
    selection: params.has("sel") ? pair(params.get("sel")) : null,
    style: style ? { layer: style.layer, property: style.id } : null,
    time: params.get("time"),
    shadows: params.has("shadows") ? params.get("shadows") === "1" : null,
    lang: params.get("lang"),
  };
}

/** The hash ("#...") for a state {camera, layers, selection, style, time, shadows, lang}. */
export function writeState(state) {
  const parts = [`cam=${state.camera.join(",")}`];
  parts.push(`layers=${state.layers.map(encodeURIComponent).join(",")}`);
  if (state.selection) {
    parts.push(`sel=${encodeURIComponent(state.selection.layer)}/${encodeURIComponent(state.selection.id)}`);
  }
  if (state.style) {
    parts.push(`style=${encodeURIComponent(state.style.layer)}/${encodeURIComponent(state.style.property)}`);
  }
  if (state.time) parts.push(`time=${encodeURIComponent(state.time)}`);
  parts.push(`shadows=${state.shadows ? 1 : 0}`);
  if (state.lang) parts.push(`lang=${state.lang}`);
  return `#${parts.join("&")}`;
}
