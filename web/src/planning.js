// Planning layers (kind "features"): GeoJSON from the API (or any URL), draped on the ground and coloured by
// plan type (XPlanung-like planart / nutzung / art), with a legend per layer.

import * as Cesium from "../../cesium/index.js";
import { codeLabel } from "./labels.js";

const TYPE_ATTRIBUTES = ["planart", "nutzung", "art", "zweckbestimmung", "typ", "type"];
const COLOURS = ["#e41a1c", "#377eb8", "#4daf4a", "#984ea3", "#ff7f00", "#a65628", "#f781bf", "#999999"];

function propertyValue(entity, name, time) {
  const property = entity.properties?.[name];
  return property?.getValue ? property.getValue(time) : property;
}

/** Which attribute tells the plan type: the layer's planning.style_attribute, else the first known one present. */
function typeAttribute(layer, entities, time) {
  const configured = layer.planning?.style_attribute;
  if (configured) return configured;
  return TYPE_ATTRIBUTES.find((name) => entities.some((e) => propertyValue(e, name, time) !== undefined)) ?? null;
}

/**
 * Load one planning layer. Returns {dataSource, legend: [{color, value, label()}], attribute}.
 * Polygons are clamped to the ground; lines too; points stay points.
 */
export async function loadPlanningLayer(viewer, layer) {
  const dataSource = await Cesium.GeoJsonDataSource.load(layer.url, {
    clampToGround: true,
    fill: Cesium.Color.fromCssColorString("#377eb8").withAlpha(0.5),
    stroke: Cesium.Color.fromCssColorString("#1f3b57"),
    strokeWidth: 2,
  });
  const time = viewer.clock.currentTime;
  const entities = dataSource.entities.values;
  const attribute = typeAttribute(layer, entities, time);
  const configured = layer.planning?.colors ?? {};
  const values = [];
  for (const entity of entities) {
    entity.twinLayer = layer;
    const value = attribute ? propertyValue(entity, attribute, time) : undefined;
    const key = value === undefined || value === null ? "" : String(value);
    if (!values.includes(key)) values.push(key);
    const hex = configured[key] ?? COLOURS[values.indexOf(key) % COLOURS.length];
    const alpha = layer.opacity ?? 0.6;
    if (entity.polygon) {
      entity.polygon.material = Cesium.Color.fromCssColorString(hex).withAlpha(Math.min(alpha, 0.7));
      entity.polygon.classificationType = Cesium.ClassificationType.TERRAIN; // on the ground, not on roofs (cheaper, clearer)
      entity.polygon.outline = false; // outlines are not drawn on clamped polygons (Cesium warns)
    } else if (entity.polyline) {
      entity.polyline.material = Cesium.Color.fromCssColorString(hex);
    }
  }
  dataSource.show = Boolean(layer.visible);
  await viewer.dataSources.add(dataSource);
  const legend = values.map((value, i) => ({
    color: configured[value] ?? COLOURS[i % COLOURS.length],
    value,
    label: () => (attribute ? codeLabel(attribute, value) : null) ?? (value || "–"),
  }));
  return { dataSource, legend, attribute };
}

/** Load every features layer; a failing one is reported, not fatal. Returns {planning: {id: ...}, failed}. */
export async function loadPlanningLayers(viewer, layers) {
  const planning = {};
  const failed = [];
  await Promise.all(
    layers
      .filter((layer) => layer.kind === "features" && layer.url)
      .map(async (layer) => {
        try {
          planning[layer.id] = await loadPlanningLayer(viewer, layer);
        } catch (error) {
          console.warn(`layer ${layer.id}: ${error}`);
          failed.push(layer.id);
        }
      }),
  );
  return { planning, failed };
}
