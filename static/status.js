// Live payment status: a WebSocket pushes each change; polling the JSON endpoint is the fallback
// when a socket cannot be held. Without this script the page shows the status it was served with
// and a refresh link. The status page and the cancel page both run it.
//
// A socket can be open and still pass nothing (a proxy that accepts the upgrade and then holds it).
// The server sends its snapshot at once, then a heartbeat frame every data-heartbeat-s seconds, so
// a socket late with either is given up: the page polls and keeps trying a socket with backoff.
//
// A paid page keeps listening: a refund or a dispute can still follow, and the customer looking at
// the page should see it. So does a refunded one: a refund can still fail, and a pending one is on
// its way. It stops for good at an end nothing follows (expired, failed, not started).
(function () {
  "use strict";
  var root = document.getElementById("live-status");
  if (!root || !("fetch" in window)) return;
  var liveUrl = root.dataset.liveUrl;
  var jsonUrl = root.dataset.jsonUrl;
  var shopName = root.dataset.shopName;
  var returning = root.dataset.returning === "true";
  var version = parseInt(root.dataset.version, 10) || 0;
  var finished = root.dataset.final === "true";
  var heartbeatMs = (parseFloat(root.dataset.heartbeatS) || 15) * 1000;
  var ENDS = { expired: true, failed: true, not_started: true };
  var ended = false;
  var note = document.getElementById("live-note");

  var POLL_WAITING = 3000;    // while the customer waits for an outcome
  var POLL_SETTLED = 30000;   // after it: only refunds and disputes can still come
  var MAX_DELAY = 30000;
  var SOCKET_FAILURES_BEFORE_POLLING = 2;
  var FIRST_FRAME_MS = 5000;  // the server sends its snapshot as soon as the socket opens
  var SILENCE_MS = heartbeatMs * 2.5;  // one heartbeat late, and then some
  var CONFIRMING_TITLE = "Confirming your payment…";
  var CONFIRMING_DETAIL = "Your bank or card issuer is confirming it with us. This usually takes a few seconds.";

  var socket = null;
  var retryDelay = 1000;
  var failures = 0;
  var pollTimer = null;
  var pollEvery = 0;
  var reconnectTimer = null;
  var silenceTimer = null;

  function el(tag, attrs, text) {
    var node = document.createElement(tag);
    Object.keys(attrs).forEach(function (k) { node.setAttribute(k, attrs[k]); });
    if (text) node.textContent = text;
    return node;
  }

  function showNote() {
    if (!note) return;
    note.textContent = "";
    note.classList.toggle("is-live", !finished);
    // Once settled there is nothing to wait for; the page still updates if something changes.
    if (!finished) note.appendChild(el("span", {}, "This page updates by itself."));
  }

  function render(p) {
    var key = p.view.key;
    var confirming = returning && key === "pending";
    var title = confirming ? CONFIRMING_TITLE : p.view.title;
    var outcome = p.view.outcome ? " outcome-" + p.view.outcome : "";
    document.getElementById("status").className = "status-card status-" + (confirming ? "confirming" : key) + outcome;
    document.getElementById("status-title").textContent = title;
    document.getElementById("status-detail").textContent = confirming ? CONFIRMING_DETAIL : p.view.detail;
    var actions = document.getElementById("status-actions");
    actions.textContent = "";
    if (p.next_step) actions.appendChild(el("a", { "class": "button", href: p.next_step.url }, p.next_step.label));
    if (p.checkout_url && !confirming) {
      actions.appendChild(el("a", { "class": "button", href: p.checkout_url }, key === "declined" ? "Try again" : "Continue to payment"));
    }
    if (key === "expired" || key === "failed" || key === "not_started") {
      actions.appendChild(el("a", { "class": "button", href: p.retry_url }, "Start a new payment"));
    }
    document.title = title + " · " + shopName;
    root.dataset.status = key;
    // The cancel page says nothing was charged; only while it is true.
    document.querySelectorAll("[data-while-nothing-charged]").forEach(function (node) {
      node.hidden = !p.nothing_charged;
    });
    if (p.view.final && !finished) {
      finished = true;
      if (pollTimer) startPolling(true);  // slow down
    }
    if (ENDS[key]) end();
    showNote();
  }

  function end() {
    ended = true;
    root.dataset.live = "ended";
    stopPolling();
    if (reconnectTimer) { clearTimeout(reconnectTimer); reconnectTimer = null; }
    stopWatching();
    if (socket) { socket.onclose = null; socket.close(1000); socket = null; }
  }

  function accept(message) {
    if (!message || message.type !== "payment" || message.version < version) return;
    version = message.version;
    render(message.payment);
  }

  function poll() {
    return fetch(jsonUrl, { cache: "no-store", headers: { Accept: "application/json" } })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (p) { if (p) accept({ type: "payment", version: p.version, payment: p }); })
      .catch(function () { /* offline for a moment: the next poll or socket catches up */ });
  }

  function startPolling(restart) {
    if (ended) return;
    var every = finished ? POLL_SETTLED : POLL_WAITING;
    if (pollTimer && !restart && every === pollEvery) return;
    stopPolling();
    pollEvery = every;
    if (!restart) poll();
    pollTimer = setInterval(poll, every);
  }

  function stopPolling() {
    if (pollTimer) { clearInterval(pollTimer); pollTimer = null; }
  }

  function connect() {
    if (ended) return;
    if (!("WebSocket" in window)) { startPolling(false); return; }
    var url = new URL(liveUrl, window.location.href);
    url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
    var delivered = false;
    var ws;
    try { ws = new WebSocket(url.toString()); } catch (e) { socketFailed(); return; }
    socket = ws;
    watch(ws, FIRST_FRAME_MS);
    ws.onmessage = function (event) {
      if (!delivered) {
        // The server sends the current snapshot first: only now is the socket known to work.
        delivered = true;
        failures = 0;
        retryDelay = 1000;
        stopPolling();
      }
      watch(ws, SILENCE_MS);  // a snapshot or a heartbeat: either says the socket still works
      try { accept(JSON.parse(event.data)); } catch (e) { /* ignore a frame we cannot read */ }
    };
    ws.onclose = function () {
      stopWatching();
      socket = null;
      if (!delivered) { socketFailed(); return; }
      // A socket that worked and dropped (a phone asleep, a proxy timeout): catch up, then reconnect.
      poll();
      scheduleReconnect();
    };
  }

  function watch(ws, ms) {
    stopWatching();
    silenceTimer = setTimeout(function () { socketSilent(ws); }, ms);
  }

  function stopWatching() {
    if (silenceTimer) { clearTimeout(silenceTimer); silenceTimer = null; }
  }

  function socketSilent(ws) {
    // Open but saying nothing: as good as no socket. Poll now, and try a fresh socket later.
    silenceTimer = null;
    if (socket !== ws) return;
    ws.onmessage = null;
    ws.onclose = null;
    ws.close();
    socket = null;
    failures += 1;
    startPolling(false);
    scheduleReconnect();
  }

  function socketFailed() {
    // Proxies that refuse the upgrade: after a second refusal in a row, poll meanwhile.
    failures += 1;
    if (failures >= SOCKET_FAILURES_BEFORE_POLLING) startPolling(false);
    scheduleReconnect();
  }

  function scheduleReconnect() {
    if (reconnectTimer) return;
    var jittered = retryDelay / 2 + Math.random() * retryDelay / 2;
    retryDelay = Math.min(retryDelay * 2, MAX_DELAY);
    reconnectTimer = setTimeout(function () { reconnectTimer = null; connect(); }, jittered);
  }

  function catchUp() {
    if (ended) return;
    poll();  // the tab was asleep or kept in the history cache: catch up at once
    if (!socket) {
      retryDelay = 1000;
      if (reconnectTimer) { clearTimeout(reconnectTimer); reconnectTimer = null; }
      connect();
    }
  }

  document.addEventListener("visibilitychange", function () {
    if (document.visibilityState === "visible") catchUp();
  });
  window.addEventListener("pageshow", function (event) {
    if (event.persisted) catchUp();
  });

  showNote();
  if (ENDS[root.dataset.status]) ended = true;
  connect();
})();
