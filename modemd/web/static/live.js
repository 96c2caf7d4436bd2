// One alert, live: the server pushes its counts (Server-Sent Events) as they change.
"use strict";
(function () {
  const live = document.getElementById("live");
  if (!live || !window.EventSource) return;
  const STATES = { active: "en cours", done: "terminée", expired: "expirée", cancelled: "annulée",
    queued: "en attente", sending: "en cours d'envoi", sent: "envoyé", failed: "échec" };
  const REPORTS = { delivered: "reçu", failed: "non remis", pending: "en attente" };
  const set = (id, v) => { document.getElementById(id).textContent = String(v); };
  const source = new EventSource(live.dataset.stream);
  source.addEventListener("progress", (event) => {
    const p = JSON.parse(event.data);
    const bar = document.getElementById("live-bar");
    bar.max = Math.max(p.total, 1);
    bar.value = p.sent + p.failed + p.cancelled;
    set("live-state", STATES[p.state] || p.state);
    set("live-sent", p.sent);
    set("live-delivered", p.delivered);
    set("live-failed", p.failed);
    set("live-cancelled", p.cancelled);
    set("live-pending", p.unsent);
    set("live-total", p.total);
    const cancel = document.getElementById("cancel-form");
    if (cancel && p.state !== "active") cancel.hidden = true;
    for (const [phone, state, report, sentAt] of p.recipients) {
      const row = document.querySelector('#recipients tr[data-phone="' + CSS.escape(phone) + '"]');
      if (!row) continue;
      row.querySelector(".state").textContent = STATES[state] || state;
      row.querySelector(".report").textContent = REPORTS[report] || report || "";
      if (sentAt) row.querySelector(".sent-at").textContent = new Date(sentAt * 1000).toLocaleTimeString("fr-FR");
    }
    live.dataset.updated = String(Date.now());
  });
  source.addEventListener("end", () => source.close());
})();
