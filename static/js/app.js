/* The agent UI's shared behaviour: one global, window.Helpdesk (see docs in
 * /work/brief/UI-CONTRACT.md and README "The agent UI").
 *
 *   Helpdesk.stream     the agent event stream (ws/agent/events/), with reconnect + back-off
 *   Helpdesk.shortcuts  keyboard shortcuts and the "?" list of them
 *   Helpdesk.toast      a short message at the bottom, with an optional action (Undo)
 *   Helpdesk.timeago    <time datetime> -> "4 min ago", exact time in the title
 *
 * No inline script or style anywhere (strict CSP): pages read data- attributes.
 */
(function () {
  "use strict";

  const body = document.body;

  // --- stream ---------------------------------------------------------------------------
  const stream = (function () {
    const handlers = new Map(); // type -> [fn]
    const reconnectHandlers = [];
    const queue = []; // frames sent while disconnected
    let socket = null;
    let attempts = 0;
    let everConnected = false;
    let stopped = false;
    let timer = null;

    function setState(state) {
      const el = document.querySelector("[data-conn-state]");
      if (!el) return;
      el.dataset.connState = state;
      const label = el.querySelector(".conn-label");
      const words = { connected: "Live", reconnecting: "Reconnecting…", connecting: "Connecting", stopped: "Offline" };
      if (label) label.textContent = words[state] || state;
      el.title = state === "connected" ? "Live updates are on" : "Live updates: " + (words[state] || state);
    }

    function url() {
      const path = body.dataset.wsUrl;
      if (!path) return null;
      const scheme = location.protocol === "https:" ? "wss:" : "ws:";
      return scheme + "//" + location.host + path;
    }

    function dispatch(frame) {
      const list = (handlers.get(frame.type) || []).concat(handlers.get("*") || []);
      for (const fn of list) {
        try {
          fn(frame);
        } catch (error) {
          console.error("Helpdesk.stream handler failed", error);
        }
      }
    }

    function connect() {
      const target = url();
      if (!target || stopped) return;
      setState(everConnected ? "reconnecting" : "connecting");
      socket = new WebSocket(target);
      socket.addEventListener("open", function () {
        const wasReconnect = everConnected;
        attempts = 0;
        everConnected = true;
        setState("connected");
        while (queue.length) socket.send(queue.shift());
        if (wasReconnect) {
          for (const fn of reconnectHandlers) {
            try { fn(); } catch (error) { console.error(error); }
          }
        }
      });
      socket.addEventListener("message", function (event) {
        let frame;
        try {
          frame = JSON.parse(event.data);
        } catch (error) {
          return;
        }
        if (frame && typeof frame.type === "string") dispatch(frame);
      });
      socket.addEventListener("close", function (event) {
        socket = null;
        if (event.code === 4401 || event.code === 4403) {
          // Signed out, expired, or no longer an agent: retrying cannot help.
          stopped = true;
          setState("stopped");
          window.location.assign("/");
          return;
        }
        scheduleReconnect();
      });
    }

    function scheduleReconnect() {
      if (stopped) return;
      setState("reconnecting");
      attempts += 1;
      // Exponential back-off with full jitter, 0.5 s .. 30 s.
      const ceiling = Math.min(30000, 500 * Math.pow(2, attempts - 1));
      const delay = 250 + Math.random() * ceiling;
      clearTimeout(timer);
      timer = setTimeout(connect, delay);
    }

    return {
      on: function (type, fn) {
        if (!handlers.has(type)) handlers.set(type, []);
        handlers.get(type).push(fn);
        return function off() {
          const list = handlers.get(type) || [];
          const index = list.indexOf(fn);
          if (index >= 0) list.splice(index, 1);
        };
      },
      send: function (obj) {
        const text = JSON.stringify(obj);
        if (socket && socket.readyState === WebSocket.OPEN) socket.send(text);
        else if (queue.length < 50) queue.push(text);
      },
      onReconnect: function (fn) {
        reconnectHandlers.push(fn);
      },
      get connected() {
        return !!socket && socket.readyState === WebSocket.OPEN;
      },
      start: connect,
    };
  })();

  // --- shortcuts ------------------------------------------------------------------------
  const shortcuts = (function () {
    const registered = []; // {keys: ["g","i"], label, description, fn, inFields}
    let pending = null; // first key of a two-key sequence
    let pendingTimer = null;

    function normalize(event) {
      let key = event.key;
      if (key === " ") key = "space";
      if (key.length === 1) key = key.toLowerCase();
      else key = key.toLowerCase();
      const mods = [];
      if (event.ctrlKey || event.metaKey) mods.push("ctrl");
      if (event.altKey) mods.push("alt");
      // "?" is shift+/ on most layouts: the character already says it.
      if (event.shiftKey && key.length > 1 && key !== "?") mods.push("shift");
      return mods.concat([key]).join("+");
    }

    function typingIn(target) {
      if (!target || !(target instanceof Element)) return false;
      if (target.isContentEditable) return true;
      const tag = target.tagName;
      if (tag === "TEXTAREA" || tag === "SELECT") return true;
      if (tag === "INPUT") {
        const type = (target.getAttribute("type") || "text").toLowerCase();
        return !["checkbox", "radio", "button", "submit", "reset"].includes(type);
      }
      return false;
    }

    function add(keys, description, fn, options) {
      const entry = {
        keys: keys.trim().toLowerCase().split(/\s+/),
        label: keys,
        description: description,
        fn: fn,
        inFields: !!(options && options.inFields) || /^(ctrl\+enter|escape)$/i.test(keys.trim()),
      };
      registered.push(entry);
      return entry;
    }

    document.addEventListener("keydown", function (event) {
      if (event.defaultPrevented || event.isComposing) return;
      const key = normalize(event);
      if (["shift", "control", "alt", "meta"].includes(key.split("+").pop())) return;
      const inField = typingIn(event.target);
      // Enter on a link, button or summary does what it always does.
      if (key === "enter" && event.target instanceof Element &&
          event.target.closest("a, button, summary, input, select, textarea, [contenteditable]")) return;
      const openDialog = document.querySelector("dialog[open]");
      const candidates = registered.filter(function (entry) {
        return !inField || entry.inFields;
      });
      if (pending) {
        const sequence = [pending, key];
        pending = null;
        clearTimeout(pendingTimer);
        // The latest registration wins: a page's own binding overrides a global one.
        const match = candidates.findLast(function (entry) {
          return entry.keys.length === 2 && entry.keys[0] === sequence[0] && entry.keys[1] === sequence[1];
        });
        if (match && !openDialog) {
          event.preventDefault();
          match.fn(event);
          return;
        }
      }
      const single = candidates.findLast(function (entry) {
        return entry.keys.length === 1 && entry.keys[0] === key;
      });
      if (single && (!openDialog || single.keys[0] === "escape")) {
        event.preventDefault();
        single.fn(event);
        return;
      }
      const starts = candidates.some(function (entry) {
        return entry.keys.length === 2 && entry.keys[0] === key;
      });
      if (starts && !openDialog) {
        pending = key;
        pendingTimer = setTimeout(function () { pending = null; }, 1500);
      }
    });

    function showHelp() {
      let dialog = document.getElementById("shortcuts-help");
      if (!dialog) {
        dialog = document.createElement("dialog");
        dialog.id = "shortcuts-help";
        dialog.className = "shortcuts-dialog";
        dialog.setAttribute("aria-labelledby", "shortcuts-title");
        document.body.appendChild(dialog);
      }
      dialog.replaceChildren();
      const title = document.createElement("h2");
      title.id = "shortcuts-title";
      title.textContent = "Keyboard shortcuts";
      const list = document.createElement("dl");
      list.className = "shortcut-list";
      const shown = new Map(); // one line per key, the binding that is in force
      for (const entry of registered) shown.set(entry.label.toLowerCase(), entry);
      for (const entry of shown.values()) {
        const term = document.createElement("dt");
        entry.label.split(/\s+/).forEach(function (part, index) {
          if (index) term.append(" then ");
          const kbd = document.createElement("kbd");
          kbd.textContent = part;
          term.append(kbd);
        });
        const desc = document.createElement("dd");
        desc.textContent = entry.description;
        list.append(term, desc);
      }
      const close = document.createElement("button");
      close.type = "button";
      close.className = "btn";
      close.textContent = "Close";
      close.addEventListener("click", function () { dialog.close(); });
      dialog.append(title, list, close);
      dialog.showModal();
      close.focus();
    }

    return { add: add, showHelp: showHelp, list: registered };
  })();

  // --- toast ----------------------------------------------------------------------------
  function toast(text, options) {
    options = options || {};
    const region = document.querySelector("[data-toasts]");
    if (!region) return { dismiss: function () {} };
    const item = document.createElement("div");
    item.className = "toast" + (options.kind ? " toast-" + options.kind : "");
    item.setAttribute("role", options.kind === "error" ? "alert" : "status");
    const message = document.createElement("span");
    message.textContent = text;
    item.append(message);
    let seconds = options.seconds === undefined ? 5 : options.seconds;
    let button = null;
    let done = false;
    function dismiss() {
      if (done) return;
      done = true;
      clearInterval(ticker);
      item.remove();
      if (options.onExpire && !acted) options.onExpire();
    }
    let acted = false;
    if (options.actionLabel) {
      button = document.createElement("button");
      button.type = "button";
      button.className = "btn btn-small";
      const label = function () {
        return options.actionLabel + (seconds > 0 ? " (" + seconds + ")" : "");
      };
      button.textContent = label();
      button.addEventListener("click", function () {
        acted = true;
        if (options.onAction) options.onAction();
        dismiss();
      });
      item.append(button);
      item._label = label;
    }
    region.append(item);
    // The action (Undo) takes the focus so one key reaches it; `focus: false` leaves it be.
    if (button && options.focus !== false) button.focus({ preventScroll: true });
    const ticker = seconds > 0 ? setInterval(function () {
      seconds -= 1;
      if (button) button.textContent = item._label();
      if (seconds <= 0) dismiss();
    }, 1000) : null;
    return { dismiss: dismiss, element: item };
  }

  // --- timeago --------------------------------------------------------------------------
  const relative = typeof Intl !== "undefined" && Intl.RelativeTimeFormat
    ? new Intl.RelativeTimeFormat("en", { numeric: "auto", style: "short" })
    : null;

  function ago(date) {
    const seconds = Math.round((date.getTime() - Date.now()) / 1000);
    const abs = Math.abs(seconds);
    if (abs < 45) return "just now";
    const steps = [[60, "second", 1], [3600, "minute", 60], [86400, "hour", 3600],
      [604800, "day", 86400], [2629800, "week", 604800], [31557600, "month", 2629800],
      [Infinity, "year", 31557600]];
    for (const [limit, unit, size] of steps) {
      if (abs < limit) {
        const value = Math.round(seconds / size);
        return relative ? relative.format(value, unit) : Math.abs(value) + " " + unit + "s ago";
      }
    }
    return date.toLocaleString();
  }

  function exactTime(date) {
    // In the agent's own time zone (their profile), named so there is no doubt.
    const zone = body.dataset.timezone || undefined;
    try {
      return date.toLocaleString(undefined, {
        dateStyle: "medium", timeStyle: "short", timeZone: zone,
      }) + (zone ? " (" + zone + ")" : "");
    } catch (error) {
      return date.toLocaleString();
    }
  }

  function timeago(root) {
    (root || document).querySelectorAll("time[datetime]").forEach(function (el) {
      const date = new Date(el.getAttribute("datetime"));
      if (isNaN(date.getTime())) return;
      el.textContent = ago(date);
      el.title = exactTime(date);
    });
  }
  setInterval(function () { timeago(document); }, 60000);

  // --- wiring ---------------------------------------------------------------------------
  window.Helpdesk = { stream: stream, shortcuts: shortcuts, toast: toast, timeago: timeago };

  function go(path) {
    return function () { window.location.assign(path); };
  }

  document.addEventListener("DOMContentLoaded", function () {
    timeago(document);
    if (body.dataset.agent === "true") {
      shortcuts.add("?", "Show keyboard shortcuts", shortcuts.showHelp);
      shortcuts.add("/", "Search tickets", function () {
        const box = document.querySelector("[data-search-box]");
        if (box) { box.focus(); box.select(); }
      });
      shortcuts.add("g i", "Go to My open", go("/tickets/?view=mine"));
      shortcuts.add("g u", "Go to Unassigned", go("/tickets/?view=unassigned"));
      shortcuts.add("g p", "Go to Pending", go("/tickets/?view=pending"));
      shortcuts.add("Escape", "Close a dialog or leave a field", function (event) {
        const dialog = document.querySelector("dialog[open]");
        if (dialog) { dialog.close(); return; }
        if (event.target instanceof HTMLElement) event.target.blur();
      });
      stream.start();
    }
    const toggle = document.querySelector("[data-nav-toggle]");
    if (toggle) {
      toggle.addEventListener("click", function () {
        const open = toggle.getAttribute("aria-expanded") !== "true";
        toggle.setAttribute("aria-expanded", String(open));
        body.classList.toggle("nav-open", open);
      });
    }
  });

  document.addEventListener("htmx:afterSwap", function (event) {
    timeago(event.target);
  });
  document.addEventListener("htmx:oobAfterSwap", function (event) {
    timeago(event.target);
  });
  document.addEventListener("htmx:responseError", function (event) {
    const status = event.detail.xhr ? event.detail.xhr.status : 0;
    if (status === 401 || status === 403) {
      toast("You are signed out or not allowed to do this. Sign in again.", { kind: "error" });
    } else {
      toast("That did not work (error " + status + "). Try again; if it keeps failing, reload the page.", { kind: "error" });
    }
  });
  document.addEventListener("htmx:sendError", function () {
    toast("The server could not be reached. Check your connection and try again.", { kind: "error" });
  });
})();
