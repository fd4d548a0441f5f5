/* The reply composer on the conversation page: typing "/" opens the clinic's canned replies
   (a listbox: arrow keys move, Enter or a click picks, Escape closes), filtered by what follows
   the "/"; the pick is filled in by the server for this conversation and replaces the "/word".
   While staff type a reply to a web chat, the patient's widget is told (throttled). */
(function () {
  "use strict";
  var root = document.getElementById("conversation");
  var box = document.getElementById("reply-text");
  if (!root || !box) { return; }
  var conversationId = root.getAttribute("data-conversation-id");
  var meta = document.querySelector('meta[name="csrf-token"]');
  var csrf = meta ? meta.getAttribute("content") : "";
  var TYPING_EVERY_MS = 3000;
  var replies = null;
  var shown = [];
  var active = -1;
  var lastTyping = 0;

  var list = document.createElement("ul");
  list.id = "canned-picker";
  list.className = "canned-picker";
  list.setAttribute("role", "listbox");
  list.setAttribute("aria-label", "Canned replies");
  list.hidden = true;
  var status = document.createElement("p");
  status.id = "canned-status";
  status.className = "hint";
  status.setAttribute("aria-live", "polite");
  box.insertAdjacentElement("afterend", status);
  box.insertAdjacentElement("afterend", list);
  box.setAttribute("aria-autocomplete", "list");
  box.setAttribute("aria-controls", list.id);
  var hint = document.getElementById("reply-hint");
  if (hint) { hint.appendChild(document.createTextNode(" Type / to insert a canned reply.")); }

  function slashWord() {
    /* The "/word" just before the caret (at the start or after a space), or null. */
    var upto = box.value.slice(0, box.selectionStart);
    var match = /(^|\s)\/([^\s\/]*)$/.exec(upto);
    if (!match) { return null; }
    return { start: upto.length - match[2].length - 1, end: upto.length, query: match[2].toLowerCase() };
  }

  function close() {
    list.hidden = true;
    active = -1;
    box.removeAttribute("aria-activedescendant");
  }

  function highlight(index) {
    active = index;
    Array.prototype.forEach.call(list.children, function (li, i) {
      li.setAttribute("aria-selected", i === index ? "true" : "false");
    });
    if (index >= 0 && list.children[index]) {
      box.setAttribute("aria-activedescendant", list.children[index].id);
      list.children[index].scrollIntoView({ block: "nearest" });
    }
  }

  function draw(query) {
    shown = (replies || []).filter(function (r) {
      return !query || r.title.toLowerCase().indexOf(query) !== -1 || r.body.toLowerCase().indexOf(query) !== -1;
    });
    list.textContent = "";
    if (!shown.length) {
      status.textContent = replies && replies.length ? "No canned reply matches." : "There are no canned replies yet.";
      close();
      return;
    }
    shown.forEach(function (r, i) {
      var li = document.createElement("li");
      li.id = "canned-option-" + r.id;
      li.className = "canned-option";
      li.setAttribute("role", "option");
      li.setAttribute("data-reply-id", String(r.id));
      var title = document.createElement("strong");
      title.textContent = r.title;
      var body = document.createElement("span");
      body.className = "sub";
      body.textContent = r.body;
      li.appendChild(title);
      li.appendChild(body);
      li.addEventListener("mousedown", function (event) { event.preventDefault(); choose(i); });
      list.appendChild(li);
    });
    list.hidden = false;
    status.textContent = shown.length + " canned " + (shown.length === 1 ? "reply" : "replies") +
      ": arrow keys to move, Enter to insert, Escape to close.";
    highlight(0);
  }

  function open(query) {
    if (replies !== null) { draw(query); return; }
    fetch("/staff/api/replies", { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (r) { return r.ok ? r.json() : { replies: [] }; })
      .then(function (data) {
        replies = data.replies || [];
        var word = slashWord();
        if (word) { draw(word.query); }
      });
  }

  function choose(index) {
    var reply = shown[index];
    var word = slashWord();
    close();
    if (!reply || !word) { return; }
    fetch("/staff/api/conversations/" + conversationId + "/replies/" + reply.id,
          { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (r) { if (!r.ok) { throw new Error(String(r.status)); } return r.json(); })
      .then(function (data) {
        box.value = box.value.slice(0, word.start) + data.text + box.value.slice(word.end);
        var caret = word.start + data.text.length;
        box.setSelectionRange(caret, caret);
        box.focus();
        status.textContent = data.not_verified && data.not_verified.length
          ? "Inserted “" + data.title + "”. The patient is not verified: replace “(not verified)” before sending."
          : "Inserted “" + data.title + "”.";
      })
      .catch(function () { status.textContent = "The canned reply could not be inserted; try again."; });
  }

  function typing() {
    if (root.getAttribute("data-channel") !== "web") { return; }
    var now = Date.now();
    if (now - lastTyping < TYPING_EVERY_MS) { return; }
    lastTyping = now;
    fetch("/staff/conversations/" + conversationId + "/typing", {
      method: "POST", credentials: "same-origin",
      headers: { "X-CSRF-Token": csrf, Accept: "application/json" }
    }).catch(function () { /* only a courtesy to the patient */ });
  }

  box.addEventListener("input", function () {
    var word = slashWord();
    if (word) { open(word.query); } else { close(); status.textContent = ""; if (box.value) { typing(); } }
  });
  box.addEventListener("keydown", function (event) {
    if (list.hidden) { return; }
    if (event.key === "ArrowDown") { event.preventDefault(); highlight((active + 1) % shown.length); }
    else if (event.key === "ArrowUp") { event.preventDefault(); highlight((active - 1 + shown.length) % shown.length); }
    else if (event.key === "Enter") { event.preventDefault(); choose(active); }
    else if (event.key === "Escape") { event.preventDefault(); close(); status.textContent = ""; }
  });
  box.addEventListener("blur", function () { window.setTimeout(close, 150); });
})();
