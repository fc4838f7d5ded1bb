// Where the twin API lives, and URLs resolved against it. Every request of the viewer goes through here, so the
// same files work served by `twin serve` at / or at /<city>/, and as static files with the API elsewhere.
//
// index.html names the API in <meta name="twin-api" content="...">: empty or missing means the page's own
// folder (`twin serve`); otherwise an absolute ("https://twin.example.org/magdeburg/") or relative URL,
// resolved against the page. The base always ends with "/".

/** The API base for a `content` of the twin-api meta element (null: none), resolved against `page`. */
export function apiBaseFrom(content, page) {
  const value = (content ?? "").trim();
  const url = new URL(value || "./", page);
  url.search = "";
  url.hash = "";
  if (!url.pathname.endsWith("/")) url.pathname += "/";
  return url.href;
}

/** The API base URL (a string ending with "/"). */
export const apiBase = apiBaseFrom(
  document.querySelector('meta[name="twin-api"]')?.getAttribute("content"),
  window.location.href,
);

/** The URL of API path `path` ("api/config", "api/search?q=..."); a leading "/" is ignored: paths are below the base. */
export function apiUrl(path) {
  return new URL(String(path).replace(/^\/+/, ""), apiBase).href;
}

const ABSOLUTE = /^[a-z][a-z0-9+.-]*:/i; // "https:", "data:", ...: a scheme

/**
 * A URL from the configuration resolved against the API base, as a link in a page at the API base would be:
 * "tiles/x/tileset.json" below the base, "/tiles/x/tileset.json" on the API's host. Absolute URLs
 * ("https://...") and anything but a non-empty string (null, "") stay exactly as they are.
 */
export function resolveUrl(url) {
  if (typeof url !== "string" || url === "" || ABSOLUTE.test(url)) return url;
  const href = new URL(url, apiBase).href;
  // Keep the placeholders of URL templates ("{z}/{x}/{y}.png", "{TileMatrix}"): URL() percent-encodes braces.
  return url.includes("{") ? href.replace(/%7B/gi, "{").replace(/%7D/gi, "}") : href;
}

/** A copy of the configuration with its URLs (layers[].url in any group, basemaps[].url, city.logo) resolved. */
export function resolveConfigUrls(config) {
  const layers = (nodes) =>
    (nodes ?? []).map((node) =>
      node.type === "group" ? { ...node, children: layers(node.children) } : { ...node, url: resolveUrl(node.url) },
    );
  return {
    ...config,
    layers: layers(config.layers),
    basemaps: (config.basemaps ?? []).map((basemap) => ({ ...basemap, url: resolveUrl(basemap.url) })),
    city: { ...config.city, logo: resolveUrl(config.city?.logo) || null },
  };
}
