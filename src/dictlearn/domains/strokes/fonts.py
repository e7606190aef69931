"""Words as pen strokes: Hershey script glyphs laid out side by side, then augmented.

A drawing is a list of polylines (float arrays [n, 2], x right, y down, font units) and, for
each polyline, the index of the character each point belongs to."""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
from HersheyFonts import HersheyFonts


@dataclass
class Drawing:
    polylines: list[np.ndarray]  # each [n, 2] float64
    chars: list[np.ndarray]  # each [n] int: index into the word of the character drawn


@functools.cache
def font_names() -> tuple[str, ...]:
    return tuple(sorted(HersheyFonts().default_font_names))


@functools.cache
def load_font(name: str) -> HersheyFonts:
    if name not in font_names():
        raise KeyError(f"unknown Hershey font {name!r}; expected one of {list(font_names())}")
    font = HersheyFonts()
    font.load_default_font(name)
    return font


def drawable(name: str) -> set[str]:
    """Characters the font has a glyph with strokes for."""
    return {c for c, g in load_font(name).all_glyphs.items() if g.strokes}


def render_word(word: str, font_name: str) -> Drawing:
    """The word's glyphs side by side, each glyph's origin where the previous one ended."""
    glyphs = load_font(font_name).all_glyphs
    polylines, chars, x = [], [], 0.0
    for i, c in enumerate(word):
        g = glyphs[c]
        for stroke in g.strokes:
            pts = np.asarray(stroke, dtype=np.float64)
            pts[:, 0] += x - g.left_offset
            polylines.append(pts)
            chars.append(np.full(len(pts), i, dtype=np.int64))
        x += g.char_width
    return Drawing(polylines, chars)


@dataclass(frozen=True)
class Augment:
    slant_deg: float = 0.0  # shear by a uniform angle in ±slant_deg (positive leans right)
    scale: tuple[float, float] = (1.0, 1.0)  # uniform size factor range
    jitter: float = 0.0  # std of independent Gaussian noise per point (font units)
    wobble: float = 0.0  # amplitude of a sine baseline drift (font units)


def augment(d: Drawing, aug: Augment, rng: np.random.Generator) -> Drawing:
    """A randomly slanted, scaled, jittered and wobbled copy (all draws from `rng`)."""
    shear = np.tan(np.radians(rng.uniform(-aug.slant_deg, aug.slant_deg)))
    scale = rng.uniform(*aug.scale)
    period = rng.uniform(40.0, 120.0)  # a few letters per wobble
    phase = rng.uniform(0, 2 * np.pi)
    out = []
    for pts in d.polylines:
        p = pts.copy()
        p[:, 0] -= shear * p[:, 1]  # y points down: shearing by −y leans the tops right
        p[:, 1] += aug.wobble * np.sin(2 * np.pi * p[:, 0] / period + phase)
        p *= scale
        if aug.jitter > 0:
            p += rng.normal(0.0, aug.jitter, size=p.shape)
        out.append(p)
    return Drawing(out, [c.copy() for c in d.chars])


def _rdp_keep(pts: np.ndarray, eps: float) -> np.ndarray:
    """Ramer–Douglas–Peucker: which points to keep so the polyline moves < eps."""
    keep = np.zeros(len(pts), dtype=bool)
    keep[[0, -1]] = True
    todo = [(0, len(pts) - 1)]
    while todo:
        a, b = todo.pop()
        if b - a < 2:
            continue
        seg = pts[b] - pts[a]
        rel = pts[a + 1:b] - pts[a]
        norm = np.hypot(*seg)
        dist = (np.abs(seg[0] * rel[:, 1] - seg[1] * rel[:, 0]) / norm if norm > 0
                else np.hypot(rel[:, 0], rel[:, 1]))
        i = int(dist.argmax())
        if dist[i] > eps:
            keep[a + 1 + i] = True
            todo += [(a, a + 1 + i), (a + 1 + i, b)]
    return keep


def simplify(d: Drawing, eps: float) -> Drawing:
    """Fewer points, same shape to within `eps` font units (0 = unchanged)."""
    if eps <= 0:
        return d
    keeps = [_rdp_keep(p, eps) for p in d.polylines]
    return Drawing([p[k] for p, k in zip(d.polylines, keeps)],
                   [c[k] for c, k in zip(d.chars, keeps)])
