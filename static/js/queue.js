/* The queue page: row selection, keyboard moves, and live updates from the agent stream.
 *
 * Live: any ticket event refetches the rows for the current URL (the server decides what
 * belongs in the view). When the agent is not busy with the list, the new rows replace the
 * old and the changed ones flash. While the pointer is over the list or rows are selected,
 * nothing moves: rows still in the list are redrawn in place, and arrivals/departures wait
 * behind a "Queue changed: show" pill.
 */
(function () {
  "use strict";

  const H = window.Helpdesk;
  let cursor = -1; // index of the keyboard-selected row
  let hovering = false;
  let pendingIds = new Set();
  let refreshTimer = null;
  let held = null; // rows fetched while busy, waiting for the pill

  function results() { return document.getElementById("queue-results"); }
  function rows() { return Array.from(document.querySelectorAll("#queue-results tr[data-ticket-id]")); }
  function checks() { return Array.from(document.querySelectorAll("#queue-results input[data-row-check]")); }
  function selected() { return checks().filter(function (box) { return box.checked; }); }
  function busy() { return hovering || selected().length > 0; }

  function updateCount() {
    const count = selected().length;
    const label = document.querySelector("[data-bulk-count]");
    if (label) label.textContent = count + " selected";
    const bar = document.getElementById("bulk-form");
    if (bar) bar.toggleAttribute("data-selected", count > 0);
    const all = document.querySelector("[data-select-all]");
    const boxes = checks();
    if (all) {
      all.checked = boxes.length > 0 && count === boxes.length;
      all.indeterminate = count > 0 && count < boxes.length;
    }
    rows().forEach(function (row) {
      const box = row.querySelector("input[data-row-check]");
      row.classList.toggle("is-selected", !!(box && box.checked));
    });
  }

  function setCursor(index) {
    const list = rows();
    if (!list.length) return;
    cursor = Math.max(0, Math.min(list.length - 1, index));
    list.forEach(function (row, i) { row.classList.toggle("is-cursor", i === cursor); });
    const link = list[cursor].querySelector("[data-row-link]");
    if (link) link.focus();
  }

  function currentRow() {
    const list = rows();
    const focused = document.activeElement && document.activeElement.closest
      ? document.activeElement.closest("tr[data-ticket-id]") : null;
    if (focused) return focused;
    return cursor >= 0 ? list[cursor] : null;
  }

  function wire(root) {
    const all = root.querySelector("[data-select-all]");
    if (all) {
      all.addEventListener("change", function () {
        checks().forEach(function (box) { box.checked = all.checked; });
        updateCount();
      });
    }
    const table = root.querySelector(".table-wrap");
    if (table) {
      table.addEventListener("mouseenter", function () { hovering = true; });
      table.addEventListener("mouseleave", function () { hovering = false; });
    }
    const pill = root.querySelector("[data-live-pill]");
    if (pill) {
      pill.addEventListener("click", function () {
        if (held) {
          checks().forEach(function (box) { box.checked = false; });
          apply(held.fragment, held.ids, true);
        } else {
          refresh(true);
        }
      });
    }
    hovering = false;
    cursor = -1;
    updateCount();
  }

  document.addEventListener("change", function (event) {
    if (event.target instanceof HTMLInputElement && event.target.matches("[data-row-check]")) updateCount();
  });

  // --- live ---------------------------------------------------------------------------
  function fetchRows() {
    return fetch(location.pathname + location.search, {
      headers: { "HX-Request": "true" },
      credentials: "same-origin",
    }).then(function (response) {
      if (!response.ok) throw new Error("queue refresh " + response.status);
      return response.text();
    }).then(function (html) {
      const template = document.createElement("template");
      template.innerHTML = html;
      return template.content;
    });
  }

  function flash(row) {
    row.classList.remove("is-changed");
    void row.offsetWidth; // restart the animation
    row.classList.add("is-changed");
  }

  function swapNav(fragment) {
    const nav = fragment.querySelector("#nav-views");
    const old = document.getElementById("nav-views");
    if (nav && old) {
      nav.removeAttribute("hx-swap-oob");
      old.replaceWith(nav);
    }
  }

  function apply(fragment, changedIds, whole) {
    const fresh = fragment.querySelector("#queue-results");
    const current = results();
    if (!fresh || !current) return;
    swapNav(fragment);
    const before = new Set(rows().map(function (row) { return row.dataset.ticketId; }));
    if (whole) {
      held = null;
      // Carry over the bulk bar's choices; notices from an earlier bulk change go away.
      current.replaceWith(fresh);
      if (window.htmx) window.htmx.process(fresh);
      wire(fresh);
      H.timeago(fresh);
      rows().forEach(function (row) {
        if (changedIds.has(row.dataset.ticketId) || !before.has(row.dataset.ticketId)) flash(row);
      });
      return;
    }
    // Busy: redraw rows in place, count what would move.
    const freshRows = Array.from(fresh.querySelectorAll("tr[data-ticket-id]"));
    const after = new Set(freshRows.map(function (row) { return row.dataset.ticketId; }));
    let moves = 0;
    after.forEach(function (id) { if (!before.has(id)) moves += 1; });
    before.forEach(function (id) { if (!after.has(id)) moves += 1; });
    freshRows.forEach(function (row) {
      const old = document.getElementById(row.id);
      if (!old || !changedIds.has(row.dataset.ticketId)) return;
      const wasChecked = old.querySelector("input[data-row-check]").checked;
      const wasCursor = old.classList.contains("is-cursor");
      const hadFocus = old.contains(document.activeElement);
      old.replaceWith(row);
      row.querySelector("input[data-row-check]").checked = wasChecked;
      row.classList.toggle("is-cursor", wasCursor);
      if (hadFocus) { const link = row.querySelector("[data-row-link]"); if (link) link.focus(); }
      H.timeago(row);
      flash(row);
    });
    updateCount();
    const pill = document.querySelector("[data-live-pill]");
    if (moves > 0 && pill) {
      held = { fragment: fragment, ids: changedIds };
      pill.textContent = moves + (moves === 1 ? " change" : " changes") + " in this view: show";
      pill.hidden = false;
    }
  }

  function refresh(whole) {
    const ids = pendingIds;
    pendingIds = new Set();
    return fetchRows().then(function (fragment) {
      apply(fragment, ids, whole || !busy());
    }).catch(function (error) {
      console.warn(error);
    });
  }

  function scheduleRefresh(id) {
    if (id !== undefined && id !== null) pendingIds.add(String(id));
    clearTimeout(refreshTimer);
    refreshTimer = setTimeout(function () { refresh(false); }, 250);
  }

  // --- keyboard -----------------------------------------------------------------------
  document.addEventListener("DOMContentLoaded", function () {
    const root = results();
    if (!root) return;
    wire(root);

    H.stream.on("*", function (frame) {
      if (typeof frame.type === "string" && frame.type.indexOf("ticket.") === 0) {
        scheduleRefresh(frame.ticket && frame.ticket.id);
      }
    });
    H.stream.onReconnect(function () { scheduleRefresh(null); });

    H.shortcuts.add("j", "Next ticket in the list", function () { setCursor(cursor + 1); });
    H.shortcuts.add("k", "Previous ticket in the list", function () { setCursor(cursor < 0 ? 0 : cursor - 1); });
    H.shortcuts.add("x", "Select or unselect the ticket", function () {
      const row = currentRow();
      if (!row) return;
      const box = row.querySelector("input[data-row-check]");
      box.checked = !box.checked;
      updateCount();
    });
    H.shortcuts.add("enter", "Open the ticket", function () {
      const row = currentRow();
      if (row) window.location.assign(row.dataset.ticketUrl);
    });
  });

  // Filters left at "Any" stay out of the URL, so a bookmarked view reads like what it shows.
  document.addEventListener("htmx:configRequest", function (event) {
    const source = event.detail.elt;
    if (!(source instanceof Element) || !source.matches("[data-filter-form]")) return;
    const params = event.detail.parameters;
    const empty = [];
    if (typeof params.forEach === "function") {
      params.forEach(function (value, key) { if (value === "") empty.push(key); });
      empty.forEach(function (key) { params.delete(key); });
    } else {
      Object.keys(params).forEach(function (key) { if (params[key] === "") delete params[key]; });
    }
  });

  // htmx swapped the results (filters, pages, bulk change): wire the new rows.
  document.addEventListener("htmx:afterSwap", function () {
    const root = results();
    if (root) wire(root);
  });
})();
