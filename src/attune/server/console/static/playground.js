// The playground: pick or create a user, see history and recommendations, send events by
// choosing items, and see at once which positions of the list changed.
import { attributesText, boot, el, fmt } from "./console.js";

const $ = (id) => document.getElementById(id);
const FILTER = /^[^:=]+:.+$/;

const state = { session: null, user: null, list: null, busy: false };

boot(async (session) => {
  state.session = session;
  setUpControls(session.config);
  $("find-user").addEventListener("submit", (event) => {
    event.preventDefault();
    findUsers($("user-query").value.trim());
  });
  $("create-user").addEventListener("submit", createUser);
  await findUsers("");
});

function setUpControls(config) {
  const d = config.defaults;
  $("k").value = d.k;
  for (const [name, value] of [["diversity", d.diversity], ["explore", d.explore]]) {
    const input = $(name);
    const out = $(`${name}-out`);
    input.value = value;
    out.textContent = fmt(value, 2);
    input.addEventListener("input", () => (out.textContent = fmt(input.value, 2)));
  }
  const types = $("event-types");
  config.event_types.forEach((type) => {
    const checked = type === "click" || (!config.event_types.includes("click") && type === config.event_types[0]);
    types.append(el("label", {}, el("input", { type: "radio", name: "event-type", value: type, checked }), type));
  });
  const controls = $("controls");
  controls.addEventListener("change", (event) => {
    if (event.target.name !== "event-type") refresh();
  });
  controls.addEventListener("submit", (event) => {
    event.preventDefault();
    refresh();
  });
}

function eventType() {
  return document.querySelector('input[name="event-type"]:checked')?.value || "click";
}

function say(text, isError = false) {
  const status = $("status");
  status.textContent = text;
  status.classList.toggle("error", isError);
}

async function findUsers(prefix) {
  const results = $("user-results");
  try {
    const found = await state.session.call("/v1/users", { params: [["prefix", prefix], ["limit", 20]] });
    results.replaceChildren(
      ...found.users.map((u) =>
        el(
          "li",
          {},
          el(
            "button",
            {
              type: "button",
              "aria-pressed": String(u.user_id === state.user),
              dataset: { userId: u.user_id },
              onclick: () => selectUser(u.user_id),
            },
            u.user_id,
            el("span", { class: "facts" }, `${u.history} events in window`, u.attributes && Object.keys(u.attributes).length ? ` · ${attributesText(u.attributes)}` : ""),
          ),
        ),
      ),
    );
    if (!found.users.length) results.append(el("li", { class: "hint" }, `No user id starts with “${prefix}”.`));
    else if (found.more) results.append(el("li", { class: "hint" }, "More users match: type more of the id."));
  } catch (err) {
    results.replaceChildren(el("li", { class: "error" }, err.message));
  }
}

async function selectUser(userId) {
  state.user = userId;
  state.list = null;
  for (const button of document.querySelectorAll("#user-results button")) {
    button.setAttribute("aria-pressed", String(button.dataset.userId === userId));
  }
  say(`Showing user ${userId}.`);
  await refresh();
}

async function createUser(event) {
  event.preventDefault();
  const userId = $("new-user-id").value.trim();
  const error = $("new-user-error");
  error.textContent = "";
  const attributes = {};
  for (const line of $("new-user-attrs").value.split("\n")) {
    if (!line.trim()) continue;
    const at = line.indexOf("=");
    if (at < 1) {
      error.textContent = `“${line}” is not field=value.`;
      return;
    }
    const field = line.slice(0, at).trim();
    const value = line.slice(at + 1).trim();
    attributes[field] = field in attributes ? [].concat(attributes[field], value) : value;
  }
  try {
    await state.session.call(`/v1/users/${encodeURIComponent(userId)}`, { method: "PUT", body: { attributes } });
  } catch (err) {
    error.textContent = err.message;
    return;
  }
  $("user-query").value = userId;
  await findUsers(userId);
  await selectUser(userId);
}

function filterParams(name) {
  const rules = $(name).value.split(",").map((r) => r.trim()).filter(Boolean);
  const bad = rules.find((r) => !FILTER.test(r));
  if (bad) throw new Error(`“${bad}” is not field:value`);
  return rules.map((r) => [name, r]);
}

/** Reload history and list; returns how many positions differ from the list shown before. */
async function refresh() {
  if (!state.user) return 0;
  let params;
  try {
    params = [
      ["k", $("k").value],
      ["diversity", $("diversity").value],
      ["explore", $("explore").value],
      ...filterParams("include"),
      ...filterParams("exclude"),
    ];
  } catch (err) {
    say(err.message, true);
    return 0;
  }
  const user = encodeURIComponent(state.user);
  try {
    const [history, list] = await Promise.all([
      state.session.call(`/v1/users/${user}/history`),
      state.session.call(`/v1/users/${user}/recommendations`, { params }),
    ]);
    const items = await state.session.items([
      ...history.events.map((e) => e.item_id),
      ...list.items.map((i) => i.item_id),
    ]);
    const previous = state.list;
    state.list = list;
    renderHistory(history, items);
    return renderList(list, previous, items);
  } catch (err) {
    say(err.message, true);
    return 0;
  }
}

function title(items, itemId) {
  return items.get(itemId)?.title || itemId;
}

