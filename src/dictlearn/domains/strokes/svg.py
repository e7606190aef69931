"""Drawings as inline SVG: pen-down moves as lines (coloured by an activation if given),
pen-up moves as faint dashes; every piece of text escaped."""

from __future__ import annotations

from dictlearn.domains.base import escape, heat
from dictlearn.domains.strokes.tokens import Move

PAD = 4.0


def heat_colour(act: float, top: float) -> str:
    """Grey for nothing, through orange to deep red at the context's top activation."""
    a = heat(act, top)
    if a <= 0:
        return "#555"
    return f"rgb({255 - int(55 * a)},{int(160 * (1 - a))},0)"


def moves_svg(moves: list[Move], title: str, colours: list[str] | None = None,
              focus: int | None = None, height: float = 60.0) -> str:
    """An SVG of `moves` scaled to `height` pixels; `colours[i]` strokes move i, and move
    `focus` is drawn thicker with a ring at its end."""
    if not moves:
        return f'<svg class="strokes" width="40" height="20"><title>{escape(title)}</title></svg>'
    xs = [c for m in moves for c in (m.start[0], m.end[0])]
    ys = [c for m in moves for c in (m.start[1], m.end[1])]
    x0, y0 = min(xs) - PAD, min(ys) - PAD
    w, h = max(xs) - x0 + PAD, max(ys) - y0 + PAD
    scale = height / max(h, 30.0)
    parts = []
    for i, m in enumerate(moves):
        (ax, ay), (bx, by) = m.start, m.end
        colour = colours[i] if colours else "#111"
        if m.pen_down:
            width = 3.5 if i == focus else 1.8
            style = f'stroke="{colour}" stroke-width="{width / scale:.2f}"'
        else:
            style = f'stroke="#bbb" stroke-width="{0.8 / scale:.2f}" stroke-dasharray="1.5,1.5"'
        parts.append(f'<line x1="{ax - x0:.1f}" y1="{ay - y0:.1f}" x2="{bx - x0:.1f}" '
                     f'y2="{by - y0:.1f}" {style}/>')
    if focus is not None and 0 <= focus < len(moves):
        fx, fy = moves[focus].end
        parts.append(f'<circle cx="{fx - x0:.1f}" cy="{fy - y0:.1f}" r="{3 / scale:.2f}" '
                     f'fill="none" stroke="#d00" stroke-width="{1 / scale:.2f}"/>')
    return (f'<svg class="strokes" xmlns="http://www.w3.org/2000/svg" '
            f'width="{w * scale:.0f}" height="{h * scale:.0f}" viewBox="0 0 {w:.1f} {h:.1f}" '
            f'stroke-linecap="round"><title>{escape(title)}</title>{"".join(parts)}</svg>')
