"""HTML building blocks of the feature browser: the page shell, tables (sorted and searched in
place by the page's own script: no network, no fetch, everything a page shows is in the page),
and small inline charts. Every piece of text goes through `escape`."""

from __future__ import annotations

import math
from collections.abc import Sequence

from dictlearn.domains.base import escape

CSS = """
body { font-family: system-ui, sans-serif; margin: 1.5em auto; max-width: 72em; color: #222;
       padding: 0 1em; }
nav { font-size: 0.9em; margin-bottom: 1em; }
table { border-collapse: collapse; margin: 0.5em 0 1.5em; }
td, th { border: 1px solid #ccc; padding: 0.2em 0.6em; text-align: right; }
th { background: #f4f4f4; } td.k, th.k { text-align: left; font-family: monospace; }
table.sortable th { cursor: pointer; user-select: none; }
table.sortable th.asc::after { content: " ▲"; } table.sortable th.desc::after { content: " ▼"; }
.ctx { display: block; white-space: normal; font-size: 0.85em; margin: 0.15em 0;
       line-height: 1.6; }
.ctx .focus { outline: 2px solid #c00; }
.grid2 { display: flex; flex-wrap: wrap; gap: 1.5em; align-items: flex-start; }
.muted { color: #777; font-size: 0.9em; }
pre { background: #f7f7f7; padding: 0.6em; overflow-x: auto; font-size: 0.85em; }
svg text { font-size: 10px; fill: #444; }
table.bars td { border: none; padding: 0.05em 0.4em; font-size: 0.85em; }
table.bars .bar { height: 0.8em; min-width: 1px; }
td > code { display: block; text-align: left; }
input.search { font-size: 1em; padding: 0.2em 0.4em; width: 24em; margin-right: 0.6em; }
ul.tree, ul.tree ul { list-style: none; margin: 0.2em 0; padding-left: 1.4em;
                      border-left: 1px solid #ccc; }
ul.tree { margin: 1em 0; } ul.tree li { margin: 0.15em 0; }
"""

# sort a table by the clicked column: numbers by value (data-v when present), text otherwise
SORT_JS = """
document.querySelectorAll("table.sortable").forEach(function (table) {
  table.querySelectorAll("th").forEach(function (th, col) {
    th.addEventListener("click", function () {
      var body = table.tBodies[0], rows = Array.prototype.slice.call(body.rows);
      var desc = !th.classList.contains("desc");
      table.querySelectorAll("th").forEach(function (h) { h.classList.remove("asc", "desc"); });
      th.classList.add(desc ? "desc" : "asc");
      function key(row) {
        var cell = row.cells[col], tagged = cell.querySelector("[data-v]");
        var v = tagged ? tagged.getAttribute("data-v") : null;
        var n = parseFloat(v === null ? cell.textContent : v);
        return isNaN(n) ? cell.textContent : n;
      }
      rows.sort(function (a, b) {
        var x = key(a), y = key(b), c = x < y ? -1 : x > y ? 1 : 0;
        return desc ? -c : c;
      });
      rows.forEach(function (r) { body.appendChild(r); });
    });
  });
});
"""

# show only the rows of a table holding every word typed into its search box (or given in the
# address: #search=words)
SEARCH_JS = """
document.querySelectorAll("input.search").forEach(function (box) {
  var table = document.getElementById(box.getAttribute("data-table"));
  var count = document.getElementById(box.getAttribute("data-count"));
  var rows = Array.prototype.slice.call(table.tBodies[0].rows);
  var texts = rows.map(function (row) {
    return Array.prototype.map.call(row.cells, function (c) { return c.textContent; })
      .join(" ").toLowerCase();
  });
  function filter() {
    var words = box.value.toLowerCase().split(/\\s+/).filter(Boolean), shown = 0;
    rows.forEach(function (row, i) {
      var hit = words.every(function (w) { return texts[i].indexOf(w) >= 0; });
      row.style.display = hit ? "" : "none";
      shown += hit ? 1 : 0;
    });
    count.textContent = shown + " of " + rows.length + " shown";
  }
  // a link may carry a search: saes/<sae>/index.html#search=python
  var asked = /[#&]search=([^&]*)/.exec(window.location.hash);
  if (asked) {
    try { box.value = decodeURIComponent(asked[1].replace(/\\+/g, " ")); }
    catch (err) { box.value = asked[1]; }
  }
  box.addEventListener("input", filter);
  filter();
});
"""

