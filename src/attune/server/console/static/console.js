// Shared by both console pages: the key login, API calls, and safe DOM building.
// Data is only ever inserted as text (never as HTML), so ids and titles cannot inject markup.

const KEY = "attune.apiKey";

export class ApiError extends Error {
  constructor(status, detail) {
    super(`HTTP ${status}: ${detail}`);
    this.status = status;
    this.detail = detail;
  }
}

/** Build an element: el("li", {class: "x", dataset: {id: 1}}, "text", child). */
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (name === "dataset") Object.assign(node.dataset, value);
    else if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else node.setAttribute(name, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : String(child));
  }
  return node;
}

export function fmt(value, digits = 0) {
  if (value === null || value === undefined || Number.isNaN(value)) return "–";
  return Number(value).toLocaleString("en-US", {
    minimumFractionDigits: digits,
    maximumFractionDigits: digits,
  });
}

export function attributesText(attributes) {
  const parts = Object.entries(attributes || {})
    .filter(([field]) => field !== "title")
    .map(([field, value]) => `${field}: ${Array.isArray(value) ? value.join(", ") : value}`);
  return parts.join(" · ");
}

/** The console's connection to the API: the config, and the key when the server needs one. */
export class Session {
  constructor(config) {
    this.config = config;
  }

  get key() {
    return sessionStorage.getItem(KEY);
  }

  async call(path, { method = "GET", params = [], body, raw = false } = {}) {
    const url = new URL(path, location.origin);
    for (const [name, value] of params) url.searchParams.append(name, value);
    const headers = { accept: "application/json" };
    if (this.key) headers["x-api-key"] = this.key;
    if (body !== undefined) headers["content-type"] = "application/json";
    const response = await fetch(url, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    if (!response.ok) {
      let detail = response.statusText;
      try {
        const problem = await response.json();
        detail = problem.detail || detail;
        if (problem.errors && problem.errors.length) {
          detail += ": " + problem.errors.map((e) => `${e.field} ${e.message}`).join("; ");
        }
      } catch (_) {
        /* not a problem document */
      }
      if (response.status === 401) this.logout(false);
      throw new ApiError(response.status, detail);
    }
    return raw ? response.blob() : response.json();
  }

  /** Titles and attributes of items, fetched once per id. */
  async items(ids) {
    this._items = this._items || new Map();
    const missing = [...new Set(ids)].filter((id) => !this._items.has(id));
    for (let i = 0; i < missing.length; i += 100) {
      const chunk = missing.slice(i, i + 100);
      const found = await this.call("/v1/items", { params: chunk.map((id) => ["id", id]) });
      for (const item of found.items) this._items.set(item.item_id, item);
    }
    return this._items;
  }

  logout(reload = true) {
    sessionStorage.removeItem(KEY);
    if (reload) location.reload();
  }
}

/**
 * Load the config, ask for a key when the server has keys and none is stored, then call
 * `start(session)`. The page's <main> stays hidden until then.
 */
export async function boot(start) {
  const config = await (await fetch("/ui/config.json")).json();
  const session = new Session(config);
  const main = document.getElementById("app");
  const login = document.getElementById("login");
  const sessionBox = document.getElementById("session");
  document.getElementById("version").textContent = `v${config.version}`;
  const begin = async () => {
    login.hidden = true;
    main.hidden = false;
    if (config.auth) {
      sessionBox.replaceChildren(
        el("span", {}, "signed in with a key"),
        el("button", { type: "button", onclick: () => session.logout() }, "Log out"),
      );
    } else {
      sessionBox.replaceChildren(el("span", {}, "local mode: no key needed"));
    }
    await start(session);
  };
  if (!config.auth || session.key) return begin();
  login.hidden = false;
  const form = document.getElementById("login-form");
  const input = document.getElementById("login-key");
  const error = document.getElementById("login-error");
  input.focus();
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    error.textContent = "";
    sessionStorage.setItem(KEY, input.value.trim());
    let me;
    try {
      me = await session.call("/v1/keys/me"); // the key's scopes: the console is for admins
    } catch (err) {
      sessionStorage.removeItem(KEY);
      error.textContent =
        err.status === 401 || err.status === 403
          ? "This key was refused: give an admin key (attune keys create --scope admin)."
          : `The server did not answer: ${err.message}`;
      input.focus();
      return;
    }
    if (!me.admin) {
      sessionStorage.removeItem(KEY);
      error.textContent =
        `This key (${me.id}) has only the ${me.scopes.join(", ")} scope${me.scopes.length > 1 ? "s" : ""}; ` +
        "the console needs an admin key (attune keys create --scope admin).";
      input.select();
      return;
    }
    input.value = "";
    await begin();
  });
}
