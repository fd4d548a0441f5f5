/*!
 * Clinic chat widget: a launcher button and a chat panel that talk to the clinic assistant over
 * Socket.IO, using Rasa's socket.io channel protocol (so the server also works with rasa-webchat).
 *
 * Embed:  <script src="https://clinic-bot.example/widget.js" data-title="Northfield Hair Clinic" defer></script>
 * The server serves /widget.js as the vendored socket.io client followed by this file, so the global
 * `io` exists. Plain ES5-compatible JavaScript, no build step, no innerHTML: every piece of server
 * text goes through textContent (server text is untrusted).
 *
 * Events (path /socket.io, transports websocket then polling):
 *   client -> server  session_request {session_id: string|null, client: "clinic-widget"}  on every (re)connect
 *   server -> client  session_confirm "<id>" (or {session_id: "<id>"})  always adopted
 *   client -> server  user_uttered    {message: string, session_id: string}
 *   server -> client  clinic_message  {text?, quick_replies?: [{content_type, title, payload}],
 *                                       author: "bot"|"staff"|"system", time?: "HH:MM" (clinic time)}
 *   server -> client  bot_uttered     Rasa's own reply event (a plain Rasa server sends only this)
 *   server -> client  handoff         {owner: "staff"|"bot", notice?: string}
 *   server -> client  typing          {who: "staff"}  a member of the team is writing (shown a few seconds)
 *   client -> server  history_request {before?: id}   after every session_confirm, and for older pages
 *   server -> client  history         {items: [{id, author, text, time, quick_replies?}], more, hidden, owner?}
 *   client -> server  end_chat        {}               server -> client  chat_ended {} (every tab)
 * The session id (localStorage) is the chat, shared by the browser's tabs; `tab` (sessionStorage) is
 * this tab: the server binds a patient's verification to it, so another tab must verify again.
 * Only the newest message's buttons can be pressed: older ones are disabled when a new message comes.
 */
