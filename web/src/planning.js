// Planning layers (kind "features"): GeoJSON from the API (or any URL), draped on the ground and coloured by
// plan type (XPlanung-like planart / nutzung / art), with a legend per layer. Bebauungspläne from XPlanGML (their
// features carry a `planzv` category) are drawn PlanZV-like instead (planzv.js): coloured areas, Baugrenzen and
// Baulinien as lines, the Geltungsbereich as its outline. Also the look of a plan's building envelopes (3D Tiles).

import * as Cesium from "../../cesium/index.js";
import { codeLabel } from "./labels.js";
import { planzvCategories, planzvLabel, planzvStyle, planzvSwatch } from "./planzv.js";

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

/** True if `layer` holds the building envelopes of a plan (3D Tiles): role "envelopes", or an id "...-envelopes". */
export function isEnvelopeLayer(layer) {
  const role = layer?.role ?? layer?.extra_role ?? layer?.extra?.role;
  if (role === "envelopes") return true;
  return (layer?.kind === "3dtiles" || layer?.kind === "external-3dtiles") && /-envelopes$/.test(layer.id ?? "");
}

/** Give an envelope layer without a configured style a translucent look in `primary` (a CSS colour). */
export function styleEnvelopeLayer(layer, primary = "#1f5fbf") {
  if (isEnvelopeLayer(layer) && !layer.style) {
    const quoted = String(primary).replace(/[^#0-9a-zA-Z(),.%\s]/g, "");
    layer.style = { color: `color('${quoted}', 0.45)` };
  }
  return layer;
}

/** The exterior ring of an entity's polygon as a closed list of positions, or null. */
function exteriorRing(entity, time) {
  const hierarchy = entity.polygon?.hierarchy?.getValue(time);
  const positions = hierarchy?.positions ?? (Array.isArray(hierarchy) ? hierarchy : null);
  if (!positions || positions.length < 3) return null;
  return [...positions, positions[0]];
}

/** A line material for a PlanZV drawing at layer opacity `opacity`. */
function lineMaterial(style, opacity) {
  const ink = Cesium.Color.fromCssColorString(style.draw === "light" ? style.line : style.color).withAlpha(opacity);
  return style.dashed || style.draw === "light"
    ? new Cesium.PolylineDashMaterialProperty({ color: ink, dashLength: 14 })
    : new Cesium.ColorMaterialProperty(ink);
}

// Drawing order on the ground (higher on top): areas, buildable areas, then lines and boundaries.
const Z_INDEX = { fill: 0, light: 1, line: 3, outline: 2 };

/** Draw one entity of a PlanZV layer: fill, faint fill with outline, line, or outline only. */
function drawPlanzv(entity, key, style, opacity, groundLines, time) {
  entity.twinPlanzv = { key, style };
  const zIndex = Z_INDEX[style.draw] ?? 0;
  if (entity.polygon) {
    entity.polygon.classificationType = Cesium.ClassificationType.TERRAIN;
    entity.polygon.outline = false; // clamped polygons have no outline: a ground polyline draws it instead
    entity.polygon.zIndex = zIndex;
    if (style.draw === "fill" || style.draw === "light") {
      entity.polygon.material = Cesium.Color.fromCssColorString(style.color).withAlpha(style.alpha * opacity);
    } else {
      entity.polygon.show = false; // lines and boundaries: only their ring is drawn (and picked)
    }
    const ring = style.draw === "fill" ? null : exteriorRing(entity, time);
    if (ring) {
      entity.polyline = new Cesium.PolylineGraphics({
        positions: ring,
        clampToGround: groundLines,
        width: style.width ?? 2,
        material: lineMaterial(style, opacity),
        zIndex,
      });
    }
  } else if (entity.polyline) {
    entity.polyline.width = style.width ?? 2;
    entity.polyline.material = lineMaterial(style.draw === "fill" ? { ...style, draw: "line" } : style, opacity);
    entity.polyline.zIndex = zIndex;
  }
}

/** Apply layer opacity `opacity` (0-1) to every entity drawn by drawPlanzv. */
function setPlanzvOpacity(entities, opacity) {
  for (const entity of entities) {
    const { style } = entity.twinPlanzv ?? {};
    if (!style) continue;
    if (entity.polygon && (style.draw === "fill" || style.draw === "light")) {
      entity.polygon.material = Cesium.Color.fromCssColorString(style.color).withAlpha(style.alpha * opacity);
    }
    if (entity.polyline) {
      entity.polyline.material = lineMaterial(style.draw === "fill" ? { ...style, draw: "line" } : style, opacity);
    }
  }
}

/**
 * Load one planning layer. Returns {dataSource, legend: [{color, value, label()}], attribute, setOpacity?}.
 * Polygons are clamped to the ground; lines too; points stay points. Features with a `planzv` category are
 * drawn PlanZV-like (legend: the categories present, in PlanZV order; `setOpacity(o)` scales their fills).
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
  if (entities.some((entity) => propertyValue(entity, "planzv", time) !== undefined)) {
    return addPlanzvLayer(viewer, layer, dataSource, time);
  }
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

/** The PlanZV drawing of a loaded Bebauungsplan data source (see loadPlanningLayer). */
async function addPlanzvLayer(viewer, layer, dataSource, time) {
  const entities = dataSource.entities.values;
  const groundLines = Cesium.GroundPolylinePrimitive.isSupported(viewer.scene);
  const opacity = layer.opacity ?? 1;
  const keys = [];
  dataSource.entities.suspendEvents();
  for (const entity of [...entities]) {
    entity.twinLayer = layer;
    const value = propertyValue(entity, "planzv", time);
    const key = planzvCategories([value === undefined || value === null ? "sonstiges" : String(value)])[0];
    keys.push(key);
    drawPlanzv(entity, key, planzvStyle(key), opacity, groundLines, time);
  }
  dataSource.entities.resumeEvents();
  dataSource.show = Boolean(layer.visible);
  await viewer.dataSources.add(dataSource);
  const legend = planzvCategories(keys).map((key) => ({
    color: planzvSwatch(key),
    hex: planzvStyle(key).color,
    value: key,
    label: () => planzvLabel(key),
  }));
  return {
    dataSource,
    legend,
    attribute: "planzv",
    planzv: true,
    setOpacity: (value) => {
      setPlanzvOpacity(entities, value);
      viewer.scene.requestRender();
    },
  };
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