# the ← and → keys follow a page's rel="prev" and rel="next" links
KEYS_JS = """
document.addEventListener("keydown", function (e) {
  if (e.target.tagName === "INPUT" || e.altKey || e.ctrlKey || e.metaKey) return;
  var rel = e.key === "ArrowLeft" ? "prev" : e.key === "ArrowRight" ? "next" : "";
  var link = rel ? document.querySelector('a[rel="' + rel + '"]') : null;
  if (link) window.location.href = link.href;
});
"""


def page(title: str, body: str, root: str = "", nav: str = "") -> str:
    """A whole page; `root` is the relative path back to the report's index ('', '../');
    `nav`, HTML put after the link to the index."""
    links = (f'<a href="{root}index.html">index</a>' if root else "") + nav
    bar = f"<nav>{links}</nav>" if links else ""
    return ('<!doctype html><html lang="en"><head><meta charset="utf-8">'
            f"<title>{escape(title)}</title><style>{CSS}</style></head><body>{bar}"
            f"<h1>{escape(title)}</h1>{body}<script>{SORT_JS}{SEARCH_JS}{KEYS_JS}</script>"
            "</body></html>")


def fmt(v: object) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)


def kv_table(rows: dict[str, object]) -> str:
    cells = "".join(f'<tr><td class="k">{escape(k)}</td><td>{escape(fmt(v))}</td></tr>'
                    for k, v in rows.items())
    return f"<table>{cells}</table>"


def table(header: Sequence[str], rows: Sequence[Sequence[str]], sortable: bool = True,
          row_class: str = "", table_id: str = "") -> str:
    """`rows` hold cell HTML already escaped (links, numbers); header text is escaped here."""
    cls = ' class="sortable"' if sortable else ""
    tid = f' id="{escape(table_id)}"' if table_id else ""
    rc = f' class="{row_class}"' if row_class else ""
    head = "".join(f"<th>{escape(h)}</th>" for h in header)
    body = "".join(f"<tr{rc}>" + "".join(f"<td>{c}</td>" for c in r) + "</tr>" for r in rows)
    return f"<table{tid}{cls}><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def search_box(table_id: str, hint: str) -> str:
    """A box that shows only the rows of table `table_id` holding every word typed."""
    tid = escape(table_id)
    return (f'<p><input class="search" type="search" data-table="{tid}" '
            f'data-count="{tid}-count" placeholder="{escape(hint)}" aria-label="search">'
            f'<span class="muted" id="{tid}-count"></span></p>')


def num(v: float, html: str | None = None) -> str:
    """A numeric cell's content (escaped value, or the given HTML) with its exact value for
    sorting."""
    return f'<span data-v="{v:.6g}">{html if html is not None else escape(fmt(v))}</span>'


def bar_chart(values: Sequence[float], labels: Sequence[str], title: str, width: int = 360,
              height: int = 120, color: str = "#4363d8",
              ticks: Sequence[tuple[float, str]] | None = None) -> str:
    """Vertical bars, each bar's label on hover; under the axis the `ticks`, (share of the
    width, text) (by default the first and last bar's label); the title below."""
    n, top = len(values), max(max(values, default=0.0), 1e-12)
    bw = width / max(n, 1)
    bars = "".join(
        f'<rect x="{i * bw:.1f}" y="{height - v / top * height:.1f}" width="{max(bw - 1, 1):.1f}"'
        f' height="{v / top * height:.1f}" fill="{color}"><title>{escape(labels[i])}: '
        f"{escape(fmt(float(v)))}</title></rect>" for i, v in enumerate(values))
    if ticks is None:
        ticks = [(0.0, labels[0]), (1.0, labels[-1])] if n else []
    marks = "".join(
        f'<text x="{x * width:.1f}" y="{height + 12}" text-anchor="'
        f'{"start" if x <= 0 else "end" if x >= 1 else "middle"}">{escape(text)}</text>'
        for x, text in ticks)
    return (f'<figure><svg width="{width}" height="{height + 16}" role="img">{bars}{marks}'
            f"</svg><figcaption class=\"muted\">{escape(title)}</figcaption></figure>")


