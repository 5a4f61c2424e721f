// Payment page enhancements: the total as quantity or amount changes, suggested amounts, and a busy
// button while the checkout starts. The form works without this script; it only makes it nicer.
(function () {
  "use strict";
  var form = document.getElementById("pay-form");
  if (!form) return;
  var totalBox = form.querySelector(".order-total");
  var totalOut = document.getElementById("total");
  var button = document.getElementById("pay-button");
  var label = button.querySelector(".pay-button-label");
  var idleLabel = label.textContent;

  // Each card carries the server's rendering of zero in its currency ("€0.00", "¥0", "0.000 KWD"):
  // its decimals tell the currency's exponent, and amounts are written the same way the server does.
  function places(zero) {
    var match = /0\.(0+)/.exec(zero);
    return match ? match[1].length : 0;
  }
  function format(minor, zero) {
    var p = places(zero);
    var number = (minor / Math.pow(10, p)).toLocaleString("en-US", { minimumFractionDigits: p, maximumFractionDigits: p });
    return zero.replace(/0(\.0+)?/, number);
  }
  function parseMajor(text, p) {
    var cleaned = text.replace(/[,\s]/g, "").replace(/^[^\d.]+/, "");
    if (!/^\d*\.?\d*$/.test(cleaned) || cleaned === "" || cleaned === ".") return null;
    var value = Number(cleaned);
    var minor = Math.round(value * Math.pow(10, p));
    return value > 0 && Math.abs(minor - value * Math.pow(10, p)) < 1e-6 ? minor : null;
  }
  function selectedCard() {
    var radio = form.querySelector(".product-radio:checked");
    return radio ? radio.closest(".product-card") : null;
  }
  function update() {
    var card = selectedCard();
    form.querySelectorAll(".product-card").forEach(function (each) {
      each.classList.toggle("is-selected", each === card);
    });
    if (!card) { totalBox.hidden = true; return; }
    var zero = card.dataset.zero;
    var unit = card.dataset.unitAmount;
    var minor = null;
    if (unit) {
      var qty = card.querySelector(".quantity-input");
      var n = qty ? Number(qty.value) : 1;
      var min = qty ? Number(qty.min) : 1;
      var max = qty ? Number(qty.max) : 1;
      if (Number.isInteger(n) && n >= min && n <= max) minor = n * Number(unit);
    } else {
      var amount = card.querySelector(".amount-input");
      if (amount) minor = parseMajor(amount.value, places(zero));
      card.querySelectorAll(".preset").forEach(function (preset) {
        var pressed = amount !== null && parseMajor(amount.value, places(zero)) === parseMajor(preset.dataset.value, places(zero));
        preset.setAttribute("aria-pressed", String(pressed));
      });
    }
    totalBox.hidden = minor === null;
    if (minor !== null && totalOut.textContent !== format(minor, zero)) totalOut.textContent = format(minor, zero);
  }
  function idle() {
    button.disabled = false;
    button.classList.remove("is-busy");
    button.removeAttribute("aria-busy");
    label.textContent = idleLabel;
  }

  form.querySelectorAll(".presets").forEach(function (box) { box.hidden = false; });
  form.addEventListener("click", function (event) {
    var preset = event.target.closest(".preset");
    if (!preset) return;
    var input = document.getElementById(preset.dataset.target);
    input.value = preset.dataset.value;
    update();
  });
  form.addEventListener("input", update);
  form.addEventListener("change", update);
  form.addEventListener("submit", function (event) {
    if (button.disabled) { event.preventDefault(); return; }  // a second Enter or click while busy
    // Disable after the browser has collected the fields; a second click cannot send a second form.
    setTimeout(function () { button.disabled = true; }, 0);
    button.classList.add("is-busy");
    button.setAttribute("aria-busy", "true");
    label.textContent = "Starting secure checkout…";
  });
  // Back from the checkout page with the Back button (page restored from cache): usable again.
  window.addEventListener("pageshow", function (event) { if (event.persisted) idle(); });
  update();
})();
