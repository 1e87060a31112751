// The packages step: search as you type over GET /v1/packages, results by family (members per
// line, the -auto package, blocked and dependency-only families with the API's reason).
import { api, el, problemText } from "./dom.js";
import { schedulePlan } from "./plan.js";
import { renderAll } from "./preview.js";
import { $, MAX_PACKAGES, state } from "./state.js";

// One search in flight at a time: a keystroke while one is out waits as the only pending
// query (newer keystrokes replace it), so fast typing never queues work on the server that
// nobody will see (an aborted fetch would not stop the server's work), and no fixed delay is
// added to the first keystroke.
let searching = false;
let pending = null; // [query, cursor] to search when the answer in flight is in
const PAGE = 20; // families per answer: what a screen shows; "Show more" asks for the next

// A search answers at once (unchecked=true): a family the server has not worked out yet (its
// members cost a resolution per line) comes as "checking", and the rows are asked again, and
// filled in place, once the typing pauses for CHECK_DELAY ms: a keystroke never waits for
// resolutions of a query the user has already typed past.
const CHECK_DELAY = 150;
let checkTimer = null;
let toCheck = { query: null, cursors: [] }; // the shown query's pages with rows "checking"

export function search(query, cursor) {
  if (!state.starter) {
    $("package-status").textContent = "Pick a starter first.";
    return;
  }
  clearTimeout(checkTimer);
  if (searching) {
    pending = [query, cursor || null, state.starter];
    return;
  }
  searching = true;
  const starter = state.starter;
  fetchFamilies(query, cursor, starter).finally(() => {
    searching = false;
    if (pending) {
      const [next, nextCursor] = pending;
      pending = null;
      search(next, nextCursor);
    }
  });
}

export async function fetchFamilies(query, cursor, starter) {
  const started = performance.now();
  const answer = await api("GET", familiesPath(query, cursor, starter, true));
  const answered = performance.now();
  if (starter !== state.starter) return; // the starter changed meanwhile
  if (answer.status !== 200) {
    $("package-status").textContent = problemText(answer.data, "The search failed.");
    return;
  }
  renderFamilies(answer.data, Boolean(cursor), query);
  const results = $("package-results");
  results.dataset.query = query;
  const detail = { query, fetchMs: answered - started, renderMs: performance.now() - answered };
  results.dispatchEvent(new CustomEvent("wizard:results", { detail }));
  if (!cursor) toCheck = { query, cursors: [] };
  if (answer.data.items.some((family) => !family.checked)) toCheck.cursors.push(cursor || null);
  if (toCheck.cursors.length) {
    clearTimeout(checkTimer);
    checkTimer = setTimeout(() => checkFamilies(starter), CHECK_DELAY);
  } else {
    results.dataset.checked = query;
  }
}

function familiesPath(query, cursor, starter, unchecked) {
  const params = new URLSearchParams({ starter, limit: String(PAGE) });
  if (query.trim()) params.set("q", query.trim());
  if (cursor) params.set("cursor", cursor);
  if (unchecked) params.set("unchecked", "true");
  return "/v1/packages?" + params;
}

// Ask the shown page again, every member worked out, and replace its rows in place; nothing
// when the user has moved on (another query or starter, or a search in flight that will ask).
async function checkFamilies(starter) {
  const results = $("package-results");
  const { query, cursors } = toCheck;
  const current = () => starter === state.starter && results.dataset.query === query;
  if (searching || !current()) return;
  const started = performance.now();
  for (const cursor of [...cursors]) {
    const answer = await api("GET", familiesPath(query, cursor, starter, false), undefined, undefined, true);
    if (!current() || answer.status !== 200) return;
    for (const family of answer.data.items) {
      const shown = results.querySelector(`:scope > .family[data-family="${CSS.escape(family.name)}"]`);
      if (!shown || shown.dataset.checked === "true") continue;
      // A keyboard user on the row's -auto button stays on it in the new row.
      const focused = shown.contains(document.activeElement) ? document.activeElement.dataset.entry : null;
      const fresh = familyItem(family, answer.data);
      shown.replaceWith(fresh);
      if (focused) fresh.querySelector(`button[data-entry="${CSS.escape(focused)}"]`)?.focus();
    }
    cursors.splice(cursors.indexOf(cursor), 1);
  }
  results.dataset.checked = query;
  const detail = { query, fetchMs: performance.now() - started };
  results.dispatchEvent(new CustomEvent("wizard:checked", { detail }));
}

