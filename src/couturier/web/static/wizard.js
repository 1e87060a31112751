// The create/edit wizard (templates/wizard.html). Everything it shows or checks comes from the
// /v1 routes: starters, package families, bundles, the plan (every check of a spec, and the
// per-line preview), and POST/PUT /v1/images to save. The one rule checked here as well is a
// repeated env key: a spec's env reaches the API as a JSON object, which cannot repeat a key.
"use strict";

(function () {
  const root = document.getElementById("wizard");
  if (!root) return;

  const STEPS = ["starter", "packages", "env", "bundles", "details"];
  const MAX_PACKAGES = 100;
  const PLAN_DELAY_MS = 250; // a plan per pause in typing, not per keystroke
  const editing = root.dataset.image || "";
  const tenant = root.dataset.tenant;
  const csrf = (document.querySelector('meta[name="csrf-token"]') || {}).content || "";
  const $ = (id) => document.getElementById(id);

  const state = {
    step: editing ? "packages" : "starter",
    starters: [], // /v1/starters items
    details: {}, // starter name -> /v1/starters/{name}
    starter: "",
    packages: [], // spec entries, in the order added
    env: [], // [{key, value}] rows as typed
    bundles: [], // spec entries: NAME or NAME@VERSION
    known: [], // /v1/bundles items
    name: editing ? editing.split("/").slice(1).join("/") : "",
    description: "",
    plan: null,
    errors: [], // the last plan's 422 errors
    touched: new Set(), // fields whose errors are shown before a save
    saving: false,
  };

  // --- small DOM helpers: user text always goes in as text, never as markup --------------
  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (key === "text") node.textContent = value;
      else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
      else node.setAttribute(key, value === true ? "" : value);
    }
    for (const child of children) {
      if (child === null || child === undefined) continue;
      node.append(typeof child === "string" ? document.createTextNode(child) : child);
    }
    return node;
  }

  function showError(id, text) {
    const node = $(id);
    if (!node) return;
    node.textContent = text || "";
    node.hidden = !text;
  }

  // --- the API ---------------------------------------------------------------------------
  async function api(method, path, body, signal) {
    const headers = { Accept: "application/json" };
    const init = { method, headers, credentials: "same-origin", signal };
    if (method !== "GET") headers["X-CSRF-Token"] = csrf;
    if (body instanceof FormData) init.body = body;
    else if (body !== undefined) {
      headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    const response = await fetch(path, init);
    if (response.status === 401) {
      // an expired session: sign in again and come back here
      const here = location.pathname + location.search;
      location.assign("/sign-in?reason=expired&next=" + encodeURIComponent(here));
      throw new Error("signed out");
    }
    let data = null;
    const type = response.headers.get("content-type") || "";
    if (type.includes("json")) data = await response.json();
    return { status: response.status, data };
  }

  function problemText(data, fallback) {
    if (data && data.error) return data.error.message + (data.error.hint ? " (" + data.error.hint + ")" : "");
    if (data && data.errors) return data.errors.map((e) => e.message).join("; ");
    return fallback;
  }

  // --- the spec as the API takes it --------------------------------------------------------
  function envObject() {
    const env = {};
    for (const row of state.env) {
      if (row.key === "" && row.value === "") continue;
      if (!(row.key in env)) env[row.key] = row.value;
    }
    return env;
  }

  function spec(forPlan) {
    // The plan needs a name to check the rest: an empty one (not typed yet) is a placeholder.
    const name = state.name === "" && forPlan ? "untitled" : state.name;
    return {
      name,
      description: state.description,
      starter: state.starter,
      packages: state.packages.slice(),
      env: envObject(),
      bundles: state.bundles.slice(),
    };
  }

  function duplicateKeys() {
    const seen = new Map();
    const rows = [];
    state.env.forEach((row, index) => {
      if (row.key === "") return;
      if (seen.has(row.key)) rows.push(index);
      else seen.set(row.key, index);
    });
    return rows;
  }

  // --- steps ---------------------------------------------------------------------------
  function go(step) {
    state.step = step;
    for (const section of document.querySelectorAll(".step")) {
      section.hidden = section.dataset.step !== step;
    }
    for (const link of document.querySelectorAll(".step-link")) {
      if (link.dataset.goto === step) link.setAttribute("aria-current", "step");
      else link.removeAttribute("aria-current");
    }
    const index = STEPS.indexOf(step);
    $("wizard-back").disabled = index === 0 || (editing && index === 1);
    $("wizard-next").hidden = index === STEPS.length - 1;
    if (step === "packages") {
      if (!$("package-results").children.length) search($("package-search").value);
      $("package-search").focus();
    }
  }

  function firstStepWithError() {
    for (const step of STEPS) {
      const section = document.querySelector('.step[data-step="' + step + '"]');
      const shown = [...section.querySelectorAll(".field-error")].some((n) => !n.hidden);
      if (shown) return step;
    }
    return null;
  }

  // --- starter step ------------------------------------------------------------------------
  async function loadStarters() {
    const { status, data } = await api("GET", "/v1/starters?limit=100");
    if (status !== 200) {
      showError("error-starter", problemText(data, "The starters could not be read."));
      return;
    }
    state.starters = data.items;
    await Promise.all(
      data.items.map(async (item) => {
        const answer = await api("GET", "/v1/starters/" + encodeURIComponent(item.name));
        if (answer.status === 200) state.details[item.name] = answer.data;
      }),
    );
    renderStarters();
  }

  function renderStarters() {
    const box = $("starter-cards");
    box.querySelectorAll(".loading, .starter-card").forEach((n) => n.remove());
    for (const item of state.starters) {
      if (editing && item.name !== state.starter) continue;
      const detail = state.details[item.name];
      const id = "starter-" + item.name;
      const input = el("input", {
        type: "radio",
        name: "starter",
        value: item.name,
        id,
        checked: state.starter === item.name,
        disabled: Boolean(editing),
        onchange: () => chooseStarter(item.name),
      });
      const rows = (detail ? detail.lines : []).map((line) =>
        el(
          "tr",
          {},
          el("td", { text: line.label + (line.newest ? " (newest)" : "") }),
          el("td", { text: line.release }),
          el("td", { text: (line.ended ? "ended " : "") + line.eol }),
        ),
      );
      const table = el(
        "table",
        { class: "lines" },
        el("caption", { class: "visually-hidden", text: "Lines of " + item.name }),
        el("thead", {}, el("tr", {}, el("th", { text: "Line" }), el("th", { text: "Release" }), el("th", { text: "End of life" }))),
        el("tbody", {}, ...rows),
      );
      box.append(
        el(
          "label",
          { class: "starter-card", for: id },
          input,
          el("span", { class: "starter-name", text: item.name }),
          el("span", { class: "starter-description", text: item.description }),
          table,
        ),
      );
    }
  }

  function chooseStarter(name) {
    if (state.starter === name) return;
    state.starter = name;
    // packages of another starter's families mean nothing here
    state.packages = [];
    state.touched.add("starter");
    $("package-search").value = "";
    $("package-results").replaceChildren();
    renderAll();
    schedulePlan();
  }

  // --- packages step -----------------------------------------------------------------------
  // One search in flight at a time: a keystroke while one is out waits as the only pending
  // query (newer keystrokes replace it), so fast typing never queues work on the server that
  // nobody will see (an aborted fetch would not stop the server's work), and no fixed delay is
  // added to the first keystroke.
  let searching = false;
  let pending = null; // [query, cursor] to search when the answer in flight is in
  const PAGE = 20; // families per answer: what a screen shows; "Show more" asks for the next

  function search(query, cursor) {
    if (!state.starter) {
      $("package-status").textContent = "Pick a starter first.";
      return;
    }
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

  async function fetchFamilies(query, cursor, starter) {
    const started = performance.now();
    const params = new URLSearchParams({ starter, limit: String(PAGE) });
    if (query.trim()) params.set("q", query.trim());
    if (cursor) params.set("cursor", cursor);
    const answer = await api("GET", "/v1/packages?" + params);
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
  }

  function addButton(entry, label, reason) {
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

  function renderFamilies(page, more, query) {
    const list = $("package-results");
    if (!more) list.replaceChildren();
    const moreButton = $("package-more");
    if (moreButton) moreButton.remove();
    const shown = list.querySelectorAll(":scope > .family").length + page.items.length;
    $("package-status").textContent =
      page.total === 0 ? "No package family matches." : shown + " of " + page.total + " families";
    for (const family of page.items) {
      const reason = family.blocked;
      const reasonId = "family-reason-" + family.name;
      const members = page.lines.map((label) => {
        const member = family.members[label];
        const newest = label === page.newest ? " (newest)" : "";
        return el(
          "li",
          {},
          el("span", { class: "line-label", text: label + newest + ": " }),
          member
            ? el("span", { text: member.name + " " + member.version })
            : el("span", { class: "none", text: "no member fits" }),
        );
      });
      const names = [...new Set(page.lines.map((l) => family.members[l]).filter(Boolean).map((m) => m.name))];
      const actions = el("div", { class: "family-actions" });
      if (family.auto) actions.append(addButton(family.auto, "Add " + family.auto, reason));
      for (const name of names) actions.append(addButton(name, "Add " + name, reason));
      const summary = names.length ? family.members[page.lines.find((l) => family.members[l])].summary : "";
      const item = el(
        "li",
        { class: "family" + (reason ? " blocked" : ""), "data-family": family.name, "aria-disabled": reason ? "true" : null },
        el("h3", { class: "family-name", text: family.name }),
        el("p", { class: "family-summary", text: family.auto ? family.description : summary }),
        el("ul", { class: "members", "aria-label": "Members by line" }, ...members),
        reason ? el("p", { class: "reason blocked-reason", id: reasonId, text: reason }) : null,
        !reason && family.dependency_only
          ? el("p", { class: "reason", text: "No -auto: " + family.dependency_only })
          : null,
        actions,
      );
      if (reason) actions.querySelectorAll("button").forEach((b) => b.setAttribute("aria-describedby", reasonId));
      list.append(item);
    }
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

  function addPackage(entry) {
    if (state.packages.includes(entry) || state.packages.length >= MAX_PACKAGES) return;
    state.packages.push(entry);
    state.touched.add("packages");
    refreshAddButtons();
    renderAll();
    schedulePlan();
  }

  function removePackage(entry) {
    state.packages = state.packages.filter((p) => p !== entry);
    refreshAddButtons();
    renderAll();
    schedulePlan();
  }

  function refreshAddButtons() {
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

  // --- env step ------------------------------------------------------------------------------
  function renderEnv() {
    const box = $("env-rows");
    const focused = document.activeElement;
    const keep = focused && focused.dataset ? [focused.dataset.row, focused.dataset.part] : null;
    box.replaceChildren();
    state.env.forEach((row, index) => {
      const key = el("input", {
        id: "env-key-" + index,
        "data-row": index,
        "data-part": "key",
        autocomplete: "off",
        spellcheck: "false",
        "aria-describedby": "env-error-" + index,
        oninput: (event) => {
          row.key = event.target.value;
          state.touched.add("env");
          renderPreview();
          markEnv();
          schedulePlan();
        },
      });
      key.value = row.key;
      const value = el("input", {
        id: "env-value-" + index,
        "data-row": index,
        "data-part": "value",
        autocomplete: "off",
        spellcheck: "false",
        "aria-describedby": "env-error-" + index,
        oninput: (event) => {
          row.value = event.target.value;
          state.touched.add("env");
          renderPreview();
          schedulePlan();
        },
      });
      value.value = row.value;
      box.append(
        el(
          "div",
          { class: "env-row", "data-row": index },
          el("label", { for: key.id, text: "Key" }),
          key,
          el("label", { for: value.id, text: "Value" }),
          value,
          el("button", {
            type: "button",
            class: "secondary",
            "aria-label": "Remove variable " + (row.key || index + 1),
            text: "Remove",
            onclick: () => {
              state.env.splice(index, 1);
              renderEnv();
              renderPreview();
              schedulePlan();
            },
          }),
          el("p", { class: "field-error", id: "env-error-" + index, hidden: true }),
        ),
      );
    });
    if (keep) {
      const again = box.querySelector('[data-row="' + keep[0] + '"][data-part="' + keep[1] + '"]');
      if (again) again.focus();
    }
    markEnv();
  }

  function markEnv() {
    const duplicates = new Set(duplicateKeys());
    const byKey = new Map();
    for (const error of state.errors) {
      if (error.field.startsWith("env.")) byKey.set(error.field.slice(4), error);
    }
    state.env.forEach((row, index) => {
      let text = "";
      if (duplicates.has(index)) text = "env." + row.key + ": is already set in a row above (a key may appear once)";
      else if (row.key === "" && row.value !== "") text = "The key is empty: name the variable.";
      else if (byKey.has(row.key) && state.touched.has("env")) text = byKey.get(row.key).message;
      showError("env-error-" + index, text);
      const input = $("env-key-" + index);
      if (input) input.setAttribute("aria-invalid", text ? "true" : "false");
    });
  }

  // --- bundles step --------------------------------------------------------------------------
  async function loadBundles() {
    const { status, data } = await api("GET", "/v1/bundles?limit=100");
    if (status !== 200) {
      $("bundle-list").replaceChildren(el("p", { class: "field-error", text: problemText(data, "Your bundles could not be read.") }));
      return;
    }
    state.known = data.items;
    renderBundles();
  }

  function bundleEntry(name) {
    return state.bundles.find((b) => b === name || b.startsWith(name + "@"));
  }

  function renderBundles() {
    const box = $("bundle-list");
    box.replaceChildren();
    if (!state.known.length) box.append(el("p", { class: "help", text: "You have no bundle yet: upload one below." }));
    state.known.forEach((bundle, index) => {
      const entry = bundleEntry(bundle.name);
      const check = el("input", {
        type: "checkbox",
        id: "bundle-use-" + index,
        checked: Boolean(entry),
        onchange: (event) => {
          setBundle(bundle.name, event.target.checked ? version.value : null);
        },
      });
      const version = el(
        "select",
        {
          id: "bundle-version-" + index,
          "aria-label": "Version of " + bundle.name,
          onchange: () => {
            if (check.checked) setBundle(bundle.name, version.value);
          },
        },
        el("option", { value: "", text: "newest (v" + bundle.newest + ")" }),
        ...bundle.versions
          .slice()
          .reverse()
          .map((v) => el("option", { value: String(v), text: "version " + v })),
      );
      if (entry && entry.includes("@")) version.value = entry.split("@")[1];
      box.append(
        el(
          "div",
          { class: "bundle-row", "data-bundle": bundle.name },
          check,
          el("label", { for: check.id, text: bundle.name + " (" + (bundle.type || "?") + (bundle.target ? " → " + bundle.target : "") + ")" }),
          version,
        ),
      );
    });
    // a bundle the spec names that the list lacks (deleted since): shown so it can be removed
    for (const entry of state.bundles) {
      const name = entry.split("@")[0];
      if (state.known.some((b) => b.name === name)) continue;
      box.append(
        el(
          "div",
          { class: "bundle-row" },
          el("span", { text: entry + " (not among your bundles)" }),
          el("button", { type: "button", class: "secondary", text: "Remove", onclick: () => setBundle(name, null) }),
        ),
      );
    }
  }

  function setBundle(name, version) {
    const rest = state.bundles.filter((b) => b !== name && !b.startsWith(name + "@"));
    if (version !== null) rest.push(version ? name + "@" + version : name);
    state.bundles = rest;
    state.touched.add("bundles");
    renderBundles();
    renderPreview();
    schedulePlan();
  }

  let chosenFiles = [];

  function chooseFiles(files) {
    chosenFiles = [...files];
    $("upload-chosen").replaceChildren(...chosenFiles.map((f) => el("li", { text: f.name + " (" + f.size + " bytes)" })));
    showError("error-upload-files", "");
  }

  async function upload() {
    const name = $("upload-name").value.trim();
    const type = document.querySelector('input[name="upload-type"]:checked').value;
    showError("error-upload-name", "");
    showError("error-upload-target", "");
    showError("error-upload-files", "");
    if (!name) return showError("error-upload-name", "Name the bundle.");
    if (!chosenFiles.length) return showError("error-upload-files", "Drop or choose the files of the bundle.");
    const form = new FormData();
    form.append("type", type);
    if (type === "files") form.append("target", $("upload-target").value);
    for (const file of chosenFiles) form.append("files", file, file.name);
    $("upload-status").textContent = "Uploading…";
    const { status, data } = await api("POST", "/v1/bundles/" + encodeURIComponent(name), form);
    $("upload-status").textContent = "";
    if (status === 201 || status === 200) {
      $("upload-status").textContent = "Uploaded " + data.name + " version " + data.version + ".";
      chosenFiles = [];
      $("upload-chosen").replaceChildren();
      $("upload-files").value = "";
      await loadBundles();
      setBundle(data.name, "");
      return;
    }
    if (data && data.errors) {
      for (const error of data.errors) {
        if (error.field === "name") showError("error-upload-name", error.message);
        else if (error.field === "target") showError("error-upload-target", error.message);
        else {
          const node = $("error-upload-files");
          node.textContent = (node.textContent ? node.textContent + " " : "") + error.message;
          node.hidden = false;
        }
      }
      return;
    }
    showError("error-upload-files", problemText(data, "The upload failed (HTTP " + status + ")."));
  }

  // --- the plan: every check of the spec, and the per-line preview ----------------------------
  let planTimer = null;
  let planSeq = 0;

  function schedulePlan() {
    clearTimeout(planTimer);
    planTimer = setTimeout(runPlan, PLAN_DELAY_MS);
  }

  async function runPlan() {
    if (!state.starter) return null;
    const seq = ++planSeq;
    $("plan-state").textContent = "Checking…";
    const { status, data } = await api("POST", "/v1/plan", spec(true));
    if (seq !== planSeq) return null;
    if (status === 200) {
      state.plan = data;
      state.errors = [];
      $("plan-state").textContent = "";
    } else if (status === 422 && data && data.errors) {
      state.errors = data.errors.filter((e) => !(state.name === "" && e.field === "name"));
      $("plan-state").textContent = state.errors.length
        ? "The marked fields need a change before the lines can be planned."
        : "";
    } else {
      $("plan-state").textContent = problemText(data, "The plan failed (HTTP " + status + ").");
    }
    $("preview-plan").classList.toggle("stale", status !== 200);
    renderErrors();
    renderPlan();
    return status;
  }

  function errorsFor(test) {
    return state.errors.filter((e) => test(e.field));
  }

  function renderErrors(all) {
    const show = (field) => all || state.saving || state.touched.has(field);
    const join = (list) => list.map((e) => e.message).join(" ");
    const nameErrors = errorsFor((f) => f === "name");
    showError("error-name", show("name") ? join(nameErrors) : "");
    $("image-name").setAttribute("aria-invalid", nameErrors.length && show("name") ? "true" : "false");
    showError("error-description", show("description") ? join(errorsFor((f) => f === "description")) : "");
    showError("error-starter", show("starter") ? join(errorsFor((f) => f === "starter")) : "");
    showError("error-packages", show("packages") ? join(errorsFor((f) => f === "packages" || f.startsWith("packages["))) : "");
    showError("error-bundles", show("bundles") ? join(errorsFor((f) => f === "bundles" || f.startsWith("bundles["))) : "");
    const envWhole = errorsFor((f) => f === "env");
    showError("error-env", show("env") ? join(envWhole) : "");
    const placed = new Set(["name", "description", "starter", "packages", "bundles", "env"]);
    const other = state.errors.filter((e) => {
      const head = e.field.split(/[.[]/)[0];
      return !placed.has(head);
    });
    showError("error-general", other.length ? join(other) : "");
    markEnv();
    renderPreview();
  }

  function renderPlan() {
    const list = $("preview-plan");
    list.replaceChildren();
    if (!state.plan || state.plan.starter !== state.starter) return;
    for (const line of state.plan.lines) {
      const ready = line.status === "ready";
      const text = ready
        ? "will be created" + (line.full_version ? " (" + line.full_version + ")" : "")
        : "will be skipped: " + (line.reason ? line.reason.message : line.status);
      list.append(
        el(
          "li",
          { class: "plan-line " + (ready ? "ready" : "skipped"), "data-line": line.version },
          el("strong", { text: line.version }),
          " (" + line.release + ") ",
          el("span", { text }),
        ),
      );
    }
  }

  // --- the preview panel -------------------------------------------------------------------
  function renderPreview() {
    $("preview-name").textContent = tenant + "/" + (state.name || "…") + (state.starter ? " · " + state.starter : "");
    const detail = state.details[state.starter];
    const box = $("preview-starter");
    box.replaceChildren();
    if (detail) {
      for (const line of detail.lines) {
        const packages = [...detail.packages, line.primary, ...line.packages];
        box.append(
          el(
            "details",
            { class: "line-folder", open: line.newest, "data-line": line.label },
            el("summary", {
              text: line.label + " (" + line.release + ")" + (line.newest ? " · newest" : " · available"),
            }),
            el("ul", { class: "preview-list" }, ...packages.map((p) => el("li", { text: p }))),
          ),
        );
      }
    } else {
      box.append(el("p", { class: "help", text: "Pick a starter." }));
    }
    const badPackage = new Map();
    for (const error of state.errors) {
      const match = /^packages\[(\d+)\]$/.exec(error.field);
      if (match) badPackage.set(Number(match[1]), error.message);
    }
    $("preview-added-count").textContent = String(state.packages.length);
    $("package-counter").textContent = state.packages.length + " of " + MAX_PACKAGES + " packages added";
    $("preview-added").replaceChildren(
      ...state.packages.map((entry, index) =>
        el(
          "li",
          { "data-entry": entry },
          el("span", { text: entry }),
          el("button", {
            type: "button",
            class: "remove",
            "aria-label": "Remove " + entry,
            text: "Remove",
            onclick: () => removePackage(entry),
          }),
          badPackage.has(index) ? el("p", { class: "field-error", text: badPackage.get(index) }) : null,
        ),
      ),
    );
    $("preview-env").replaceChildren(
      ...state.env.filter((r) => r.key || r.value).map((r) => el("li", { text: r.key + "=" + r.value })),
    );
    const badBundle = new Map();
    for (const error of state.errors) {
      const match = /^bundles\[(\d+)\]$/.exec(error.field);
      if (match) badBundle.set(Number(match[1]), error.message);
    }
    $("preview-bundles").replaceChildren(
      ...state.bundles.map((b, index) =>
        el("li", {}, el("span", { text: b }), badBundle.has(index) ? el("p", { class: "field-error", text: badBundle.get(index) }) : null),
      ),
    );
    for (const id of ["preview-added", "preview-env", "preview-bundles"]) noneIfEmpty($(id));
    const starterEnv = detail ? Object.keys(detail.env) : [];
    $("starter-env").textContent = starterEnv.length
      ? "The " + state.starter + " starter sets " + starterEnv.join(", ") + "."
      : "";
    for (const step of STEPS) {
      const section = document.querySelector('.step[data-step="' + step + '"]');
      const bad = [...section.querySelectorAll(".field-error")].some((n) => !n.hidden);
      $("goto-" + step).classList.toggle("has-error", bad);
    }
  }

  function noneIfEmpty(list) {
    if (!list.children.length) list.append(el("li", { class: "none", text: "none" }));
  }

  function renderAll() {
    renderStarters();
    renderPreview();
    renderPlan();
  }

  // --- saving ----------------------------------------------------------------------------------
  async function save(event) {
    event.preventDefault();
    state.saving = true;
    clearTimeout(planTimer);
    const dupes = duplicateKeys();
    const status = await runPlan();
    if (!state.starter) {
      showError("error-starter", "Pick a starter.");
      return go("starter");
    }
    if (state.name === "") {
      showError("error-name", "name: is required");
      return go("details");
    }
    if (status !== 200 || dupes.length) {
      renderErrors(true);
      const step = firstStepWithError() || state.step;
      go(step);
      return;
    }
    const notes = $("build-notes-lines");
    notes.replaceChildren(...$("preview-plan").cloneNode(true).children);
    const dialog = $("build-notes");
    if (typeof dialog.showModal === "function") dialog.showModal();
    else dialog.setAttribute("open", "");
    $("build-start").focus();
  }

  async function startBuild() {
    const button = $("build-start");
    button.disabled = true;
    const body = spec(false);
    const answer = editing
      ? await api("PUT", "/v1/images/" + editing, body)
      : await api("POST", "/v1/images", body);
    button.disabled = false;
    const dialog = $("build-notes");
    if (answer.status === 202) {
      const trace = answer.data.build.trace_id;
      root.dataset.trace = trace;
      location.assign("/images/" + answer.data.name + "?build=" + encodeURIComponent(trace));
      return;
    }
    dialog.close();
    if (answer.status === 422 && answer.data.errors) {
      state.errors = answer.data.errors;
      renderErrors(true);
    } else if (answer.status === 409) {
      showError("error-name", problemText(answer.data, "That name is in use."));
    } else {
      showError("error-general", problemText(answer.data, "The image could not be saved (HTTP " + answer.status + ")."));
    }
    go(firstStepWithError() || state.step);
  }

  // --- wiring ------------------------------------------------------------------------------------
  function wire() {
    for (const link of document.querySelectorAll(".step-link")) {
      link.addEventListener("click", () => go(link.dataset.goto));
    }
    $("wizard-back").addEventListener("click", () => go(STEPS[Math.max(0, STEPS.indexOf(state.step) - 1)]));
    $("wizard-next").addEventListener("click", () => go(STEPS[Math.min(STEPS.length - 1, STEPS.indexOf(state.step) + 1)]));
    $("wizard-form").addEventListener("submit", save);
    $("build-start").addEventListener("click", startBuild);
    $("build-cancel").addEventListener("click", () => $("build-notes").close());
    $("package-search").addEventListener("input", (event) => search(event.target.value));
    $("env-add").addEventListener("click", () => {
      state.env.push({ key: "", value: "" });
      renderEnv();
      $("env-key-" + (state.env.length - 1)).focus();
    });
    $("image-name").addEventListener("input", (event) => {
      state.name = event.target.value;
      state.touched.add("name");
      renderPreview();
      schedulePlan();
    });
    $("image-description").addEventListener("input", (event) => {
      state.description = event.target.value;
      state.touched.add("description");
      schedulePlan();
    });
    for (const radio of document.querySelectorAll('input[name="upload-type"]')) {
      radio.addEventListener("change", () => {
        $("upload-target-row").hidden = radio.value !== "files" || !radio.checked;
      });
    }
    const zone = $("dropzone");
    const picker = $("upload-files");
    zone.addEventListener("click", () => picker.click());
    zone.addEventListener("keydown", (event) => {
      if (event.key === "Enter" || event.key === " ") {
        event.preventDefault();
        picker.click();
      }
    });
    picker.addEventListener("change", () => chooseFiles(picker.files));
    zone.addEventListener("dragover", (event) => {
      event.preventDefault();
      zone.classList.add("over");
    });
    zone.addEventListener("dragleave", () => zone.classList.remove("over"));
    zone.addEventListener("drop", (event) => {
      event.preventDefault();
      zone.classList.remove("over");
      chooseFiles(event.dataTransfer.files);
    });
    $("upload-send").addEventListener("click", upload);
  }

  async function loadImage() {
    const { status, data } = await api("GET", "/v1/images/" + editing);
    if (status !== 200) {
      showError("error-general", problemText(data, "The image could not be read."));
      return;
    }
    const s = data.spec;
    state.starter = s.starter;
    state.packages = (s.packages || []).slice();
    state.env = Object.entries(s.env || {}).map(([key, value]) => ({ key, value: String(value) }));
    state.bundles = (s.bundles || []).slice();
    state.description = s.description || "";
    $("image-name").value = state.name;
    $("image-description").value = state.description;
  }

  async function start() {
    wire();
    go(state.step);
    if (editing) await loadImage();
    await Promise.all([loadStarters(), loadBundles()]);
    $("image-name").value = state.name;
    renderEnv();
    renderAll();
    if (state.starter) {
      await runPlan();
      if (state.step === "packages") search($("package-search").value);
    }
    root.dataset.ready = "true";
  }

  start();
})();
