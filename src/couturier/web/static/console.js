// Couturier's console: enhancements over pages that work without them.
// - a gallery card whose build is in progress follows it (server-sent events of
//   /v1/builds/{trace_id}/events, or, past MAX_STREAMS, since a browser opens at most six
//   HTTP/1.1 connections to a host, one shared poll of /v1/builds) and is re-rendered when
//   its build ends;
// - [data-copy] buttons copy their text.
"use strict";

(() => {
  const MAX_STREAMS = 4;
  const POLL_MS = 2000;
  const followed = new Set();
  let streams = 0;

  const csrf = () => document.querySelector('meta[name="csrf-token"]')?.content ?? "";

  async function refreshCard(card) {
    const name = card.dataset.name;
    const answer = await fetch(`/images/${name}/card`, { credentials: "same-origin" });
    if (answer.status === 303 || answer.redirected) { window.location.reload(); return; }
    if (!answer.ok) return;
    const template = document.createElement("template");
    template.innerHTML = (await answer.text()).trim();
    const fresh = template.content.firstElementChild;
    if (!fresh) return;
    card.replaceWith(fresh);
    followed.delete(card.dataset.trace);
    follow(document);
  }

  // Cards past MAX_STREAMS share one poll: the tenant's newest builds in one request
  // (/v1/builds, newest first), and a build of its own for a card whose build is not among them.
  const polled = new Map();  // trace ID -> card
  let polling = false;

  async function pollOnce() {
    const answer = await fetch(`/v1/builds?limit=100`, { credentials: "same-origin" });
    if (answer.status === 401) { window.location.reload(); return; }
    const seen = new Map();
    if (answer.ok) for (const build of (await answer.json()).items) seen.set(build.trace_id, build.status);
    for (const [trace, card] of polled) {
      let status = seen.get(trace);
      if (status === undefined) {
        const one = await fetch(`/v1/builds/${trace}`, { credentials: "same-origin" });
        if (!one.ok) continue;
        status = (await one.json()).status;
      }
      if (status !== "in progress") { polled.delete(trace); refreshCard(card); }
    }
  }

  function poll(card) {
    polled.set(card.dataset.trace, card);
    if (polling) return;
    polling = true;
    const tick = async () => {
      try { await pollOnce(); } catch { /* the next tick tries again */ }
      if (polled.size) window.setTimeout(tick, POLL_MS); else polling = false;
    };
    window.setTimeout(tick, POLL_MS);
  }

  function stream(card) {
    const trace = card.dataset.trace;
    streams += 1;
    const source = new EventSource(`/v1/builds/${trace}/events`);
    let ended = false;
    const done = () => { ended = true; source.close(); streams -= 1; refreshCard(card); };
    source.addEventListener("end", done);
    source.addEventListener("stage", (event) => {
      const stage = JSON.parse(event.data);
      const label = card.querySelector(".status");
      if (label) label.title = `line ${stage.line}: ${stage.stage}`;
    });
    source.onerror = () => {
      // A stream that breaks before "end" (the server restarting, the session expired: a
      // 401 the poll turns into sign-in) falls back to polling.
      if (ended) return;
      ended = true; source.close(); streams -= 1; poll(card);
    };
  }

  function follow(root) {
    for (const card of root.querySelectorAll('.card[data-status="in progress"][data-trace]')) {
      const trace = card.dataset.trace;
      if (followed.has(trace)) continue;
      followed.add(trace);
      if (streams < MAX_STREAMS && "EventSource" in window) stream(card); else poll(card);
    }
  }

  async function copy(button) {
    const text = button.dataset.copy;
    try {
      await navigator.clipboard.writeText(text);
    } catch {
      // No clipboard (plain HTTP on another host): select the text to copy by hand.
      const target = document.getElementById(button.getAttribute("aria-controls") ?? "");
      if (target) window.getSelection()?.selectAllChildren(target);
      return;
    }
    const was = button.textContent;
    button.textContent = "Copied";
    window.setTimeout(() => { button.textContent = was; }, 1500);
  }

  document.addEventListener("click", (event) => {
    const button = event.target.closest?.("[data-copy]");
    if (button) copy(button);
  });
  document.addEventListener("htmx:afterSettle", (event) => follow(event.target));
  document.addEventListener("DOMContentLoaded", () => follow(document));
  window.couturier = { csrf };
})();
