/* The agent chat console (/chat/): the console socket (ws/chat/agent/), heartbeats, offers
 * (sound and title badge, each can be turned off and is remembered in localStorage), the
 * selected conversation (lines, typing, read marks, composer with resend), macros.
 *
 * Lists and the conversation pane are server-rendered (htmx); the socket says when to reload
 * them and carries the live lines. No inline script or style (strict CSP); text is always set
 * with textContent, never as HTML.
 */
(function () {
  "use strict";

  const body = document.body;
  const root = document.getElementById("chat-console");
  if (!root) return;
  const H = window.Helpdesk;
  const baseTitle = document.title;
  const PREFS = { sound: "helpdesk.chat.sound", badge: "helpdesk.chat.badge" };

  let socket = null;
  let attempts = 0;
  let stopped = false;
  let heartbeatTimer = null;
  let heartbeatSeconds = 10;
  let reconnectTimer = null;
  let listsTimer = null;
  const pending = new Map(); // client_id -> frame, until the server says it is stored
  const unread = new Map(); // conversation id -> count

  // --- preferences ------------------------------------------------------------------------
  function pref(name) {
    try { return window.localStorage.getItem(PREFS[name]) !== "off"; } catch (e) { return true; }
  }
  document.querySelectorAll("[data-pref]").forEach(function (box) {
    box.checked = pref(box.dataset.pref);
    box.addEventListener("change", function () {
      try { window.localStorage.setItem(PREFS[box.dataset.pref], box.checked ? "on" : "off"); } catch (e) { /* private mode */ }
      updateTitle();
    });
  });

  function updateTitle() {
    const lists = document.getElementById("chat-lists");
    const count = lists ? parseInt(lists.dataset.attention || "0", 10) : 0;
    document.title = (pref("badge") && count > 0 ? "(" + count + ") " : "") + baseTitle;
  }

  function ring() {
    if (!pref("sound") || !body.dataset.chatSound) return;
    try {
      const audio = new Audio(body.dataset.chatSound);
      const played = audio.play();
      if (played && played.catch) played.catch(function () { /* autoplay refused until a click */ });
    } catch (e) { /* no audio */ }
  }

  // --- the socket -------------------------------------------------------------------------
  function setConn(state) {
    const el = document.querySelector("[data-chat-conn]");
    if (!el) return;
    el.dataset.chatConn = state;
    el.textContent = { connected: "Live", reconnecting: "Reconnecting…", connecting: "Connecting…", stopped: "Offline" }[state] || state;
  }

  function send(frame) {
    if (socket && socket.readyState === WebSocket.OPEN) {
      socket.send(JSON.stringify(frame));
      return true;
    }
    return false;
  }

  function connect() {
    if (stopped) return;
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    setConn(attempts ? "reconnecting" : "connecting");
    socket = new WebSocket(scheme + "//" + location.host + body.dataset.chatWs);
    socket.addEventListener("open", function () {
      attempts = 0;
      setConn("connected");
    });
    socket.addEventListener("message", function (event) {
      let frame;
      try { frame = JSON.parse(event.data); } catch (e) { return; }
      if (frame && typeof frame.type === "string") handle(frame);
    });
    socket.addEventListener("close", function (event) {
      socket = null;
      clearInterval(heartbeatTimer);
      if (event.code === 4401 || event.code === 4403) {
        stopped = true;
        setConn("stopped");
        window.location.assign("/");
        return;
      }
      setConn("reconnecting");
      attempts += 1;
      // Exponential back-off with full jitter, 0.5 s .. 30 s (as the agent stream).
      const ceiling = Math.min(30000, 500 * Math.pow(2, attempts - 1));
      clearTimeout(reconnectTimer);
      reconnectTimer = setTimeout(connect, 250 + Math.random() * ceiling);
    });
  }

  function onReady(frame) {
    heartbeatSeconds = frame.heartbeat_seconds || 10;
    clearInterval(heartbeatTimer);
    heartbeatTimer = setInterval(function () { send({ type: "heartbeat" }); }, heartbeatSeconds * 1000);
    refreshLists();
    const conv = currentConv();
    if (conv) send({ type: "resume", conversation: convId(conv), last_seq: lastSeq(conv) });
    pending.forEach(function (frame) { send(frame); }); // unacknowledged lines: same client_id
  }

  function handle(frame) {
    switch (frame.type) {
      case "console.ready": onReady(frame); break;
      case "chat.offered":
        ring();
        if (H) H.toast("New chat from " + (frame.customer || "a customer") + (frame.tier ? " (" + frame.tier + ")" : "") + ".", { seconds: 6 });
        refreshLists();
        break;
      case "offer.withdrawn":
      case "queue.changed":
      case "conversation.assigned":
        refreshLists();
        break;
      case "conversation.released":
      case "conversation.transferred":
      case "conversation.ended":
        refreshLists();
        if (isSelected(frame.conversation)) reloadPane(frame.conversation);
        break;
      case "message.posted": onLine(frame); break;
      case "message.stored": onStored(frame); break;
      case "typing.changed": onTyping(frame); break;
      case "read.updated": onRead(frame); break;
      case "error": showError(frame.message || "That did not work."); break;
      default: break;
    }
  }

  // --- lists --------------------------------------------------------------------------------
  function refreshLists() {
    clearTimeout(listsTimer);
    listsTimer = setTimeout(function () {
      if (window.htmx) window.htmx.trigger(document.body, "chatListsChanged");
    }, 120);
  }

  function markSelected() {
    const id = selectedId();
    document.querySelectorAll(".chat-card").forEach(function (card) {
      card.classList.toggle("is-selected", String(id) === card.dataset.conversation);
    });
    unread.forEach(function (count, conversation) {
      const badge = document.querySelector('[data-unread-for="' + conversation + '"]');
      if (!badge) return;
      badge.hidden = !count;
      badge.textContent = count ? count + " new" : "";
    });
  }

  // --- the selected conversation ------------------------------------------------------------
  function currentConv() { return document.querySelector("[data-chat-conv]"); }
  function convId(conv) { return parseInt(conv.dataset.chatConv, 10); }
  function selectedId() { const conv = currentConv(); return conv ? convId(conv) : null; }
  function isSelected(id) { return id !== undefined && selectedId() === id; }
  function lastSeq(conv) {
    let seq = parseInt(conv.dataset.lastSeq || "0", 10);
    conv.querySelectorAll("[data-seq]").forEach(function (li) {
      seq = Math.max(seq, parseInt(li.dataset.seq, 10) || 0);
    });
    return seq;
  }

  function reloadPane(id) {
    if (window.htmx) window.htmx.ajax("GET", root.dataset.paneUrl + id + "/", { target: "#chat-pane", swap: "innerHTML" });
  }

  function openChat(id) {
    unread.delete(String(id));
    reloadPane(id);
    history.replaceState(null, "", root.dataset.paneUrl + "?chat=" + id);
  }

  function initPane() {
    const conv = currentConv();
    markSelected();
    if (!conv) return;
    unread.delete(String(convId(conv)));
    markSelected();
    const lines = conv.querySelector("[data-lines]");
    if (lines) lines.scrollTop = lines.scrollHeight;
    if (H) H.timeago(conv);
    send({ type: "resume", conversation: convId(conv), last_seq: lastSeq(conv) });
    markRead(conv);
    const box = conv.querySelector("[data-message]");
    if (box && conv.dataset.holds === "true") box.focus({ preventScroll: true });
  }

  function markRead(conv) {
    if (conv.dataset.holds !== "true" || document.hidden) return;
    send({ type: "read", conversation: convId(conv), seq: lastSeq(conv) });
  }

  function lineElement(frame, conv) {
    const li = document.createElement("li");
    li.className = "chat-line from-" + frame.sender;
    if (frame.seq) li.dataset.seq = frame.seq;
    if (frame.client_id) li.dataset.clientId = frame.client_id;
    const who = document.createElement("span");
    who.className = "chat-line-who";
    who.textContent = frame.sender === "customer" ? conv.dataset.customerName
      : frame.sender === "agent" ? (frame.author_name || body.dataset.userName || "") : "System";
    const text = document.createElement("p");
    text.className = "chat-line-body";
    text.textContent = frame.body || "";
    li.append(who, text);
    (frame.attachments || []).forEach(function (file) {
      const note = document.createElement("p");
      note.className = "muted";
      note.textContent = "Attachment: " + file.filename;
      li.append(note);
    });
    if (frame.created_at) {
      const time = document.createElement("time");
      time.setAttribute("datetime", frame.created_at);
      li.append(time);
      if (H) H.timeago(li);
    }
    if (frame.sender === "agent") {
      const mark = document.createElement("span");
      mark.className = "chat-read muted";
      mark.dataset.readMark = "";
      mark.textContent = frame.seq ? "Delivered" : "Sending…";
      li.append(mark);
    }
    return li;
  }

  function onLine(frame) {
    const conv = currentConv();
    if (!conv || convId(conv) !== frame.conversation) {
      if (frame.sender === "customer") {
        const key = String(frame.conversation);
        unread.set(key, (unread.get(key) || 0) + 1);
        markSelected();
      }
      return;
    }
    const lines = conv.querySelector("[data-lines]");
    if (!lines || lines.querySelector('[data-seq="' + frame.seq + '"]')) return;
    const nearBottom = lines.scrollHeight - lines.scrollTop - lines.clientHeight < 80;
    const mine = frame.client_id ? lines.querySelector('[data-client-id="' + CSS.escape(frame.client_id) + '"]:not([data-seq])') : null;
    const li = lineElement(frame, conv);
    if (mine) mine.replaceWith(li);
    else {
      // Keep sequence order even if two lines arrive out of order.
      const later = Array.from(lines.querySelectorAll("[data-seq]")).find(function (el) {
        return parseInt(el.dataset.seq, 10) > frame.seq;
      });
      const pendingFirst = lines.querySelector(".chat-line.is-pending");
      lines.insertBefore(li, later || pendingFirst || null);
    }
    if (frame.client_id) pending.delete(frame.client_id);
    if (frame.sender === "customer") setTyping("");
    if (nearBottom || frame.sender === "agent") lines.scrollTop = lines.scrollHeight;
    markRead(conv);
  }

  function onStored(frame) {
    pending.delete(frame.client_id);
    const conv = currentConv();
    const stateEl = conv && conv.querySelector("[data-send-state]");
    if (stateEl) stateEl.textContent = "";
  }

  let typingTimer = null;
  function setTyping(text) {
    const el = document.querySelector("[data-typing]");
    if (el) el.textContent = text;
  }
  function onTyping(frame) {
    if (!isSelected(frame.conversation) || frame.sender !== "customer") return;
    clearTimeout(typingTimer);
    const conv = currentConv();
    setTyping(frame.typing ? (frame.name || conv.dataset.customerName) + " is typing…" : "");
    if (frame.typing) typingTimer = setTimeout(function () { setTyping(""); }, 6000);
  }

  function onRead(frame) {
    if (!isSelected(frame.conversation) || frame.reader !== "customer") return;
    currentConv().querySelectorAll(".chat-line.from-agent[data-seq]").forEach(function (li) {
      if (parseInt(li.dataset.seq, 10) <= frame.seq) {
        const mark = li.querySelector("[data-read-mark]");
        if (mark) mark.textContent = "Read";
      }
    });
  }

  function showError(message) {
    const el = document.querySelector("[data-chat-error]");
    if (el) {
      el.textContent = message;
      el.hidden = false;
      setTimeout(function () { el.hidden = true; }, 8000);
    } else if (H) {
      H.toast(message, { kind: "error" });
    }
  }

  function newClientId() {
    if (window.crypto && window.crypto.randomUUID) return window.crypto.randomUUID();
    return "c" + Date.now().toString(36) + Math.random().toString(36).slice(2);
  }

  function sendMessage(form) {
    const conv = currentConv();
    const box = form.querySelector("[data-message]");
    const text = box.value.trim();
    if (!conv || !text) return;
    const frame = { type: "message.send", conversation: convId(conv), client_id: newClientId(), body: text };
    pending.set(frame.client_id, frame);
    const li = lineElement({ sender: "agent", body: text, client_id: frame.client_id }, conv);
    li.classList.add("is-pending");
    const lines = conv.querySelector("[data-lines]");
    lines.append(li);
    lines.scrollTop = lines.scrollHeight;
    box.value = "";
    stopTyping();
    const stateEl = form.querySelector("[data-send-state]");
    if (!send(frame) && stateEl) stateEl.textContent = "Offline: sends when the connection is back.";
  }

  let typingSentAt = 0;
  let typingStop = null;
  function typed() {
    const conv = currentConv();
    if (!conv || conv.dataset.holds !== "true") return;
    const now = Date.now();
    if (now - typingSentAt > 3000) {
      typingSentAt = now;
      send({ type: "typing", conversation: convId(conv), typing: true });
    }
    clearTimeout(typingStop);
    typingStop = setTimeout(stopTyping, 4000);
  }
  function stopTyping() {
    clearTimeout(typingStop);
    const conv = currentConv();
    if (typingSentAt && conv) send({ type: "typing", conversation: convId(conv), typing: false });
    typingSentAt = 0;
  }

  // --- macros (the ticket workspace's picker and "use" endpoint) -----------------------------
  function csrfToken() {
    try { return JSON.parse(body.getAttribute("hx-headers") || "{}")["X-CSRFToken"] || ""; } catch (e) { return ""; }
  }
  function openMacros() {
    const dialog = document.getElementById("macro-dialog");
    const conv = currentConv();
    if (!dialog || !conv) return;
    dialog.showModal();
    const search = document.getElementById("macro-search");
    if (window.htmx) {
      window.htmx.ajax("GET", conv.dataset.macrosUrl + "?q=" + encodeURIComponent(search ? search.value : ""), { target: "#macro-list", swap: "outerHTML" });
    }
    if (search) search.focus();
  }
  function useMacro(url) {
    fetch(url, { method: "POST", headers: { "X-CSRFToken": csrfToken() }, credentials: "same-origin" })
      .then(function (response) { return response.json().then(function (data) { return { ok: response.ok, data: data }; }); })
      .then(function (result) {
        const dialog = document.getElementById("macro-dialog");
        if (dialog) dialog.close();
        if (!result.ok) { showError("The macro could not be used."); return; }
        const box = document.querySelector("[data-message]");
        if (!box) return;
        box.value = (box.value ? box.value.replace(/\s*$/, "\n") : "") + (result.data.text || "");
        box.focus();
      })
      .catch(function () { showError("The macro could not be used."); });
  }

  // --- wiring -------------------------------------------------------------------------------
  document.addEventListener("click", function (event) {
    const target = event.target instanceof Element ? event.target : null;
    if (!target) return;
    const open = target.closest("[data-open-chat]");
    if (open && !event.ctrlKey && !event.metaKey && !event.shiftKey) {
      event.preventDefault();
      openChat(open.dataset.openChat);
      return;
    }
    if (target.closest("[data-open-macros]")) { openMacros(); return; }
    const macro = target.closest("[data-use-macro]");
    if (macro) { useMacro(macro.dataset.useMacro); return; }
    if (target.closest("[data-close-dialog]")) {
      const dialog = target.closest("dialog");
      if (dialog) dialog.close();
    }
  });
  document.addEventListener("submit", function (event) {
    const form = event.target;
    if (form instanceof HTMLFormElement && form.matches("[data-composer]")) {
      event.preventDefault();
      sendMessage(form);
    }
  });
  document.addEventListener("keydown", function (event) {
    const target = event.target;
    if (!(target instanceof HTMLTextAreaElement) || !target.matches("[data-message]")) return;
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      sendMessage(target.form);
    }
  });
  document.addEventListener("input", function (event) {
    if (event.target instanceof Element && event.target.matches("[data-message]")) typed();
  });
  document.addEventListener("htmx:afterSwap", function (event) {
    const target = event.detail && event.detail.target;
    if (!target) return;
    if (target.id === "chat-pane") initPane();
    if (target.id === "chat-lists" || target.closest("#chat-console")) { updateTitle(); markSelected(); }
  });
  document.addEventListener("htmx:afterSettle", function () { updateTitle(); markSelected(); });
  document.addEventListener("visibilitychange", function () {
    const conv = currentConv();
    if (conv && !document.hidden) markRead(conv);
  });

  if (H && H.shortcuts) {
    H.shortcuts.add("a", "Accept the chat offered to you", function () {
      const button = document.querySelector(".chat-card.is-offer [data-accept]");
      if (button) button.click();
    });
    H.shortcuts.add("m", "Insert a macro", openMacros);
  }

  document.addEventListener("DOMContentLoaded", function () {
    updateTitle();
    initPane();
    connect();
  });
})();
