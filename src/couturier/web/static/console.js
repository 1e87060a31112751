// Couturier's console: enhancements over pages that work without them.
// - a gallery card whose build is in progress follows it (server-sent events of
//   /v1/builds/{trace_id}/events, or polling /v1/builds/{trace_id} past MAX_STREAMS, since a
//   browser opens at most six HTTP/1.1 connections to a host) and is re-rendered when it ends;
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

  function poll(card) {
    const trace = card.dataset.trace;
    const timer = window.setInterval(async () => {
      const answer = await fetch(`/v1/builds/${trace}`, { credentials: "same-origin" });
      if (answer.status === 401) { window.clearInterval(timer); window.location.reload(); return; }
      if (!answer.ok) return;
      const build = await answer.json();
      if (build.status !== "in progress") { window.clearInterval(timer); refreshCard(card); }
    }, POLL_MS);
  }

  function stream(card) {
    const trace = card.dataset.trace;
    streams += 1;
    const source = new EventSource(`/v1/builds/${trace}/events`);
    const done = () => { source.close(); streams -= 1; refreshCard(card); };
    source.addEventListener("end", done);
    source.addEventListener("stage", (event) => {
      const stage = JSON.parse(event.data);
      const label = card.querySelector(".status");
      if (label) label.title = `line ${stage.line}: ${stage.stage}`;
    });
    source.onerror = () => {
      // The stream closes after "end"; a stream that breaks before falls back to polling.
      if (source.readyState === EventSource.CLOSED) return;
      source.close(); streams -= 1; poll(card);
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
