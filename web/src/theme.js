// A city's colours from the configuration (config.theme = {primary, highlight}, hex), applied as CSS variables
// on <html>: --accent (primary: top bar, buttons, focus), --accent-fg (text on --accent), --accent-ink (the
// accent as text or outline on the white panels) and --highlight (the picked building).

export const DEFAULT_THEME = Object.freeze({ primary: "#00598a", highlight: "#ffcc00" });
export const LIGHT_TEXT = "#ffffff";
export const DARK_TEXT = "#1d232b"; // --panel-fg

/** [r, g, b] (0-255) of "#rgb" or "#rrggbb", or null. */
export function parseHex(text) {
  const match = /^#([0-9a-f]{3}|[0-9a-f]{6})$/i.exec(String(text ?? "").trim());
  if (!match) return null;
  const hex = match[1].length === 3 ? [...match[1]].map((c) => c + c).join("") : match[1];
  return [0, 2, 4].map((i) => parseInt(hex.slice(i, i + 2), 16));
}

/** WCAG 2 relative luminance of a hex colour. */
export function luminance(hex) {
  const channel = (value) => {
    const c = value / 255;
    return c <= 0.04045 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
  };
  const [r, g, b] = parseHex(hex).map(channel);
  return 0.2126 * r + 0.7152 * g + 0.0722 * b;
}

/** WCAG 2 contrast ratio of two hex colours (1 to 21). */
export function contrast(a, b) {
  const [light, dark] = [luminance(a), luminance(b)].sort((x, y) => y - x);
  return (light + 0.05) / (dark + 0.05);
}

/** The text colour readable on `background`: white or near-black, whichever contrasts more. */
export function readableText(background) {
  return contrast(background, LIGHT_TEXT) >= contrast(background, DARK_TEXT) ? LIGHT_TEXT : DARK_TEXT;
}

/**
 * The theme to apply for `theme` from the configuration (missing or invalid colours: the defaults), with the
 * derived colours: {primary, highlight, primaryText, primaryInk}.
 */
export function resolveTheme(theme) {
  const pick = (key) => {
    const value = theme?.[key];
    if (value === undefined || value === null) return DEFAULT_THEME[key];
    if (parseHex(value)) return String(value).trim().toLowerCase();
    console.warn(`theme.${key}: ${JSON.stringify(value)} is not a hex colour; using ${DEFAULT_THEME[key]}`);
    return DEFAULT_THEME[key];
  };
  const primary = pick("primary");
  const highlight = pick("highlight");
  return {
    primary,
    highlight,
    primaryText: readableText(primary),
    // Text and focus rings on white panels: the accent when it reads as text there (4.5:1), else near-black.
    primaryInk: contrast(primary, LIGHT_TEXT) >= 4.5 ? primary : DARK_TEXT,
  };
}

/** Apply `theme` (from the configuration) to `root`'s CSS variables; returns the resolved theme. */
export function applyTheme(theme, root = document.documentElement) {
  const resolved = resolveTheme(theme);
  root.style.setProperty("--accent", resolved.primary);
  root.style.setProperty("--accent-fg", resolved.primaryText);
  root.style.setProperty("--accent-ink", resolved.primaryInk);
  root.style.setProperty("--highlight", resolved.highlight);
  const meta = document.querySelector('meta[name="theme-color"]');
  if (meta) meta.content = resolved.primary;
  return resolved;
}
