// The preview panel: starter packages by line (newest marked), added packages (removable),
// env, bundles; and the step links marked where a mistake is.
import { el } from "./dom.js";
import { removePackage } from "./packages.js";
import { renderPlan } from "./plan.js";
import { renderStarters } from "./starters.js";
import { $, MAX_PACKAGES, STEPS, state, tenant } from "./state.js";

export function renderPreview() {
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

export function noneIfEmpty(list) {
  if (!list.children.length) list.append(el("li", { class: "none", text: "none" }));
}

export function renderAll() {
  renderStarters();
  renderPreview();
  renderPlan();
}
