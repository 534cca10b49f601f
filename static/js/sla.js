/* SLA bits of the UI, no inline script (strict CSP): everything reads data- attributes.
 *
 *   badges    [data-sla-badge]: "At risk · First reply · 42 min left", redrawn every 30 s from
 *             data-sla-due / data-sla-state / data-sla-target, and at once when the agent
 *             stream says `ticket.sla_changed` for that ticket. The words follow the same
 *             rules as tickets/templatetags/sla.py, so the first redraw changes nothing.
 *   promise   [data-promise]: the customer's "We will answer by 14:20 (in 42 min)", written
 *             in the reader's own time zone.
 *   editors   the manager pages: add/remove rows (weekly hours intervals, rule conditions and
 *             actions) from <template> elements, keeping every control labelled, and
 *             focus on the first field of a new row (keyboard first).
 */
(function () {
  "use strict";

  const AT_RISK_MINUTES = 60;
  const LEVEL_LABELS = { ok: "On track", risk: "At risk", breached: "Breached", paused: "Paused" };
  const TARGET_LABELS = { first_reply: "First reply", next_reply: "Next reply", resolution: "Resolution" };

  function durationWords(minutes) {
    minutes = Math.max(0, minutes);
    if (minutes < 60) return minutes + " min";
    const hours = Math.floor(minutes / 60);
    const rest = minutes % 60;
    if (hours < 24) return rest ? hours + " h " + rest + " min" : hours + " h";
    const days = Math.floor(hours / 24);
    const h = hours % 24;
    return h ? days + " d " + h + " h" : days + " d";
  }

  function exactTime(date) {
    const zone = document.body.dataset.timezone || undefined;
    try {
      return date.toLocaleString("en-GB", {
        day: "numeric", month: "short", year: "numeric", hour: "2-digit", minute: "2-digit",
        hour12: false, timeZone: zone,
      }) + (zone ? " (" + zone + ")" : "");
    } catch (error) {
      return date.toLocaleString();
    }
  }

  function badgeFor(el, now) {
    const state = el.dataset.slaState || "";
    if (!state || el.dataset.slaClosed === "1") return null;
    const target = TARGET_LABELS[el.dataset.slaTarget] || "SLA";
    const dueText = el.dataset.slaDue || "";
    if (!dueText) {
      return state === "paused" ? { level: "paused", target: target, left: "paused", due: null } : null;
    }
    const due = new Date(dueText);
    if (isNaN(due.getTime())) return null;
    const left = Math.floor((due.getTime() - now) / 60000);
    let level;
    let words;
    if (state === "breached" || due.getTime() <= now) {
      const ago = left < 0 ? -left - 1 : 0;
      level = "breached";
      words = ago ? "breached " + durationWords(ago) + " ago" : "breached just now";
    } else {
      level = left < AT_RISK_MINUTES ? "risk" : "ok";
      words = durationWords(left) + " left";
    }
    if (state === "paused") { level = "paused"; words = "paused"; }
    return { level: level, target: target, left: words, due: due };
  }

  function drawBadge(el, now) {
    const badge = badgeFor(el, now || Date.now());
    let inner = el.querySelector(".sla");
    if (!badge) {
      if (inner) inner.remove();
      return;
    }
    if (!inner) {
      inner = document.createElement("span");
      ["sla-level", "sla-target", "sla-left"].forEach(function (name, index) {
        if (index) inner.append(" ");
        const part = document.createElement("span");
        part.className = name;
        inner.append(part);
      });
      el.append(inner);
    }
    inner.className = "sla sla-" + badge.level;
    const parts = {
      "sla-level": LEVEL_LABELS[badge.level],
      "sla-target": badge.target,
      "sla-left": badge.left,
    };
    Object.keys(parts).forEach(function (name) {
      const part = inner.querySelector("." + name);
      if (part && part.textContent !== parts[name]) part.textContent = parts[name];
    });
    if (badge.due) inner.title = badge.target + " due " + exactTime(badge.due);
    else inner.removeAttribute("title");
  }

  function drawAll(root) {
    const now = Date.now();
    (root || document).querySelectorAll("[data-sla-badge]").forEach(function (el) { drawBadge(el, now); });
    (root || document).querySelectorAll("[data-promise]").forEach(drawPromise);
  }

  // --- the customer's promise ------------------------------------------------------------
  function drawPromise(el) {
    const due = new Date(el.dataset.due);
    if (isNaN(due.getTime())) return;
    const exact = el.querySelector("[data-promise-exact]");
    const relative = el.querySelector("[data-promise-relative]");
    const sameDay = new Date().toDateString() === due.toDateString();
    if (exact) {
      exact.textContent = due.toLocaleString(undefined, sameDay
        ? { hour: "numeric", minute: "2-digit" }
        : { weekday: "short", day: "numeric", month: "short", hour: "numeric", minute: "2-digit" });
      exact.title = due.toLocaleString(undefined, { dateStyle: "full", timeStyle: "short" });
    }
    if (relative) {
      const minutes = Math.round((due.getTime() - Date.now()) / 60000);
      relative.textContent = minutes > 0 ? "(in " + durationWords(minutes) + ")" : "";
    }
  }

  // --- live: ticket.sla_changed ------------------------------------------------------------
  function onSlaChanged(frame) {
    if (!frame.ticket || !frame.change) return;
    const id = String(frame.ticket.id);
    document.querySelectorAll('[data-sla-badge][data-ticket-id="' + id + '"]').forEach(function (el) {
      el.dataset.slaDue = frame.change.sla_due_at || "";
      el.dataset.slaState = frame.change.sla_state || "";
      el.dataset.slaTarget = frame.change.sla_target || "";
      drawBadge(el);
    });
    // The workspace's ledger panel, if it is open, is reloaded (htmx listens for this event).
    const panel = document.querySelector('[data-sla-panel][data-ticket-id="' + id + '"]');
    if (panel && window.htmx) window.htmx.trigger(panel, "sla-changed");
  }

  // --- editors: rows from templates ------------------------------------------------------
  let rowSerial = 0;
  function addRow(button) {
    const list = document.getElementById(button.dataset.addRow);
    const template = document.getElementById(button.dataset.template);
    if (!list || !template) return;
    rowSerial += 1;
    const prefix = button.dataset.prefix || "";
    const index = prefix ? nextIndex(list) : "";
    const html = template.innerHTML
      .replace(/__uid__/g, "n" + Date.now().toString(36) + rowSerial)
      .replace(/__index__/g, String(index));
    const holder = document.createElement("template");
    holder.innerHTML = html.trim();
    const row = holder.content.firstElementChild;
    list.append(row);
    if (row.matches("[data-cond-row]")) syncCondition(row);
    if (row.matches("[data-action-row]")) syncAction(row);
    const first = row.querySelector("input, select, textarea");
    if (first) first.focus();
    if (window.htmx) window.htmx.process(row);
  }

  function nextIndex(list) {
    let max = -1;
    list.querySelectorAll("[data-row-index]").forEach(function (row) {
      max = Math.max(max, Number(row.dataset.rowIndex));
    });
    return max + 1;
  }

  function removeRow(button) {
    const row = button.closest("[data-row]");
    if (!row) return;
    // Focus goes to the row before, or the list's add button: never lost to <body>.
    const previous = row.previousElementSibling;
    const list = row.parentElement;
    row.remove();
    const focusTarget = previous ? previous.querySelector("input, select, button")
      : document.querySelector('[data-add-row="' + (list ? list.id : "") + '"]');
    if (focusTarget) focusTarget.focus();
  }

  // A condition row's value control follows its field: the catalog (in a <script
  // type="application/json"> data block, not executed) says which operators and choices.
  function catalog() {
    const node = document.getElementById("rule-catalog");
    if (!node) return null;
    try { return JSON.parse(node.textContent); } catch (error) { return null; }
  }

  function syncCondition(row) {
    const data = catalog();
    if (!data) return;
    const fieldSelect = row.querySelector("[data-cond-field]");
    const opSelect = row.querySelector("[data-cond-op]");
    const valueSelect = row.querySelector("[data-cond-value-choice]");
    const valueInput = row.querySelector("[data-cond-value]");
    if (!fieldSelect || !opSelect) return;
    const spec = data.fields[fieldSelect.value];
    if (!spec) return;
    const currentOp = opSelect.value;
    opSelect.replaceChildren();
    spec.operators.forEach(function (op) {
      const option = document.createElement("option");
      option.value = op[0];
      option.textContent = op[1];
      if (op[0] === currentOp) option.selected = true;
      opSelect.append(option);
    });
    const hasChoices = spec.choices && spec.choices.length > 0;
    const targetWrap = row.querySelector("[data-cond-target-wrap]");
    if (targetWrap) {
      targetWrap.hidden = !spec.targets;
      targetWrap.querySelectorAll("select").forEach(function (el) { el.disabled = !spec.targets; });
    }
    if (valueSelect && valueInput) {
      valueSelect.multiple = !!spec.multiple;
      if (spec.multiple) valueSelect.size = Math.min(6, Math.max(2, (spec.choices || []).length)); else valueSelect.removeAttribute("size");
      const currentValues = Array.from(valueSelect.selectedOptions).map(function (o) { return o.value; });
      valueSelect.hidden = !hasChoices;
      valueSelect.disabled = !hasChoices;
      valueInput.hidden = hasChoices;
      valueInput.disabled = hasChoices;
      if (hasChoices) {
        valueSelect.replaceChildren();
        spec.choices.forEach(function (choice) {
          const option = document.createElement("option");
          option.value = choice[0];
          option.textContent = choice[1];
          if (currentValues.indexOf(String(choice[0])) >= 0) option.selected = true;
          valueSelect.append(option);
        });
      }
      valueInput.placeholder = spec.hint || "";
    }
  }

  function syncAction(row) {
    const data = catalog();
    if (!data) return;
    const typeSelect = row.querySelector("[data-action-type]");
    if (!typeSelect) return;
    const spec = data.actions[typeSelect.value] || { params: [] };
    row.querySelectorAll("[data-action-param]").forEach(function (wrap) {
      const on = spec.params.indexOf(wrap.dataset.actionParam) >= 0;
      wrap.hidden = !on;
      wrap.querySelectorAll("input, select, textarea").forEach(function (control) { control.disabled = !on; });
    });
  }

  document.addEventListener("click", function (event) {
    const target = event.target instanceof Element ? event.target : null;
    if (!target) return;
    const add = target.closest("[data-add-row]");
    if (add) { event.preventDefault(); addRow(add); return; }
    const remove = target.closest("[data-remove-row]");
    if (remove) { event.preventDefault(); removeRow(remove); }
  });

  document.addEventListener("change", function (event) {
    const target = event.target instanceof Element ? event.target : null;
    if (!target) return;
    if (target.matches("[data-cond-field]")) syncCondition(target.closest("[data-row]"));
    if (target.matches("[data-action-type]")) syncAction(target.closest("[data-row]"));
  });

  function syncEditors(root) {
    root.querySelectorAll("[data-cond-row]").forEach(syncCondition);
    root.querySelectorAll("[data-action-row]").forEach(syncAction);
  }

  document.addEventListener("DOMContentLoaded", function () {
    drawAll(document);
    syncEditors(document);
    setInterval(function () { drawAll(document); }, 30000);
    if (window.Helpdesk && document.body.dataset.agent === "true") {
      window.Helpdesk.stream.on("ticket.sla_changed", onSlaChanged);
    }
  });
  document.addEventListener("htmx:afterSwap", function (event) {
    drawAll(event.target);
    // The rule editor came back from a dry run: its rows need their controls, and the
    // keyboard goes to what answered (the errors, or the result).
    const editor = document.getElementById("rule-editor");
    const path = event.detail && event.detail.pathInfo ? event.detail.pathInfo.requestPath || "" : "";
    if (editor && path.indexOf("/slas/rules/") === 0) {
      syncEditors(editor);
      const answer = editor.querySelector("[data-form-errors], [data-dry-run]");
      if (answer) answer.focus();
    }
  });
  document.addEventListener("htmx:oobAfterSwap", function (event) { drawAll(event.target); });

  window.HelpdeskSla = { durationWords: durationWords, drawAll: drawAll };
})();
