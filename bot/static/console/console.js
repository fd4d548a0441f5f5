/* Staff console: live inbox and transcript (server-sent events + JSON refetch) and forms sent
 * with fetch. Every page works without this script (forms post and the server redirects back);
 * the script only saves reloads. Text from the server is always put in with textContent. */
(function () {
  "use strict";

  var LOGIN = "/staff/login";
  var meta = document.querySelector('meta[name="csrf-token"]');
  var csrf = meta ? meta.getAttribute("content") : "";
  var page = document.body.getAttribute("data-page");
  var serverOffsetMs = 0; // server clock minus browser clock

  function toLogin() {
    window.location.assign(LOGIN + "?next=" + encodeURIComponent(window.location.pathname + window.location.search));
  }

  function getJSON(url) {
    return fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (response) {
        if (response.status === 401) { toLogin(); throw new Error("signed out"); }
        if (!response.ok) { throw new Error("HTTP " + response.status); }
        return response.json();
      });
  }

  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) { node.className = className; }
    if (text !== undefined && text !== null) { node.textContent = text; }
    return node;
  }

  function setStatus(text) {
    var status = document.getElementById("live-status");
    if (status) { status.textContent = text; }
  }

  function announce(text, kind) {
    var area = document.getElementById("flash");
    if (!area) { return; }
    area.textContent = "";
    var p = el("p", "flash flash-" + (kind || "info"));
    if (kind === "error") { p.appendChild(el("strong", null, "Problem: ")); }
    p.appendChild(document.createTextNode(text));
    area.appendChild(p);
  }

  function showError(text) {
    var box = document.getElementById("action-error");
    if (!box) { announce(text, "error"); return; }
    box.textContent = text;
    box.hidden = false;
    box.focus();
  }

  function clearError() {
    var box = document.getElementById("action-error");
    if (box) { box.hidden = true; box.textContent = ""; }
  }

  /* ---- forms ------------------------------------------------------------------------------ */

  function enhanceForms(afterSuccess) {
    document.addEventListener("submit", function (event) {
      var form = event.target;
      if (!form.matches || !form.matches("form[data-async]")) { return; }
      event.preventDefault();
      var question = form.getAttribute("data-confirm");
      if (question && !window.confirm(question)) { return; }
      var button = form.querySelector("button[type=submit]");
      if (button) { button.disabled = true; }
      clearError();
      fetch(form.getAttribute("action"), {
        method: "POST",
        credentials: "same-origin",
        headers: { "X-CSRF-Token": csrf, Accept: "application/json" },
        body: new URLSearchParams(new FormData(form))
      }).then(function (response) {
        if (response.status === 401) { toLogin(); return null; }
        return response.json().catch(function () {
          return { ok: false, error: "The server did not answer as expected (HTTP " + response.status + ")." };
        });
      }).then(function (body) {
        if (!body) { return; }
        if (body.ok) {
          announce(body.message || "Done.");
          if (form.hasAttribute("data-clear")) {
            var box = form.querySelector("textarea");
            if (box) { box.value = ""; box.focus(); }
          }
          afterSuccess(form);
        } else {
          showError(body.error || "That did not work.");
        }
      }).catch(function () {
        showError("The console could not reach the server. Check the connection and try again.");
      }).then(function () {
        if (button) { button.disabled = false; }
      });
    });
  }


  /* ---- urgent alerts (every signed-in page) ----------------------------------------------
   * The title shows "(N) " while N urgent cases wait for someone to take them; a case that was
   * not waiting when this browser last looked raises a desktop notification (once staff allowed
   * them with the button: never asked for on load) and a short tone made with the Web Audio API
   * (muted with the other button; both choices kept in localStorage). Nothing names the patient. */

  var ALERTS = "/staff/api/alerts";
  var SEEN_KEY = "console.alerts.waiting"; // urgent escalation ids already announced in this browser
  var MUTE_KEY = "console.alerts.muted";
  var baseTitle = document.title;
  var audio = null;
  var alertsBusy = false;
  var alertsAgain = false;

  function stored(key) {
    try { return window.localStorage.getItem(key); } catch (e) { return null; }
  }

  function store(key, value) {
    try { window.localStorage.setItem(key, value); } catch (e) { /* storage refused: nothing kept */ }
  }

  function soundMuted() { return stored(MUTE_KEY) === "1"; }

  function audioContext() {
    var Context = window.AudioContext || window.webkitAudioContext;
    if (!audio && Context) { audio = new Context(); }
    if (audio && audio.state === "suspended") { audio.resume(); }
    return audio;
  }

  function playTone() {
    if (soundMuted()) { return; }
    try {
      var context = audioContext();
      if (!context) { return; }
      [0, 0.3].forEach(function (offset) {
        var start = context.currentTime + offset;
        var oscillator = context.createOscillator();
        var gain = context.createGain();
        oscillator.type = "sine";
        oscillator.frequency.value = 880;
        gain.gain.setValueAtTime(0.0001, start);
        gain.gain.exponentialRampToValueAtTime(0.3, start + 0.02);
        gain.gain.exponentialRampToValueAtTime(0.0001, start + 0.2);
        oscillator.connect(gain);
        gain.connect(context.destination);
        oscillator.start(start);
        oscillator.stop(start + 0.22);
      });
    } catch (e) { /* no sound on this browser: the notification and the title remain */ }
  }

  function notifyUrgent(cases) {
    if (!("Notification" in window) || window.Notification.permission !== "granted") { return; }
    var body = cases.length === 1 ? "An urgent case is waiting for the team. Open the console to take it."
      : cases.length + " urgent cases are waiting for the team. Open the console to take them.";
    try {
      var note = new window.Notification("Urgent case waiting", { body: body, tag: "urgent-" + cases[0].escalation_id });
      note.onclick = function () { window.focus(); window.location.assign(cases[0].url); note.close(); };
    } catch (e) { /* notifications refused by this browser */ }
  }

  function showUrgentCount(count) {
    document.title = count > 0 ? "(" + count + ") " + baseTitle : baseTitle;
  }

  function announced() {
    var raw = stored(SEEN_KEY);
    if (raw === null) { return null; }
    try { return JSON.parse(raw) || []; } catch (e) { return []; }
  }

  function checkAlerts() {
    if (alertsBusy) { alertsAgain = true; return; }
    alertsBusy = true;
    getJSON(ALERTS).then(function (data) {
      showUrgentCount(data.urgent_waiting);
      var seen = announced();
      var ids = data.cases.map(function (c) { return c.escalation_id; });
      if (seen !== null) { // the first look in this browser only takes note
        var fresh = data.cases.filter(function (c) { return seen.indexOf(c.escalation_id) < 0; });
        if (fresh.length) { notifyUrgent(fresh); playTone(); }
      }
      store(SEEN_KEY, JSON.stringify(ids));
    }).catch(function () { /* the next event tries again */ }).then(function () {
      alertsBusy = false;
      if (alertsAgain) { alertsAgain = false; checkAlerts(); }
    });
  }

  function drawAlertControls() {
    var enable = document.getElementById("alerts-enable");
    var mute = document.getElementById("alerts-mute");
    if (enable) {
      enable.hidden = !("Notification" in window) || window.Notification.permission !== "default";
    }
    if (mute) { mute.setAttribute("aria-pressed", soundMuted() ? "true" : "false"); }
  }

  function startAlerts() {
    var controls = document.getElementById("alert-controls");
    if (!controls) { return false; }
    controls.hidden = false;
    var enable = document.getElementById("alerts-enable");
    var mute = document.getElementById("alerts-mute");
    enable.addEventListener("click", function () {
      audioContext(); // a click lets the page play the tone later
      var asked = window.Notification.requestPermission(function () { drawAlertControls(); });
      if (asked && asked.then) { asked.then(drawAlertControls); }
    });
    mute.addEventListener("click", function () {
      store(MUTE_KEY, soundMuted() ? "0" : "1");
      if (!soundMuted()) { audioContext(); }
      drawAlertControls();
    });
    drawAlertControls();
    return true;
  }

  /* ---- live updates ----------------------------------------------------------------------- */

  function live(onChange) {
    var timer = null;
    var source = null;
    function schedule(data) {
      if (timer) { window.clearTimeout(timer); }
      timer = window.setTimeout(function () { timer = null; onChange(data); }, 250);
    }
    function connect() {
      source = new EventSource("/staff/events");
      source.addEventListener("ready", function () {
        setStatus("Live: updates appear by themselves.");
        if (alerting) { checkAlerts(); }
        schedule(null);
      });
      source.addEventListener("inbox-changed", function (event) {
        if (alerting) { checkAlerts(); }
        var data = null;
        try { data = JSON.parse(event.data); } catch (e) { data = null; }
        schedule(data);
      });
      source.onerror = function () {
        if (source.readyState === EventSource.CLOSED) {
          setStatus("Live updates paused; reconnecting…");
          // A refused stream is usually an ended session: getJSON sends the browser to sign in.
          getJSON(ALERTS).then(function () {
            window.setTimeout(connect, 5000);
          }).catch(function () { window.setTimeout(connect, 15000); });
        } else {
          setStatus("Reconnecting…");
        }
      };
    }
    connect();
  }

  /* ---- the inbox -------------------------------------------------------------------------- */

  function duration(seconds) {
    var minutes = Math.floor(Math.max(seconds, 0) / 60);
    if (minutes < 1) { return "less than a minute"; }
    if (minutes < 60) { return minutes + " min"; }
    var hours = Math.floor(minutes / 60);
    minutes = minutes % 60;
    if (hours < 24) { return minutes ? hours + " h " + minutes + " min" : hours + " h"; }
    var days = Math.floor(hours / 24);
    hours = hours % 24;
    var word = days === 1 ? "day" : "days";
    return hours ? days + " " + word + " " + hours + " h" : days + " " + word;
  }

  function tickWaiting() {
    var now = Date.now() + serverOffsetMs;
    document.querySelectorAll("td.waiting[data-waiting-since]").forEach(function (cell) {
      var since = cell.getAttribute("data-waiting-since");
      if (since) { cell.textContent = duration((now - Date.parse(since)) / 1000); }
    });
  }

  function priorityBadge(urgent) {
    var badge = el("span", urgent ? "badge badge-urgent" : "badge");
    if (urgent) {
      var icon = el("span", null, "⚠ ");
      icon.setAttribute("aria-hidden", "true");
      badge.appendChild(icon);
      badge.appendChild(document.createTextNode("Urgent"));
    } else {
      badge.textContent = "Normal";
    }
    return badge;
  }

  function selectBox(row, checked) {
    var td = el("td");
    if (row.status === "resolved") { return td; }
    var box = el("input");
    box.type = "checkbox";
    box.name = "escalation_id";
    box.value = row.escalation_id;
    box.id = "select-" + row.escalation_id;
    box.setAttribute("form", "bulk-resolve");
    box.setAttribute("aria-label", "Select " + row.patient_label + ", conversation " + row.conversation_id);
    box.checked = !!checked;
    td.appendChild(box);
    return td;
  }

  function patientCell(row) {
    var td = el("td");
    if (row.unread) {
      var dot = el("span", "unread-dot");
      dot.appendChild(el("span", "visually-hidden", "unread"));
      td.appendChild(dot);
      td.appendChild(document.createTextNode(" "));
    }
    var link = el("a", null, row.patient_label); link.href = row.url; td.appendChild(link);
    if (row.preview) {
      var preview = el("div", "sub preview");
      preview.appendChild(el("span", "preview-author", row.preview_author + ":"));
      preview.appendChild(document.createTextNode(" " + row.preview));
      td.appendChild(preview);
    }
    return td;
  }

  function inboxRow(row, selectable, checked) {
    var tr = el("tr", "inbox-row" + (row.urgent ? " urgent" : "") + (row.unread ? " unread" : ""));
    tr.setAttribute("data-conversation-id", row.conversation_id);
    tr.setAttribute("data-escalation-id", row.escalation_id);
    tr.setAttribute("data-priority", row.priority);
    tr.setAttribute("data-status", row.status);
    if (selectable) { tr.appendChild(selectBox(row, checked)); }
    var td = el("td"); td.appendChild(priorityBadge(row.urgent)); tr.appendChild(td);
    tr.appendChild(patientCell(row));
    tr.appendChild(el("td", null, row.channel_label));
    td = el("td", null, row.reason_label);
    if (row.summary) { td.appendChild(el("div", "sub", row.summary)); }
    if (row.merged_note) { td.appendChild(el("div", "sub merged", row.merged_note)); }
    tr.appendChild(td);
    td = el("td"); td.appendChild(el("span", "status status-" + row.status, row.status_label)); tr.appendChild(td);
    td = el("td", "waiting", row.waiting_label);
    td.setAttribute("data-waiting-since", row.waiting_since || "");
    tr.appendChild(td);
    tr.appendChild(el("td", null, row.assigned_label));
    return tr;
  }

  function requestRow(item, canErase) {
    var tr = el("tr", "request-row");
    tr.setAttribute("data-request-id", item.id);
    tr.setAttribute("data-kind", item.kind);
    tr.appendChild(el("td", null, item.kind_label));
    var td = el("td");
    if (item.conversation_url) {
      var link = el("a", null, item.patient_label); link.href = item.conversation_url; td.appendChild(link);
    } else { td.appendChild(document.createTextNode(item.patient_label)); }
    td.appendChild(el("div", "sub", item.channel_label));
    tr.appendChild(td);
    tr.appendChild(el("td", null, item.session_label || "—"));
    tr.appendChild(el("td", "wishes", item.wishes || "—"));
    tr.appendChild(el("td", null, item.created_label));
    td = el("td");
    if (item.erasable) {
      if (canErase) {
        var erase = el("a", "button request-erase", "Erase conversations…");
        erase.href = item.erase_url;
        erase.appendChild(el("span", "visually-hidden", " of " + item.patient_label));
        td.appendChild(erase);
      } else {
        td.appendChild(el("span", "sub erase-admin-only", "An administrator erases the conversations"));
      }
      tr.appendChild(td);
      return tr;
    }
    var form = el("form", "inline");
    form.method = "post";
    form.setAttribute("action", item.done_url);
    form.setAttribute("data-async", "");
    [["csrf_token", csrf], ["next", "/staff"]].forEach(function (pair) {
      var input = el("input"); input.type = "hidden"; input.name = pair[0]; input.value = pair[1]; form.appendChild(input);
    });
    var button = el("button", "request-done", "Mark done");
    button.type = "submit";
    button.appendChild(el("span", "visually-hidden", ": " + item.kind_label + " for " + item.patient_label));
    form.appendChild(button);
    td.appendChild(form);
    tr.appendChild(td);
    return tr;
  }

  var inboxPage = Number(new URLSearchParams(window.location.search).get("page")) || 1;

  /* The filter form's non-empty fields, and the page being shown (the same query the server reads). */
  function inboxQuery() {
    var params = new URLSearchParams();
    new FormData(document.getElementById("inbox-filters")).forEach(function (value, name) {
      if (value !== "") { params.set(name, value); }
    });
    if (inboxPage > 1) { params.set("page", String(inboxPage)); }
    return params.toString();
  }

  function drawPaging(paging) {
    var total = document.getElementById("inbox-total");
    total.textContent = paging.total + " matching" + (paging.pages > 1 ? ", page " + paging.page + " of " + paging.pages : "");
    [["inbox-previous", paging.previous_url], ["inbox-next", paging.next_url]].forEach(function (pair) {
      var link = document.getElementById(pair[0]);
      link.hidden = !pair[1];
      link.setAttribute("href", pair[1] || "");
    });
    var next = document.querySelector('#bulk-resolve input[name="next"]');
    if (next) { next.value = paging.url; }
  }

  function selectedEscalations() {
    var ids = {};
    document.querySelectorAll('#inbox-rows input[name="escalation_id"]:checked').forEach(function (box) { ids[box.value] = true; });
    return ids;
  }

  function drawInbox(data) {
    serverOffsetMs = Date.parse(data.now) - Date.now();
    var body = document.getElementById("inbox-rows");
    var focused = document.activeElement && body.contains(document.activeElement)
      ? document.activeElement.closest("tr").getAttribute("data-conversation-id") : null;
    var focusedBox = focused && document.activeElement.matches("input[type=checkbox]");
    var selected = selectedEscalations(); // a redraw keeps what the staff member ticked
    body.replaceChildren.apply(body, data.escalations.map(function (row) {
      return inboxRow(row, data.can_bulk_resolve, selected[String(row.escalation_id)]);
    }));
    drawPaging(data.paging);
    document.getElementById("inbox-empty").hidden = data.escalations.length > 0;
    if (focused) {
      var again = body.querySelector('tr[data-conversation-id="' + focused + '"] ' + (focusedBox ? "input" : "a"));
      if (again) { again.focus(); }
    }
    var count = document.getElementById("urgent-count");
    count.setAttribute("data-count", data.counts.urgent);
    count.textContent = data.counts.urgent ? "(" + data.counts.urgent + " urgent)" : "";
    var requests = document.getElementById("request-rows");
    requests.replaceChildren.apply(requests, data.requests.map(function (item) {
      return requestRow(item, data.can_erase);
    }));
    document.getElementById("requests-empty").hidden = data.requests.length > 0;
  }

  function refreshInbox() {
    return getJSON("/staff/api/inbox?" + inboxQuery()).then(drawInbox).catch(function () {
      setStatus("Could not refresh; retrying on the next change.");
    });
  }

  function startInbox() {
    var form = document.getElementById("inbox-filters");
    function apply() {
      inboxPage = 1; // new filters start again on the first page
      window.history.replaceState(null, "", "/staff?" + inboxQuery());
      refreshInbox();
    }
    form.addEventListener("change", apply);
    form.addEventListener("submit", function (event) { event.preventDefault(); apply(); });
    enhanceForms(function (done) {
      if (done.id === "bulk-resolve") {
        document.querySelectorAll('#inbox-rows input[name="escalation_id"]').forEach(function (box) { box.checked = false; });
      }
      refreshInbox();
    });
    live(refreshInbox);
    window.setInterval(tickWaiting, 30000);
  }

  /* ---- one conversation ------------------------------------------------------------------- */

  function lastId(selector, attribute) {
    var items = document.querySelectorAll(selector);
    return items.length ? Number(items[items.length - 1].getAttribute(attribute)) : 0;
  }

  function messageItem(m) {
    var li = el("li", "msg msg-" + m.author);
    li.setAttribute("data-author", m.author);
    li.setAttribute("data-message-id", m.id);
    var metaLine = el("div", "msg-meta");
    metaLine.appendChild(el("span", "msg-author", m.author_label));
    metaLine.appendChild(document.createTextNode(" "));
    var time = el("time", null, m.time_label); time.setAttribute("datetime", m.at);
    metaLine.appendChild(time);
    li.appendChild(metaLine);
    li.appendChild(el("div", "msg-text", m.text));
    if (m.author === "patient") { li.appendChild(flagForm(m.id)); }
    return li;
  }

  function flagForm(messageId) {
    var form = el("form", "inline msg-flag");
    form.method = "post";
    form.setAttribute("action", "/staff/messages/" + messageId + "/flag");
    form.setAttribute("data-async", "");
    var input = el("input"); input.type = "hidden"; input.name = "csrf_token"; input.value = csrf;
    form.appendChild(input);
    var button = el("button", "text-button", "Flag for teaching");
    button.type = "submit";
    form.appendChild(button);
    return form;
  }

  function noteItem(n) {
    var li = el("li", "note");
    li.setAttribute("data-note-id", n.id);
    var metaLine = el("div", "msg-meta");
    metaLine.appendChild(el("span", null, n.by));
    metaLine.appendChild(document.createTextNode(" "));
    var time = el("time", null, n.time_label); time.setAttribute("datetime", n.at);
    metaLine.appendChild(time);
    li.appendChild(metaLine);
    li.appendChild(el("div", "msg-text", n.text));
    return li;
  }

  function setText(id, text) {
    var node = document.getElementById(id);
    if (node) { node.textContent = text; }
    return node;
  }

  function drawHeader(conversation) {
    var owner = setText("owner", conversation.owner_label);
    if (owner) { owner.setAttribute("data-owner", conversation.owner); }
    var esc = conversation.escalation;
    var statusNode = document.getElementById("escalation-status");
    if (esc && (!statusNode || statusNode.getAttribute("data-status") === "none")) {
      window.location.reload(); // a first escalation: the panel's layout changes
      return;
    }
    if (!esc) { return; }
    statusNode.textContent = esc.status_label;
    statusNode.setAttribute("data-status", esc.status);
    setText("escalation-assigned", esc.assigned_label);
    setText("escalation-reason", esc.reason_label);
    setText("escalation-summary", esc.summary || "—");
    var priority = document.getElementById("escalation-priority");
    if (priority && priority.getAttribute("data-priority") !== esc.priority) {
      priority.setAttribute("data-priority", esc.priority);
      priority.replaceChildren(esc.urgent ? priorityBadge(true) : document.createTextNode("Normal"));
    }
    var panel = document.getElementById("escalation-panel");
    panel.classList.toggle("urgent", esc.urgent && esc.status !== "resolved");
  }

  function messageIdsShown(transcript) {
    var ids = {};
    transcript.querySelectorAll(".msg").forEach(function (li) { ids[li.getAttribute("data-message-id")] = true; });
    return ids;
  }

  /* "Earlier messages" loads the page before the first message shown into the transcript, above it,
   * where the reader is (the link itself goes to that page without this script). */
  function enhanceEarlierLink(id, transcript) {
    var link = document.getElementById("transcript-earlier");
    if (!link) { return; }
    var loading = false;
    link.addEventListener("click", function (event) {
      event.preventDefault();
      if (loading) { return; }
      loading = true;
      link.setAttribute("aria-disabled", "true");
      var url = "/staff/api/conversations/" + id + "?before=" + link.getAttribute("data-before") +
        "&after_note=" + lastId("#notes .note", "data-note-id");
      getJSON(url).then(function (data) {
        var shown = messageIdsShown(transcript);
        var items = data.messages.filter(function (m) { return !shown[String(m.id)]; }).map(messageItem);
        var anchor = transcript.firstElementChild;
        var anchorTop = anchor ? anchor.getBoundingClientRect().top : 0;
        var fragment = document.createDocumentFragment();
        items.forEach(function (li) { fragment.appendChild(li); });
        // The reader asked for these: the live region announces new messages, not a page of old ones.
        transcript.setAttribute("aria-live", "off");
        transcript.insertBefore(fragment, anchor);
        window.setTimeout(function () { transcript.setAttribute("aria-live", "polite"); }, 1000);
        if (anchor) { transcript.scrollTop += anchor.getBoundingClientRect().top - anchorTop; }
        if (items.length) { document.getElementById("transcript-empty").hidden = true; }
        if (data.earlier_before) {
          link.setAttribute("data-before", data.earlier_before);
          link.href = "/staff/conversations/" + id + "?before=" + data.earlier_before;
        } else {
          link.closest("p").remove();
        }
        if (items.length) {
          var newest = items[items.length - 1];
          newest.tabIndex = -1;
          newest.focus();
        }
        setStatus(items.length === 1 ? "1 earlier message shown." : items.length + " earlier messages shown.");
      }).catch(function () {
        setStatus("Could not load the earlier messages; try again.");
      }).then(function () {
        loading = false;
        link.removeAttribute("aria-disabled");
      });
    });
  }

  function startConversation() {
    var root = document.getElementById("conversation");
    var id = root.getAttribute("data-conversation-id");
    var transcript = document.getElementById("transcript");
    var notes = document.getElementById("notes");
    // New messages are added only below the newest ones; an earlier page keeps its messages.
    var newest = transcript.getAttribute("data-newest") !== "no";
    var busy = false;
    var again = false;
    function refresh() {
      if (busy) { again = true; return; }
      busy = true;
      var url = "/staff/api/conversations/" + id + "?after_note=" + lastId("#notes .note", "data-note-id");
      if (newest) { url += "&after=" + lastId("#transcript .msg", "data-message-id"); }
      getJSON(url).then(function (data) {
        data.messages.forEach(function (m) { transcript.appendChild(messageItem(m)); });
        if (data.messages.length) {
          document.getElementById("transcript-empty").hidden = true;
          transcript.scrollTop = transcript.scrollHeight;
        }
        if (data.more_after) { again = true; } // more arrived than one answer holds
        data.notes.forEach(function (n) { notes.appendChild(noteItem(n)); });
        drawHeader(data.conversation);
      }).catch(function () {
        setStatus("Could not refresh; retrying on the next change.");
      }).then(function () {
        busy = false;
        if (again) { again = false; refresh(); }
      });
    }
    transcript.scrollTop = transcript.scrollHeight;
    enhanceEarlierLink(id, transcript);
    enhanceForms(function (form) {
      if (form.closest(".conv-requests")) { form.replaceWith(el("span", "sub", "Marked done.")); }
      if (form.classList.contains("msg-flag")) { form.replaceWith(el("span", "sub msg-flag", "In the teaching queue")); }
      if (!newest && form.id === "reply-form") { // the reply is with the newest messages: go there
        window.location.assign("/staff/conversations/" + id);
        return;
      }
      refresh();
    });
    live(function (data) {
      if (!data || data.conversation_id === null || String(data.conversation_id) === id) { refresh(); }
    });
  }

  var alerting = startAlerts();
  if (page === "inbox") { startInbox(); }
  else if (page === "conversation") { startConversation(); }
  else if (alerting) { live(function () { /* other pages only keep the alerts current */ }); }
})();
