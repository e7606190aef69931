"""Pen moves as tokens, as in cursive-transformer: each move is an angle token `a<degrees>`
(one of `angle_bins` directions, 0 = right, 90 = down) then a pen-and-length token, `d<n>`
(pen down, draw) or `u<n>` (pen up, travel), of length n · unit, n = 1..length_bins. The
names carry the geometry, so a renderer can draw any window of tokens without the params.

Encoding quantises the offset from where the *decoded* pen is to the next point, so each
rounding error is carried into the next move (error feedback) and drawings never drift;
points closer than half a unit are merged into the next move, and moves longer than the
longest length bin are split."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import numpy as np

from dictlearn.domains.strokes.fonts import Drawing

MOVE = re.compile(r"^([du])([1-9]\d*)$")
ANGLE = re.compile(r"^a(\d+(?:\.\d+)?)$")


@dataclass(frozen=True)
class Move:
    start: tuple[float, float]
    end: tuple[float, float]
    pen_down: bool
    token: int  # index of the move's pen-and-length token in the decoded token list


@dataclass(frozen=True)
class StrokeCodec:
    angle_bins: int
    length_bins: int
    unit: float  # font units per length bin

    def __post_init__(self) -> None:
        if self.angle_bins <= 0 or self.length_bins <= 0 or self.unit <= 0:
            raise ValueError(f"angle_bins, length_bins and unit must be > 0, got {self}")

    @property
    def vocab(self) -> list[str]:
        return ([self.angle_token(k) for k in range(self.angle_bins)]
                + [f"{p}{j + 1}" for p in "du" for j in range(self.length_bins)])

    def angle_token(self, k: int) -> str:
        return f"a{round(360 * k / self.angle_bins, 3):g}"

    @property
    def max_step(self) -> float:
        return self.length_bins * self.unit

    @property
    def tolerance(self) -> float:
        """How far a decoded point may be from the original: half a length bin of rounding,
        half an angle bin at the longest step, and half a unit for merged points."""
        return self.unit + self.max_step * math.sin(math.pi / self.angle_bins)

    def _step(self, offset: np.ndarray) -> tuple[int, int, np.ndarray]:
        dist = float(np.hypot(*offset))
        k = int(round(math.atan2(offset[1], offset[0]) / (2 * math.pi / self.angle_bins)))
        k %= self.angle_bins
        j = min(self.length_bins - 1, max(0, int(round(dist / self.unit)) - 1))
        return k, j, self._vector(k, j)

    def _vector(self, k: int, j: int) -> np.ndarray:
        theta = 2 * math.pi * k / self.angle_bins
        return (j + 1) * self.unit * np.array([math.cos(theta), math.sin(theta)])

    def encode(self, d: Drawing) -> tuple[list[str], list[int]]:
        """Tokens for the drawing (pen starts at the origin) and, per token, the index of the
        character it draws (a pen-up move counts for the character it travels to)."""
        tokens: list[str] = []
        chars: list[int] = []
        pos = np.zeros(2)
        for pts, idx in zip(d.polylines, d.chars):
            for i, (target, c) in enumerate(zip(pts, idx)):
                pen = "u" if i == 0 else "d"
                while True:
                    offset = target - pos
                    dist = float(np.hypot(*offset))
                    if dist < self.unit / 2:
                        break
                    if dist <= self.max_step + self.unit / 2:
                        k, j, vec = self._step(offset)
                        last = True
                    else:  # too long for one move: a longest step in its direction first
                        k, j = self._step(offset)[0], self.length_bins - 1
                        vec, last = self._vector(k, j), False
                    pos = pos + vec
                    tokens += [self.angle_token(k), f"{pen}{j + 1}"]
                    chars += [int(c), int(c)]
                    if last:
                        break
        return tokens, chars

    def moves(self, tokens: list[str]) -> list[Move]:
        return parse_moves(tokens, self.unit)

    def decode(self, tokens: list[str]) -> list[np.ndarray]:
        """Polylines (pen-down runs) of a token list."""
        lines: list[list[tuple[float, float]]] = []
        drawing = False
        for mv in self.moves(tokens):
            if not mv.pen_down:
                drawing = False
                continue
            if not drawing:
                lines.append([mv.start])
                drawing = True
            lines[-1].append(mv.end)
        return [np.asarray(line) for line in lines]


def parse_moves(tokens: list[str], unit: float = 1.0) -> list[Move]:
    """The pen moves of a token list, from the token names alone; anything that is not a
    well-formed (angle, move) pair (characters, separators, a model's stray tokens) is
    skipped. The pen starts at the origin."""
    out, pos, angle = [], (0.0, 0.0), None
    for t, tok in enumerate(tokens):
        if m := ANGLE.match(tok):
            angle = math.radians(float(m[1]))
            continue
        m = MOVE.match(tok)
        if m and angle is not None:
            length = int(m[2]) * unit
            end = (pos[0] + length * math.cos(angle), pos[1] + length * math.sin(angle))
            out.append(Move(pos, end, m[1] == "d", t))
            pos = end
        angle = None
    return out


def is_stroke(token: str) -> bool:
    """A pen-move token (an angle, or pen + length), not a letter or a special token."""
    return bool(ANGLE.match(token) or MOVE.match(token))
