// Search box: api/search (below the API base) as you type, a keyboard-navigable results list
// (combobox + listbox pattern).

import { apiUrl } from "./api.js";
import { t } from "./i18n.js";

/**
 * Wire the search form. `onChoose(hit)` is called with a result {id, label, layer, lon, lat, height}.
 * Returns {search(query) → Promise<hits>, choose(hit)} for tests and the share link.
 */
export function setupSearch(form, onChoose) {
  const input = form.querySelector("input");
  const list = form.querySelector("[role=listbox]");
  const note = form.querySelector(".search-note");
  let hits = [];
  let active = -1;
  let timer = null;
  let sequence = 0;

  const close = () => {
    list.hidden = true;
    input.setAttribute("aria-expanded", "false");
    input.removeAttribute("aria-activedescendant");
    active = -1;
  };

  const setActive = (index) => {
    const options = [...list.children];
    active = options.length ? (index + options.length) % options.length : -1;
    options.forEach((option, i) => option.setAttribute("aria-selected", String(i === active)));
    if (active >= 0) {
      input.setAttribute("aria-activedescendant", options[active].id);
      options[active].scrollIntoView({ block: "nearest" });
    }
  };

  const render = () => {
    list.replaceChildren(
      ...hits.map((hit, i) => {
        const option = document.createElement("li");
        option.id = `search-hit-${i}`;
        option.setAttribute("role", "option");
        option.setAttribute("aria-selected", "false");
        option.textContent = hit.label;
        if (hit.label !== hit.id) {
          const id = document.createElement("small");
          id.textContent = hit.id;
          option.append(id);
        }
        option.addEventListener("mousedown", (event) => event.preventDefault()); // keep the focus
        option.addEventListener("click", () => choose(hit));
        return option;
      }),
    );
    list.hidden = hits.length === 0;
    input.setAttribute("aria-expanded", String(hits.length > 0));
    active = -1;
  };

  async function search(query) {
    const mine = ++sequence;
    if (!query.trim()) {
      hits = [];
      note.textContent = "";
      render();
      return hits;
    }
    try {
      const response = await fetch(apiUrl(`api/search?${new URLSearchParams({ q: query, limit: "10" })}`));
      if (!response.ok) throw new Error(`HTTP ${response.status}`);
      const body = await response.json();
      if (mine !== sequence) return hits; // a newer query is under way
      hits = body.results;
      note.textContent = hits.length ? "" : t("search.none");
    } catch (error) {
      console.warn(`search: ${error}`);
      hits = [];
      note.textContent = t("search.failed");
    }
    render();
    return hits;
  }

  function choose(hit) {
    input.value = hit.label;
    close();
    return onChoose(hit);
  }

  input.addEventListener("input", () => {
    clearTimeout(timer);
    timer = setTimeout(() => search(input.value), 200);
  });
  input.addEventListener("keydown", (event) => {
    if (event.key === "ArrowDown" || event.key === "ArrowUp") {
      event.preventDefault();
      if (list.hidden && hits.length) render();
      setActive(active + (event.key === "ArrowDown" ? 1 : -1));
    } else if (event.key === "Escape") {
      close();
    }
  });
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearTimeout(timer);
    if (active < 0) {
      await search(input.value);
    }
    const hit = hits[Math.max(active, 0)];
    if (hit) choose(hit);
  });
  input.addEventListener("blur", () => setTimeout(close, 150));
  return { search, choose };
}
