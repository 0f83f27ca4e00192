// Refreshes the live parts of the dashboard (spend, counts, limits, latest calls) from
// /dashboard/live.json while the page is open. Text only: nothing is parsed as HTML.
"use strict";

const POLL_MS = 5000;

function pick(data, path) {
  return path.split(".").reduce((v, k) => (v == null ? v : v[k]), data);
}

// Each cell carries its column's header as data-label: on a narrow screen a row becomes a
// card of "label value" lines (dashboard.css), and the label comes from here.
function labelCells(table) {
  const head = table.tHead && table.tHead.rows[0];
  if (!head) return;
  const names = [...head.cells].map((th) => th.textContent.trim());
  for (const body of table.tBodies) {
    for (const tr of body.rows) {
      [...tr.cells].forEach((td, i) => {
        if (td.colSpan === 1 && names[i]) td.dataset.label = names[i];
      });
    }
  }
}

function fillRows(tbody, rows) {
  const cols = tbody.dataset.cols.split(" ");
  const fresh = rows.map((row) => {
    const tr = document.createElement("tr");
    if (row.hit) tr.className = "hit";
    for (const c of cols) {
      const td = document.createElement("td");
      td.textContent = row[c];
      if (row[c + "_exact"]) td.title = row[c + "_exact"]; // the exact amount behind a rounded one
      tr.appendChild(td);
    }
    return tr;
  });
  tbody.replaceChildren(...fresh);
  labelCells(tbody.closest("table"));
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
    const exact = pick(data, el.dataset.live + "_exact");
    if (exact != null) el.title = exact;
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
for (const table of document.querySelectorAll("table")) labelCells(table);
if (document.getElementById("live")) setInterval(refresh, POLL_MS);
