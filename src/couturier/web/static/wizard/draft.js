// What the user typed, kept across a sign-in: when the session ends mid-wizard (a 401 from
// /v1), the spec being made is saved in this tab's sessionStorage before going to sign-in, and
// taken back (once) when sign-in returns here. Nothing is kept past the tab.
import { state } from "./state.js";

const KEPT = ["step", "starter", "packages", "env", "bundles", "name", "description"];
const key = () => "couturier.wizard:" + location.pathname;

export function saveDraft() {
  const draft = {};
  for (const field of KEPT) draft[field] = state[field];
  try {
    sessionStorage.setItem(key(), JSON.stringify(draft));
  } catch (error) {
    // storage full or disabled: sign-in still works, the draft is lost
  }
}

export function takeDraft() {
  let draft = null;
  try {
    draft = JSON.parse(sessionStorage.getItem(key()) || "null");
    sessionStorage.removeItem(key());
  } catch (error) {
    return false;
  }
  if (!draft || typeof draft !== "object") return false;
  for (const field of KEPT) {
    if (field in draft) state[field] = draft[field];
  }
  for (const field of ["packages", "env", "bundles"]) state[field] = state[field] || [];
  state.touched = new Set(["name", "description", "env", "packages", "bundles"]);
  return true;
}
