// Payment page enhancements: the total as quantity or amount changes, suggested amounts, and a busy
// button while the checkout starts. The form works without this script; it only makes it nicer.
(function () {
  "use strict";

  // Reading typed amounts exactly as the server's money.parse_amount does, so the total never
  // shows an amount the server would refuse. The amount box carries the shop locale's number
  // symbols and group sizes, and those of the swapped convention ("," and "." exchanged).
  var MAX_TYPED = 32;
  var SPACES = " \u00a0\u202f";  // a typed space stands for a space-like group separator
  var SIGNS = "+-\u2212";
  var DISPLAY = { decimal: ".", group: ",", grouping: [3, 3] };  // how amounts are displayed: €1,234.50

  function grouped(digits, convention) {
    // Babel's grouping: the first group from the right, then every further group.
    var size = convention.grouping[0];
    var out = "";
    while (size > 0 && digits.length > size) {
      out = convention.group + digits.slice(-size) + out;
      digits = digits.slice(0, -size);
      size = convention.grouping[1];
    }
    return digits + out;
  }
  function written(integer, fraction, convention) {
    var number = grouped(integer.replace(/^0+/, "") || "0", convention);
    if (fraction) number += convention.decimal + fraction;
    // Babel unquotes 'text' in what it writes, which swallows apostrophe group separators in pairs.
    return number.replace(/'([^']*)'/g, function (all, inner) { return inner || "'"; });
  }
  function withoutTrailingZeros(text, decimal) {
    var at = text.indexOf(decimal);
    if (at < 0) return text;
    var fraction = text.slice(at + decimal.length).replace(/0+$/, "");
    return fraction ? text.slice(0, at) + decimal + fraction : text.slice(0, at);
  }
  function replaceAll(text, from, to) { return text.split(from).join(to); }

  // Babel's parse_decimal(text, locale, strict=True): {integer, fraction} digits, or null.
  function readStrict(text, convention) {
    if (SPACES.indexOf(convention.group) >= 0) {
      text = Array.from(text).map(function (c) { return SPACES.indexOf(c) >= 0 ? convention.group : c; }).join("");
    }
    var plain = replaceAll(replaceAll(text, convention.group, ""), convention.decimal, ".");
    var match = /^(\d*)(?:\.(\d*))?$/.exec(plain);
    if (!match || !/\d/.test(plain)) return null;
    var integer = match[1], fraction = match[2] || "";
    if (text.indexOf(convention.group) >= 0) {
      var proper = written(integer, fraction.replace(/0+$/, ""), convention);
      if (text !== proper && withoutTrailingZeros(text, convention.decimal) !== proper) return null;
    }
    return { integer: integer, fraction: fraction };
  }
  function minorDigits(reading, places) {
    var fraction = reading.fraction;
    while (fraction.length < places) fraction += "0";
    return (reading.integer + fraction).replace(/^0+/, "") || "0";
  }
  function formatMajor(digits, places, convention) {
    while (digits.length <= places) digits = "0" + digits;
    return written(digits.slice(0, digits.length - places), places ? digits.slice(-places) : "", convention);
  }
  function displayMarks(zero) {
    var match = /0(\.0+)?/.exec(zero);
    return { prefix: zero.slice(0, match.index), suffix: zero.slice(match.index + match[0].length) };
  }

  // {minor} or {error, message}; rules as typingRules() gives them.
  function parse(text, rules) {
    var places = rules.decimals;
    var own = rules.own, alt = rules.alt;
    var example = rules.example;
    function refuse(kind, message) { return { error: kind, message: message }; }
    if (Array.from(text).length > MAX_TYPED) {
      return refuse("too_long", "That is too long for an amount: use at most " + MAX_TYPED + " characters, like " + example + ".");
    }
    var typed = text.trim();
    if (!typed) return refuse("empty", "Enter an amount, like " + example + ".");
    var hint = "Enter the amount in digits, like " + example + " or " + rules.largerExample + ".";
    var displayed = asDisplayed(typed, rules);
    if (displayed !== null) return { minor: Number(displayed) };
    var allowed = "0123456789.," + SPACES + own.group;
    var chars = Array.from(typed);
    for (var i = 0; i < chars.length; i++) {
      var c = chars[i];
      if (allowed.indexOf(c) >= 0) continue;
      if (SIGNS.indexOf(c) >= 0) return refuse("sign", "Enter the amount without a plus or minus sign, like " + example + ".");
      if (/\p{Nd}/u.test(c)) return refuse("digits", "Enter the amount with the digits 0 to 9, like " + example + ".");
      return refuse("not_a_number", hint);
    }
    if (!/[0-9]/.test(typed)) return refuse("not_a_number", hint);
    var values = [], ownValue = null, tooPrecise = false, ownTooPrecise = false;
    [own, alt].forEach(function (convention) {
      var reading = readStrict(typed, convention);
      if (reading === null) return;
      if (reading.fraction.length > places) {
        // "7,505" in a decimal-comma shop is a slip of a finger, not 7,505 euros.
        if (convention === own) ownTooPrecise = true;
        tooPrecise = true;
        return;
      }
      var digits = minorDigits(reading, places);
      if (convention === own) ownValue = digits;
      if (values.indexOf(digits) < 0) values.push(digits);
    });
    if (ownTooPrecise) values = [];
    if (!values.length) {
      if (!tooPrecise) return refuse("not_a_number", hint);
      return refuse("decimals", places === 0
        ? "Enter a whole amount, without decimals, like " + example + "."
        : "Enter the amount with at most " + places + " decimals, like " + example + ".");
    }
    if (values.length > 1) {
      // Exactly what the page itself puts in the box is read the page's way.
      if (ownValue === null || formatMajor(ownValue, places, own) !== typed) {
        var a = formatMajor(values[0], places, own), b = formatMajor(values[1], places, own);
        var code = rules.currency.toUpperCase();
        return refuse("ambiguous", "\u201c" + typed + "\u201d could mean " + a + " " + code + " or " + b + " " + code +
          "; write it as " + a + " or " + b + ".");
      }
      values = [ownValue];
    }
    if (values[0] === "0") return refuse("zero", "Enter an amount greater than zero, like " + example + ".");
    return { minor: Number(values[0]) };
  }
  // The minor-unit digits when the text is exactly how the page displays an amount ("€1,234.50").
  function asDisplayed(typed, rules) {
    var marks = displayMarks(rules.zero);
    if (typed.length <= marks.prefix.length + marks.suffix.length) return null;
    if (typed.slice(0, marks.prefix.length) !== marks.prefix || typed.slice(typed.length - marks.suffix.length) !== marks.suffix) return null;
    var number = typed.slice(marks.prefix.length, typed.length - marks.suffix.length);
    if (!/^[0-9.,]+$/.test(number)) return null;
    var reading = readStrict(number, DISPLAY);
    if (reading === null || reading.fraction.length > rules.decimals) return null;
    var digits = minorDigits(reading, rules.decimals);
    if (digits === "0") return null;
    var fixed = formatMajor(digits, rules.decimals, { decimal: ".", group: ",", grouping: [3, 3] });
    return marks.prefix + fixed + marks.suffix === typed ? digits : null;
  }
  function grouping(text) { return text ? text.split(",").map(Number) : [0, 0]; }
  // The rules an amount box carries in its data attributes (see Product.amount_rules).
  function typingRules(data, currency, zero) {
    return {
      currency: currency,
      zero: zero,
      decimals: Number(data.decimals),
      own: { decimal: data.decimalSymbol, group: data.groupSymbol, grouping: grouping(data.grouping) },
      alt: { decimal: data.altDecimalSymbol, group: data.altGroupSymbol, grouping: grouping(data.altGrouping) },
      example: data.example,
      largerExample: data.largerExample,
    };
  }
  window.paydeskAmounts = { parse: parse, typingRules: typingRules };

  var form = document.getElementById("pay-form");
  if (!form) return;
  var totalBox = form.querySelector(".order-total");
  var totalOut = document.getElementById("total");
  var button = document.getElementById("pay-button");
  var label = button.querySelector(".pay-button-label");
  var idleLabel = label.textContent;
  var edited = {};  // amount boxes changed since the server last answered about them

  // Each card carries the server's rendering of zero in its currency ("€0.00", "¥0", "0.000 KWD"):
  // its decimals tell the currency's exponent, and amounts are written the same way the server does.
  function places(zero) {
    var match = /0\.(0+)/.exec(zero);
    return match ? match[1].length : 0;
  }
  function format(minor, zero) {
    var marks = displayMarks(zero);
    return marks.prefix + formatMajor(String(minor), places(zero), DISPLAY) + marks.suffix;
  }
  function selectedCard() {
    var radio = form.querySelector(".product-radio:checked");
    return radio ? radio.closest(".product-card") : null;
  }
  // The chosen amount in minor units, or {problem} to show under the box; null when it is blank.
  function chosenAmount(card, input) {
    var zero = card.dataset.zero;
    if (!input.value.trim()) return null;
    var result = parse(input.value, typingRules(input.dataset, card.dataset.currency, zero));
    if (result.error) return { problem: result.message };
    var low = Number(input.dataset.minimum), high = Number(input.dataset.maximum);
    if (result.minor < low || result.minor > high) {
      return { problem: "Choose an amount from " + format(low, zero) + " to " + format(high, zero) + "." };
    }
    return { minor: result.minor };
  }
  function showProblem(input, problem) {
    var box = document.getElementById(input.id + "-check");
    if (!box) return;
    var serverSaid = document.getElementById(input.id + "-error");
    if (serverSaid && edited[input.id]) serverSaid.remove();  // it was about the text before the edit
    else if (serverSaid) problem = null;  // the server's own message for this text is on show
    if (box.textContent !== (problem || "")) box.textContent = problem || "";
    box.classList.toggle("field-error", Boolean(problem));
    if (problem) {
      input.setAttribute("aria-invalid", "true");
      input.setAttribute("aria-describedby", box.id);
    } else if (!serverSaid || edited[input.id]) {
      input.removeAttribute("aria-invalid");
      input.removeAttribute("aria-describedby");
    }
  }
  function update() {
    var card = selectedCard();
    form.querySelectorAll(".product-card").forEach(function (each) {
      each.classList.toggle("is-selected", each === card);
      var input = each.querySelector(".amount-input");
      if (input && each !== card) showProblem(input, null);
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
      if (amount) {
        var chosen = chosenAmount(card, amount);
        showProblem(amount, chosen && chosen.problem);
        if (chosen && chosen.minor !== undefined) minor = chosen.minor;
        card.querySelectorAll(".preset").forEach(function (preset) {
          var rules = typingRules(amount.dataset, card.dataset.currency, zero);
          var pressed = minor !== null && parse(preset.dataset.value, rules).minor === minor;
          preset.setAttribute("aria-pressed", String(pressed));
        });
      }
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
    edited[input.id] = true;
    update();
  });
  form.addEventListener("input", function (event) {
    if (event.target.classList && event.target.classList.contains("amount-input")) edited[event.target.id] = true;
    update();
  });
  form.addEventListener("change", update);
  form.addEventListener("submit", function (event) {
    if (button.disabled) { event.preventDefault(); return; }  // a second Enter or click while busy
    // Disable after the browser has collected the fields; a second click cannot send a second form.
    setTimeout(function () { button.disabled = true; }, 0);
    button.classList.add("is-busy");
    button.setAttribute("aria-busy", "true");
    label.textContent = "Starting secure checkout…";
  });
  // Back from the checkout page: the browser puts back the form as it was left (from its page
  // cache, or by refilling the boxes after this script ran), so the total is worked out anew.
  window.addEventListener("pageshow", function (event) {
    if (event.persisted) idle();
    update();
  });
  update();
})();
