// Nouvelle alerte: the SMS as the phone will show it, re-checked by the server as one types
// (the same validation as an alert file). Text is set with textContent only, never as HTML.
"use strict";
(function () {
  const form = document.getElementById("alert-form");
  if (!form) return;
  const csrf = form.dataset.csrf;
  const el = (id) => document.getElementById(id);
  const LIMITS = { per_minute: "parties par minute", per_hour: "parties par heure",
    per_day: "parties par 24 h", distinct_recipients_per_day: "destinataires par 24 h",
    distinct_recipients_per_month: "destinataires par 31 jours" };
  let timer = null;
  let asked = 0;

  function duration(s) {
    if (s === undefined || s === null) return "—";
    s = Math.round(s);
    if (s < 60) return s + " s";
    if (s < 3600) return Math.floor(s / 60) + " min " + String(s % 60).padStart(2, "0") + " s";
    return Math.floor(s / 3600) + " h " + String(Math.floor(s % 3600 / 60)).padStart(2, "0") + " min";
  }

  function show(data) {
    el("sms-text").textContent = data.text || "";
    el("sms-encoding").textContent = data.encoding
      ? (data.encoding === "ucs2" ? "UCS-2 (Unicode)" : "GSM-7") : "—";
    el("sms-left").textContent = data.room_left !== undefined ? String(data.room_left) : "—";
    el("sms-parts").textContent = data.parts !== undefined ? String(data.parts) : "—";
    el("sms-recipients").textContent = data.recipients !== undefined ? String(data.recipients) : "—";
    el("sms-time").textContent = data.estimated_seconds !== undefined
      ? duration(data.estimated_seconds)
        + (data.held_back_by ? " (limite SIM : " + (LIMITS[data.held_back_by] || data.held_back_by) + ")" : "")
      : "—";
    const lost = el("sms-lost");
    if (data.lost_characters && data.lost_characters.length) {
      lost.hidden = false;
      lost.textContent = "Envoyés comme « ? » : " + data.lost_characters.join(" ");
    } else {
      lost.hidden = true;
    }
    const list = el("sms-problems");
    list.replaceChildren();
    for (const p of data.problems || []) {
      const li = document.createElement("li");
      li.textContent = p.message;
      list.appendChild(li);
    }
  }

  async function ask() {
    const mine = ++asked;
    const body = new URLSearchParams(new FormData(form));
    body.delete("csrf");
    try {
      const answer = await fetch("/alertes/apercu", {
        method: "POST",
        headers: { "X-CSRF-Token": csrf },
        body: body,
        credentials: "same-origin",
      });
      if (!answer.ok || mine !== asked) return;
      show(await answer.json());
    } catch (e) {
      // The console went away for a moment: the next keystroke asks again.
    }
  }

  function soon() {
    clearTimeout(timer);
    timer = setTimeout(ask, 120);
  }
  form.addEventListener("input", soon);
  form.addEventListener("change", soon);
  ask();
})();
