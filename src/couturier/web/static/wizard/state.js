// The wizard's one state, and what the page says about itself (templates/wizard.html).
export const root = document.getElementById("wizard");
export const STEPS = ["starter", "packages", "env", "bundles", "details"];
export const MAX_PACKAGES = 100; // DESIGN.md: at most 100 added packages
export const editing = root ? root.dataset.image || "" : ""; // TENANT/NAME when editing
export const tenant = root ? root.dataset.tenant : "";
export const csrf = (document.querySelector('meta[name="csrf-token"]') || {}).content || "";
export const $ = (id) => document.getElementById(id);

export const state = {
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
