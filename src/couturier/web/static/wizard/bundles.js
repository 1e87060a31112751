// The bundles step: the tenant's bundles to pick (a version or the newest), and an upload
// (dropped or chosen files) through POST /v1/bundles/{name}, its refusals beside its fields.
import { api, el, problemText, showError } from "./dom.js";
import { schedulePlan } from "./plan.js";
import { renderPreview } from "./preview.js";
import { $, state } from "./state.js";

export async function loadBundles() {
  const { status, data } = await api("GET", "/v1/bundles?limit=100");
  if (status !== 200) {
    $("bundle-list").replaceChildren(el("p", { class: "field-error", text: problemText(data, "Your bundles could not be read.") }));
    return;
  }
  state.known = data.items;
  renderBundles();
}

export function bundleEntry(name) {
  return state.bundles.find((b) => b === name || b.startsWith(name + "@"));
}

export function renderBundles() {
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

export function setBundle(name, version) {
  const rest = state.bundles.filter((b) => b !== name && !b.startsWith(name + "@"));
  if (version !== null) rest.push(version ? name + "@" + version : name);
  state.bundles = rest;
  state.touched.add("bundles");
  renderBundles();
  renderPreview();
  schedulePlan();
}

let chosenFiles = [];

export function chooseFiles(files) {
  chosenFiles = [...files];
  $("upload-chosen").replaceChildren(...chosenFiles.map((f) => el("li", { text: f.name + " (" + f.size + " bytes)" })));
  showError("error-upload-files", "");
}

export async function upload() {
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
