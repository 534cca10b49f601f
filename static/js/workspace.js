/* The ticket workspace: version tracking for collision checks, the reply box (kind toggle,
 * light-markup toolbar, server-side drafts, send with undo), one-keystroke shortcuts, the
 * macro picker, live updates from Helpdesk.stream and presence (viewing / typing).
 * No inline script or style: everything reads data- attributes (strict CSP).
 */
(function () {
  "use strict";

  const root = document.getElementById("workspace");
  if (!root || !window.Helpdesk) return;
  const H = window.Helpdesk;
  const ticketId = Number(root.dataset.ticketId);
  const me = Number(root.dataset.me);
  const csrf = (function () {
    try {
      return JSON.parse(document.body.getAttribute("hx-headers") || "{}")["X-CSRFToken"] || "";
    } catch (error) {
      return "";
    }
  })();

  function post(url, data) {
    const body = data instanceof FormData ? data : new FormData();
    if (!(data instanceof FormData) && data) {
      Object.keys(data).forEach(function (key) { body.append(key, data[key]); });
    }
    return fetch(url, {
      method: "POST",
      body: body,
      headers: { "X-CSRFToken": csrf },
      credentials: "same-origin",
    });
  }

  // --- the version the agent has seen (collision detection) ---------------------------------
  function noteVersion(value) {
    const version = Number(value);
    if (version > Number(root.dataset.seenEvent || 0)) root.dataset.seenEvent = String(version);
  }
  document.body.addEventListener("htmx:configRequest", function (event) {
    if (root.contains(event.detail.elt)) event.detail.parameters["seen_event"] = root.dataset.seenEvent;
  });
  document.body.addEventListener("htmx:afterRequest", function (event) {
    const xhr = event.detail.xhr;
    const version = xhr && xhr.getResponseHeader("X-Ticket-Version");
    if (version) noteVersion(version);
  });

  // --- the reply box --------------------------------------------------------------------------
  function box() { return document.getElementById("reply-box"); }
  function textarea() { return document.querySelector("[data-reply-body]"); }
  function isInternal() {
    const checked = document.querySelector("#reply-box input[name=is_internal]:checked");
    return !!checked && checked.dataset.kind === "internal";
  }

  function showKind() {
    const el = box();
    if (!el) return;
    const internal = isInternal();
    el.classList.toggle("is-internal", internal);
    const label = el.querySelector("[data-reply-label]");
    const hint = el.querySelector("[data-kind-hint]");
    if (label) label.textContent = internal ? "Internal note (agents only)" : label.dataset.publicText || label.textContent;
    if (hint) hint.textContent = internal ? "Agents only: the customer never sees this." : "The customer will see this.";
  }

  function setKind(kind) {
    const radio = document.querySelector('#reply-box input[data-kind="' + kind + '"]');
    if (radio) {
      radio.checked = true;
      showKind();
      saveDraftSoon();
    }
    const area = textarea();
    if (area) area.focus();
  }

  function rememberPublicLabel() {
    const label = document.querySelector("[data-reply-label]");
    if (label && !label.dataset.publicText) {
      const customer = label.textContent.indexOf("Public reply") === 0 ? label.textContent : null;
      label.dataset.publicText = customer || "Public reply";
    }
  }

  // Drafts: saved on the server a moment after typing stops, and when the page goes away.
  let draftTimer = null;
  let lastSaved = null;
  function draftData() {
    const area = textarea();
    return { body: area ? area.value : "", is_internal: isInternal() ? "on" : "" };
  }
  function saveDraftNow() {
    const data = draftData();
    const key = data.body + "\u0000" + data.is_internal;
    if (key === lastSaved) return;
    const state = document.querySelector("[data-draft-state]");
    post(root.dataset.draftUrl, data).then(function (response) {
      if (response.ok) {
        lastSaved = key;
        if (state) state.textContent = data.body.trim() ? "Draft saved" : "";
      } else if (state) {
        state.textContent = "Draft not saved";
      }
    }).catch(function () {
      if (state) state.textContent = "Offline: draft not saved yet";
    });
  }
  function saveDraftSoon() {
    clearTimeout(draftTimer);
    draftTimer = setTimeout(saveDraftNow, 700);
  }
  window.addEventListener("pagehide", function () {
    const data = draftData();
    if (data.body + "\u0000" + data.is_internal === lastSaved) return;
    const form = new FormData();
    form.append("csrfmiddlewaretoken", csrf);
    form.append("body", data.body);
    form.append("is_internal", data.is_internal);
    if (navigator.sendBeacon) navigator.sendBeacon(root.dataset.draftUrl, form);
  });

  // Light markup toolbar: wraps or prefixes the selection in the textarea.
  function format(kind) {
    const area = textarea();
    if (!area) return;
    const start = area.selectionStart;
    const end = area.selectionEnd;
    const text = area.value;
    const selected = text.slice(start, end);
    let insert = selected;
    if (kind === "bold") insert = "**" + (selected || "bold text") + "**";
    else if (kind === "italic") insert = "*" + (selected || "italic text") + "*";
    else if (kind === "list" || kind === "numbered") {
      const lines = (selected || "item").split("\n");
      insert = lines.map(function (line, index) {
        return (kind === "list" ? "- " : (index + 1) + ". ") + line;
      }).join("\n");
      if (start > 0 && text[start - 1] !== "\n") insert = "\n" + insert;
    } else if (kind === "link") {
      const url = window.prompt("Link address (https://…)", "https://");
      if (!url) return;
      insert = "[" + (selected || url) + "](" + url + ")";
    }
    area.setRangeText(insert, start, end, "end");
    area.focus();
    saveDraftSoon();
  }

  // Send with undo: the server answers with the scheduled reply in an HX-Trigger.
  function deliverWhenDue(url, sendAt) {
    const wait = Math.max(0, new Date(sendAt).getTime() - Date.now()) + 250;
    let tries = 0;
    function attempt() {
      tries += 1;
      post(url, {}).then(function (response) { return response.ok ? response.json() : null; })
        .then(function (result) {
          if (result && result.state === "scheduled" && tries < 20) {
            setTimeout(attempt, 1000);
            return;
          }
          if (result && result.state === "failed") {
            H.toast("Not sent: " + result.error + " Your text is back in the box.", { kind: "error" });
            reloadReplyBox();
          }
          refreshTimeline();
        }).catch(function () { /* the worker posts it anyway */ });
    }
    setTimeout(attempt, wait);
  }

  function reloadReplyBox() {
    // The undo endpoint's sibling: a GET of the page would lose nothing, but we only need the box.
    const target = box();
    window.htmx.ajax("GET", location.pathname, { source: target, target: target, select: "#reply-box", swap: "outerHTML" });
  }

  document.body.addEventListener("replyScheduled", function (event) {
    const reply = event.detail;
    lastSaved = null;
    const what = reply.internal ? "Internal note" : "Reply";
    H.toast(what + " scheduled.", {
      actionLabel: "Undo",
      seconds: reply.seconds,
      onAction: function () {
        const target = box();
        window.htmx.ajax("POST", reply.undoUrl, { source: target, target: target, swap: "outerHTML" });
      },
      onExpire: function () { deliverWhenDue(reply.deliverUrl, reply.sendAt); },
    });
  });

  // --- live updates ---------------------------------------------------------------------------
  function timelineBox() { return document.querySelector(".ws-timeline"); }
  function scrollTimelineToEnd() {
    const el = timelineBox();
    if (el) el.scrollTop = el.scrollHeight;
  }
  function ids(container) {
    return new Set(Array.from(container.querySelectorAll("[data-message-id],[data-event-id]")).map(function (el) {
      return (el.dataset.messageId ? "m" : "e") + (el.dataset.messageId || el.dataset.eventId);
    }));
  }
  let refreshing = null;
  function refreshTimeline() {
    if (refreshing) return refreshing;
    const current = document.getElementById("timeline");
    const el = timelineBox();
    const atEnd = el && el.scrollHeight - el.scrollTop - el.clientHeight < 40;
    refreshing = fetch(root.dataset.timelineUrl, { credentials: "same-origin" })
      .then(function (response) { return response.ok ? response.text() : null; })
      .then(function (html) {
        if (!html || !current) return;
        const before = ids(current);
        const holder = document.createElement("div");
        holder.innerHTML = html;
        const fresh = holder.querySelector("#timeline");
        if (!fresh) return;
        fresh.querySelectorAll("[data-message-id],[data-event-id]").forEach(function (item) {
          const key = (item.dataset.messageId ? "m" : "e") + (item.dataset.messageId || item.dataset.eventId);
          if (!before.has(key)) item.classList.add("is-new");
        });
        current.replaceWith(fresh);
        H.timeago(fresh);
        if (atEnd) scrollTimelineToEnd();
      })
      .finally(function () { refreshing = null; });
    return refreshing;
  }
  let controlsStale = false;
  function refreshControls() {
    const controls = document.getElementById("controls");
    if (!controls) return;
    if (controls.contains(document.activeElement) && document.activeElement !== document.body) {
      controlsStale = true; // never swap a control out from under the agent's hands
      return;
    }
    controlsStale = false;
    // The source is the swapped element itself, so htmx's in-flight class lands there (not on
    // <body>, which would fade every button on the page while the request runs).
    window.htmx.ajax("GET", root.dataset.controlsUrl, { source: controls, target: controls, swap: "outerHTML" });
  }
  document.addEventListener("focusout", function () {
    setTimeout(function () {
      const controls = document.getElementById("controls");
      if (controlsStale && controls && !controls.contains(document.activeElement)) refreshControls();
    }, 0);
  });

  let liveTimer = null;
  H.stream.on("*", function (frame) {
    if (!frame.ticket || Number(frame.ticket.id) !== ticketId) return;
    clearTimeout(liveTimer);
    liveTimer = setTimeout(function () {
      refreshTimeline();
      refreshControls();
    }, 150);
  });
  H.stream.onReconnect(function () {
    refreshTimeline();
    refreshControls();
    sendPresence("presence.viewing");
  });

  // --- presence ---------------------------------------------------------------------------------
  function sendPresence(type) { H.stream.send({ type: type, ticket: ticketId }); }
  let lastTyping = 0;
  function typing() {
    const now = Date.now();
    if (now - lastTyping >= 3000) {
      lastTyping = now;
      sendPresence("presence.typing");
    }
  }
  function names(list) {
    if (list.length === 1) return list[0];
    return list.slice(0, -1).join(", ") + " and " + list[list.length - 1];
  }
  H.stream.on("presence.changed", function (frame) {
    if (Number(frame.ticket) !== ticketId) return;
    const others = (frame.viewers || []).filter(function (viewer) { return Number(viewer.id) !== me; });
    const typers = others.filter(function (viewer) { return viewer.typing; }).map(function (v) { return v.name; });
    const viewers = others.filter(function (viewer) { return !viewer.typing; }).map(function (v) { return v.name; });
    const parts = [];
    if (typers.length) parts.push(names(typers) + (typers.length === 1 ? " is typing…" : " are typing…"));
    if (viewers.length) parts.push(names(viewers) + (viewers.length === 1 ? " is viewing" : " are viewing"));
    const el = document.querySelector("[data-presence]");
    if (el) el.textContent = parts.join(" · ");
  });
  sendPresence("presence.viewing");
  setInterval(function () { sendPresence("presence.viewing"); }, 20000);
  window.addEventListener("pagehide", function () { sendPresence("presence.left"); });

  // --- the macro picker -------------------------------------------------------------------------
  function macroDialog() { return document.getElementById("macro-dialog"); }
  function openMacros() {
    const dialog = macroDialog();
    if (!dialog || dialog.open) return;
    dialog.showModal();
    const search = document.getElementById("macro-search");
    if (search) {
      search.focus();
      const list = document.getElementById("macro-list");
      window.htmx.ajax("GET", root.dataset.macrosUrl + "?q=" + encodeURIComponent(search.value), {
        source: list, target: list, swap: "outerHTML",
      });
    }
  }
  function useMacro(url, acknowledged) {
    const data = { seen_event: root.dataset.seenEvent };
    if (acknowledged) data.acknowledged_event = acknowledged;
    post(url, data).then(function (response) {
      const version = response.headers.get("X-Ticket-Version");
      return response.json().then(function (data) { return { ok: response.ok, data: data, version: version }; });
    }).then(function (result) {
      const dialog = macroDialog();
      if (result.data.warning) {
        // Someone else changed the ticket since this page loaded: show what, refresh, and let
        // the agent apply it anyway once they have looked.
        if (dialog && dialog.open) dialog.close();
        refreshTimeline();
        refreshControls();
        H.toast(result.data.warning, {
          kind: "error",
          actionLabel: "Apply anyway",
          seconds: 15,
          onAction: function () { useMacro(url, result.data.acknowledged_event); },
        });
        return;
      }
      if (!result.ok) {
        const message = Object.values(result.data).flat().join(" ");
        H.toast(message || "The macro could not be applied.", { kind: "error" });
        return;
      }
      if (result.version) noteVersion(result.version);
      const area = textarea();
      if (area) {
        area.value = area.value.trim() ? area.value.replace(/\s+$/, "") + "\n\n" + result.data.text : result.data.text;
        area.focus();
      }
      const send = document.querySelector("[data-send]");
      if (send) {
        send.value = result.data.status_after || "";
        send.textContent = result.data.status_after ? "Send and mark " + result.data.status_after.replace("_", " ") : "Send";
      }
      if (dialog && dialog.open) dialog.close();
      saveDraftSoon();
      refreshControls();
      refreshTimeline();
    });
  }

  // --- events on the page -------------------------------------------------------------------------
  document.addEventListener("click", function (event) {
    const target = event.target instanceof Element ? event.target : null;
    if (!target) return;
    const fmt = target.closest("[data-format]");
    if (fmt) { format(fmt.dataset.format); return; }
    if (target.closest("[data-open-macros]")) { openMacros(); return; }
    const macro = target.closest("[data-use-macro]");
    if (macro) { useMacro(macro.dataset.useMacro); return; }
    if (target.closest("[data-close-dialog]")) { const d = macroDialog(); if (d) d.close(); return; }
    if (target.closest("[data-refresh-controls]")) { controlsStale = true; document.activeElement.blur(); refreshControls(); return; }
    const toggle = target.closest("[data-customer-toggle]");
    if (toggle) {
      const panel = document.getElementById("customer-panel");
      const open = !panel.classList.contains("is-open");
      panel.classList.toggle("is-open", open);
      toggle.setAttribute("aria-expanded", String(open));
    }
  });
  document.addEventListener("change", function (event) {
    if (event.target instanceof Element && event.target.matches("#reply-box input[name=is_internal]")) {
      showKind();
      saveDraftSoon();
    }
  });
  document.addEventListener("input", function (event) {
    if (event.target instanceof Element && event.target.matches("[data-reply-body]")) {
      saveDraftSoon();
      typing();
    }
  });
  document.body.addEventListener("htmx:afterSwap", function (event) {
    if (event.detail.target && event.detail.target.id === "reply-box") {
      lastSaved = null;
      rememberPublicLabel();
    }
  });
  document.body.addEventListener("htmx:afterSettle", function () {
    rememberPublicLabel();
    const list = document.querySelectorAll("[data-pending-reply]:not([data-watched])");
    list.forEach(watchPending);
  });
  function watchPending(item) {
    item.dataset.watched = "1";
    deliverWhenDue(item.dataset.deliverUrl, item.dataset.sendAt);
  }

  // --- keyboard -------------------------------------------------------------------------------
  H.shortcuts.add("r", "Reply to the customer", function () { setKind("public"); });
  H.shortcuts.add("n", "Write an internal note", function () { setKind("internal"); });
  H.shortcuts.add("a", "Assign the ticket to me", function () {
    const select = document.getElementById("ctl-assignee");
    if (!select) return;
    select.value = String(me);
    select.dispatchEvent(new Event("change", { bubbles: true }));
  });
  H.shortcuts.add("s", "Change the status", function () {
    const select = document.getElementById("ctl-status");
    if (select) select.focus();
  });
  H.shortcuts.add("m", "Apply a macro", openMacros);
  H.shortcuts.add("ctrl+enter", "Send the reply", function () {
    const form = document.querySelector("[data-reply-form]");
    const send = document.querySelector("[data-send]");
    if (form && send && textarea() && textarea().value.trim()) form.requestSubmit(send);
  });
  // Escape (close the picker, leave the reply box) is the shell's: it closes any open dialog.

  // --- start ------------------------------------------------------------------------------------
  rememberPublicLabel();
  showKind();
  lastSaved = draftData().body + "\u0000" + draftData().is_internal;
  scrollTimelineToEnd();
  document.querySelectorAll("[data-pending-reply]").forEach(watchPending);
})();