function when(ts) {
  const seconds = Date.now() / 1000 - ts;
  if (seconds < 90) return "just now";
  if (seconds < 3600) return `${Math.round(seconds / 60)} min ago`;
  if (seconds < 86400) return `${Math.round(seconds / 3600)} h ago`;
  return new Date(ts * 1000).toLocaleDateString("en-GB", { year: "numeric", month: "short", day: "numeric" });
}

function renderHistory(history, items) {
  const events = [...history.events].reverse();
  $("history").replaceChildren(
    ...events.map((e, i) =>
      el(
        "li",
        { dataset: { itemId: e.item_id, eventType: e.event_type }, class: i === 0 && Date.now() / 1000 - e.timestamp < 60 ? "fresh" : null },
        el("strong", {}, title(items, e.item_id)),
        " ",
        el("span", { class: "kind" }, e.event_type),
        " ",
        el("span", { class: "when" }, when(e.timestamp)),
        el("p", { class: "attrs" }, attributesText(items.get(e.item_id)?.attributes)),
      ),
    ),
  );
  if (!events.length) $("history").append(el("li", { class: "hint" }, "No history: this user gets cold-start lists."));
}

function renderList(list, previous, items) {
  const before = new Map((previous?.items || []).map((it, i) => [it.item_id, i]));
  let changed = 0;
  const source = list.source === "model" ? "from their history" : `cold start by ${list.source}`;
  $("recs-meta").textContent = `model v${list.model_version} · ${source}`;
  $("recs").replaceChildren(
    ...list.items.map((it, i) => {
      const was = before.get(it.item_id);
      let cls = "rec";
      let move = null;
      if (previous && was === undefined) {
        cls += " new";
        move = "new";
      } else if (previous && was !== i) {
        cls += " changed";
        move = was > i ? `▲ from ${was + 1}` : `▼ from ${was + 1}`;
      }
      if (move) changed += 1;
      const name = title(items, it.item_id);
      return el(
        "li",
        { class: cls, dataset: { itemId: it.item_id } },
        el("span", { class: "pos", "aria-label": `position ${i + 1}` }, i + 1),
        el(
          "div",
          {},
          el("button", { type: "button", class: "item-act", "aria-describedby": "recs-hint", onclick: () => send(it, name) }, name),
          move ? el("span", { class: "move" }, move) : null,
          el("p", { class: "reason" }, el("span", { class: `kind kind-${it.reason.kind}` }, it.reason.kind), " ", it.reason.text),
          el("p", { class: "meta" }, `id ${it.item_id} · score ${fmt(it.score, 3)}`),
          el("p", { class: "attrs" }, attributesText(items.get(it.item_id)?.attributes)),
        ),
        el("button", { type: "button", class: "why", "aria-haspopup": "dialog", onclick: () => explain(it, name) }, "Why this?"),
      );
    }),
  );
  if (!list.items.length) $("recs").append(el("li", { class: "hint" }, "No item passes these filters."));
  return changed;
}

async function send(item, name) {
  if (state.busy) return;
  state.busy = true;
  const type = eventType();
  document.querySelectorAll(".item-act").forEach((b) => (b.disabled = true));
  try {
    await state.session.call("/v1/events", {
      method: "POST",
      body: {
        user_id: state.user,
        item_id: item.item_id,
        event_type: type,
        recommendation_id: state.list?.recommendation_id,
      },
    });
    const changed = await refresh();
    const negative = state.session.config.negative_event_types?.includes(type)
      ? " Negative events steer the list but are not part of the history."
      : "";
    say(`Sent ${type} on “${name}”: ${changed} position${changed === 1 ? "" : "s"} changed.${negative}`);
  } catch (err) {
    say(err.message, true);
  } finally {
    state.busy = false;
    document.querySelectorAll(".item-act").forEach((b) => (b.disabled = false));
  }
}

async function explain(item, name) {
  const body = $("why-body");
  const dialog = $("why");
  const parts = [
    el("p", {}, el("strong", {}, name), ` (id ${item.item_id}), score ${fmt(item.score, 3)}`),
    el("p", {}, el("span", { class: `kind kind-${item.reason.kind}` }, item.reason.kind), " ", item.reason.text),
  ];
  if (item.reason.matched_attributes.length) {
    parts.push(el("p", {}, "Shared attributes: ", item.reason.matched_attributes.join(", ")));
  }
  body.replaceChildren(...parts, el("p", { class: "hint" }, "Loading what in their history pulls toward it…"));
  dialog.showModal();
  if (state.list?.source !== "model") {
    body.lastChild.textContent = "This user has no history the model reads yet: the list comes from the cold-start chain.";
    return;
  }
  try {
    const found = await state.session.call(`/v1/users/${encodeURIComponent(state.user)}/explanations`, { params: [["item", item.item_id]] });
    const influences = found.reason.influences;
    const items = await state.session.items(influences.map((i) => i.item_id));
    body.lastChild.replaceWith(
      influences.length
        ? el(
            "div",
            {},
            el("h3", {}, "History events behind the score"),
            el("ul", {}, ...influences.map((i) => el("li", {}, `${i.event_type} ${title(items, i.item_id)}: ${fmt(i.weight * 100)}%`))),
          )
        : el("p", {}, found.reason.text),
    );
  } catch (err) {
    body.lastChild.textContent = err.message;
  }
}
