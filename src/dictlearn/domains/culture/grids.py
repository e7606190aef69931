"""Drawing and sampling primitives of the culture grids, vectorized over a batch of quizzes:
blank grids, distinct colours, rectangle masks, batched rejection sampling, and uniform sets
of non-overlapping rectangles (the reference's rec_coo). The tasks live in culture_tasks.py
and culture_tasks_paths.py.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import numpy as np

H = W = 10
N_COLOURS = 11  # 0 = background, 1..10 = object colours

Grid = np.ndarray  # [n, H, W] uint8
Rects = np.ndarray  # [n, k, 4] int16: (i1, j1, i2, j2), half-open


# ---------------------------------------------------------------- drawing primitives

_AXIS = np.arange(H, dtype=np.int16)  # H == W


def blank(n: int) -> Grid:
    return np.zeros((n, H, W), np.uint8)


def colours(rng: np.random.Generator, n: int, k: int) -> np.ndarray:
    """[n, k] uint8: k distinct object colours per row (randperm(10)[:k] + 1)."""
    return (rng.random((n, N_COLOURS - 1)).argsort(1)[:, :k] + 1).astype(np.uint8)


def rect_mask(i1, j1, i2, j2) -> np.ndarray:
    """[n, H, W] bool of the half-open rectangles [i1, i2) × [j1, j2), one per row."""
    rows = (_AXIS >= np.asarray(i1)[:, None]) & (_AXIS < np.asarray(i2)[:, None])
    cols = (_AXIS >= np.asarray(j1)[:, None]) & (_AXIS < np.asarray(j2)[:, None])
    return rows[:, :, None] & cols[:, None, :]


def paint(grid: Grid, mask: np.ndarray, colour: np.ndarray) -> None:
    np.copyto(grid, colour[:, None, None], where=mask)


def dot(grid: Grid, i, j, colour) -> None:
    """Paint cell (i[r], j[r]) of every row r."""
    grid[np.arange(len(grid)), i, j] = colour


def quiz(pair: Callable[[], tuple[Grid, Grid]]) -> np.ndarray:
    """[n, 4, H, W] from two calls of `pair` (which closes over the shared parameters)."""
    a, fa = pair()
    b, fb = pair()
    return np.stack([a, fa, b, fb], axis=1)


def first_per_owner(owner: np.ndarray, ok: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The owners (rows) with an accepted candidate, and the index of their first one."""
    idx = np.flatnonzero(ok)
    rows, first = np.unique(owner[idx], return_index=True)
    return rows, idx[first]


Proposal = Callable[[np.ndarray], tuple[dict[str, np.ndarray], np.ndarray]]


def rejection(n: int, propose: Proposal, tries: int | np.ndarray = 1) -> dict[str, np.ndarray]:
    """Rejection sampling for n rows at once, like the reference's `while True` loops.

    `propose(owner [M])` draws one candidate per entry (owner = the row it is for) and
    returns its arrays (first axis M) and an accepted mask [M]; each row keeps its first
    accepted candidate, so rows stay independent draws. `tries` candidates per row in the
    first round (scalar or [n]), twice as many in later rounds, keep rounds few."""
    tries = np.broadcast_to(np.asarray(tries), (n,))
    out: dict[str, np.ndarray] = {}
    pending, done, boost = np.arange(n), np.zeros(n, bool), 1
    while pending.size:
        owner = np.repeat(pending, tries[pending] * boost)
        arrays, ok = propose(owner)
        rows, cand = first_per_owner(owner, ok)
        for key, v in arrays.items():
            if key not in out:
                out[key] = np.empty((n, *v.shape[1:]), v.dtype)
            out[key][rows] = v[cand]
        done[rows] = True
        pending, boost = pending[~done[pending]], 2
    return out


# ---------------------------------------------------------------- rectangles (rec_coo)


