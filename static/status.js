// Live payment status: a WebSocket pushes each change; polling the JSON endpoint is the fallback
// when a socket cannot be held. Without this script the page shows the status it was served with
// and a refresh link.
//
// A paid page keeps listening: a refund or a dispute can still follow, and the customer looking at
// the page should see it. It stops for good at an end nothing follows (refunded, expired, failed).
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
  var ENDS = { refunded: true, expired: true, failed: true, not_started: true };
  var ended = false;
  var note = document.getElementById("live-note");

  var POLL_WAITING = 3000;    // while the customer waits for an outcome
  var POLL_SETTLED = 30000;   // after it: only refunds and disputes can still come
  var MAX_DELAY = 30000;
  var SOCKET_FAILURES_BEFORE_POLLING = 2;
  var CONFIRMING_TITLE = "Confirming your payment…";
  var CONFIRMING_DETAIL = "Your bank or card issuer is confirming it with us. This usually takes a few seconds; this page updates by itself.";

  var socket = null;
  var retryDelay = 1000;
  var failures = 0;
  var pollTimer = null;
  var pollEvery = 0;
  var reconnectTimer = null;

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
    document.getElementById("status").className = "status-card status-" + (confirming ? "confirming" : key);
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
    try { socket = new WebSocket(url.toString()); } catch (e) { socketFailed(); return; }
    socket.onmessage = function (event) {
      if (!delivered) {
        // The server sends the current snapshot first: only now is the socket known to work.
        delivered = true;
        failures = 0;
        retryDelay = 1000;
        stopPolling();
      }
      try { accept(JSON.parse(event.data)); } catch (e) { /* ignore a frame we cannot read */ }
    };
    socket.onclose = function () {
      socket = null;
      if (!delivered) { socketFailed(); return; }
      // A socket that worked and dropped (a phone asleep, a proxy timeout): catch up, then reconnect.
      poll();
      scheduleReconnect();
    };
  }

  function socketFailed() {
    // Proxies that block upgrades, or accept them and never pass a frame: poll meanwhile.
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

  document.addEventListener("visibilitychange", function () {
    if (document.visibilityState !== "visible" || ended) return;
    poll();  // the tab was asleep: catch up at once
    if (!socket) {
      retryDelay = 1000;
      if (reconnectTimer) { clearTimeout(reconnectTimer); reconnectTimer = null; }
      connect();
    }
  });

  showNote();
  if (ENDS[root.dataset.status]) ended = true;
  connect();
})();
