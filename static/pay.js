// Payment page enhancements: live total, suggested amounts, and a busy button while checkout starts.
// The form works without this script; it only makes it nicer.
(function () {
  "use strict";
  var form = document.getElementById("pay-form");
  if (!form) return;
  var totalBox = form.querySelector(".total");
  var totalOut = document.getElementById("total");
  var button = document.getElementById("pay-button");
  var decimals = { bif: 0, clp: 0, djf: 0, gnf: 0, jpy: 0, kmf: 0, krw: 0, mga: 0, pyg: 0, rwf: 0, ugx: 0, vnd: 0, vuv: 0, xaf: 0, xof: 0, xpf: 0, bhd: 3, jod: 3, kwd: 3, omr: 3, tnd: 3 };

  function exponent(currency) { return currency in decimals ? decimals[currency] : 2; }
  function format(minor, currency) {
    var places = exponent(currency);
    return new Intl.NumberFormat(undefined, { style: "currency", currency: currency.toUpperCase(), minimumFractionDigits: places, maximumFractionDigits: places }).format(minor / Math.pow(10, places));
  }
  function selectedCard() {
    var radio = form.querySelector(".product-radio:checked");
    return radio ? radio.closest(".product-card") : null;
  }
  function update() {
    form.querySelectorAll(".product-card").forEach(function (card) {
      card.classList.toggle("is-selected", card === selectedCard());
    });
    var card = selectedCard();
    if (!card) { totalBox.hidden = true; return; }
    var currency = card.dataset.currency;
    var unit = card.dataset.unitAmount;
    var minor = null;
    if (unit) {
      var qty = card.querySelector(".quantity-input");
      var n = qty ? parseInt(qty.value, 10) : 1;
      if (n > 0) minor = n * parseInt(unit, 10);
    } else {
      var amount = card.querySelector(".amount-input");
      var value = amount ? parseFloat(amount.value.replace(/,/g, "")) : NaN;
      if (value > 0) minor = Math.round(value * Math.pow(10, exponent(currency)));
      card.querySelectorAll(".preset").forEach(function (p) {
        p.setAttribute("aria-pressed", String(amount && p.dataset.value === amount.value));
      });
    }
    totalBox.hidden = minor === null;
    if (minor !== null) totalOut.textContent = format(minor, currency);
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
  form.addEventListener("submit", function () {
    // Disable after the browser has collected the fields; a second click cannot send a second form.
    setTimeout(function () { button.disabled = true; }, 0);
    button.classList.add("is-busy");
    button.querySelector(".pay-button-label").textContent = "Starting secure checkout…";
  });
  window.addEventListener("pageshow", function () {
    // Coming back with the Back button: make the button usable again.
    button.disabled = false;
    button.classList.remove("is-busy");
    button.querySelector(".pay-button-label").textContent = "Continue to secure payment";
  });
  update();
})();