class _RectTables:
    """Every rectangle rec_coo can draw (sides >= 3, area <= 50, equally likely), which pairs
    do not overlap (touching is allowed), and every such ordered pair. Both tables are
    packed (bits; two int16 in an int32) to stay in cache: sampling is lookup-bound."""

    def __init__(self) -> None:
        spans = [(a, b) for a in range(H) for b in range(a + 3, H + 1)]
        r = np.array([(i1, j1, i2, j2) for i1, i2 in spans for j1, j2 in spans
                      if (i2 - i1) * (j2 - j1) <= H * W // 2], dtype=np.int16)
        self.rects = r
        a, b = r[:, None], r[None, :]
        compat = ((a[..., 0] >= b[..., 2]) | (a[..., 2] <= b[..., 0])
                  | (a[..., 1] >= b[..., 3]) | (a[..., 3] <= b[..., 1]))
        bits = np.packbits(compat, axis=1, bitorder="little")
        self.row_bytes, self.compat_bits = bits.shape[1], bits.reshape(-1)
        first, second = np.nonzero(compat)
        self.pairs = first.astype(np.int32) | second.astype(np.int32) << 16
        self.min_side = np.minimum(r[:, 2] - r[:, 0], r[:, 3] - r[:, 1])
        self.by_min_side = {s: np.flatnonzero(self.min_side >= s).astype(np.int32)
                            for s in (3, 4)}

    def split(self, pair: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        code = self.pairs[pair]
        return code & 0xFFFF, code >> 16

    def compatible(self, a: np.ndarray, b: np.ndarray, c: np.ndarray) -> np.ndarray:
        """Whether rectangle c overlaps neither a nor b."""
        byte = c >> 3
        both = self.compat_bits[a * self.row_bytes + byte] & \
            self.compat_bits[b * self.row_bytes + byte]
        return (both >> (c & 7).astype(np.uint8) & 1).astype(bool)


@functools.cache
def _rect_tables() -> _RectTables:
    return _RectTables()


def rect_sets(rng: np.random.Generator, n: int, k: int,
              accept: Callable[[Rects, np.ndarray], np.ndarray] | None = None,
              last_min_side: int = 3, tries: int = 16) -> Rects:
    """[n, k, 4] sets of k in {2, 3} pairwise non-overlapping rectangles, uniform over such
    sets (as rec_coo(k, prevent_overlap=True)); the last one has both sides >= last_min_side.
    `accept(rects [c, k, 4], rows [c])` may reject candidates, as the reference's retry
    loops do; `rows` are the output rows the candidates are for."""
    t = _rect_tables()
    pool = t.by_min_side[last_min_side]
    out = np.empty((n, k, 4), np.int16)
    pending, boost = np.arange(n), 1
    while pending.size:
        rows = pending[:4096]  # blocks small enough for the candidates to stay in cache
        m, tt = rows.size, tries * boost
        ids = list(t.split(rng.integers(len(t.pairs), size=(m, tt), dtype=np.int32)))
        if k == 2:
            ok = t.min_side[ids[1]] >= last_min_side
        else:  # a uniform non-overlapping pair, a uniform third, kept if it overlaps neither
            ids.append(pool[rng.integers(len(pool), size=(m, tt), dtype=np.int32)])
            ok = t.compatible(*ids)
        if accept is not None:
            r, c = np.divmod(np.flatnonzero(ok), tt)
            bad = ~accept(t.rects[np.stack([x[r, c] for x in ids], axis=1)], rows[r])
            ok[r[bad], c[bad]] = False
        col = ok.argmax(1)
        hit = ok[np.arange(m), col]
        r, c = np.flatnonzero(hit), col[hit]
        out[rows[r]] = t.rects[np.stack([x[r, c] for x in ids], axis=1)]
        pending = np.concatenate([rows[~hit], pending[4096:]])
        boost = 2
    return out


def touching(a: Rects, b: Rects) -> np.ndarray:
    """Non-overlapping rectangles (…, 4) that share a stretch of edge (corners do not count)."""
    v = np.maximum(a[..., 0] - b[..., 2], b[..., 0] - a[..., 2])  # row gap, 0 = adjacent
    h = np.maximum(a[..., 1] - b[..., 3], b[..., 1] - a[..., 3])
    return ((v == 0) & (h < 0)) | ((h == 0) & (v < 0))
