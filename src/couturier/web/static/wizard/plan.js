// The plan: POST /v1/plan after each pause in typing is every check of the spec (its 422 errors
// shown beside their fields) and the per-line preview (created, or skipped and why).
import { api, el, problemText, showError } from "./dom.js";
import { markEnv } from "./env.js";
import { renderPreview } from "./preview.js";
import { spec } from "./spec.js";
import { $, state } from "./state.js";

let planTimer = null;
const PLAN_DELAY_MS = 250; // a plan per pause in typing, not per keystroke
let planSeq = 0;

export function schedulePlan() {
  clearTimeout(planTimer);
  planTimer = setTimeout(runPlan, PLAN_DELAY_MS);
}

export async function runPlan() {
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

export function errorsFor(test) {
  return state.errors.filter((e) => test(e.field));
}

export function renderErrors(all) {
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

export function renderPlan() {
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

export function cancelPlan() {
  clearTimeout(planTimer);
}
