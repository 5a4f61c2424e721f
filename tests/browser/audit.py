"""Checks run inside the page: labels, names, contrast, focus rings, overflow, and what each page weighs."""

from __future__ import annotations

from typing import Any

from playwright.async_api import Page, Response

# Every finding is a short sentence naming the element, so a failing test says what to fix.
AUDIT = r"""
() => {
  const problems = [];
  const visible = (el) => {
    const style = getComputedStyle(el);
    const box = el.getBoundingClientRect();
    return style.visibility !== "hidden" && style.display !== "none" && box.width > 0 && box.height > 0;
  };
  const describe = (el) => el.tagName.toLowerCase() + (el.id ? "#" + el.id : "") +
    (el.className && typeof el.className === "string" ? "." + el.className.trim().split(/\s+/).join(".") : "") +
    ' "' + (el.textContent || el.value || "").trim().slice(0, 40) + '"';

  if (!document.documentElement.lang) problems.push("html has no lang");
  if (!document.title.trim()) problems.push("the page has no title");
  const h1s = [...document.querySelectorAll("h1")].filter(visible);
  if (h1s.length !== 1) problems.push(h1s.length + " visible h1 elements");
  for (const img of document.querySelectorAll("img")) {
    if (!img.hasAttribute("alt")) problems.push("image without alt: " + img.src);
  }
  for (const el of document.querySelectorAll("input, select, textarea")) {
    if (el.type === "hidden" || !visible(el)) continue;
    const named = el.labels && el.labels.length > 0 || el.getAttribute("aria-label") || el.getAttribute("aria-labelledby");
    if (!named) problems.push("no label: " + describe(el));
  }
  for (const el of document.querySelectorAll("button, a[href]")) {
    if (!visible(el)) continue;
    if (!(el.textContent.trim() || el.getAttribute("aria-label"))) problems.push("no accessible name: " + describe(el));
    const box = el.getBoundingClientRect();
    const inline = getComputedStyle(el).display === "inline";
    if (!inline && (box.height < 24 || box.width < 24)) problems.push("target under 24 px: " + describe(el));
  }

  // Contrast (WCAG 2 AA): 4.5:1 for text, 3:1 for large text (24 px, or 18.66 px bold).
  const parse = (c) => {
    const m = c.match(/rgba?\(([^)]+)\)/);
    if (!m) return null;
    const p = m[1].split(/[ ,/]+/).filter(Boolean).map(Number);
    return { r: p[0], g: p[1], b: p[2], a: p.length > 3 ? p[3] : 1 };
  };
  const lum = (c) => {
    const ch = [c.r, c.g, c.b].map((v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); });
    return 0.2126 * ch[0] + 0.7152 * ch[1] + 0.0722 * ch[2];
  };
  const over = (top, bottom) => ({
    r: top.r * top.a + bottom.r * (1 - top.a), g: top.g * top.a + bottom.g * (1 - top.a),
    b: top.b * top.a + bottom.b * (1 - top.a), a: 1,
  });
  const background = (el) => {
    const layers = [];
    for (let node = el; node && node.nodeType === 1; node = node.parentElement) {
      const bg = parse(getComputedStyle(node).backgroundColor);
      if (bg && bg.a > 0) { layers.push(bg); if (bg.a >= 1) break; }
    }
    let color = { r: 255, g: 255, b: 255, a: 1 };
    for (const layer of layers.reverse()) color = over(layer, color);
    return color;
  };
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  const seen = new Set();
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    const el = node.parentElement;
    if (!node.textContent.trim() || seen.has(el) || !visible(el)) continue;
    seen.add(el);
    if (el.closest(".visually-hidden, [aria-hidden=true]")) continue;
    const style = getComputedStyle(el);
    const bg = background(el);
    const fg = over(parse(style.color), bg);
    const [hi, lo] = [lum(fg), lum(bg)].sort((a, b) => b - a);
    const ratio = (hi + 0.05) / (lo + 0.05);
    const size = parseFloat(style.fontSize);
    const large = size >= 24 || (size >= 18.66 && Number(style.fontWeight) >= 700);
    if (ratio < (large ? 3 : 4.5)) problems.push("contrast " + ratio.toFixed(2) + ":1 for " + describe(el));
  }
  return problems;
}
"""

OVERFLOW = "() => document.documentElement.scrollWidth - document.documentElement.clientWidth"

FOCUS_RING = r"""
() => {
  const el = document.activeElement;
  if (!el || el === document.body) return null;
  const style = getComputedStyle(el);
  const ring = style.outlineStyle !== "none" && parseFloat(style.outlineWidth) >= 2;
  const shadow = style.boxShadow && style.boxShadow !== "none";
  const card = el.closest(".product-card");
  const cardRing = card && getComputedStyle(card).outlineStyle !== "none";
  return { name: el.tagName.toLowerCase() + (el.id ? "#" + el.id : "") + " " + (el.textContent || "").trim().slice(0, 30)
             + " (outline " + style.outlineStyle + " " + style.outlineWidth + ", shadow " + style.boxShadow
             + ", focus-visible " + el.matches(":focus-visible") + ", page " + location.pathname + ")",
           visible: Boolean(ring || shadow || cardRing) };
}
"""


async def audit(page: Page) -> list[str]:
    return list(await page.evaluate(AUDIT))


async def horizontal_overflow(page: Page) -> int:
    return int(await page.evaluate(OVERFLOW))


async def focus_ring(page: Page) -> dict[str, Any] | None:
    result = await page.evaluate(FOCUS_RING)
    return dict(result) if result else None


class Weigher:
    """Adds up what the page's HTML, CSS and JS cost on the wire (headers and bodies), per page load."""

    COUNTED = frozenset({"document", "stylesheet", "script"})

    def __init__(self, page: Page) -> None:
        self.responses: list[Response] = []
        page.on("response", lambda response: self.responses.append(response))

    def reset(self) -> None:
        self.responses.clear()

    async def total(self) -> tuple[int, dict[str, int]]:
        sizes: dict[str, int] = {}
        for response in self.responses:
            if response.request.resource_type not in self.COUNTED:
                continue
            measured = await response.request.sizes()
            sizes[response.url] = measured["responseBodySize"] + measured["responseHeadersSize"]
        return sum(sizes.values()), sizes
