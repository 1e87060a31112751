// The create/edit wizard (templates/wizard.html). Everything it shows or checks comes from the
// /v1 routes: starters, package families, bundles, the plan (every check of a spec, and the
// per-line preview), and POST/PUT /v1/images to save. This module wires the page, saves (the
// build notes first) and starts.
import { chooseFiles, loadBundles, upload } from "./bundles.js";
import { api, problemText, showError } from "./dom.js";
import { takeDraft } from "./draft.js";
import { renderEnv } from "./env.js";
import { search } from "./packages.js";
import { cancelPlan, renderErrors, runPlan, schedulePlan } from "./plan.js";
import { renderAll, renderPreview } from "./preview.js";
import { duplicateKeys, spec } from "./spec.js";
import { loadStarters } from "./starters.js";
import { $, STEPS, editing, root, state } from "./state.js";
import { firstStepWithError, go } from "./steps.js";

export async function save(event) {
  event.preventDefault();
  state.saving = true;
  cancelPlan();
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

export async function startBuild() {
  const button = $("build-start");
  button.disabled = true;
  const body = spec(false);
  const answer = editing
    ? await api("PUT", "/v1/images/" + editing, body)
    : await api("POST", "/v1/images", body);
  button.disabled = false;
  const dialog = $("build-notes");
  if (answer.status === 202) {
    // The gallery: its card of the image follows the build live.
    root.dataset.trace = answer.data.build.trace_id;
    location.assign("/");
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

// wiring ------------------------------------------------------------------------------------
export function wire() {
  // The page renders the step buttons disabled: a click before this wiring did nothing.
  for (const link of document.querySelectorAll(".step-link")) {
    link.addEventListener("click", () => go(link.dataset.goto));
    link.disabled = false;
  }
  $("wizard-back").addEventListener("click", () => go(STEPS[Math.max(0, STEPS.indexOf(state.step) - 1)]));
  $("wizard-next").addEventListener("click", () => go(STEPS[Math.min(STEPS.length - 1, STEPS.indexOf(state.step) + 1)]));
  $("wizard-next").disabled = false;
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

export async function loadImage() {
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

export async function start() {
  wire();
  go(state.step);
  if (editing) await loadImage();
  if (takeDraft()) {
    $("image-description").value = state.description;
    go(state.step);
  }
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

if (root) start();
