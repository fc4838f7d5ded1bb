// Sun and shadow: a date and an hour in the city's time zone (Europe/Berlin by default) drive the scene clock;
// shadows fall on buildings and on the ground.

import * as Cesium from "../../cesium/index.js";
import { onLanguageChange, t } from "./i18n.js";

/** Wall-clock parts {date: "YYYY-MM-DD", minutes} of the UTC instant `date` in `zone`. */
export function zonedParts(date, zone) {
  const parts = Object.fromEntries(
    new Intl.DateTimeFormat("en-CA", {
      timeZone: zone, year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit",
      hourCycle: "h23",
    }).formatToParts(date).map((part) => [part.type, part.value]),
  );
  return { date: `${parts.year}-${parts.month}-${parts.day}`, minutes: Number(parts.hour) * 60 + Number(parts.minute) };
}

/** The UTC instant (Date) of local `day` ("YYYY-MM-DD") at `minutes` after midnight in `zone`. */
export function zonedToUtc(day, minutes, zone) {
  const [y, m, d] = day.split("-").map(Number);
  const guess = Date.UTC(y, m - 1, d, 0, minutes);
  // The zone's offset at the guess, applied twice to settle around a daylight-saving switch.
  let utc = guess;
  for (let i = 0; i < 2; i += 1) {
    const seen = zonedParts(new Date(utc), zone);
    const [sy, sm, sd] = seen.date.split("-").map(Number);
    const shown = Date.UTC(sy, sm - 1, sd, 0, seen.minutes);
    utc += guess - shown;
  }
  return new Date(utc);
}

function hhmm(minutes) {
  return `${String(Math.floor(minutes / 60)).padStart(2, "0")}:${String(minutes % 60).padStart(2, "0")}`;
}

/** Wire the sun panel; returns {get() → {time: ISO UTC, shadows}, set({time, shadows})}. */
export function setupSun(viewer, panel, zone) {
  const dateInput = panel.querySelector("#sun-date");
  const timeInput = panel.querySelector("#sun-time");
  const timeOutput = panel.querySelector("#sun-time-value");
  const timeLabel = panel.querySelector("#sun-time-label");
  const shadowInput = panel.querySelector("#sun-shadows");
  const listeners = [];

  viewer.shadowMap.softShadows = false;
  viewer.shadowMap.maximumDistance = 3000;
  viewer.shadowMap.darkness = 0.45;

  const apply = () => {
    const instant = zonedToUtc(dateInput.value, Number(timeInput.value), zone);
    viewer.clock.currentTime = Cesium.JulianDate.fromDate(instant);
    const shadows = shadowInput.checked;
    viewer.shadows = shadows;
    viewer.terrainShadows = shadows ? Cesium.ShadowMode.RECEIVE_ONLY : Cesium.ShadowMode.DISABLED;
    viewer.scene.globe.enableLighting = shadows;
    timeOutput.textContent = hhmm(Number(timeInput.value));
    viewer.scene.requestRender();
    listeners.forEach((listener) => listener());
  };
  const renderLabels = () => {
    timeLabel.textContent = t("sun.time", { zone });
    timeInput.setAttribute("aria-valuetext", hhmm(Number(timeInput.value)));
  };

  function set({ time, shadows }) {
    const instant = new Date(time);
    if (!Number.isNaN(instant.getTime())) {
      const local = zonedParts(instant, zone);
      dateInput.value = local.date;
      timeInput.value = String(local.minutes - (local.minutes % 15));
    }
    if (shadows !== undefined) shadowInput.checked = Boolean(shadows);
    renderLabels();
    apply();
  }

  function get() {
    return {
      time: Cesium.JulianDate.toDate(viewer.clock.currentTime).toISOString().slice(0, 16) + "Z",
      shadows: shadowInput.checked,
    };
  }

  for (const input of [dateInput, timeInput, shadowInput]) {
    input.addEventListener("input", () => {
      renderLabels();
      apply();
    });
  }
  onLanguageChange(renderLabels);
  return { get, set, onChange: (listener) => listeners.push(listener) };
}
