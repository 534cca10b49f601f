/* Helpdesk chat widget: one file, no framework, no build step (docs/widget.md).
 *
 *   <script src="https://helpdesk.example/static/chat/widget.js" data-site="KEY" async></script>
 *
 * Everything it draws lives in one Shadow DOM root on a <helpdesk-chat> element, with its CSS
 * inside (adopted stylesheet: the host page's CSS cannot reach in, ours cannot leak out, and a
 * strict style-src on the shop does not block it). The only global is window.HelpdeskChat.
 * Text from people is always set with textContent. Any error is caught and logged once: the
 * shop's page keeps working whatever happens here.
 *
 * Protocol: docs/chat-protocol.md (socket ws/chat/visitor/, HTTP /chat/widget/...).
 */
(function () {
  "use strict";

  var NS = "HelpdeskChat";
  var VERSION = "1.0.0";
  var previous = window[NS];
  if (previous && previous.version) return; // the tag twice on one page: the first one wins
  var queuedCalls = Array.isArray(previous) ? previous : []; // HelpdeskChat.push([...]) before load

  var reported = false;
  function report(error) {
    if (reported) return;
    reported = true;
    try {
      console.error("HelpdeskChat: " + (error && error.message ? error.message : error), error);
    } catch (ignored) {
      /* no console */
    }
  }
  function guard(fn) {
    return function () {
      try {
        return fn.apply(this, arguments);
      } catch (error) {
        report(error);
      }
    };
  }

  // --- where we come from -----------------------------------------------------------------
  function findOwnTag() {
    if (document.currentScript && document.currentScript.dataset.site) return document.currentScript;
    var tags = document.querySelectorAll("script[src][data-site]");
    for (var i = 0; i < tags.length; i++) {
      if (/\/chat\/widget(\.min)?\.js(\?|#|$)/.test(tags[i].src)) return tags[i];
    }
    return null;
  }

  // --- words ------------------------------------------------------------------------------
  var WORDS = {
    en: {
      open: "Chat with us", close: "Close chat", title: "Chat with us", unread: "{n} unread",
      name: "Your name", email: "Email", topic: "Topic", order: "Order reference",
      earlier: "Your earlier chats", optional: "optional", start: "Start chat", leave: "Send message",
      message: "Write a message", question: "How can we help?", send: "Send", attach: "Attach a file", messages: "Conversation",
      sending: "Sending…", delivered: "Delivered", read: "Read", failed: "Not sent yet: will retry",
      liveSub: "Live chat: we usually answer within minutes", offlineSub: "Leave a message: we answer by email",
      with: "You're chatting with {name}", you: "You", typing: "{name} is typing…", agentDefault: "Support",
      joined: "{name} joined the chat.", ended: "The chat has ended.",
      queue: "You are {pos} in line", queueNext: "You are next in line",
      promise: "we promise a reply by {time}",
      waiting: "Waiting for the next available agent…",
      closed: "We're closed right now.", noAgents: "No one is online to chat right now.",
      reopens: "We're back {time}.", expect: "Expect an answer by {time}.",
      ticket: "Your message becomes a ticket; the answer will arrive by email at {email}.",
      ticketNoEmail: "Your message becomes a ticket; the answer will arrive by email.",
      ticketMade: "Thanks: your message is ticket {ref}. We'll answer by email at {email}.",
      ticketMadeNoEmail: "Thanks: your message is ticket {ref}. Our answer will show here the next time you visit.",
      endChat: "End chat", rateLegend: "How was this chat?", stars: "{n} of 5",
      comment: "Anything to add? (optional)", rate: "Send rating", thanks: "Thanks for your rating.",
      transcriptEmail: "Email for the transcript", transcript: "Email me the transcript",
      transcriptSent: "The transcript is on its way to {email}.", newChat: "Start a new chat",
      reconnecting: "Connection lost: reconnecting…", unavailable: "Chat isn't available on this page.",
      needIdentity: "Please sign in to the shop to chat with us.",
      tooBig: "{file} is too large: the limit is {mb} MB.", badType: "{file}: this kind of file can't be sent.",
      download: "Download {file}", uploadFailed: "{file} could not be uploaded: {why}", uploading: "Uploading {file}…",
      required: "Please fill in {field}.", badEmail: "Please enter a valid email address.",
      ordinal: "en"
    },
    es: {
      open: "Chatea con nosotros", close: "Cerrar chat", title: "Chatea con nosotros",
      name: "Tu nombre", email: "Correo", topic: "Tema", order: "Número de pedido", optional: "opcional",
      start: "Empezar chat", leave: "Enviar mensaje", message: "Escribe un mensaje", question: "¿En qué podemos ayudarte?", send: "Enviar",
      attach: "Adjuntar archivo", messages: "Conversación", sending: "Enviando…", delivered: "Entregado",
      read: "Leído", you: "Tú", typing: "{name} está escribiendo…", ended: "El chat ha terminado.",
      queue: "Estás en la posición {pos}", queueNext: "Eres el siguiente",
      promise: "te responderemos antes de las {time}",
      closed: "Ahora estamos cerrados.", noAgents: "Ahora no hay nadie conectado.",
      reopens: "Volvemos {time}.", ticket: "Tu mensaje se convierte en un ticket; la respuesta llegará por correo a {email}.",
      endChat: "Terminar chat", rateLegend: "¿Qué tal el chat?", rate: "Enviar valoración",
      transcript: "Enviarme la conversación", newChat: "Nuevo chat", ordinal: "es"
    },
    de: {
      open: "Chatten Sie mit uns", close: "Chat schließen", title: "Chatten Sie mit uns",
      name: "Ihr Name", email: "E-Mail", topic: "Thema", order: "Bestellnummer", optional: "optional",
      start: "Chat starten", leave: "Nachricht senden", message: "Nachricht schreiben", question: "Wie können wir helfen?", send: "Senden",
      attach: "Datei anhängen", messages: "Unterhaltung", sending: "Wird gesendet…", delivered: "Zugestellt",
      read: "Gelesen", you: "Sie", typing: "{name} schreibt…", ended: "Der Chat ist beendet.",
      queue: "Sie sind an Position {pos}", queueNext: "Sie sind als Nächstes dran",
      promise: "Antwort bis {time} versprochen",
      closed: "Wir sind gerade geschlossen.", noAgents: "Gerade ist niemand online.",
      reopens: "Wir sind {time} wieder da.", ticket: "Ihre Nachricht wird ein Ticket; die Antwort kommt per E-Mail an {email}.",
      endChat: "Chat beenden", rateLegend: "Wie war der Chat?", rate: "Bewertung senden",
      transcript: "Verlauf per E-Mail", newChat: "Neuer Chat", ordinal: "de"
    }
  };

  function pickLanguage(wanted) {
    var tag = String(wanted || document.documentElement.lang || navigator.language || "en").toLowerCase();
    var base = tag.split("-")[0];
    return WORDS[base] ? base : "en";
  }

  // --- small DOM helpers (elements and text nodes only) -------------------------------------------------
  function h(tag, attrs, children) {
    var el = document.createElement(tag);
    if (attrs) {
      for (var key in attrs) {
        if (!Object.prototype.hasOwnProperty.call(attrs, key) || attrs[key] == null || attrs[key] === false) continue;
        if (key === "text") el.textContent = attrs[key];
        else if (key === "class") el.className = attrs[key];
        else if (key.slice(0, 2) === "on") el.addEventListener(key.slice(2), guard(attrs[key]));
        else el.setAttribute(key, attrs[key] === true ? "" : attrs[key]);
      }
    }
    (children || []).forEach(function (child) {
      if (child) el.appendChild(typeof child === "string" ? document.createTextNode(child) : child);
    });
    return el;
  }

  function icon(path) {
    var svgNS = "http://www.w3.org/2000/svg";
    var svg = document.createElementNS(svgNS, "svg");
    svg.setAttribute("viewBox", "0 0 24 24");
    svg.setAttribute("aria-hidden", "true");
    svg.setAttribute("focusable", "false");
    var p = document.createElementNS(svgNS, "path");
    p.setAttribute("d", path);
    svg.appendChild(p);
    return svg;
  }
  var ICON_CHAT = "M4 4h16a2 2 0 0 1 2 2v10a2 2 0 0 1-2 2H9l-5 4v-4H4a2 2 0 0 1-2-2V6a2 2 0 0 1 2-2z";
  var ICON_CLOSE = "M6 6l12 12M18 6L6 18";
  var ICON_CLIP = "M16.5 6.5l-8 8a2 2 0 0 0 2.8 2.8l8-8a4 4 0 0 0-5.6-5.6l-8 8a6 6 0 0 0 8.5 8.5l6-6";

  function uuid() {
    if (window.crypto && window.crypto.randomUUID) return window.crypto.randomUUID();
    var bytes = new Uint8Array(16);
    window.crypto.getRandomValues(bytes);
    bytes[6] = (bytes[6] & 15) | 64;
    bytes[8] = (bytes[8] & 63) | 128;
    var hex = Array.prototype.map.call(bytes, function (b) { return (b + 256).toString(16).slice(1); }).join("");
    return hex.slice(0, 8) + "-" + hex.slice(8, 12) + "-" + hex.slice(12, 16) + "-" + hex.slice(16, 20) + "-" + hex.slice(20);
  }

  // Storage that survives sandboxed iframes and private modes (where localStorage throws).
  var memoryStore = {};
  var store = {
    get: function (key) {
      try { return window.localStorage.getItem(key); } catch (e) { return memoryStore[key] || null; }
    },
    set: function (key, value) {
      memoryStore[key] = value;
      try { window.localStorage.setItem(key, value); } catch (e) { /* memory only */ }
    },
    remove: function (key) {
      delete memoryStore[key];
      try { window.localStorage.removeItem(key); } catch (e) { /* memory only */ }
    }
  };

  function safeColour(value) {
    return /^#([0-9a-f]{3}|[0-9a-f]{6})$/i.test(value || "") ? value : null;
  }
  // Text on the accent colour: black or white, whichever reads better (WCAG luminance).
  function textOn(hex) {
    var c = hex.length === 4 ? hex.replace(/#(.)(.)(.)/, "#$1$1$2$2$3$3") : hex;
    var lum = [1, 3, 5].map(function (i) {
      var v = parseInt(c.substr(i, 2), 16) / 255;
      return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4);
    });
    var l = 0.2126 * lum[0] + 0.7152 * lum[1] + 0.0722 * lum[2];
    return (1.05 / (l + 0.05)) >= ((l + 0.05) / 0.05) ? "#ffffff" : "#111111";
  }
  // The accent also draws focus rings and links on white: darken pale colours until it reads.
  function accentOnWhite(hex) {
    return textOn(hex) === "#111111" ? "#1f4fbf" : hex;
  }

  // URLs from the server are only followed if they are http(s): never javascript: or data:.
  function safeUrl(value, base) {
    try {
      var url = new URL(String(value), base);
      return url.protocol === "https:" || url.protocol === "http:" ? url.href : null;
    } catch (e) {
      return null;
    }
  }

  var CSS = [
    ":host{all:initial;position:fixed!important;z-index:2147483000!important;bottom:20px!important;right:20px!important;left:auto!important;top:auto!important;",
    "display:block!important;font:14px/1.45 system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;color:#1b1f24;",
    "--hd-accent:#1f6feb;--hd-on-accent:#fff;--hd-link:#1f6feb;--hd-bg:#fff;--hd-soft:#f2f4f7;--hd-line:#d0d7de;--hd-muted:#57606a;--hd-error:#b42318}",
    ":host(.left){right:auto!important;left:20px!important}",
    "*{box-sizing:border-box}",
    "button,input,textarea{font:inherit;color:inherit}",
    ".launcher{display:flex;align-items:center;gap:8px;border:0;border-radius:28px;padding:12px 18px;cursor:pointer;",
    "background:var(--hd-accent);color:var(--hd-on-accent);box-shadow:0 4px 14px rgba(0,0,0,.25);font-weight:600}",
    ".launcher svg{width:22px;height:22px;fill:currentColor}",
    ".badge{min-width:20px;height:20px;border-radius:10px;background:#fff;color:#b42318;font-size:12px;line-height:20px;text-align:center;padding:0 5px}",
    ":focus-visible{outline:3px solid var(--hd-link);outline-offset:2px}",
    ".launcher:focus-visible{outline-color:#1b1f24;box-shadow:0 0 0 5px #fff}",
    ".panel{position:absolute;bottom:0;right:0;width:min(380px,calc(100vw - 24px));height:min(600px,calc(100vh - 40px));",
    "display:flex;flex-direction:column;background:var(--hd-bg);border:1px solid var(--hd-line);border-radius:12px;",
    "box-shadow:0 12px 40px rgba(0,0,0,.28);overflow:hidden;animation:hd-in .18s ease-out}",
    ":host(.left) .panel{right:auto;left:0}",
    ".panel[hidden],[hidden]{display:none!important}",
    "@keyframes hd-in{from{opacity:0;transform:translateY(12px)}to{opacity:1;transform:none}}",
    ".head{display:flex;align-items:center;gap:8px;padding:12px 14px;background:var(--hd-accent);color:var(--hd-on-accent)}",
    ".head .titles{flex:1;min-width:0}",
    "h2{margin:0;font-size:16px;font-weight:600}",
    ".sub{margin:0;font-size:13px;opacity:.92}",
    ".icon-btn{border:0;background:transparent;color:inherit;width:36px;height:36px;border-radius:8px;cursor:pointer;display:grid;place-items:center}",
    ".icon-btn svg{width:20px;height:20px;stroke:currentColor;stroke-width:2.2;fill:none}",
    ".head .icon-btn:focus-visible{outline-color:var(--hd-on-accent)}",
    ".notice{margin:0;padding:10px 14px;background:var(--hd-soft);border-bottom:1px solid var(--hd-line);font-size:13px}",
    ".notice strong{font-weight:600}",
    ".body{flex:1;overflow-y:auto;padding:12px 14px;display:flex;flex-direction:column;gap:10px}",
    ".log{display:flex;flex-direction:column;gap:8px;margin:0;padding:0;list-style:none}",
    ".greeting{color:var(--hd-muted);margin:0}",
    ".msg{max-width:85%;padding:8px 11px;border-radius:12px;background:var(--hd-soft);align-self:flex-start;overflow-wrap:anywhere}",
    ".msg.customer{align-self:flex-end;background:var(--hd-accent);color:var(--hd-on-accent)}",
    ".msg.system{align-self:center;background:transparent;color:var(--hd-muted);font-size:13px;text-align:center;padding:2px}",
    ".who{margin:0 0 2px;font-size:12px;font-weight:600}",
    ".text{margin:0;white-space:pre-wrap}",
    ".meta{margin:3px 0 0;font-size:11.5px;text-align:right}", // full colour: faded, small text on the accent fell below AA contrast
    ".msg a{color:inherit;text-decoration:underline}",
    ".msg img{display:block;max-width:100%;max-height:180px;border-radius:6px;margin-top:4px}",
    ".typing{min-height:1.45em;margin:0;padding:0 14px;color:var(--hd-muted);font-size:13px}",
    "form{margin:0}",
    ".field{display:flex;flex-direction:column;gap:3px;margin:0 0 10px}",
    "label{font-weight:600;font-size:13px}",
    ".hint{font-weight:400;color:var(--hd-muted)}",
    "input[type=text],input[type=email],textarea{width:100%;border:1px solid #8c959f;border-radius:8px;padding:8px 10px;background:var(--hd-bg)}",
    "textarea{resize:none;min-height:40px;max-height:120px}",
    ".primary{border:0;border-radius:8px;padding:9px 14px;background:var(--hd-accent);color:var(--hd-on-accent);font-weight:600;cursor:pointer}",
    ".secondary{border:1px solid #8c959f;border-radius:8px;padding:8px 12px;background:transparent;cursor:pointer}",
    ".primary:disabled,.secondary:disabled{opacity:.55;cursor:default}",
    ".composer{display:flex;align-items:flex-end;gap:6px;padding:10px 12px;border-top:1px solid var(--hd-line)}",
    ".composer .icon-btn{color:var(--hd-muted);position:relative}",
    ".composer .icon-btn:hover{color:inherit}",
    ".file{position:absolute;width:1px;height:1px;opacity:0;overflow:hidden}",
    ".error{margin:0;padding:6px 14px;color:var(--hd-error);font-size:13px}",
    ".error:empty{display:none}",
    ".foot{display:flex;justify-content:space-between;align-items:center;padding:0 12px 8px;font-size:12px;color:var(--hd-muted)}",
    ".link-btn{border:0;background:none;padding:4px;color:var(--hd-link);text-decoration:underline;cursor:pointer;font-size:12.5px}",
    ".after{display:flex;flex-direction:column;gap:12px;padding:4px 0}",
    "fieldset{border:0;margin:0 0 8px;padding:0}",
    ".label{margin:0 0 4px;font-weight:600;font-size:13px}.earlier{margin:0 0 12px;padding-left:18px;color:var(--hd-muted);font-size:13px}",
    ".msg .link-btn{color:inherit;padding:0;font-size:inherit;text-align:left}",
    "legend{font-weight:600;margin-bottom:6px;padding:0}",
    ".stars{display:flex;gap:4px}",
    ".stars label{display:grid;place-items:center;width:40px;height:40px;border:1px solid #8c959f;border-radius:8px;cursor:pointer;font-size:18px}",
    ".stars input{position:absolute;opacity:0;width:1px;height:1px}",
    ".stars input:checked+label{background:var(--hd-accent);color:var(--hd-on-accent);border-color:var(--hd-accent)}",
    ".stars input:focus-visible+label{outline:3px solid var(--hd-link);outline-offset:2px}",
    ".sr{position:absolute!important;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0);white-space:nowrap}",
    "@media (prefers-reduced-motion:reduce){*{animation:none!important;transition:none!important}}",
    "@media (prefers-color-scheme:dark){:host{color:#e6edf3;--hd-bg:#161b22;--hd-soft:#21262d;--hd-line:#30363d;--hd-muted:#9da7b3;--hd-error:#ff8b7e;--hd-link:#79b8ff}",
    "input[type=text],input[type=email],textarea{border-color:#6e7681}.launcher:focus-visible{outline-color:#fff;box-shadow:0 0 0 5px #161b22}}",
    "@media (max-width:480px){:host{bottom:12px!important;right:12px!important}:host(.left){right:auto!important;left:12px!important}}"
  ].join("");

  function attachStyles(root) {
    try {
      var sheet = new CSSStyleSheet();
      sheet.replaceSync(CSS);
      root.adoptedStyleSheets = [sheet];
    } catch (e) {
      root.appendChild(h("style", { text: CSS })); // older browsers; needs style-src allowing it
    }
  }

  // --- the widget -------------------------------------------------------------------------
  function Widget(tag) {
    var ds = tag.dataset;
    this.origin = new URL(tag.src, location.href).origin;
    this.site = ds.site;
    this.lang = pickLanguage(ds.language);
    this.options = {
      colour: safeColour(ds.colour || ds.color),
      greeting: ds.greeting || "",
      position: ds.position === "left" ? "left" : "right",
      open: ds.open === "true"
    };
    this.identity = null;
    if (ds.customerId || ds.customerEmail) {
      this.identity = {
        id: ds.customerId || "", email: ds.customerEmail || "", name: ds.customerName || "",
        signature: ds.signature || ""
      };
    }
    this.storageKey = "helpdesk-chat:" + this.origin + ":" + this.site;
    this.token = store.get(this.storageKey);
    this.config = {};
    this.conversation = null; // {id, state, ...}
    this.lastSeq = 0;
    this.seen = {}; // seq -> element
    this.pending = []; // [{client_id, body, attachments, el}] until the server echoes them
    this.agentName = "";
    this.customerReadSeq = 0; // highest agent line we reported as read
    this.unread = 0;
    this.socket = null;
    this.attempts = 0;
    this.retryTimer = null;
    this.stopped = false;
    this.listeners = {};
    this.email = this.identity && this.identity.email ? this.identity.email : "";
  }

  Widget.prototype.t = function (key, vars) {
    var text = (WORDS[this.lang] && WORDS[this.lang][key]) || WORDS.en[key] || key;
    return text.replace(/\{(\w+)\}/g, function (_, name) {
      return vars && vars[name] != null ? String(vars[name]) : "";
    });
  };

  Widget.prototype.emit = function (event, detail) {
    (this.listeners[event] || []).slice().forEach(function (fn) {
      try { fn(detail); } catch (error) { report(error); }
    });
  };

  // --- building the UI --------------------------------------------------------------------
  Widget.prototype.build = function () {
    var self = this;
    var host = document.createElement("helpdesk-chat");
    if (this.options.position === "left") host.className = "left";
    if (this.options.colour) {
      // CSSOM, not a style attribute: allowed under a strict CSP.
      host.style.setProperty("--hd-accent", this.options.colour);
      host.style.setProperty("--hd-on-accent", textOn(this.options.colour));
      host.style.setProperty("--hd-link", accentOnWhite(this.options.colour));
    }
    var root = host.attachShadow({ mode: "open" }); // open: assistive tech and axe can see in
    attachStyles(root);
    this.host = host;
    this.root = root;
    var ui = (this.ui = {});

    ui.badge = h("span", { class: "badge", hidden: true, "aria-hidden": "true" });
    ui.launcher = h("button", {
      type: "button", class: "launcher", "aria-expanded": "false", "aria-controls": "hd-panel",
      onclick: function () { self.toggle(); }
    }, [icon(ICON_CHAT), h("span", { text: this.t("open") }), ui.badge]);

    ui.title = h("h2", { id: "hd-title", text: this.t("title") });
    ui.sub = h("p", { class: "sub", id: "hd-sub" });
    ui.close = h("button", {
      type: "button", class: "icon-btn", "aria-label": this.t("close"),
      onclick: function () { self.close(); }
    }, [icon(ICON_CLOSE)]);
    ui.notice = h("p", { class: "notice", role: "status", hidden: true });
    ui.greeting = h("p", { class: "greeting" });
    ui.log = h("div", { class: "log", role: "log", "aria-live": "polite", "aria-label": this.t("messages") });
    ui.prechat = this.buildPrechat();
    ui.after = h("div", { class: "after", hidden: true });
    ui.body = h("div", { class: "body", tabindex: "-1" }, [ui.greeting, ui.log, ui.prechat, ui.after]);
    ui.typing = h("p", { class: "typing", "aria-live": "polite" });
    ui.error = h("p", { class: "error", role: "alert" });
    ui.composer = this.buildComposer();
    ui.endButton = h("button", {
      type: "button", class: "link-btn", text: this.t("endChat"), hidden: true,
      onclick: function () { self.send({ type: "end" }); }
    });
    ui.status = h("span", { "aria-live": "polite" });
    ui.foot = h("div", { class: "foot" }, [ui.status, ui.endButton]);

    ui.panel = h("section", {
      class: "panel", id: "hd-panel", role: "dialog", "aria-labelledby": "hd-title",
      "aria-describedby": "hd-sub", hidden: true
    }, [
      // A div, not a <header>: on the shop's page that would be a second banner landmark.
      h("div", { class: "head" }, [h("div", { class: "titles" }, [ui.title, ui.sub]), ui.close]),
      ui.notice, ui.body, ui.typing, ui.error, ui.composer, ui.foot
    ]);
    ui.panel.addEventListener("keydown", guard(function (event) {
      if (event.key === "Escape") { event.stopPropagation(); self.close(); }
    }));
    root.appendChild(ui.panel);
    root.appendChild(ui.launcher);
    (document.body || document.documentElement).appendChild(host);
  };

  Widget.prototype.buildPrechat = function () {
    var self = this;
    var form = h("form", { class: "prechat", novalidate: true, hidden: true, "aria-labelledby": "hd-title" });
    form.addEventListener("submit", guard(function (event) {
      event.preventDefault();
      self.submitPrechat();
    }));
    this.prechatInputs = {};
    return form;
  };

  Widget.prototype.renderPrechat = function () {
    var self = this;
    var form = this.ui.prechat;
    // Rebuilt when the site's state changes: what the visitor typed stays.
    var typed = {};
    for (var key in this.prechatInputs) typed[key] = this.prechatInputs[key].value;
    if (this.prechatMessage) typed.message = this.prechatMessage.value;
    form.textContent = "";
    this.prechatInputs = {};
    if (this.earlier && this.earlier.length) {
      var list = h("ul", { class: "earlier", "aria-label": this.t("earlier") });
      this.earlier.slice(0, 5).forEach(function (chat) {
        var when = chat.created_at ? new Date(chat.created_at).toLocaleDateString(self.lang) : "";
        var text = [chat.reference, chat.subject, when].filter(Boolean).join(" · ") + (chat.rating ? " · " + "★".repeat(chat.rating) : "");
        list.appendChild(h("li", { text: text }));
      });
      form.appendChild(h("p", { class: "label", text: this.t("earlier") }));
      form.appendChild(list);
    }
    var fields = this.config.prechat_fields || ["name", "email"];
    var offline = this.isOffline();
    if (offline && fields.indexOf("email") < 0) fields = fields.concat(["email"]); // where the answer goes
    fields.forEach(function (name) {
      if (["name", "email", "topic", "order"].indexOf(name) < 0) return;
      if (self.identity && self.identity.signature && (name === "name" || name === "email")) return;
      // The site's fields are required, except the order reference (chat-protocol.md).
      var required = name !== "order";
      var id = "hd-f-" + name;
      var label = h("label", { for: id }, [self.t(name)]);
      if (!required) label.appendChild(h("span", { class: "hint", text: " (" + self.t("optional") + ")" }));
      var input = h("input", {
        id: id, name: name, type: name === "email" ? "email" : "text", required: required,
        autocomplete: name === "email" ? "email" : name === "name" ? "name" : "off",
        maxlength: name === "order" ? "100" : "200"
      });
      if (name === "email" && self.email) input.value = self.email;
      if (typed[name]) input.value = typed[name];
      self.prechatInputs[name] = input;
      form.appendChild(h("div", { class: "field" }, [label, input]));
    });
    var messageId = "hd-f-message";
    this.prechatMessage = h("textarea", { id: messageId, name: "message", rows: "3", required: true, maxlength: "5000" });
    if (typed.message) this.prechatMessage.value = typed.message;
    form.appendChild(h("div", { class: "field" }, [h("label", { for: messageId, text: this.t("question") }), this.prechatMessage]));
    form.appendChild(h("button", { type: "submit", class: "primary", text: offline ? this.t("leave") : this.t("start") }));
  };

  Widget.prototype.buildComposer = function () {
    var self = this;
    this.textarea = h("textarea", { id: "hd-msg", rows: "1", maxlength: "5000", "aria-label": this.t("message") });
    this.textarea.addEventListener("keydown", guard(function (event) {
      if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
        event.preventDefault();
        self.sendText();
      }
    }));
    this.textarea.addEventListener("input", guard(function () { self.typed(); }));
    this.fileInput = h("input", { type: "file", class: "file", id: "hd-file", tabindex: "-1", "aria-hidden": "true" });
    this.fileInput.addEventListener("change", guard(function () {
      var files = Array.prototype.slice.call(self.fileInput.files || []);
      self.fileInput.value = "";
      files.forEach(function (file) { self.upload(file); });
    }));
    var attach = h("button", {
      type: "button", class: "icon-btn", "aria-label": this.t("attach"),
      onclick: function () { self.fileInput.click(); }
    }, [icon(ICON_CLIP)]);
    var form = h("form", { class: "composer", hidden: true }, [
      attach, this.fileInput, this.textarea, h("button", { type: "submit", class: "primary", text: this.t("send") })
    ]);
    form.addEventListener("submit", guard(function (event) {
      event.preventDefault();
      self.sendText();
    }));
    return form;
  };

  // --- opening and closing ----------------------------------------------------------------
  Widget.prototype.isOpen = function () { return !this.ui.panel.hidden; };

  Widget.prototype.open = function () {
    if (this.isOpen()) return;
    this.ui.panel.hidden = false;
    this.ui.launcher.hidden = true;
    this.ui.launcher.setAttribute("aria-expanded", "true");
    this.unread = 0;
    this.paintUnread();
    this.markRead();
    this.focusFirst();
    this.scrollDown();
    this.emit("open");
  };

  Widget.prototype.close = function () {
    if (!this.isOpen()) return;
    this.ui.panel.hidden = true;
    this.ui.launcher.hidden = false;
    this.ui.launcher.setAttribute("aria-expanded", "false");
    this.ui.launcher.focus();
    this.emit("close");
  };

  Widget.prototype.toggle = function () { if (this.isOpen()) this.close(); else this.open(); };

  Widget.prototype.focusFirst = function () {
    var target = null;
    if (!this.ui.prechat.hidden) target = this.ui.prechat.querySelector("input,textarea");
    else if (!this.ui.composer.hidden) target = this.textarea;
    else target = this.ui.after.querySelector("input,button") || this.ui.close;
    if (target) target.focus();
  };

  Widget.prototype.paintUnread = function () {
    var n = this.unread;
    this.ui.badge.hidden = n === 0;
    this.ui.badge.textContent = n > 9 ? "9+" : String(n);
    var label = this.t("open") + (n ? " (" + this.t("unread", { n: n }) + ")" : "");
    this.ui.launcher.setAttribute("aria-label", label);
  };

  Widget.prototype.scrollDown = function () {
    var body = this.ui.body;
    body.scrollTop = body.scrollHeight;
  };

  // --- the server over HTTP ---------------------------------------------------------------
  Widget.prototype.url = function (path) {
    return this.origin + path + (path.indexOf("?") < 0 ? "?" : "&") + "site=" + encodeURIComponent(this.site);
  };

  Widget.prototype.http = function (path, body, isForm) {
    var init = { method: "POST", mode: "cors", credentials: "omit", body: isForm ? body : JSON.stringify(body) };
    init.headers = isForm ? { "X-Chat-Token": this.token || "" } : { "Content-Type": "application/json" };
    return fetch(this.url(path), init).then(function (response) {
      return response.text().then(function (text) {
        var data = {};
        try { data = text ? JSON.parse(text) : {}; } catch (e) { data = {}; }
        if (!response.ok) {
          var error = new Error(firstMessage(data) || "HTTP " + response.status);
          error.status = response.status;
          error.data = data;
          throw error;
        }
        return data;
      });
    });
  };

  function firstMessage(data) {
    if (!data || typeof data !== "object") return "";
    if (typeof data.message === "string") return data.message;
    if (typeof data.detail === "string") return data.detail;
    for (var key in data) {
      var value = data[key];
      if (Array.isArray(value) && typeof value[0] === "string") return value[0];
      if (typeof value === "string") return value;
    }
    return "";
  }

  Widget.prototype.startSession = function () {
    var self = this;
    var body = { site: this.site, page: location.href };
    if (this.token) body.token = this.token;
    if (this.identity) body.identity = this.identity;
    return this.http("/chat/widget/session/", body).then(function (data) {
      self.applySession(data);
    }, function (error) {
      if ((error.status === 401 || (error.status === 403 && error.data && error.data.token)) && self.token) {
        // Expired or from an old secret: start afresh as a new visitor.
        self.token = null;
        store.remove(self.storageKey);
        return self.startSession();
      }
      self.showUnavailable(error);
    });
  };

  Widget.prototype.applySession = function (data) {
    if (data.token) {
      this.token = data.token;
      store.set(this.storageKey, data.token);
    }
    this.config = data.site || data.config || {};
    if (!this.options.colour && safeColour(this.config.colour)) {
      var colour = safeColour(this.config.colour);
      this.host.style.setProperty("--hd-accent", colour);
      this.host.style.setProperty("--hd-on-accent", textOn(colour));
      this.host.style.setProperty("--hd-link", accentOnWhite(colour));
    }
    if (this.config.name) this.ui.title.textContent = this.config.name;
    this.ui.greeting.textContent = this.options.greeting || this.config.greeting || "";
    this.earlier = data.earlier_conversations || [];
    this.resetLog();
    this.setConversation(data.conversation || null);
    var self = this;
    (data.lines || []).forEach(function (line) { self.addLine(line); });
    this.render();
    this.connect();
    this.emit("ready", { conversation: this.conversation ? this.conversation.id : null });
  };

  Widget.prototype.showUnavailable = function (error) {
    this.stopped = true;
    var text = error && error.status === 403 && /identity/i.test(String(error.message))
      ? this.t("needIdentity") : this.t("unavailable");
    if (error && error.data && error.data.identity) text = this.t("needIdentity");
    this.ui.prechat.hidden = true;
    this.ui.composer.hidden = true;
    this.setNotice(text);
    report(error);
  };

  Widget.prototype.setConversation = function (conversation) {
    this.conversation = conversation;
    if (!conversation) return;
    if (conversation.agent_name) this.agentName = conversation.agent_name;
    if (conversation.promised_by || conversation.promise || conversation.position) {
      this.queue = Object.assign(this.queue || {}, {
        promised_by: conversation.promised_by, promise: conversation.promise, position: conversation.position || null
      });
    }
  };

  Widget.prototype.resetLog = function () {
    this.seen = {};
    this.lastSeq = 0;
    this.customerReadSeq = 0;
    var keep = this.pending.map(function (item) { return item.el; });
    var log = this.ui.log;
    Array.prototype.slice.call(log.children).forEach(function (el) { if (keep.indexOf(el) < 0) el.remove(); });
  };

  Widget.prototype.isOffline = function () {
    var c = this.config;
    return c.open_now === false || c.is_open === false || c.agents_online === false;
  };

  // --- what the panel shows ---------------------------------------------------------------
  Widget.prototype.render = function () {
    var conv = this.conversation;
    var state = conv ? conv.state : null;
    var live = state === "waiting" || state === "offered" || state === "active";
    this.ui.prechat.hidden = !!conv;
    if (!conv) this.renderPrechat();
    // A missed chat (it became a ticket) still takes follow-ups, as ticket messages.
    this.ui.composer.hidden = !(live || state === "missed");
    this.ui.endButton.hidden = !live;
    this.ui.after.hidden = state !== "ended";
    if (!this.ui.after.hidden) this.renderAfter();
    this.ui.sub.textContent = state === "active" && this.agentName ? this.t("with", { name: this.agentName })
      : this.isOffline() && !live ? this.t("offlineSub") : this.t("liveSub");
    this.renderNotice();
  };

  Widget.prototype.setNotice = function (text) {
    this.ui.notice.hidden = !text;
    this.ui.notice.textContent = text || "";
  };

  Widget.prototype.when = function (iso) {
    var date = new Date(iso);
    if (isNaN(date.getTime())) return "";
    var now = new Date();
    var time = date.toLocaleTimeString(this.lang, { hour: "2-digit", minute: "2-digit" });
    if (date.toDateString() === now.toDateString()) return time;
    return date.toLocaleDateString(this.lang, { weekday: "long" }) + " " + time;
  };

  Widget.prototype.ordinal = function (n) {
    if (this.lang !== "en") return String(n);
    var rule = new Intl.PluralRules("en", { type: "ordinal" }).select(n);
    return n + ({ one: "st", two: "nd", few: "rd" }[rule] || "th");
  };

  Widget.prototype.renderNotice = function () {
    var conv = this.conversation;
    var state = conv ? conv.state : null;
    var c = this.config;
    if (!this.socketUp && this.everConnected && !this.stopped) return this.setNotice(this.t("reconnecting"));
    if (state === "waiting" || state === "offered") return this.setNotice(this.queueText());
    if (state === "missed") {
      var ref = conv.reference || "";
      if (ref) return this.setNotice(this.t(this.email ? "ticketMade" : "ticketMadeNoEmail", { ref: ref, email: this.email }));
      return this.setNotice(this.email ? this.t("ticket", { email: this.email }) : this.t("ticketNoEmail"));
    }
    if (!conv && this.isOffline()) {
      var parts = [c.open_now === false || c.is_open === false ? this.t("closed") : this.t("noAgents")];
      if (c.next_opening) parts.push(this.t("reopens", { time: this.when(c.next_opening) }));
      var promised = c.promised_by || (c.promise && c.promise.due_at);
      if (promised) parts.push(this.t("expect", { time: this.when(promised) }));
      parts.push(this.email ? this.t("ticket", { email: this.email }) : this.t("ticketNoEmail"));
      return this.setNotice(parts.join(" "));
    }
    this.setNotice("");
  };

  // "You are 2nd in line — we promise a reply by 14:20, Gold priority"
  Widget.prototype.queueText = function () {
    var q = this.queue || {};
    var conv = this.conversation || {};
    var position = q.position != null ? q.position : conv.queue_position;
    var by = q.promised_by || conv.promised_by;
    var reason = q.promise || conv.promise || ""; // "Gold priority" (the SLA policy's reason)
    var text = position === 1 ? this.t("queueNext")
      : position ? this.t("queue", { pos: this.ordinal(position) }) : this.t("waiting");
    if (by && this.when(by)) {
      text += " — " + this.t("promise", { time: this.when(by) });
      if (reason) text += ", " + reason;
    }
    return text;
  };

  Widget.prototype.renderAfter = function () {
    var self = this;
    var after = this.ui.after;
    if (after.dataset.built === String(this.conversation.id)) return;
    after.dataset.built = String(this.conversation.id);
    after.textContent = "";

    if (this.conversation.state === "ended" && !this.conversation.rating) {
      var stars = h("div", { class: "stars" });
      for (var n = 1; n <= 5; n++) {
        var id = "hd-star-" + n;
        stars.appendChild(h("input", { type: "radio", name: "score", value: String(n), id: id, required: true }));
        stars.appendChild(h("label", { for: id, title: this.t("stars", { n: n }) }, [
          h("span", { "aria-hidden": "true", text: "★" }), h("span", { class: "sr", text: this.t("stars", { n: n }) })
        ]));
      }
      var commentId = "hd-rate-comment";
      var rating = h("form", { class: "rating" }, [
        h("fieldset", null, [h("legend", { text: this.t("rateLegend") }), stars]),
        h("div", { class: "field" }, [
          h("label", { for: commentId, text: this.t("comment") }),
          h("textarea", { id: commentId, name: "comment", rows: "2", maxlength: "2000" })
        ]),
        h("button", { type: "submit", class: "primary", text: this.t("rate") })
      ]);
      rating.addEventListener("submit", guard(function (event) {
        event.preventDefault();
        var chosen = rating.querySelector("input[name=score]:checked");
        if (!chosen) { self.showError(self.t("required", { field: self.t("rateLegend") })); return; }
        self.send({ type: "rating", score: Number(chosen.value), comment: rating.querySelector("textarea").value });
        rating.replaceWith(h("p", { class: "greeting", tabindex: "-1", text: self.t("thanks") }));
        self.conversation.rating = Number(chosen.value);
      }));
      after.appendChild(rating);
    }

    var emailId = "hd-transcript-email";
    var emailInput = h("input", { id: emailId, type: "email", autocomplete: "email", required: true });
    emailInput.value = this.email || "";
    var transcript = h("form", { class: "transcript" }, [
      h("div", { class: "field" }, [h("label", { for: emailId, text: this.t("transcriptEmail") }), emailInput]),
      h("button", { type: "submit", class: "secondary", text: this.t("transcript") })
    ]);
    transcript.addEventListener("submit", guard(function (event) {
      event.preventDefault();
      var email = emailInput.value.trim();
      if (!/^[^@\s]+@[^@\s]+\.[^@\s]+$/.test(email)) { self.showError(self.t("badEmail")); emailInput.focus(); return; }
      self.send({ type: "transcript", email: email });
      var done = h("p", { class: "greeting", tabindex: "-1", text: self.t("transcriptSent", { email: email }) });
      transcript.replaceWith(done);
      done.focus();
    }));
    after.appendChild(transcript);
    after.appendChild(h("button", {
      type: "button", class: "secondary", text: this.t("newChat"),
      onclick: function () { self.newChat(); }
    }));
  };

  Widget.prototype.newChat = function () {
    this.conversation = null;
    this.queue = null;
    this.agentName = "";
    this.resetLog();
    this.ui.after.dataset.built = "";
    this.render();
    this.focusFirst();
  };

  Widget.prototype.showError = function (text) {
    this.ui.error.textContent = text || "";
  };

  // --- lines ------------------------------------------------------------------------------
  Widget.prototype.lineElement = function (line) {
    var sender = line.sender === "customer" || line.sender === "agent" ? line.sender : "system";
    var el = h("div", { class: "msg " + sender });
    if (sender === "agent") el.appendChild(h("p", { class: "who", text: line.author_name || this.agentName || this.t("agentDefault") }));
    if (sender === "customer") el.appendChild(h("p", { class: "sr", text: this.t("you") + ":" }));
    el.appendChild(h("p", { class: "text", text: line.body || "" }));
    var self = this;
    (line.attachments || []).forEach(function (file) { el.appendChild(self.attachmentElement(file)); });
    if (sender !== "system") {
      var time = line.created_at ? new Date(line.created_at) : new Date();
      var meta = h("p", { class: "meta" }, [h("time", {
        datetime: time.toISOString(), text: time.toLocaleTimeString(this.lang, { hour: "2-digit", minute: "2-digit" })
      })]);
      if (sender === "customer") {
        el.stateEl = h("span", { class: "state" });
        meta.appendChild(document.createTextNode(" · "));
        meta.appendChild(el.stateEl);
      }
      el.appendChild(meta);
    }
    return el;
  };

  // Files are never public: fetched with the visitor's token, shown from a blob: URL.
  Widget.prototype.attachmentElement = function (file) {
    var self = this;
    var name = String(file.filename || file.name || "file");
    var label = name + (file.size ? " (" + Math.max(1, Math.round(file.size / 1024)) + " KB)" : "");
    var path = typeof file.url === "string" && file.url.charAt(0) === "/" && file.url.charAt(1) !== "/" ? file.url : null;
    if (!path) return h("p", { class: "text file", text: label });
    var wrap = h("p", { class: "text file" }, [h("button", {
      type: "button", class: "link-btn", text: label, "aria-label": this.t("download", { file: name }),
      onclick: function () { self.download(path, name); }
    })]);
    if (/^image\//.test(file.content_type || "")) {
      var img = h("img", { alt: name });
      wrap.insertBefore(img, wrap.firstChild);
      img.addEventListener("load", guard(function () { self.scrollDown(); }));
      this.fetchBlob(path).then(function (blob) { img.src = URL.createObjectURL(blob); }, function () { img.remove(); });
    }
    return wrap;
  };

  Widget.prototype.fetchBlob = function (path) {
    return fetch(this.url(path), { mode: "cors", credentials: "omit", headers: { "X-Chat-Token": this.token || "" } })
      .then(function (response) {
        if (!response.ok) throw new Error("HTTP " + response.status);
        return response.blob();
      });
  };

  Widget.prototype.download = function (path, name) {
    var self = this;
    this.fetchBlob(path).then(function (blob) {
      var link = h("a", { href: URL.createObjectURL(blob), download: name, hidden: true });
      self.root.appendChild(link);
      link.click();
      link.remove();
    }, function (error) {
      self.showError(self.t("uploadFailed", { file: name, why: error.message }));
    });
  };

  Widget.prototype.setLineState = function (el, state) {
    if (!el || !el.stateEl) return;
    el.dataset.state = state;
    el.stateEl.textContent = this.t(state);
  };

  // A line from the server: shown once (by seq), matched to our pending copy by client_id.
  Widget.prototype.addLine = function (line) {
    if (!line || typeof line.seq !== "number") return false;
    if (this.seen[line.seq]) return false;
    var el = null;
    if (line.client_id) {
      for (var i = 0; i < this.pending.length; i++) {
        if (this.pending[i].client_id === line.client_id) {
          el = this.pending[i].el;
          this.pending.splice(i, 1);
          break;
        }
      }
    }
    var fresh = this.lineElement(line);
    if (el) el.replaceWith(fresh);
    else this.insertInOrder(fresh, line.seq);
    fresh.dataset.seq = String(line.seq);
    this.seen[line.seq] = fresh;
    this.lastSeq = Math.max(this.lastSeq, line.seq);
    if (line.sender === "customer") {
      var readUpTo = this.conversation && this.conversation.agent_read_seq;
      this.setLineState(fresh, readUpTo && readUpTo >= line.seq ? "read" : "delivered");
    }
    if (line.sender === "agent") {
      if (line.author_name) this.agentName = line.author_name;
      this.setTyping(false);
      if (!this.isOpen() || document.hidden) { this.unread += 1; this.paintUnread(); }
    }
    return true;
  };

  Widget.prototype.insertInOrder = function (el, seq) {
    el.dataset.seq = String(seq);
    var log = this.ui.log;
    // Lines normally arrive in order; a replay after a reconnect may fill a gap.
    var node = log.firstChild;
    while (node && !(node.dataset.seq && Number(node.dataset.seq) > seq) && !(node.dataset.pending)) node = node.nextSibling;
    log.insertBefore(el, node);
  };

  Widget.prototype.markRead = function () {
    if (!this.conversation || !this.isOpen() || document.hidden) return;
    var highest = 0;
    for (var seq in this.seen) if (this.seen[seq].classList.contains("agent")) highest = Math.max(highest, Number(seq));
    if (highest > this.customerReadSeq) {
      this.customerReadSeq = highest;
      this.send({ type: "read", seq: highest });
    }
  };

  // --- writing ----------------------------------------------------------------------------
  Widget.prototype.typed = function () {
    var self = this;
    this.showError("");
    if (!this.conversation) return;
    if (!this.typingSent) {
      this.typingSent = true;
      this.send({ type: "typing", typing: true });
    }
    clearTimeout(this.typingTimer);
    this.typingTimer = setTimeout(guard(function () { self.stopTyping(); }), 3000);
  };

  Widget.prototype.stopTyping = function () {
    clearTimeout(this.typingTimer);
    if (this.typingSent) {
      this.typingSent = false;
      this.send({ type: "typing", typing: false });
    }
  };

  Widget.prototype.sendText = function () {
    var body = this.textarea.value.trim();
    if (!body) return;
    this.textarea.value = "";
    this.stopTyping();
    this.queueMessage(body, []);
  };

  // Kept in memory until the server echoes it (by client_id); resent on every reconnect.
  Widget.prototype.queueMessage = function (body, attachments, shown) {
    var item = { client_id: uuid(), body: body, attachments: attachments };
    item.el = this.lineElement({ sender: "customer", body: body, attachments: shown || [] });
    item.el.dataset.pending = "1";
    this.ui.log.appendChild(item.el);
    this.setLineState(item.el, "sending");
    this.pending.push(item);
    this.scrollDown();
    this.transmit(item);
  };

  Widget.prototype.transmit = function (item) {
    if (item.upload) return;
    var frame = { type: "message.send", client_id: item.client_id, body: item.body };
    if (item.attachments.length) frame.attachments = item.attachments;
    if (!this.sendNow(frame)) this.setLineState(item.el, "failed");
  };

  Widget.prototype.sendNow = function (frame) {
    if (this.socket && this.socket.readyState === 1) {
      this.socket.send(JSON.stringify(frame));
      return true;
    }
    return false;
  };

  // Control frames (typing, read, rating...) are only worth sending live; messages go through
  // queueMessage, which keeps them.
  Widget.prototype.send = function (frame) {
    if (!this.sendNow(frame) && (frame.type === "end" || frame.type === "rating" || frame.type === "transcript")) {
      (this.outbox = this.outbox || []).push(frame);
    }
  };

  Widget.prototype.upload = function (file) {
    var self = this;
    var limit = this.config.attachment_max_bytes || 10 * 1024 * 1024;
    var types = this.config.attachment_types;
    if (file.size > limit) {
      this.showError(this.t("tooBig", { file: file.name, mb: Math.round(limit / 1048576) }));
      return;
    }
    if (Array.isArray(types) && types.length && types.indexOf(file.type) < 0) {
      this.showError(this.t("badType", { file: file.name }));
      return;
    }
    var item = { client_id: uuid(), body: "", attachments: [], upload: true };
    item.el = this.lineElement({ sender: "customer", body: "", attachments: [{ filename: file.name, size: file.size }] });
    item.el.dataset.pending = "1";
    this.ui.log.appendChild(item.el);
    this.setLineState(item.el, "sending");
    this.pending.push(item);
    this.scrollDown();
    var form = new FormData();
    form.append("file", file, file.name);
    form.append("client_id", item.client_id);
    if (this.starting) form.append("prechat", JSON.stringify(this.starting.prechat));
    this.ui.status.textContent = this.t("uploading", { file: file.name });
    this.http("/chat/widget/attachments/", form, true).then(function (line) {
      self.ui.status.textContent = "";
      if (self.conversation && !self.conversation.id && line.conversation) self.conversation.id = line.conversation;
      self.addLine(line);
      self.scrollDown();
    }, function (error) {
      self.ui.status.textContent = "";
      self.dropPending(item.client_id);
      self.showError(self.t("uploadFailed", { file: file.name, why: error.message }));
    });
  };

  Widget.prototype.submitPrechat = function () {
    var prechat = {};
    var inputs = this.prechatInputs;
    for (var name in inputs) {
      var value = inputs[name].value.trim();
      if (inputs[name].required && !value) {
        this.showError(this.t("required", { field: this.t(name) }));
        inputs[name].setAttribute("aria-invalid", "true");
        inputs[name].focus();
        return;
      }
      if (name === "email" && value && !/^[^@\s]+@[^@\s]+\.[^@\s]+$/.test(value)) {
        this.showError(this.t("badEmail"));
        inputs[name].setAttribute("aria-invalid", "true");
        inputs[name].focus();
        return;
      }
      inputs[name].removeAttribute("aria-invalid");
      if (value) prechat[name] = value;
    }
    if (this.identity && this.identity.signature) {
      if (this.identity.email) prechat.email = this.identity.email;
      if (this.identity.name) prechat.name = this.identity.name;
    }
    var message = this.prechatMessage.value.trim();
    if (!message) {
      this.showError(this.t("required", { field: this.t("question") }));
      this.prechatMessage.focus();
      return;
    }
    if (prechat.email) this.email = prechat.email;
    this.showError("");
    this.starting = { prechat: prechat, message: message };
    // The first message.send, with the answers, starts the conversation (chat-protocol.md).
    this.conversation = { id: null, state: "waiting" };
    this.render();
    this.textarea.focus();
    this.sendStart();
  };

  Widget.prototype.sendStart = function () {
    if (!this.starting) return;
    var item = this.starting.item;
    if (!item) {
      item = this.starting.item = { client_id: uuid(), body: this.starting.message, attachments: [] };
      item.el = this.lineElement({ sender: "customer", body: item.body });
      item.el.dataset.pending = "1";
      this.ui.log.appendChild(item.el);
      this.setLineState(item.el, "sending");
      this.pending.push(item);
    }
    if (!this.sendNow({ type: "message.send", prechat: this.starting.prechat, client_id: item.client_id, body: item.body })) {
      this.setLineState(item.el, "failed");
    }
  };

  // --- the socket -------------------------------------------------------------------------
  Widget.prototype.connect = function () {
    var self = this;
    if (this.stopped || !this.token) return;
    clearTimeout(this.retryTimer);
    var url = this.origin.replace(/^http/, "ws") + "/ws/chat/visitor/?site=" +
      encodeURIComponent(this.site) + "&token=" + encodeURIComponent(this.token);
    var socket;
    try {
      socket = new WebSocket(url);
    } catch (error) {
      report(error);
      return this.retry();
    }
    this.socket = socket;
    socket.onopen = guard(function () {
      self.attempts = 0;
      self.socketUp = true;
      self.everConnected = true;
      // A first message may have been stored just before a drop: resume finds it either way.
      if (self.conversation) socket.send(JSON.stringify({ type: "resume", last_seq: self.lastSeq }));
      if (self.starting && !(self.conversation && self.conversation.id)) self.sendStart();
      self.pending.forEach(function (item) { if (!self.starting || item !== self.starting.item) self.transmit(item); });
      var outbox = self.outbox || [];
      self.outbox = [];
      outbox.forEach(function (frame) { self.send(frame); });
      self.pending.forEach(function (item) { self.setLineState(item.el, "sending"); });
      self.ui.status.textContent = "";
      self.renderNotice();
      self.markRead();
    });
    socket.onmessage = guard(function (event) {
      var frame;
      try { frame = JSON.parse(event.data); } catch (e) { return; }
      if (frame && typeof frame.type === "string") self.receive(frame);
    });
    socket.onclose = guard(function (event) {
      if (self.socket !== socket) return;
      self.socket = null;
      self.socketUp = false;
      self.pending.forEach(function (item) { self.setLineState(item.el, "failed"); });
      if (event.code === 4401) {
        // The token is no longer valid: a fresh session (a new visitor) is the only way on.
        self.token = null;
        store.remove(self.storageKey);
        self.startSession();
        return;
      }
      if (event.code === 4403) return self.showUnavailable(new Error("refused (4403)"));
      self.renderNotice();
      self.retry(event.code === 4429 ? 10000 : 0);
    });
  };

  Widget.prototype.retry = function (atLeast) {
    var self = this;
    if (this.stopped) return;
    this.attempts += 1;
    // Exponential back-off with full jitter, 0.5 s .. 30 s.
    var ceiling = Math.min(30000, 500 * Math.pow(2, this.attempts - 1));
    var delay = Math.max(atLeast || 0, 250 + Math.random() * ceiling);
    clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(guard(function () { self.connect(); }), delay);
  };

  Widget.prototype.reconnectSoon = function () {
    if (!this.socket && !this.stopped && this.token) {
      this.attempts = 0;
      this.connect();
    }
  };

  Widget.prototype.receive = function (frame) {
    var self = this;
    var conv = this.conversation;
    if (conv && conv.id && typeof frame.conversation === "number" && frame.conversation !== conv.id &&
        frame.type !== "session.resumed") return; // an older chat's late frame
    switch (frame.type) {
      case "session.resumed":
        if (conv && conv.id && conv.id !== frame.conversation) this.resetLog(); // a new chat
        this.setConversation(Object.assign(conv || {}, {
          id: frame.conversation, reference: frame.reference, state: frame.state, last_seq: frame.last_seq,
          agent_name: frame.agent_name, agent_read_seq: frame.agent_read_seq, promise: frame.promise,
          promised_by: frame.promised_by
        }));
        if (frame.position) this.queue = Object.assign(this.queue || {}, { position: frame.position });
        this.starting = null; // the conversation exists: unsent lines now go as plain messages
        if (frame.more) {
          clearTimeout(this.moreTimer); // replays come in pages of 500: ask for the next one
          this.moreTimer = setTimeout(guard(function () { self.send({ type: "resume", last_seq: self.lastSeq }); }), 300);
        }
        this.render();
        break;
      case "message.posted":
        if (conv && !conv.id && frame.conversation) conv.id = frame.conversation;
        if (this.addLine(frame)) {
          this.scrollDown();
          this.markRead();
          this.emit("message", { seq: frame.seq, sender: frame.sender, body: frame.body });
        }
        break;
      case "typing.changed":
        if (frame.sender === "agent") this.setTyping(!!frame.typing, frame.name);
        break;
      case "read.updated":
        if (frame.reader === "agent" && conv) {
          conv.agent_read_seq = Math.max(conv.agent_read_seq || 0, frame.seq);
          for (var seq in this.seen) {
            if (Number(seq) <= frame.seq && this.seen[seq].classList.contains("customer")) this.setLineState(this.seen[seq], "read");
          }
        }
        break;
      case "queue.updated":
        this.queue = frame;
        this.renderNotice();
        break;
      case "conversation.accepted":
        if (frame.agent_name) this.agentName = frame.agent_name;
        if (conv) conv.state = "active";
        this.render();
        break;
      case "conversation.missed": // nobody could take it: it is a ticket, answered by email
        if (conv) conv.state = "missed";
        this.queue = null;
        this.render();
        break;
      case "conversation.requeued":
        if (conv) conv.state = "waiting";
        this.agentName = "";
        this.render();
        break;
      case "conversation.ended":
        if (conv) conv.state = "ended";
        this.setTyping(false);
        this.render();
        if (this.isOpen()) this.focusFirst();
        this.emit("ended", { conversation: conv ? conv.id : null, state: "ended" });
        break;
      case "transcript.queued":
        this.showError("");
        break;
      case "error":
        if (frame.code === "no_conversation") break; // a resume before the first message landed
        if (this.starting && conv && !conv.id && frame.code === "invalid") this.failStart(frame);
        this.showError(frame.message || frame.code || "");
        break;
    }
  };

  // The first message was refused (a pre-chat answer, identity): back to the form, the field
  // marked, nothing typed lost.
  Widget.prototype.failStart = function (frame) {
    var item = this.starting.item;
    if (item) this.dropPending(item.client_id);
    this.starting = null;
    this.conversation = null;
    this.render();
    var name = String(frame.field || "").replace(/^prechat\./, "");
    var input = this.prechatInputs[name] || (name === "body" ? this.prechatMessage : null);
    if (input) {
      input.setAttribute("aria-invalid", "true");
      input.focus();
    }
  };

  // A message the server refused for good (too long, not allowed): not resent forever.
  Widget.prototype.dropPending = function (clientId) {
    for (var i = 0; i < this.pending.length; i++) {
      if (this.pending[i].client_id === clientId) {
        this.pending[i].el.remove();
        this.pending.splice(i, 1);
        return;
      }
    }
  };

  Widget.prototype.setTyping = function (on, name) {
    var self = this;
    clearTimeout(this.typingShownTimer);
    this.ui.typing.textContent = on ? this.t("typing", { name: name || this.agentName || this.t("agentDefault") }) : "";
    // A typing "true" whose "false" got lost must not say so forever.
    if (on) this.typingShownTimer = setTimeout(guard(function () { self.ui.typing.textContent = ""; }), 8000);
  };

  // --- start ------------------------------------------------------------------------------
  Widget.prototype.start = function () {
    var self = this;
    this.build();
    this.paintUnread();
    this.renderPrechat();
    this.ui.prechat.hidden = false;
    window.addEventListener("online", guard(function () { self.reconnectSoon(); }));
    document.addEventListener("visibilitychange", guard(function () {
      if (!document.hidden) { self.reconnectSoon(); self.markRead(); }
    }));
    this.startSession();
    if (this.options.open) this.open();
  };

  Widget.prototype.identify = function (identity) {
    if (!identity || typeof identity !== "object") return;
    this.identity = {
      id: String(identity.id || ""), email: String(identity.email || ""),
      name: String(identity.name || ""), signature: String(identity.signature || "")
    };
    if (this.identity.email) this.email = this.identity.email;
    if (this.host) {
      if (this.socket) { var s = this.socket; this.socket = null; s.close(); }
      this.stopped = false;
      this.startSession();
    }
  };

  // --- the one global ---------------------------------------------------------------------
  var widget = null;
  var api = {
    version: VERSION,
    open: guard(function () { if (widget) widget.open(); }),
    close: guard(function () { if (widget) widget.close(); }),
    identify: guard(function (identity) { if (widget) widget.identify(identity); }),
    on: guard(function (event, fn) {
      if (!widget || typeof fn !== "function") return;
      (widget.listeners[event] = widget.listeners[event] || []).push(fn);
    }),
    off: guard(function (event, fn) {
      if (!widget) return;
      var list = widget.listeners[event] || [];
      var i = list.indexOf(fn);
      if (i >= 0) list.splice(i, 1);
    }),
    // Calls queued before the script loaded (HelpdeskChat.push(["identify", {...}])) run now;
    // after load push() runs them at once.
    push: guard(function (call) {
      if (Array.isArray(call) && typeof api[call[0]] === "function" && call[0] !== "push") api[call[0]].apply(api, call.slice(1));
    })
  };

  guard(function () {
    var tag = findOwnTag();
    if (!tag || !tag.dataset.site) throw new Error("no <script data-site> tag found");
    if (!("attachShadow" in Element.prototype) || !window.WebSocket || !window.fetch) return; // too old: stay out of the way
    widget = new Widget(tag);
    Object.defineProperty(window, NS, { value: Object.freeze(api), configurable: true, writable: false });
    queuedCalls.forEach(function (call) {
      if (Array.isArray(call) && call[0] === "identify") widget.identify(call[1]);
    });
    var begin = guard(function () {
      widget.start();
      queuedCalls.forEach(function (call) { if (Array.isArray(call) && call[0] !== "identify") api.push(call); });
    });
    if (document.body) begin();
    else document.addEventListener("DOMContentLoaded", begin);
  })();
})();
