"""Accessibility basics checked in the browser on every page: labels, names, contrast, keyboard focus, phone width.

The contrast check follows WCAG 2.2 success criterion 1.4.3 (contrast minimum): 4.5:1 for normal text, 3:1 for large
text (at least 24 px, or 18.66 px bold). The relative luminance and contrast ratio are WCAG's definitions
(https://www.w3.org/TR/WCAG22/#dfn-relative-luminance). The background is the first opaque background colour up the
tree; text over images or gradients is not judged (the pages have none).
"""

from __future__ import annotations

from typing import Any

AUDIT_JS = r"""
() => {
  const problems = [];
  const parse = (c) => { const m = c.match(/rgba?\(([^)]+)\)/); if (!m) return null;
    const p = m[1].split(',').map(s => parseFloat(s)); return {r: p[0], g: p[1], b: p[2], a: p.length > 3 ? p[3] : 1}; };
  const lum = (c) => { const f = (v) => { v /= 255; return v <= 0.04045 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); };
    return 0.2126 * f(c.r) + 0.7152 * f(c.g) + 0.0722 * f(c.b); };
  const bg = (el) => { for (let e = el; e; e = e.parentElement) { const c = parse(getComputedStyle(e).backgroundColor);
    if (c && c.a >= 0.99) return c; } return {r: 255, g: 255, b: 255, a: 1}; };
  const visible = (el) => { const r = el.getBoundingClientRect(); const s = getComputedStyle(el);
    return r.width > 0 && r.height > 0 && s.visibility !== 'hidden' && s.display !== 'none' && parseFloat(s.opacity) > 0.1; };
  // 1. every form field has a label (or an aria-label)
  for (const el of document.querySelectorAll('input:not([type=hidden]), select, textarea')) {
    if (!visible(el)) continue;
    if ((!el.labels || el.labels.length === 0) && !el.getAttribute('aria-label') && !el.getAttribute('aria-labelledby'))
      problems.push('field without a label: ' + (el.name || el.id || el.outerHTML.slice(0, 80)));
  }
  // 2. every link and button has an accessible name
  for (const el of document.querySelectorAll('a[href], button')) {
    if (!visible(el)) continue;
    const name = (el.innerText || el.getAttribute('aria-label') || el.getAttribute('title') || '').trim();
    if (!name && !el.querySelector('img[alt], svg[aria-label], svg title')) problems.push('link or button without a name: ' + el.outerHTML.slice(0, 80));
  }
  // 3. text contrast (WCAG 2.2 SC 1.4.3), outside the charts (Plotly draws its own SVG text)
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  const seen = new Set();
  while (walker.nextNode()) {
    const node = walker.currentNode; const el = node.parentElement;
    if (!el || seen.has(el) || !node.textContent.trim() || !visible(el) || el.closest('.plot, svg, noscript')) continue;
    seen.add(el);
    const s = getComputedStyle(el); const fg = parse(s.color); if (!fg) continue;
    const b = bg(el); const l1 = lum(fg), l2 = lum(b);
    const ratio = (Math.max(l1, l2) + 0.05) / (Math.min(l1, l2) + 0.05);
    const size = parseFloat(s.fontSize); const bold = parseInt(s.fontWeight) >= 700;
    const need = (size >= 24 || (bold && size >= 18.66)) ? 3 : 4.5;
    if (ratio < need - 0.01) problems.push(`contrast ${ratio.toFixed(2)} < ${need} for "${node.textContent.trim().slice(0, 40)}"`);
  }
  // 4. nothing wider than the window (phone width)
  // (against the layout viewport: a phone zooms out a page that is too wide, which widens window.innerWidth)
  const width = Math.min(window.innerWidth, window.screen.width || window.innerWidth);
  if (document.documentElement.scrollWidth > width + 1)
    problems.push(`page is ${document.documentElement.scrollWidth}px wide in a ${width}px window`);
  // 5. one h1, a lang attribute, a title
  if (document.querySelectorAll('h1').length !== 1) problems.push(`${document.querySelectorAll('h1').length} h1 headings`);
  if (!document.documentElement.lang) problems.push('no lang attribute');
  if (!document.title.trim()) problems.push('no title');
  return problems;
}
"""


def audit(page: Any) -> list[str]:
    """The accessibility problems of the page as it is now shown (empty when there are none)."""
    problems: list[str] = page.evaluate(AUDIT_JS)
    return problems
