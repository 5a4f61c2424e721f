// "My payments": the newest listed payments follow their status pages' live sockets and show each
// new status (a refund or dispute can follow a paid one). Without this script the page shows the
// status it was served with.
"use strict";
(function () {
  var FOLLOWED = 20; // the newest payments; older ones show their status as served
  var scheme = location.protocol === "https:" ? "wss://" : "ws://";
  var items = Array.prototype.slice.call(document.querySelectorAll("[data-live-url]"), 0, FOLLOWED);
  items.forEach(function (item) {
    var version = Number(item.dataset.version);
    var socket = new WebSocket(scheme + location.host + item.dataset.liveUrl);
    socket.onmessage = function (event) {
      var frame = JSON.parse(event.data);
      if (frame.type !== "payment" || frame.version <= version) return;
      version = frame.version;
      item.dataset.version = String(version);
      item.dataset.status = frame.payment.view.key;
      item.querySelector("[data-status]").textContent = frame.payment.view.title;
    };
  });
})();