def hbar_chart(values: Sequence[float], labels: Sequence[str], title: str, width: int = 220,
               color: str = "#4363d8") -> str:
    """A named bar per value: its label, a bar as long as the value (the largest `width`
    pixels), the value."""
    top = max(max(values, default=0.0), 1e-12)
    rows = "".join(
        f'<tr><td class="k">{escape(label)}</td><td style="width:{width}px">'
        f'<div class="bar" style="width:{max(float(v), 0.0) / top * width:.0f}px;'
        f'background:{color}"></div></td><td>{escape(fmt(float(v)))}</td></tr>'
        for label, v in zip(labels, values))
    return (f'<figure><table class="bars">{rows}</table>'
            f'<figcaption class="muted">{escape(title)}</figcaption></figure>')


def loglog_chart(xs: Sequence[float], ys: Sequence[float], title: str, width: int = 360,
                 height: int = 120, color: str = "#4363d8") -> str:
    """A line through the points (x, y > 0) on log–log axes ticked at the powers of ten; one
    point per pixel column, so a curve of many points stays small."""
    pad, top = 34, 6  # room for the tick labels
    lx, ly = [math.log10(x) for x in xs], [math.log10(y) for y in ys]
    x0, y0 = math.floor(min(lx, default=0)), math.floor(min(ly, default=0))
    x1, y1 = max(math.ceil(max(lx, default=1)), x0 + 1), max(math.ceil(max(ly, default=1)), y0 + 1)
    pts, seen = [], set()
    for a, b in zip(lx, ly):
        px = round(pad + (a - x0) / (x1 - x0) * (width - pad))
        if px not in seen:
            seen.add(px)
            pts.append(f"{px},{top + (y1 - b) / (y1 - y0) * height:.1f}")
    marks = "".join(
        f'<text x="{pad + (d - x0) / (x1 - x0) * (width - pad):.1f}" y="{top + height + 12}" '
        f'text-anchor="{"start" if d == x0 else "end" if d == x1 else "middle"}">1e{d}</text>'
        for d in range(x0, x1 + 1))
    marks += "".join(
        f'<text x="{pad - 3}" y="{top + (y1 - d) / (y1 - y0) * height + 3:.1f}" text-anchor="end">'
        f"1e{d}</text>" for d in range(y0, y1 + 1))
    axes = (f'<path d="M{pad},{top}V{top + height}H{width}" fill="none" stroke="#bbb"/>'
            f'<polyline points="{" ".join(pts)}" fill="none" stroke="{color}" stroke-width="1.5"/>')
    return (f'<figure><svg width="{width}" height="{top + height + 16}" role="img">{axes}'
            f'{marks}</svg><figcaption class="muted">{escape(title)}</figcaption></figure>')


def heat_map(values: Sequence[Sequence[float]], row_label: str, col_label: str,
             title: str, cell: int = 26) -> str:
    """A matrix as coloured cells (0 white → 1 dark red), each with its value on hover."""
    rows = len(values)
    cols = max((len(r) for r in values), default=0)
    rects = []
    for i, r in enumerate(values):
        for j, v in enumerate(r):
            a = max(0.0, min(1.0, float(v)))
            rects.append(f'<rect x="{40 + j * cell}" y="{14 + i * cell}" width="{cell - 1}" '
                         f'height="{cell - 1}" fill="rgba(200, 30, 30, {a:.2f})" stroke="#ddd">'
                         f"<title>{escape(row_label)} {i}, {escape(col_label)} {j}: "
                         f"{float(v):.3f}</title></rect>")
    labels = "".join(f'<text x="0" y="{14 + i * cell + cell * 0.65:.0f}">{escape(row_label)} '
                     f"{i}</text>" for i in range(rows))
    labels += "".join(f'<text x="{40 + j * cell + 3}" y="10">{j}</text>' for j in range(cols))
    w, h = 40 + cols * cell, 14 + rows * cell
    return (f'<figure><svg width="{w}" height="{h}" role="img">{labels}{"".join(rects)}</svg>'
            f'<figcaption class="muted">{escape(title)}</figcaption></figure>')
