// The env step: key/value rows as typed. A repeated key is marked here (a JSON object cannot
// carry it to the API); every other rule's message comes from the plan, in the row of its key.
import { el, showError } from "./dom.js";
import { schedulePlan } from "./plan.js";
import { renderPreview } from "./preview.js";
import { duplicateKeys } from "./spec.js";
import { $, state } from "./state.js";

export function renderEnv() {
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

export function markEnv() {
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
