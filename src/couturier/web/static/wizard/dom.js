// DOM and API helpers. User text always goes in as text (textContent), never as markup; every
// unsafe request carries the session's CSRF token; a 401 goes to sign-in and back here (the
// draft kept, draft.js).
import { saveDraft } from "./draft.js";
import { $, csrf } from "./state.js";

export function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "text") node.textContent = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children) {
    if (child === null || child === undefined) continue;
    node.append(typeof child === "string" ? document.createTextNode(child) : child);
  }
  return node;
}

export function showError(id, text) {
  const node = $(id);
  if (!node) return;
  node.textContent = text || "";
  node.hidden = !text;
}

// the API ---------------------------------------------------------------------------
// A request the user did not make (background: a search's rows filled in after typing
// paused) takes no one to sign-in on a 401: their next action does, the draft kept then.
export async function api(method, path, body, signal, background = false) {
  const headers = { Accept: "application/json" };
  const init = { method, headers, credentials: "same-origin", signal };
  if (method !== "GET") headers["X-CSRF-Token"] = csrf;
  if (body instanceof FormData) init.body = body;
  else if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const response = await fetch(path, init);
  if (response.status === 401 && !background) {
    // an expired session: sign in again and come back here, with what was typed
    saveDraft();
    const here = location.pathname + location.search;
    location.assign("/sign-in?reason=expired&next=" + encodeURIComponent(here));
    throw new Error("signed out");
  }
  let data = null;
  const type = response.headers.get("content-type") || "";
  if (type.includes("json")) data = await response.json();
  return { status: response.status, data };
}

export function problemText(data, fallback) {
  if (data && data.error) return data.error.message + (data.error.hint ? " (" + data.error.hint + ")" : "");
  if (data && data.errors) return data.errors.map((e) => e.message).join("; ");
  return fallback;
}
