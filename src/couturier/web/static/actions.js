// The actions page: a deliveries table with a pending delivery (data-poll, the URL of the
// table alone) asks for itself again every POLL_MS and is replaced by the answer, until none
// is pending (the answer then has no data-poll). Without this script a reload shows the same.
"use strict";

(() => {
  const POLL_MS = 2000;

  async function refresh(table) {
    const answer = await fetch(table.dataset.poll, { credentials: "same-origin" });
    if (answer.redirected) { window.location.reload(); return; }  // signed out meanwhile
    if (!answer.ok) return;
    const template = document.createElement("template");
    template.innerHTML = (await answer.text()).trim();
    const fresh = template.content.firstElementChild;
    if (fresh) table.replaceWith(fresh);
  }

  async function tick() {
    for (const table of document.querySelectorAll(".deliveries[data-poll]")) {
      try { await refresh(table); } catch { /* the next tick tries again */ }
    }
    if (document.querySelector(".deliveries[data-poll]")) window.setTimeout(tick, POLL_MS);
  }

  document.addEventListener("DOMContentLoaded", () => {
    if (document.querySelector(".deliveries[data-poll]")) window.setTimeout(tick, POLL_MS);
  });
})();
