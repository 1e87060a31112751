// Moving between the steps.
import { search } from "./packages.js";
import { $, STEPS, editing, state } from "./state.js";

export function go(step) {
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

export function firstStepWithError() {
  for (const step of STEPS) {
    const section = document.querySelector('.step[data-step="' + step + '"]');
    const shown = [...section.querySelectorAll(".field-error")].some((n) => !n.hidden);
    if (shown) return step;
  }
  return null;
}
