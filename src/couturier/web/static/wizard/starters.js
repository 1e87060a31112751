// The starter step: a card per entitled starter (GET /v1/starters and each starter's lines).
import { api, el, problemText, showError } from "./dom.js";
import { schedulePlan } from "./plan.js";
import { renderAll } from "./preview.js";
import { $, editing, state } from "./state.js";

export async function loadStarters() {
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

export function renderStarters() {
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

export function chooseStarter(name) {
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
