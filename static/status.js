// Live payment status: a WebSocket pushes each change; polling the JSON endpoint is the fallback
// when a socket cannot be held. Without this script the page still shows the status it was served with.
(function () {
  "use strict";
  var root = document.getElementById("live-status");
  if (!root) return;
  var liveUrl = root.dataset.liveUrl;
  var jsonUrl = root.dataset.jsonUrl;
  var returning = root.dataset.returning === "true";
  var version = parseInt(root.dataset.version, 10) || 0;
  var finished = root.dataset.final === "true";
  var socket = null;
  var retryDelay = 1000;
  var failures = 0;
  var pollTimer = null;
  var reconnectTimer = null;
  var POLL_EVERY = 3000;
  var MAX_DELAY = 30000;
  var SOCKET_FAILURES_BEFORE_POLLING = 3;

  var note = document.getElementById("live-note");
  if (note) note.textContent = finished ? "" : "This page updates by itself.";

  function el(tag, attrs, text) {
    var node = document.createElement(tag);
    Object.keys(attrs).forEach(function (k) { node.setAttribute(k, attrs[k]); });
    if (text) node.textContent = text;
    return node;
  }

  function render(p) {
    var key = p.view.key;
    var confirming = returning && key === "pending";
    var card = document.getElementById("status");
    card.className = "status-card status-" + key;
    document.getElementById("status-title").textContent = confirming ? "Confirming your payment…" : p.view.title;
    document.getElementById("status-detail").textContent = confirming
      ? "Your bank or card issuer is confirming it with us. This usually takes a few seconds; this page updates by itself."
      : p.view.detail;
    var actions = document.getElementById("status-actions");
    actions.textContent = "";
    if (p.next_step) actions.appendChild(el("a", { "class": "button", href: p.next_step.url }, p.next_step.label));
    if (p.checkout_url && !confirming) {
      actions.appendChild(el("a", { "class": "button", href: p.checkout_url }, key === "declined" ? "Try again" : "Continue to payment"));
    }
    if (key === "expired" || key === "failed" || key === "not_started") {
      actions.appendChild(el("a", { "class": "button", href: p.retry_url }, "Start a new payment"));
    }
    document.body.dataset.paymentStatus = key;
    if (p.view.final) {
      finished = true;
      if (note) note.textContent = "";
      stop();
    }
  }

  function accept(message) {
    if (!message || message.type !== "payment" || message.version < version) return;
    version = message.version;
    render(message.payment);
  }

  function stop() {
    if (socket) { socket.onclose = null; socket.close(1000); socket = null; }
    if (pollTimer) { clearInterval(pollTimer); pollTimer = null; }
    if (reconnectTimer) { clearTimeout(reconnectTimer); reconnectTimer = null; }
  }

  function poll() {
    return fetch(jsonUrl, { cache: "no-store", headers: { Accept: "application/json" } })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (p) { if (p) accept({ type: "payment", version: p.version, payment: p }); })
      .catch(function () { /* offline for a moment: the next poll or socket catches up */ });
  }

  function startPolling() {
    if (pollTimer || finished) return;
    poll();
    pollTimer = setInterval(poll, POLL_EVERY);
  }

  function connect() {
    if (finished || !("WebSocket" in window)) { if (!finished) startPolling(); return; }
    var url = new URL(liveUrl, window.location.href);
    url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
    var opened = false;
    try { socket = new WebSocket(url.toString()); } catch (e) { scheduleReconnect(); return; }
    socket.onopen = function () {
      opened = true;
      failures = 0;
      retryDelay = 1000;
      if (pollTimer) { clearInterval(pollTimer); pollTimer = null; }
    };
    socket.onmessage = function (event) {
      try { accept(JSON.parse(event.data)); } catch (e) { /* ignore a frame we cannot read */ }
    };
    socket.onclose = function () {
      socket = null;
      if (finished) return;
      if (!opened) failures += 1;
      // Proxies that block upgrades, or phones that kill background sockets: poll meanwhile.
      if (failures >= SOCKET_FAILURES_BEFORE_POLLING) startPolling();
      scheduleReconnect();
    };
  }

  function scheduleReconnect() {
    if (finished || reconnectTimer) return;
    var jittered = retryDelay / 2 + Math.random() * retryDelay / 2;
    retryDelay = Math.min(retryDelay * 2, MAX_DELAY);
    reconnectTimer = setTimeout(function () { reconnectTimer = null; connect(); }, jittered);
  }

  document.addEventListener("visibilitychange", function () {
    if (document.visibilityState !== "visible" || finished) return;
    poll();  // the tab was asleep: catch up at once
    if (!socket) { retryDelay = 1000; if (reconnectTimer) { clearTimeout(reconnectTimer); reconnectTimer = null; } connect(); }
  });

  if (!finished) connect();
})();
