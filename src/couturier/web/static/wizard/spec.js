// The spec as the API takes it (DESIGN.md "The spec file", as JSON).
import { state } from "./state.js";

export function envObject() {
  const env = {};
  for (const row of state.env) {
    if (row.key === "" && row.value === "") continue;
    if (!(row.key in env)) env[row.key] = row.value;
  }
  return env;
}

export function spec(forPlan) {
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

export function duplicateKeys() {
  const seen = new Map();
  const rows = [];
  state.env.forEach((row, index) => {
    if (row.key === "") return;
    if (seen.has(row.key)) rows.push(index);
    else seen.set(row.key, index);
  });
  return rows;
}
