// Save the current view as a PNG: render a fresh frame and read the canvas in the same task
// (the drawing buffer is still intact then, without preserveDrawingBuffer's cost on every frame).

/** A file name like "halle-saale-2025-06-21-1432.png" from the city name and the local time. */
export function screenshotName(city, now = new Date()) {
  const slug =
    String(city)
      .toLowerCase()
      .replace(/ä/g, "ae").replace(/ö/g, "oe").replace(/ü/g, "ue").replace(/ß/g, "ss")
      .replace(/[^a-z0-9]+/g, "-")
      .replace(/^-|-$/g, "") || "twin";
  const pad = (n) => String(n).padStart(2, "0");
  const stamp = `${now.getFullYear()}-${pad(now.getMonth() + 1)}-${pad(now.getDate())}-${pad(now.getHours())}${pad(now.getMinutes())}`;
  return `${slug}-${stamp}.png`;
}

/** The scene as a PNG data URL. */
export function captureScene(viewer) {
  viewer.render();
  return viewer.scene.canvas.toDataURL("image/png");
}

/** Capture the scene and offer it as a download. Returns the file name. */
export function downloadScreenshot(viewer, city) {
  const name = screenshotName(city);
  const link = document.createElement("a");
  link.href = captureScene(viewer);
  link.download = name;
  document.body.append(link);
  link.click();
  link.remove();
  return name;
}