export function addButton(entry, label, reason) {
  const added = state.packages.includes(entry);
  const full = state.packages.length >= MAX_PACKAGES;
  return el("button", {
    type: "button",
    class: "add",
    "data-entry": entry,
    disabled: added || full || Boolean(reason),
    "aria-label": (added ? "Added " : "Add ") + entry,
    onclick: () => addPackage(entry),
    text: added ? "Added " + entry : label,
  });
}

export function renderFamilies(page, more, query) {
  const list = $("package-results");
  if (!more) list.replaceChildren();
  const moreButton = $("package-more");
  if (moreButton) moreButton.remove();
  const shown = list.querySelectorAll(":scope > .family").length + page.items.length;
  $("package-status").textContent =
    page.total === 0 ? "No package family matches." : shown + " of " + page.total + " families";
  for (const family of page.items) list.append(familyItem(family, page));
  if (page.next) {
    list.after(
      el("button", {
        type: "button",
        id: "package-more",
        class: "secondary",
        text: "Show more families",
        onclick: () => search(query, page.next),
      }),
    );
  }
}

// One family's row: per line its member ("checking" while the server has not worked the
// family out: not known yet, not "none fits"), the -auto and member buttons, and why a
// blocked or dependency-only family offers no -auto.
function familyItem(family, page) {
  const reason = family.blocked;
  const reasonId = "family-reason-" + family.name;
  const checked = family.checked !== false;
  const members = page.lines.map((label) => {
    const member = family.members[label];
    const newest = label === page.newest ? " (newest)" : "";
    let verdict;
    if (!checked) verdict = el("span", { class: "checking", text: "checking…" });
    else if (member) verdict = el("span", { text: member.name + " " + member.version });
    else verdict = el("span", { class: "none", text: "no member fits" });
    return el("li", {}, el("span", { class: "line-label", text: label + newest + ": " }), verdict);
  });
  const names = [...new Set(page.lines.map((l) => family.members[l]).filter(Boolean).map((m) => m.name))];
  const actions = el("div", { class: "family-actions" });
  if (family.auto) actions.append(addButton(family.auto, "Add " + family.auto, reason));
  for (const name of names) actions.append(addButton(name, "Add " + name, reason));
  const summary = names.length ? family.members[page.lines.find((l) => family.members[l])].summary : "";
  const item = el(
    "li",
    {
      class: "family" + (reason ? " blocked" : ""),
      "data-family": family.name,
      "data-checked": String(checked),
      "aria-busy": checked ? null : "true",
      "aria-disabled": reason ? "true" : null,
    },
    el("h3", { class: "family-name", text: family.name }),
    el("p", { class: "family-summary", text: family.auto ? family.description : summary }),
    el("ul", { class: "members", "aria-label": "Members by line" }, ...members),
    reason ? el("p", { class: "reason blocked-reason", id: reasonId, text: "Blocked: " + reason }) : null,
    !reason && family.dependency_only ? el("p", { class: "reason", text: "No -auto: " + family.dependency_only }) : null,
    actions,
  );
  if (reason) actions.querySelectorAll("button").forEach((b) => b.setAttribute("aria-describedby", reasonId));
  return item;
}

export function addPackage(entry) {
  if (state.packages.includes(entry) || state.packages.length >= MAX_PACKAGES) return;
  state.packages.push(entry);
  state.touched.add("packages");
  refreshAddButtons();
  renderAll();
  schedulePlan();
}

export function removePackage(entry) {
  state.packages = state.packages.filter((p) => p !== entry);
  refreshAddButtons();
  renderAll();
  schedulePlan();
}

export function refreshAddButtons() {
  const full = state.packages.length >= MAX_PACKAGES;
  for (const button of document.querySelectorAll("#package-results button.add")) {
    const entry = button.dataset.entry;
    const added = state.packages.includes(entry);
    const blocked = button.closest(".family").classList.contains("blocked");
    button.disabled = added || full || blocked;
    button.textContent = added ? "Added " + entry : "Add " + entry;
    button.setAttribute("aria-label", (added ? "Added " : "Add ") + entry);
  }
}
