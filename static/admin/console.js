// The console's small helpers: the live feed over /admin/live, copy buttons, one-click forms.
// Everything works without it; it only adds live updates and conveniences.
(function () {
  "use strict";

  function copyButtons() {
    document.querySelectorAll("[data-copy]").forEach(function (button) {
      button.addEventListener("click", function () {
        var input = document.getElementById(button.getAttribute("data-copy"));
        if (!input) return;
        input.select();
        var done = function () { button.textContent = "Copied"; };
        if (navigator.clipboard) {
          navigator.clipboard.writeText(input.value).then(done, function () { document.execCommand("copy"); done(); });
        } else {
          document.execCommand("copy");
          done();
        }
      });
    });
  }

  // A confirmation form is sent once: the button is disabled on submit (the server is safe anyway).
  function oneClickForms() {
    document.querySelectorAll("form[data-once]").forEach(function (form) {
      form.addEventListener("submit", function () {
        form.querySelectorAll("button[type=submit]").forEach(function (b) { b.disabled = true; });
      });
    });
  }

  function feedRow(p) {
    var li = document.createElement("li");
    li.setAttribute("data-payment-id", p.id);
    li.className = "is-new";
    var link = document.createElement("a");
    link.href = p.url;
    link.textContent = p.customer_name;
    var amount = document.createElement("span");
    amount.textContent = p.amount_display;
    var product = document.createElement("span");
    product.textContent = p.product_name;
    var badge = document.createElement("span");
    badge.className = "badge badge-" + p.status;
    badge.textContent = p.status_label;
    var at = document.createElement("time");
    at.className = "fine-print";
    at.textContent = new Date(p.created_at).toISOString().slice(0, 16).replace("T", " ") + " UTC";
    [link, amount, product, badge, at].forEach(function (node) { li.appendChild(node); });
    return li;
  }

  // The dashboard's figures and chart, fetched again from the server after payments change (at
  // most one request at a time; changes arriving meanwhile are covered by one more fetch after it).
  var figures = {busy: false, again: false, timer: null};
  function refreshFigures() {
    var box = document.querySelector("[data-figures]");
    if (!box) return;
    if (figures.busy) { figures.again = true; return; }
    figures.busy = true;
    fetch(box.getAttribute("data-figures-url"), {credentials: "same-origin", headers: {Accept: "text/html"}})
      .then(function (response) {
        // Redirected: the session ended, and the login page is not figures.
        if (!response.ok || response.redirected) return null;
        return response.text();
      })
      .then(function (html) { if (html !== null) box.innerHTML = html; }, function () {})
      .then(function () {
        figures.busy = false;
        if (figures.again) { figures.again = false; refreshFigures(); }
      });
  }
  function figuresSoon() {
    clearTimeout(figures.timer);
    figures.timer = setTimeout(refreshFigures, 300);  // a burst of changes makes one request
  }

  function show(payment) {
    figuresSoon();
    var feed = document.querySelector("[data-live-feed]");
    if (feed) {
      var old = feed.querySelector('[data-payment-id="' + CSS.escape(payment.id) + '"]');
      if (old) old.remove();
      feed.insertBefore(feedRow(payment), feed.firstChild);
      while (feed.children.length > 25) feed.removeChild(feed.lastChild);
    }
    var note = document.querySelector("[data-watch-payment]");
    if (note && note.getAttribute("data-watch-payment") === payment.id &&
        payment.version > Number(note.getAttribute("data-version"))) {
      note.querySelector("[data-new-status]").textContent = payment.status_label;
      note.hidden = false;
    }
  }

  function live() {
    if (!document.querySelector("[data-live-feed], [data-watch-payment]")) return;
    var state = document.querySelector("[data-live-state]");
    var delay = 1000;
    var say = function (text) { if (state) state.textContent = text; };
    function connect() {
      var scheme = location.protocol === "https:" ? "wss://" : "ws://";
      var ws = new WebSocket(scheme + location.host + document.body.getAttribute("data-live-url"));
      ws.onopen = function () {
        delay = 1000;
        say("live");
        var box = document.querySelector("[data-figures]");
        if (box) {
          // Changes made while the socket was down never arrive as frames: catch up once.
          if (box.classList.contains("was-live")) figuresSoon();
          box.classList.add("is-live", "was-live");
        }
      };
      ws.onmessage = function (event) {
        var frame = JSON.parse(event.data);
        if (frame.type === "payment") show(frame.payment);
      };
      ws.onclose = function () {
        say("reconnecting…");
        var box = document.querySelector("[data-figures]");
        if (box) box.classList.remove("is-live");
        setTimeout(connect, delay);
        delay = Math.min(delay * 2, 30000);
      };
    }
    connect();
  }

  copyButtons();
  oneClickForms();
  live();
})();
