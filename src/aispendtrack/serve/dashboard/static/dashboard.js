// Refreshes the live parts of the dashboard (spend, counts, limits, latest calls) from
// /dashboard/live.json while the page is open. Text only: nothing is parsed as HTML.
"use strict";

const POLL_MS = 5000;

function pick(data, path) {
  return path.split(".").reduce((v, k) => (v == null ? v : v[k]), data);
}

function fillRows(tbody, rows) {
  const cols = tbody.dataset.cols.split(" ");
  const fresh = rows.map((row) => {
    const tr = document.createElement("tr");
    if (row.hit) tr.className = "hit";
    for (const c of cols) {
      const td = document.createElement("td");
      td.textContent = row[c];
      tr.appendChild(td);
    }
    return tr;
  });
  tbody.replaceChildren(...fresh);
}

async function refresh() {
  let resp;
  try {
    // the same period and tag filter as the page (its URL's query)
    resp = await fetch("/dashboard/live.json" + window.location.search, { credentials: "same-origin", cache: "no-store" });
  } catch (e) {
    return; // offline for a moment: keep what is shown
  }
  if (resp.status === 401) {
    window.location.reload(); // the session ended: back to the login form
    return;
  }
  if (!resp.ok) return;
  const data = await resp.json();
  for (const el of document.querySelectorAll("[data-live]")) {
    const value = pick(data, el.dataset.live);
    if (value != null) el.textContent = value;
  }
  for (const tbody of document.querySelectorAll("[data-live-rows]")) {
    fillRows(tbody, data[tbody.dataset.liveRows] || []);
  }
}

function copyButtons() {
  for (const button of document.querySelectorAll("[data-copy]")) {
    button.addEventListener("click", async () => {
      const input = document.getElementById(button.dataset.copy);
      try {
        await navigator.clipboard.writeText(input.value);
      } catch (e) {
        input.select();
        document.execCommand("copy");
      }
      button.textContent = "Copied";
    });
  }
}

function confirmations() {
  for (const form of document.querySelectorAll("form[data-confirm]")) {
    form.addEventListener("submit", (event) => {
      if (!window.confirm(form.dataset.confirm)) event.preventDefault();
    });
  }
}

copyButtons();
confirmations();
if (document.getElementById("live")) setInterval(refresh, POLL_MS);