(function () {
  "use strict";

  var script = document.currentScript ||
    document.querySelector("script[data-clinic-chat]") ||
    document.querySelector('script[src$="/widget.js"]');

  if (window.ClinicChat && window.ClinicChat.loaded) {
    return; // pasted twice: one widget only
  }

  var MAX_LENGTH = 2000;
  var MAX_STORED_ITEMS = 200;
  var TYPING_TIMEOUT_MS = 15000;
  var TEAM_TYPING_MS = 6000; // the console sends "typing" at most every 3 s while staff type
  var SESSION_KEY = "clinicChat.sessionId";
  var TRANSCRIPT_KEY = "clinicChat.transcript";
  var OPEN_KEY = "clinicChat.open";
  var TAB_KEY = "clinicChat.tab";

  var TEXT = {
    launcher: "Chat with us",
    launcherUnread: "Chat with us (new message)",
    close: "Close chat",
    inputLabel: "Type your message",
    placeholder: "Type your question…",
    send: "Send",
    you: "You",
    bot: "Assistant",
    staff: "Clinic team",
    suggested: "Suggested replies",
    intro: "Ask about your treatment, aftercare or appointment. This chat is not for emergencies.",
    connecting: "Connecting…",
    reconnecting: "Reconnecting…",
    unavailable: "Chat is unavailable right now. Please call the clinic.",
    typingBot: "The assistant is typing…",
    typingStaff: "Waiting for the clinic team…",
    typingTeam: "The clinic team is typing…",
    handoffStaff: "A member of the clinic team has joined the conversation.",
    handoffBot: "You are chatting with the assistant again.",
    newConversation: "A new conversation has started.",
    limitReached: "Messages can be up to " + MAX_LENGTH + " characters.",
    pasteShortened: "Messages can be up to " + MAX_LENGTH + " characters, so the pasted text was shortened.",
    endChat: "End chat",
    chatEnded: "You ended the chat. Your details are no longer shown here.",
    earlier: "Show earlier messages",
    historyHidden: "Earlier messages of this chat are hidden in this tab because they may include booking " +
      "details. Confirm who you are to see your bookings again.",
    withBot: "You are chatting with the assistant",
    withStaff: "You are chatting with the clinic team"
  };

  var config = {
    title: attr("data-title") || "Clinic chat",
    intro: attr("data-intro") || TEXT.intro,
    server: resolveServer()
  };

  function attr(name) {
    var value = script && script.getAttribute(name);
    return value && value.trim() ? value.trim() : "";
  }

  /** The server origin: an explicit data-server wins, then the script's own src, then this page. */
  function resolveServer() {
    var candidates = [attr("data-server"), script && script.src];
    for (var i = 0; i < candidates.length; i++) {
      if (!candidates[i]) continue;
      try {
        var url = new URL(candidates[i], window.location.href);
        if (url.protocol === "http:" || url.protocol === "https:") return url.origin;
      } catch (e) { /* try the next one */ }
    }
    return window.location.origin;
  }

  // ---------------------------------------------------------------- storage (never throws)

  function safeStorage(kind) {
    var memory = {};
    var fallback = {
      getItem: function (k) { return Object.prototype.hasOwnProperty.call(memory, k) ? memory[k] : null; },
      setItem: function (k, v) { memory[k] = String(v); },
      removeItem: function (k) { delete memory[k]; }
    };
    try {
      var storage = window[kind];
      var probe = "clinicChat.probe";
      storage.setItem(probe, probe);
      storage.removeItem(probe);
      return {
        getItem: function (k) { try { return storage.getItem(k); } catch (e) { return fallback.getItem(k); } },
        setItem: function (k, v) { try { storage.setItem(k, v); } catch (e) { fallback.setItem(k, v); } },
        removeItem: function (k) { try { storage.removeItem(k); } catch (e) { /* ignore */ } fallback.removeItem(k); }
      };
    } catch (e) {
      return fallback; // storage disabled (privacy settings): keep state for this page only
    }
  }

  var local = safeStorage("localStorage");
  var session = safeStorage("sessionStorage");

  function loadTranscript() {
    var empty = { v: 1, session_id: null, owner: "bot", items: [] };
    try {
      var data = JSON.parse(session.getItem(TRANSCRIPT_KEY) || "null");
      if (!data || !Array.isArray(data.items)) return empty;
      return {
        v: 1,
        session_id: typeof data.session_id === "string" ? data.session_id : null,
        owner: data.owner === "staff" ? "staff" : "bot",
        items: data.items.filter(function (item) { return item && typeof item.text === "string"; })
      };
    } catch (e) {
      return empty;
    }
  }

  var state = loadTranscript();
  var sessionReady = false; // true between session_confirm and the next disconnect
  var socket = null;
  var ui = {};
  var typingTimer = null;
  var manualRetry = null;
  var manualRetryDelay = 2000;
  var chatJustEnded = false; // the next session confirmed is the new chat the patient asked for

  /** This tab's own random id (sessionStorage: a new tab or browser session gets a new one). */
  function tabId(renew) {
    var id = renew ? null : session.getItem(TAB_KEY);
    if (!id) {
      var bytes = new Uint8Array(16);
      (window.crypto || window.msCrypto).getRandomValues(bytes);
      id = Array.prototype.map.call(bytes, function (b) { return ("0" + b.toString(16)).slice(-2); }).join("");
      session.setItem(TAB_KEY, id);
    }
    return id;
  }

  function saveTranscript() {
    if (state.items.length > MAX_STORED_ITEMS) state.items = state.items.slice(-MAX_STORED_ITEMS);
    session.setItem(TRANSCRIPT_KEY, JSON.stringify(state));
  }

  // ---------------------------------------------------------------- DOM helpers

  function el(tag, props, children) {
    var node = document.createElement(tag);
    if (props) {
      for (var key in props) {
        if (!Object.prototype.hasOwnProperty.call(props, key)) continue;
        var value = props[key];
        if (value === null || value === undefined || value === false) continue;
        if (key === "text") node.textContent = value;
        else if (key === "className") node.className = value;
        else node.setAttribute(key, value === true ? "" : String(value));
      }
    }
    (children || []).forEach(function (child) { if (child) node.appendChild(child); });
    return node;
  }

  /** Text with http(s) links made clickable; everything else stays a text node. */
  function richText(text) {
    var fragment = document.createDocumentFragment();
    var pattern = /\bhttps?:\/\/[^\s<>"']+/gi;
    var last = 0;
    var match;
    while ((match = pattern.exec(text)) !== null) {
      var url = match[0].replace(/[.,;:!?)\]]+$/, "");
      if (!url) continue;
      fragment.appendChild(document.createTextNode(text.slice(last, match.index)));
      var link = el("a", { href: url, target: "_blank", rel: "noopener noreferrer nofollow", className: "clinic-chat-link" });
      link.textContent = url;
      fragment.appendChild(link);
      last = match.index + url.length;
      pattern.lastIndex = last;
    }
    fragment.appendChild(document.createTextNode(text.slice(last)));
    return fragment;
  }

  // ---------------------------------------------------------------- styles (scoped class names)

  var CSS = [
    ".clinic-chat-root{--cc-accent:#0b4f8a;--cc-accent-dark:#083a66;--cc-text:#1b1f24;--cc-muted:#4a5561;",
    "--cc-focus:#1a56db;position:fixed;right:20px;bottom:20px;z-index:2147483000;",
    "font:15px/1.45 system-ui,-apple-system,\"Segoe UI\",Roboto,\"Helvetica Neue\",Arial,sans-serif;color:var(--cc-text);",
    "text-align:left;letter-spacing:normal;text-transform:none}",
    ".clinic-chat-root *,.clinic-chat-root *::before,.clinic-chat-root *::after{box-sizing:border-box}",
    ".clinic-chat-root [hidden]{display:none!important}",
    ".clinic-chat-root button,.clinic-chat-root textarea{font:inherit;letter-spacing:normal;text-transform:none;margin:0}",
    ".clinic-chat-root :focus:not(:focus-visible){outline:none}",
    ".clinic-chat-root :focus-visible{outline:3px solid var(--cc-focus);outline-offset:2px;box-shadow:0 0 0 5px #fff}",
    ".clinic-chat-sr-only{position:absolute!important;width:1px!important;height:1px!important;padding:0!important;",
    "margin:-1px!important;overflow:hidden!important;clip:rect(0,0,0,0)!important;white-space:nowrap!important;border:0!important}",
    ".clinic-chat-launcher{display:flex;align-items:center;gap:8px;margin-left:auto;padding:12px 18px;border:2px solid #fff;",
    "border-radius:999px;background:var(--cc-accent);color:#fff;font-weight:600;cursor:pointer;",
    "box-shadow:0 4px 14px rgba(0,0,0,.28);position:relative}",
    ".clinic-chat-launcher:hover{background:var(--cc-accent-dark)}",
    ".clinic-chat-launcher svg{width:20px;height:20px;fill:currentColor;flex:none}",
    ".clinic-chat-launcher.clinic-chat-unread::after{content:\"\";position:absolute;top:-3px;right:-3px;width:14px;height:14px;",
    "border-radius:50%;background:#b3261e;border:2px solid #fff}",
    ".clinic-chat-panel{display:flex;flex-direction:column;position:absolute;right:0;bottom:64px;",
    "width:min(380px,calc(100vw - 40px));height:min(580px,calc(100vh - 110px));background:#fff;border:1px solid #c9d1da;",
    "border-radius:14px;box-shadow:0 10px 34px rgba(0,0,0,.25);overflow:hidden}",
    ".clinic-chat-header{display:flex;align-items:center;gap:8px;padding:12px 14px;background:var(--cc-accent);color:#fff}",
    ".clinic-chat-heading{flex:1;min-width:0}",
    ".clinic-chat-title{margin:0;font-size:16px;font-weight:700;line-height:1.3;color:#fff;overflow-wrap:anywhere}",
    ".clinic-chat-subtitle{margin:2px 0 0;font-size:13px;color:#e8f0f8}",
    ".clinic-chat-close{flex:none;width:36px;height:36px;border:0;border-radius:8px;background:transparent;color:#fff;",
    "font-size:22px;line-height:1;cursor:pointer}",
    ".clinic-chat-close:hover{background:rgba(255,255,255,.16)}",
    ".clinic-chat-end{flex:none;padding:6px 10px;border:1px solid rgba(255,255,255,.7);border-radius:8px;",
    "background:transparent;color:#fff;font-size:13px;font-weight:600;cursor:pointer}",
    ".clinic-chat-end:hover{background:rgba(255,255,255,.16)}",
    ".clinic-chat-earlier{align-self:center;padding:4px 12px;border:1px solid #9aa5b1;border-radius:999px;",
    "background:#fff;color:var(--cc-accent);font-size:13px;cursor:pointer}",
    ".clinic-chat-intro{margin:0;padding:8px 14px;font-size:13px;color:var(--cc-muted);background:#f5f7fa;border-bottom:1px solid #e1e6ec}",
    ".clinic-chat-log{flex:1;overflow-y:auto;padding:12px 14px;display:flex;flex-direction:column;gap:10px;background:#fff}",
    ".clinic-chat-msg{max-width:85%;display:flex;flex-direction:column;gap:2px}",
    ".clinic-chat-msg[data-author=patient]{align-self:flex-end;align-items:flex-end}",
    ".clinic-chat-msg[data-author=bot],.clinic-chat-msg[data-author=staff]{align-self:flex-start}",
    ".clinic-chat-msg[data-author=system]{align-self:center;max-width:95%;text-align:center}",
    ".clinic-chat-author{font-size:12px;font-weight:600;color:var(--cc-muted)}",
    ".clinic-chat-time{font-weight:400;margin-left:6px}",
    ".clinic-chat-bubble{margin:0;padding:8px 12px;border-radius:12px;white-space:pre-wrap;overflow-wrap:anywhere}",
    ".clinic-chat-msg[data-author=patient] .clinic-chat-bubble{background:var(--cc-accent);color:#fff;border-bottom-right-radius:4px}",
    ".clinic-chat-msg[data-author=patient] .clinic-chat-link{color:#fff}",
    ".clinic-chat-msg[data-author=bot] .clinic-chat-bubble{background:#eef1f5;color:var(--cc-text);border-bottom-left-radius:4px}",
    ".clinic-chat-msg[data-author=staff] .clinic-chat-bubble{background:#fdf3e1;color:var(--cc-text);border:1px solid #e6c88f;border-bottom-left-radius:4px}",
    ".clinic-chat-msg[data-author=system] .clinic-chat-bubble{background:transparent;padding:2px 4px;font-size:13px;font-style:italic;color:var(--cc-muted)}",
    ".clinic-chat-link{color:#0a4a82;text-decoration:underline}",
    ".clinic-chat-quick-replies{display:flex;flex-wrap:wrap;gap:6px;margin-top:6px}",
    ".clinic-chat-quick-reply{padding:6px 12px;border:2px solid var(--cc-accent);border-radius:999px;background:#fff;",
    "color:var(--cc-accent);font-size:14px;font-weight:600;cursor:pointer;text-align:left;overflow-wrap:anywhere}",
    ".clinic-chat-quick-reply:hover:not(:disabled){background:#e6eef6}",
    ".clinic-chat-quick-reply:disabled{border-color:#9aa5b1;color:#5b6672;background:#f5f7fa;cursor:default}",
    ".clinic-chat-quick-reply[data-chosen=true]{border-color:var(--cc-accent);background:var(--cc-accent);color:#fff}",
    ".clinic-chat-typing{padding:0 14px;font-size:13px;color:var(--cc-muted);display:flex;align-items:center;gap:6px}",
    ".clinic-chat-typing:not(:empty){padding-bottom:6px}",
    ".clinic-chat-dots{display:inline-flex;gap:3px}",
    ".clinic-chat-dots span{width:6px;height:6px;border-radius:50%;background:var(--cc-muted);animation:clinic-chat-blink 1.2s infinite}",
    ".clinic-chat-dots span:nth-child(2){animation-delay:.2s}.clinic-chat-dots span:nth-child(3){animation-delay:.4s}",
    "@keyframes clinic-chat-blink{0%,80%,100%{opacity:.25}40%{opacity:1}}",
    "@media (prefers-reduced-motion:reduce){.clinic-chat-dots span{animation:none}}",
    ".clinic-chat-status{padding:6px 14px;font-size:13px;font-weight:600;color:#7a3e00;background:#fff4e5;border-top:1px solid #f0d6b0}",
    ".clinic-chat-status:empty{display:none}",
    ".clinic-chat-form{display:flex;align-items:flex-end;gap:8px;padding:10px 12px;border-top:1px solid #e1e6ec;background:#fff}",
    ".clinic-chat-input{flex:1;min-height:40px;max-height:120px;padding:8px 10px;border:1px solid #7b8794;border-radius:10px;",
    "resize:none;color:var(--cc-text);background:#fff;line-height:1.4;font-size:16px!important}",
    ".clinic-chat-input:focus-visible{outline:3px solid var(--cc-focus);outline-offset:0;box-shadow:none;border-color:var(--cc-focus)}",
    ".clinic-chat-send{flex:none;height:40px;padding:0 16px;border:0;border-radius:10px;background:var(--cc-accent);color:#fff;font-weight:600;cursor:pointer}",
    ".clinic-chat-send:hover:not(:disabled){background:var(--cc-accent-dark)}",
    ".clinic-chat-send:disabled{background:#8c96a1;color:#fff;cursor:not-allowed}",
    ".clinic-chat-limit{padding:0 14px 8px;font-size:12px;color:#8a1c14}",
    ".clinic-chat-limit:empty{display:none}",
    "@media (max-width:480px){.clinic-chat-root{right:12px;bottom:12px}",
    ".clinic-chat-panel{width:calc(100vw - 24px);height:calc(100vh - 90px);bottom:60px}}",
    "@media (forced-colors:active){.clinic-chat-bubble,.clinic-chat-panel{border:1px solid CanvasText}}"
  ].join("");

  // ---------------------------------------------------------------- building the widget

  function build() {
    if (!document.getElementById("clinic-chat-style")) {
      var style = el("style", { id: "clinic-chat-style" });
      style.textContent = CSS;
      (document.head || document.documentElement).appendChild(style);
    }

    var icon = document.createElementNS("http://www.w3.org/2000/svg", "svg");
    icon.setAttribute("viewBox", "0 0 24 24");
    icon.setAttribute("aria-hidden", "true");
    icon.setAttribute("focusable", "false");
    var path = document.createElementNS("http://www.w3.org/2000/svg", "path");
    path.setAttribute("d", "M4 3h16a2 2 0 0 1 2 2v11a2 2 0 0 1-2 2H9l-5 4v-4a2 2 0 0 1-2-2V5a2 2 0 0 1 2-2z");
    icon.appendChild(path);

    ui.launcherLabel = el("span", { className: "clinic-chat-launcher-label", text: TEXT.launcher });
    ui.launcher = el("button", {
      type: "button", id: "clinic-chat-launcher", className: "clinic-chat-launcher",
      "aria-expanded": "false", "aria-controls": "clinic-chat-panel", "data-test": "launcher"
    }, [icon, ui.launcherLabel]);

    ui.subtitle = el("p", { className: "clinic-chat-subtitle", id: "clinic-chat-subtitle" });
    ui.close = el("button", {
      type: "button", className: "clinic-chat-close", id: "clinic-chat-close",
      "aria-label": TEXT.close, title: TEXT.close, "data-test": "close", text: "\u00d7"
    });
    ui.endChat = el("button", {
      type: "button", className: "clinic-chat-end", id: "clinic-chat-end", "data-test": "end-chat", text: TEXT.endChat
    });
    var header = el("div", { className: "clinic-chat-header" }, [
      el("div", { className: "clinic-chat-heading" }, [
        el("h2", { className: "clinic-chat-title", id: "clinic-chat-title", text: config.title }),
        ui.subtitle
      ]),
      ui.endChat,
      ui.close
    ]);

    ui.log = el("div", {
      id: "clinic-chat-log", className: "clinic-chat-log", role: "log", "aria-live": "polite",
      "aria-relevant": "additions", "aria-label": "Conversation", tabindex: "0", "data-test": "log"
    });
    ui.typing = el("div", {
      id: "clinic-chat-typing", className: "clinic-chat-typing", role: "status", "aria-live": "polite",
      "data-active": "false", "data-test": "typing"
    });
    ui.status = el("div", {
      id: "clinic-chat-status", className: "clinic-chat-status", role: "status", "aria-live": "polite",
      "data-test": "status"
    });
    ui.input = el("textarea", {
      id: "clinic-chat-input", className: "clinic-chat-input", rows: "1", maxlength: String(MAX_LENGTH),
      placeholder: TEXT.placeholder, autocomplete: "off", "aria-describedby": "clinic-chat-limit clinic-chat-status",
      "data-test": "input"
    });
    ui.send = el("button", {
      type: "submit", id: "clinic-chat-send", className: "clinic-chat-send", text: TEXT.send, "data-test": "send"
    });
    ui.limit = el("div", { id: "clinic-chat-limit", className: "clinic-chat-limit", "aria-live": "polite" });
    ui.form = el("form", { className: "clinic-chat-form", novalidate: true }, [
      el("label", { "for": "clinic-chat-input", className: "clinic-chat-sr-only", text: TEXT.inputLabel }),
      ui.input,
      ui.send
    ]);

    ui.panel = el("div", {
      id: "clinic-chat-panel", className: "clinic-chat-panel", role: "dialog",
      "aria-label": config.title + " chat", hidden: true, "data-test": "panel"
    }, [
      header,
      el("p", { className: "clinic-chat-intro", text: config.intro }),
      ui.log,
      ui.typing,
      ui.status,
      ui.form,
      ui.limit
    ]);

    ui.root = el("div", { className: "clinic-chat-root", id: "clinic-chat-root" }, [ui.panel, ui.launcher]);
    document.body.appendChild(ui.root);

    ui.launcher.addEventListener("click", function () { if (isOpen()) closePanel(); else openPanel(); });
    ui.close.addEventListener("click", closePanel);
    ui.endChat.addEventListener("click", function () {
      if (canSend()) socket.emit("end_chat", {});
    });
    ui.root.addEventListener("keydown", function (event) {
      if ((event.key === "Escape" || event.key === "Esc") && isOpen()) {
        event.preventDefault();
        event.stopPropagation();
        closePanel();
      }
    });
    ui.form.addEventListener("submit", function (event) {
      event.preventDefault();
      submitInput();
    });
    ui.input.addEventListener("keydown", function (event) {
      if (event.key === "Enter" && !event.shiftKey && !event.isComposing && event.keyCode !== 229) {
        event.preventDefault();
        submitInput();
      }
    });
    ui.input.addEventListener("paste", onPaste);
    ui.input.addEventListener("input", function () {
      autoGrow();
      if (ui.input.value.length >= MAX_LENGTH) setLimit(TEXT.limitReached);
      else if (ui.limit.textContent === TEXT.limitReached) setLimit("");
    });

    updateHeader();
    state.items.forEach(function (item) { ui.log.appendChild(renderItem(item)); });
    scrollToEnd();
    updateControls();
  }

  // ---------------------------------------------------------------- rendering messages

  function authorLabel(author) {
    if (author === "patient") return TEXT.you;
    if (author === "staff") return TEXT.staff;
    if (author === "bot") return TEXT.bot;
    return "";
  }

  function renderItem(item) {
    var label = authorLabel(item.author);
    var node = el("div", { className: "clinic-chat-msg", "data-author": item.author });
    if (label) {
      var byline = el("span", { className: "clinic-chat-author", text: label });
      if (item.time) byline.appendChild(el("span", { className: "clinic-chat-time", "data-test": "time", text: item.time }));
      node.appendChild(byline);
    }
    if (item.text) {
      var bubble = el("p", { className: "clinic-chat-bubble" });
      bubble.appendChild(richText(item.text));
      node.appendChild(bubble);
    }
    if (item.replies && item.replies.length) {
      var group = el("div", { className: "clinic-chat-quick-replies", role: "group", "aria-label": TEXT.suggested });
      item.replies.forEach(function (reply, index) {
        var button = el("button", {
          type: "button", className: "clinic-chat-quick-reply", "data-payload": reply.payload,
          disabled: !!item.used, "data-chosen": item.used && item.chosen === index ? "true" : null
        });
        button.textContent = reply.title;
        button.addEventListener("click", function () { chooseReply(item, index, group); });
        group.appendChild(button);
      });
      node.appendChild(group);
    }
    return node;
  }

  /** Disable the buttons of every message but the newest (a later click would answer an old question). */
  function expireOlderReplies() {
    var nodes = ui.log ? ui.log.children : [];
    var offset = nodes.length - state.items.length; // both end with the newest message
    for (var i = 0; i < state.items.length - 1; i++) {
      var older = state.items[i];
      if (!older.replies || !older.replies.length || older.used) continue;
      older.used = true;
      var node = nodes[i + offset];
      if (node) Array.prototype.forEach.call(node.querySelectorAll(".clinic-chat-quick-reply"), function (b) { b.disabled = true; });
    }
  }

  function addItem(item) {
    state.items.push(item);
    if (ui.log) ui.log.appendChild(renderItem(item));
    if (item.author !== "patient") expireOlderReplies();
    saveTranscript();
    scrollToEnd();
  }

  function scrollToEnd() {
    if (ui.log) ui.log.scrollTop = ui.log.scrollHeight;
  }

  function clearTranscript() {
    state.items = [];
    state.owner = "bot";
    saveTranscript();
    if (ui.log) while (ui.log.firstChild) ui.log.removeChild(ui.log.firstChild);
    updateHeader();
  }

  function chooseReply(item, index, group) {
    if (item.used) return;
    var reply = item.replies[index];
    if (!sendToServer(reply.payload, reply.title)) return;
    item.used = true;
    item.chosen = index;
    saveTranscript();
    Array.prototype.forEach.call(group.querySelectorAll(".clinic-chat-quick-reply"), function (button, i) {
      button.disabled = true;
      if (i === index) button.setAttribute("data-chosen", "true");
    });
    ui.input.focus();
  }

  // ---------------------------------------------------------------- panel, typing, status

  function isOpen() { return ui.panel && !ui.panel.hidden; }

  function openPanel(options) {
    var focusInput = !(options && options.focus === false);
    ui.panel.hidden = false;
    ui.launcher.setAttribute("aria-expanded", "true");
    setUnread(false);
    session.setItem(OPEN_KEY, "1");
    connect();
    scrollToEnd();
    if (focusInput) ui.input.focus();
  }

  function closePanel() {
    ui.panel.hidden = true;
    ui.launcher.setAttribute("aria-expanded", "false");
    session.setItem(OPEN_KEY, "0");
    ui.launcher.focus();
  }

  function setUnread(unread) {
    ui.launcher.classList.toggle("clinic-chat-unread", unread);
    ui.launcherLabel.textContent = TEXT.launcher;
    if (unread) ui.launcher.setAttribute("aria-label", TEXT.launcherUnread);
    else ui.launcher.removeAttribute("aria-label");
  }

  function updateHeader() {
    if (ui.subtitle) ui.subtitle.textContent = state.owner === "staff" ? TEXT.withStaff : TEXT.withBot;
  }

  function showTyping(text, timeoutMs) {
    clearTimeout(typingTimer);
    while (ui.typing.firstChild) ui.typing.removeChild(ui.typing.firstChild);
    var dots = el("span", { className: "clinic-chat-dots", "aria-hidden": "true" }, [el("span"), el("span"), el("span")]);
    ui.typing.appendChild(dots);
    ui.typing.appendChild(el("span", { text: text || (state.owner === "staff" ? TEXT.typingStaff : TEXT.typingBot) }));
    ui.typing.setAttribute("data-active", "true");
    typingTimer = setTimeout(hideTyping, timeoutMs || TYPING_TIMEOUT_MS);
  }

  function hideTyping() {
    clearTimeout(typingTimer);
    typingTimer = null;
    if (!ui.typing) return;
    while (ui.typing.firstChild) ui.typing.removeChild(ui.typing.firstChild);
    ui.typing.setAttribute("data-active", "false");
  }

  function setStatus(text) {
    if (ui.status && ui.status.textContent !== text) ui.status.textContent = text;
  }

  function setLimit(text) {
    if (ui.limit) ui.limit.textContent = text;
  }

  function canSend() {
    return !!(socket && socket.connected && sessionReady && state.session_id);
  }

  function updateControls() {
    if (!ui.send) return;
    ui.send.disabled = !canSend();
    ui.panel.setAttribute("data-connection", canSend() ? "ready" : (socket ? "connecting" : "idle"));
  }

  // ---------------------------------------------------------------- input

  function autoGrow() {
    ui.input.style.height = "auto";
    ui.input.style.height = Math.min(ui.input.scrollHeight + 2, 120) + "px";
  }

  function onPaste(event) {
    var data = event.clipboardData || window.clipboardData;
    if (!data) return;
    var pasted = data.getData("text") || data.getData("text/plain") || "";
    var input = ui.input;
    var start = input.selectionStart || 0;
    var end = input.selectionEnd || 0;
    var room = MAX_LENGTH - (input.value.length - (end - start));
    if (pasted.length <= room) return;
    event.preventDefault();
    input.setRangeText(pasted.slice(0, Math.max(room, 0)), start, end, "end");
    input.dispatchEvent(new Event("input", { bubbles: true }));
    setLimit(TEXT.pasteShortened);
  }

  function submitInput() {
    var text = ui.input.value.replace(/^\s+|\s+$/g, "");
    if (!text) return;
    if (sendToServer(text.slice(0, MAX_LENGTH))) {
      ui.input.value = "";
      autoGrow();
      setLimit("");
    }
    ui.input.focus();
  }

  /** Show `shown` (default: message) as the patient's bubble and send `message`; false when offline. */
  function sendToServer(message, shown) {
    if (!canSend()) {
      setStatus(socket ? TEXT.reconnecting : TEXT.connecting);
      connect();
      return false;
    }
    addItem({ author: "patient", text: shown !== undefined ? shown : message });
    socket.emit("user_uttered", { message: message, session_id: state.session_id });
    if (state.owner !== "staff") showTyping(); // the team answers when it can: no "typing" promise
    return true;
  }

  // ---------------------------------------------------------------- socket

  function connect() {
    if (socket) return;
    var client = window.io;
    if (typeof client !== "function") {
      setStatus(TEXT.unavailable);
      return;
    }
    setStatus(TEXT.connecting);
    socket = client(config.server, {
      path: "/socket.io",
      transports: ["websocket", "polling"],
      tryAllTransports: true,
      reconnection: true,
      reconnectionDelay: 1000,
      reconnectionDelayMax: 5000
    });
    socket.on("connect", onConnect);
    socket.on("session_confirm", onSessionConfirm);
    socket.on("clinic_message", onBotUttered);
    socket.on("bot_uttered", onBotUttered);
    socket.on("handoff", onHandoff);
    socket.on("typing", onTeamTyping);
    socket.on("history", onHistory);
    socket.on("chat_ended", onChatEnded);
    socket.on("disconnect", onDisconnect);
    socket.on("connect_error", onConnectError);
    updateControls();
  }

  function onConnect() {
    clearTimeout(manualRetry);
    manualRetryDelay = 2000;
    sessionReady = false;
    var requested = state.session_id || local.getItem(SESSION_KEY) || null;
    socket.emit("session_request", { session_id: requested, client: "clinic-widget", tab: tabId(false) });
    updateControls();
  }

  function onSessionConfirm(data) {
    var id = typeof data === "string" ? data : (data && typeof data.session_id === "string" ? data.session_id : "");
    if (!id) return;
    var previous = state.session_id || local.getItem(SESSION_KEY);
    var hadConversation = state.items.length > 0;
    if (previous !== id && (hadConversation || state.session_id) && !chatJustEnded) {
      clearTranscript();
      if (hadConversation) addItem({ author: "system", text: TEXT.newConversation });
    }
    chatJustEnded = false;
    state.session_id = id;
    local.setItem(SESSION_KEY, id);
    saveTranscript();
    sessionReady = true;
    setStatus("");
    updateControls();
    socket.emit("history_request", {}); // the server's copy: staff replies sent while away, other tabs
  }

  function historyItem(raw) {
    var replies = (Array.isArray(raw.quick_replies) ? raw.quick_replies : []).map(function (r) {
      return { title: String(r.title || r.payload || ""), payload: String(r.payload || r.title || "") };
    });
    var author = ["patient", "bot", "staff", "system"].indexOf(raw.author) >= 0 ? raw.author : "bot";
    return { id: typeof raw.id === "number" ? raw.id : null, author: author, text: String(raw.text || ""),
             time: typeof raw.time === "string" ? raw.time : null, replies: replies, used: true, chosen: null };
  }

  function renderAll() {
    if (!ui.log) return;
    while (ui.log.firstChild) ui.log.removeChild(ui.log.firstChild);
    if (state.more) {
      var earlier = el("button", { type: "button", className: "clinic-chat-earlier", "data-test": "earlier", text: TEXT.earlier });
      earlier.addEventListener("click", function () {
        var oldest = state.items.filter(function (i) { return typeof i.id === "number"; })[0];
        if (oldest && canSend()) socket.emit("history_request", { before: oldest.id });
      });
      ui.log.appendChild(earlier);
    }
    state.items.forEach(function (item) { ui.log.appendChild(renderItem(item)); });
  }

  function onHistory(data) {
    if (!data || !Array.isArray(data.items)) return;
    if (data.hidden) {
      state.items = [];
      state.more = false;
      addItem({ author: "system", text: TEXT.historyHidden });
      renderAll();
      return;
    }
    var items = data.items.map(historyItem);
    var fresh = !items.some(function (item) { return item.author === "patient"; });
    if (!data.before && fresh) {
      // A chat with nothing from the patient yet: keep this tab's own notices ("you ended the chat").
      items = state.items.filter(function (item) { return item.author === "system" && item.id == null; }).concat(items);
    }
    if (data.before) {
      state.items = items.concat(state.items); // an older page goes on top
    } else {
      var last = items[items.length - 1];
      if (last && last.replies.length) last.used = false; // only the newest buttons can be pressed
      state.items = items;
    }
    state.more = !!data.more;
    if (data.owner === "staff" || data.owner === "bot") state.owner = data.owner;
    updateHeader();
    saveTranscript();
    renderAll();
    if (!data.before) scrollToEnd();
  }

  function onChatEnded() {
    hideTyping();
    state.items = [];
    state.more = false;
    state.owner = "bot";
    state.session_id = null;
    local.removeItem(SESSION_KEY);
    tabId(true); // the next chat is a new tab as far as verification goes
    updateHeader();
    renderAll();
    addItem({ author: "system", text: TEXT.chatEnded });
    sessionReady = false;
    chatJustEnded = true;
    updateControls();
    socket.emit("session_request", { session_id: null, client: "clinic-widget", tab: tabId(false) });
  }

  function onBotUttered(data) {
    if (typeof data === "string") data = { text: data };
    if (!data || typeof data !== "object") return;
    hideTyping();
    var text = typeof data.text === "string" ? data.text : (typeof data.text === "number" ? String(data.text) : "");
    var raw = [].concat(Array.isArray(data.quick_replies) ? data.quick_replies : [],
                        Array.isArray(data.buttons) ? data.buttons : []);
    var replies = [];
    raw.forEach(function (reply) {
      if (!reply || typeof reply !== "object") return;
      if (reply.content_type && reply.content_type !== "text") return;
      var title = reply.title != null ? String(reply.title) : "";
      var payload = reply.payload != null ? String(reply.payload) : title;
      if (!title) title = payload;
      if (title && replies.length < 12) replies.push({ title: title, payload: payload });
    });
    if (!text && !replies.length) return;
    var author = data.author === "staff" || data.author === "system" ? data.author : "bot";
    var time = typeof data.time === "string" && /^\d\d:\d\d$/.test(data.time) ? data.time : null;
    addItem({ author: author, text: text, replies: replies, used: false, chosen: null, time: time });
    if (!isOpen()) setUnread(true);
  }

  function onHandoff(data) {
    if (!data || (data.owner !== "staff" && data.owner !== "bot")) return;
    var notice = typeof data.notice === "string" && data.notice.trim() ? data.notice :
      (data.owner === "staff" ? TEXT.handoffStaff : TEXT.handoffBot);
    state.owner = data.owner;
    updateHeader();
    if (data.owner === "staff") hideTyping(); // the assistant is no longer answering
    addItem({ author: "system", text: notice });
    if (!isOpen()) setUnread(true);
  }

  function onTeamTyping(data) {
    if (!data || data.who !== "staff" || !ui.typing) return;
    showTyping(TEXT.typingTeam, TEAM_TYPING_MS); // the console repeats it every few seconds while they type
  }

  function onDisconnect(reason) {
    sessionReady = false;
    hideTyping();
    updateControls();
    if (reason === "io client disconnect") return;
    setStatus(TEXT.reconnecting);
    if (reason === "io server disconnect") scheduleManualRetry(); // the client does not retry by itself
  }

  function onConnectError() {
    sessionReady = false;
    updateControls();
    setStatus(TEXT.reconnecting);
    if (!socket.active) scheduleManualRetry(); // refused by the server: retry with backoff
  }

  function scheduleManualRetry() {
    clearTimeout(manualRetry);
    manualRetry = setTimeout(function () {
      if (socket && !socket.connected) socket.connect();
    }, manualRetryDelay);
    manualRetryDelay = Math.min(manualRetryDelay * 2, 30000);
  }

  // ---------------------------------------------------------------- start

  function start() {
    build();
    window.ClinicChat.open = function () { openPanel(); };
    window.ClinicChat.close = closePanel;
    // A conversation already under way in this tab reconnects at once (staff replies, unread badge);
    // otherwise the socket opens when the patient first opens the panel.
    if (session.getItem(OPEN_KEY) === "1") openPanel({ focus: false }); // reopened, focus left alone
    else if (state.items.length) connect();
  }

  window.ClinicChat = { loaded: true, server: config.server };
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
