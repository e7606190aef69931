"""Fleuret's grid-world quizzes ("culture" grids.py), generated a batch at a time with numpy.

A quiz is four 10×10 grids A, f(A), B, f(B): one transformation f, with one set of parameters
(colours, direction, offset…), applied to two independently drawn grids. The fifteen tasks
keep the reference's semantics and sampling distributions; where the reference resamples
in a `while True` loop, we do the same rejection for every pending quiz at once. Tasks that
walk the grid (path, fill, trajectory, bounce) live in `quiz_paths.py`.

Token layout (the published dataset's): colours 0..10 (0 = background), markers
11 = A, 12 = f(A), 13 = B, 14 = f(B); each grid is its marker then 100 cells, and a leading
0 (BOS) makes 405 tokens with the markers at 1, 102, 203, 304. The last grid is the answer.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence

import numpy as np

from dictlearn.domains.culture import quiz_paths
from dictlearn.domains.culture.grids import (
    H, W, Grid, Rects, blank, colours, dot, paint, quiz, rect_mask, rect_sets,
    rejection, touching,
)

MARKER_A = 11  # then f(A) = 12, B = 13, f(B) = 14: marker = MARKER_A + index in GRIDS
VOCAB_SIZE = 15
GRIDS = ("A", "f_A", "B", "f_B")
QUIZ_LEN = 1 + 4 * (1 + H * W)  # 405 with the BOS
MARKER_POSITIONS = (1, 102, 203, 304)
# Which grid (index into GRIDS) fills each of the four slots. Orders 0-3 pose a quiz: the last
# slot is its answer, determined by the other three. Order 4, (f(B), f(A), A, B), is Fleuret's
# order for writing new quizzes (culture loop): trained on, never posed (B is free there).
ORDERS = ((0, 1, 2, 3), (1, 0, 3, 2), (2, 3, 0, 1), (3, 2, 1, 0), (3, 1, 0, 2))
POSED_ORDERS = (0, 1, 2, 3)
GENERATION_ORDER = ORDERS[4]

TASKS = ("replace_color", "translate", "grow", "half_fill", "frame", "detect", "scale",
         "symbols", "corners", "contact", "path", "fill", "isometry", "trajectory", "bounce")

CHUNK = 4096  # quizzes per vectorized call: big enough to amortise numpy, small enough for cache

# ---------------------------------------------------------------- public API


def check_tasks(tasks: Sequence[str]) -> tuple[str, ...]:
    """The task names, validated: unknown or repeated names raise a ValueError naming them."""
    tasks = (tasks,) if isinstance(tasks, str) else tuple(tasks)
    bad = [t for t in tasks if t not in TASKS]
    if bad or not tasks:
        raise ValueError(f"unknown culture task(s) {bad or '(none given)'}; "
                         f"expected a non-empty subset of {', '.join(TASKS)}")
    if len(set(tasks)) != len(tasks):
        raise ValueError(f"culture tasks listed twice in {list(tasks)}")
    return tasks


def generate(task: str, n: int, rng: np.random.Generator) -> np.ndarray:
    """`n` quizzes of one task as uint8 grids [n, 4, H, W] in the order A, f(A), B, f(B).

    No quiz is trivial (A == f(A) or B == f(B)): those rows are drawn again."""
    (task,) = check_tasks([task])
    make = _registry()[task]
    parts = []
    for start in range(0, n, CHUNK):
        q = make(rng, min(CHUNK, n - start))
        bad = np.flatnonzero(trivial(q))
        while bad.size:
            q[bad] = make(rng, bad.size)
            bad = bad[trivial(q[bad])]
        parts.append(q)
    return np.concatenate(parts) if parts else np.zeros((0, 4, H, W), np.uint8)


def make_quizzes(tasks: Sequence[str], n: int, rng: np.random.Generator,
                 orders: Sequence[int] = POSED_ORDERS,
                 weights: Sequence[float] | None = None) -> dict[str, np.ndarray]:
    """`n` quizzes mixing `tasks` (uniformly, or by `weights`), each shown in one of `orders`.

    Returns `input_ids` int64 [n, 405] (BOS, then four marker+grid blocks), `task` int64 [n]
    (index into `tasks`) and `order` int64 [n] (index into ORDERS). Deterministic given the
    state of `rng`. Memory is ~3.3 kB per quiz: call it in chunks for millions."""
    tasks = check_tasks(tasks)
    orders = tuple(int(o) for o in orders)
    if not orders or any(o not in range(len(ORDERS)) for o in orders):
        raise ValueError(f"orders {orders}: expected a non-empty subset of 0..{len(ORDERS) - 1}")
    if n < 0:
        raise ValueError(f"n = {n}: expected a non-negative number of quizzes")
    p = None
    if weights is not None:
        p = np.asarray(weights, dtype=np.float64)
        if p.shape != (len(tasks),) or (p < 0).any() or not np.isclose(p.sum(), 1.0):
            raise ValueError(f"weights {list(weights)}: expected {len(tasks)} non-negative "
                             f"numbers summing to 1, one per task of {list(tasks)}")
    task = rng.choice(len(tasks), size=n, p=p)
    order = np.asarray(orders)[rng.integers(len(orders), size=n)]
    grids = np.empty((n, 4, H, W), np.uint8)
    for t, name in enumerate(tasks):
        rows = np.flatnonzero(task == t)
        grids[rows] = generate(name, rows.size, rng)
    return {"input_ids": layout(grids, np.asarray(ORDERS)[order]),
            "task": task.astype(np.int64), "order": order.astype(np.int64)}


def layout(grids: np.ndarray, slots: np.ndarray | Sequence[int]) -> np.ndarray:
    """Token sequences [n, 405] from grids [n, 4, H, W]; `slots` [n, 4] or [4] names the grid
    (index into GRIDS) shown in each slot, e.g. ORDERS[k] or GENERATION_ORDER."""
    n = grids.shape[0]
    slots = np.broadcast_to(np.asarray(slots, dtype=np.int64), (n, 4))
    body = np.empty((n, 4, 1 + H * W), np.uint8)  # built small, widened once at the end
    body[:, :, 0] = MARKER_A + slots
    body[:, :, 1:] = grids.reshape(n, 4, H * W)[np.arange(n)[:, None], slots]
    out = np.empty((n, QUIZ_LEN), np.int64)
    out[:, 0] = 0
    out[:, 1:] = body.reshape(n, -1)
    return out


def trivial(quizzes: np.ndarray) -> np.ndarray:
    """[n] bool: A == f(A) or B == f(B) for grids [n, 4, H, W]."""
    q = quizzes.reshape(len(quizzes), 4, H * W)
    return (q[:, 0] == q[:, 1]).all(1) | (q[:, 2] == q[:, 3]).all(1)


@functools.cache
def _registry() -> dict[str, Callable[[np.random.Generator, int], np.ndarray]]:
    return {"replace_color": _replace_color, "translate": _translate, "grow": _grow,
            "half_fill": _half_fill, "frame": _frame, "detect": _detect, "scale": _scale,
            "symbols": _symbols, "corners": _corners, "contact": _contact,
            "path": quiz_paths.path, "fill": quiz_paths.fill, "isometry": _isometry,
            "trajectory": quiz_paths.trajectory, "bounce": quiz_paths.bounce}


def _rect_quiz(rng: np.random.Generator, n: int, k: int,
               draw: Callable[[Grid, Grid, Rects], None], **sets) -> np.ndarray:
    def pair() -> tuple[Grid, Grid]:
        x, fx = blank(n), blank(n)
        draw(x, fx, rect_sets(rng, n, k, **sets))
        return x, fx

    return quiz(pair)


# ---------------------------------------------------------------- rectangle tasks


def _replace_color(rng: np.random.Generator, n: int) -> np.ndarray:
    """Three rectangles; f repaints the first one's colour with a fourth colour."""
    c = colours(rng, n, 4)

    def draw(x, fx, r):
        for k in range(3):
            m = rect_mask(*r[:, k].T)
            paint(x, m, c[:, k])
            paint(fx, m, c[:, 3 if k == 0 else k])

    return _rect_quiz(rng, n, 3, draw)


_STEPS = np.array([(di, dj) for di in (-1, 0, 1) for dj in (-1, 0, 1) if di or dj], np.int16)


def _translate(rng: np.random.Generator, n: int) -> np.ndarray:
    """f moves the last of three rectangles one cell in one of 8 directions (drawn on top)."""
    c = colours(rng, n, 3)
    di, dj = _STEPS[rng.integers(len(_STEPS), size=n)].T

    def inside(r, rows):  # as the reference: the moved rectangle stays off the last row/col
        i1, j1, i2, j2 = r[:, 2].T
        a, b = di[rows], dj[rows]
        return (i1 + a >= 0) & (i2 + a < H) & (j1 + b >= 0) & (j2 + b < W)

    def draw(x, fx, r):
        for k in range(3):
            paint(x, rect_mask(*r[:, k].T), c[:, k])
        paint(fx, rect_mask(*r[:, 0].T), c[:, 0])
        paint(fx, rect_mask(*r[:, 1].T), c[:, 1])
        i1, j1, i2, j2 = r[:, 2].T
        paint(fx, rect_mask(i1 + di, j1 + dj, i2 + di, j2 + dj), c[:, 2])

    return _rect_quiz(rng, n, 3, draw, accept=inside)


def _grow(rng: np.random.Generator, n: int) -> np.ndarray:
    """f grows (or, per quiz, shrinks) the last rectangle by one cell on every side."""
    c = colours(rng, n, 3)
    shrink = rng.integers(2, size=n).astype(bool)

    def draw(x, fx, r):
        for k in range(2):
            m = rect_mask(*r[:, k].T)
            paint(x, m, c[:, k])
            paint(fx, m, c[:, k])
        i1, j1, i2, j2 = r[:, 2].T
        full, inner = rect_mask(i1, j1, i2, j2), rect_mask(i1 + 1, j1 + 1, i2 - 1, j2 - 1)
        s = shrink[:, None, None]
        paint(x, np.where(s, full, inner), c[:, 2])
        paint(fx, np.where(s, inner, full), c[:, 2])

    return _rect_quiz(rng, n, 3, draw, last_min_side=4)


def _half_fill(rng: np.random.Generator, n: int) -> np.ndarray:
    """Each rectangle has a middle line of a second colour; f extends the last one's line to
    fill half the rectangle, on the side given per quiz (below, above, right, left)."""
    c = colours(rng, n, 6)
    side = rng.integers(4, size=n)

    def draw(x, fx, r):
        for k in range(3):
            i1, j1, i2, j2 = r[:, k].T
            m = rect_mask(i1, j1, i2, j2)
            paint(x, m, c[:, 2 * k])
            paint(fx, m, c[:, 2 * k])
            mid = np.choose(side, [(i1 + i2) // 2, (i1 + i2 - 1) // 2,
                                   (j1 + j2) // 2, (j1 + j2 - 1) // 2])
            across = side < 2
            line = rect_mask(np.where(across, mid, i1), np.where(across, j1, mid),
                             np.where(across, mid + 1, i2), np.where(across, j2, mid + 1))
            paint(x, line, c[:, 2 * k + 1])
            if k == 2:
                line = rect_mask(np.choose(side, [mid, i1, i1, i1]),
                                 np.choose(side, [j1, j1, mid, j1]),
                                 np.choose(side, [i2, mid + 1, i2, i2]),
                                 np.choose(side, [j2, j2, j2, mid + 1]))
            paint(fx, line, c[:, 2 * k + 1])

    return _rect_quiz(rng, n, 3, draw)


def _frame(rng: np.random.Generator, n: int) -> np.ndarray:
    """f hollows the last rectangle out, leaving its one-cell frame."""
    c = colours(rng, n, 4)

    def draw(x, fx, r):
        for k in range(3):
            i1, j1, i2, j2 = r[:, k].T
            m = rect_mask(i1, j1, i2, j2)
            paint(x, m, c[:, k])
            paint(fx, m & ~rect_mask(i1 + 1, j1 + 1, i2 - 1, j2 - 1) if k == 2 else m, c[:, k])

    return _rect_quiz(rng, n, 3, draw)


def _detect(rng: np.random.Generator, n: int) -> np.ndarray:
    """f marks the top-left corner of the first two rectangles with a 3-cell L."""
    c = colours(rng, n, 4)

    def draw(x, fx, r):
        for k in range(3):
            m = rect_mask(*r[:, k].T)
            paint(x, m, c[:, k])
            paint(fx, m, c[:, k])
        for k in range(2):
            i1, j1 = r[:, k, 0], r[:, k, 1]
            for di, dj in ((0, 0), (1, 0), (0, 1)):
                dot(fx, i1 + di, j1 + dj, c[:, 3])

    return _rect_quiz(rng, n, 3, draw)


def _corners(rng: np.random.Generator, n: int) -> np.ndarray:
    """A shows each rectangle by two opposite corner Ls (which diagonal: per quiz); f fills."""
    c = colours(rng, n, 3)
    mirror = rng.integers(2, size=n).astype(bool)

    def draw(x, fx, r):
        for k in range(3):
            i1, j1, i2, j2 = r[:, k].T
            paint(fx, rect_mask(i1, j1, i2, j2), c[:, k])
            for i, j in ((i1, j1), (i1 + 1, j1), (i1, j1 + 1),
                         (i2 - 1, j2 - 1), (i2 - 2, j2 - 1), (i2 - 1, j2 - 2)):
                dot(x, i, np.where(mirror, j1 + j2 - 1 - j, j), c[:, k])

    return _rect_quiz(rng, n, 3, draw)


def _contact(rng: np.random.Generator, n: int) -> np.ndarray:
    """At least one rectangle shares an edge with the first; f outlines those that do in the
    first one's colour."""
    c = colours(rng, n, 3)

    def any_contact(r, rows):
        return touching(r[:, 0], r[:, 1]) | touching(r[:, 0], r[:, 2])

    def draw(x, fx, r):
        for k in range(3):
            i1, j1, i2, j2 = r[:, k].T
            m = rect_mask(i1, j1, i2, j2)
            paint(x, m, c[:, k])
            paint(fx, m, c[:, k])
            if k:
                edge = m & ~rect_mask(i1 + 1, j1 + 1, i2 - 1, j2 - 1)
                paint(fx, edge & touching(r[:, 0], r[:, k])[:, None, None], c[:, 0])

    return _rect_quiz(rng, n, 3, draw, accept=any_contact)


# ---------------------------------------------------------------- other shape tasks

# scale: rectangles (i1, j1, i2, j2) in a 5×5 window, i1 < i2, j1 < j2, short side <= 3
_SCALE_RECTS = np.array([(i1, j1, i2, j2) for i1 in range(6) for j1 in range(6)
                         for i2 in range(i1 + 1, 6) for j2 in range(j1 + 1, 6)
                         if min(i2 - i1, j2 - j1) <= 3], np.int16)


def _scale(rng: np.random.Generator, n: int) -> np.ndarray:
    """An L marks the top-left of a 5×5 window (same place in A and B); f scales the window's
    three rectangles ×2 to the whole grid, the L staying put."""
    c = colours(rng, n, 2)
    oi, oj = rng.integers(H // 2, size=n), rng.integers(W // 2, size=n)

    def pair():
        x, fx = blank(n), blank(n)
        r = _SCALE_RECTS[rng.integers(len(_SCALE_RECTS), size=(n, 3))]
        for k in range(3):
            i1, j1, i2, j2 = r[:, k].T
            paint(x, rect_mask(oi + i1, oj + j1, oi + i2, oj + j2), c[:, 0])
            paint(fx, rect_mask(2 * i1, 2 * j1, 2 * i2, 2 * j2), c[:, 0])
        for di, dj in ((0, 0), (1, 0), (0, 1)):
            dot(x, oi + di, oj + dj, c[:, 1])
            dot(fx, oi + di, oj + dj, c[:, 1])
        return x, fx

    return quiz(pair)


@functools.cache
def _symbol_layouts() -> np.ndarray:
    """[N, 4, 2]: every ordered placement (top-left corners) of four 3×3 squares whose
    corners are > 3 apart in Chebyshev distance, i.e. the squares do not touch."""
    p = np.array([(i, j) for i in range(H - 2) for j in range(W - 2)], np.int16)
    ok = np.abs(p[:, None] - p[None]).max(-1) > 3
    sets = np.arange(len(p))[:, None]
    for _ in range(3):
        free = ok[sets].all(1)  # [N, P]: positions apart from every square so far
        row, col = np.nonzero(free)
        sets = np.concatenate([sets[row], col[:, None]], axis=1)
    return p[sets]


def _symbols(rng: np.random.Generator, n: int) -> np.ndarray:
    """Four 3×3 squares; a 3-cell pointer in the first points (relative to the squares'
    centroid) towards one of the others; f paints the first one's centre in that colour."""
    c = colours(rng, n, 5)
    layouts = _symbol_layouts()
    rows = np.arange(n)

    def pair():
        # Every placement has each square off the centroid on both axes, so the reference's
        # assertion about it never fires (tests/test_culture_tasks.py checks the table).
        pos = layouts[rng.integers(len(layouts), size=n)]
        q = rng.integers(1, 4, size=n)
        x = blank(n)
        for k in range(4):
            i, j = pos[:, k].T
            paint(x, rect_mask(i, j, i + 3, j + 3), c[:, k])
        fx = x.copy()
        ci, cj = pos[:, 0, 0] + 1, pos[:, 0, 1] + 1
        dot(fx, ci, cj, c[rows, q])
        si, sj = np.sign(4 * pos[rows, q] - pos.sum(1)).T
        for g in (x, fx):
            for i, j in ((ci + si, cj + sj), (ci, cj + sj), (ci + si, cj)):
                dot(g, i, j, c[:, 4])
        return x, fx

    return quiz(pair)


# isometry: rectangles with corners in [1, 8], inclusive, long side >= 3 cells, short <= 4
_ISO_RECTS = np.array([(i1, j1, i2 + 1, j2 + 1) for i1 in range(1, 9) for i2 in range(i1, 9)
                       for j1 in range(1, 9) for j2 in range(j1, 9)
                       if max(i2 - i1, j2 - j1) >= 2 and min(i2 - i1, j2 - j1) <= 3], np.int16)


@functools.cache
def _isometries() -> np.ndarray:
    """[72, H*W]: for each (rotation k, flip, di, dj), the source cell of every target cell
    (H*W = an always-empty cell). Index 0 is the identity."""
    o = np.array([[0, 1], [-1, 0]])
    ii, jj = np.divmod(np.arange(H * W), W)
    centred = np.stack([2 * ii - (H - 1), 2 * jj - (W - 1)])  # doubled, about the centre
    table = []
    for flip in (0, 1):
        for k in range(4):
            m = np.linalg.matrix_power(o, k)
            if flip:
                m = m * np.array([[-1], [1]])
            ti, tj = (m @ centred + np.array([[H - 1], [W - 1]])) // 2
            for di in (0, -1, 1):
                for dj in (0, -1, 1):
                    src = np.full(H * W, H * W)
                    ok = (ti + di >= 0) & (ti + di < H) & (tj + dj >= 0) & (tj + dj < W)
                    src[(ti + di)[ok] * W + (tj + dj)[ok]] = np.arange(H * W)[ok]
                    table.append(src)
    return np.array(table)


def _isometry(rng: np.random.Generator, n: int) -> np.ndarray:
    """Three overlapping rectangles (all visible, > 25 cells) off the border; f is one of the
    8 rotations/reflections of the grid followed by a shift of at most one cell."""
    g = rng.integers(72, size=n)
    rows = np.arange(n)

    def propose(owner):
        m = owner.size
        r = _ISO_RECTS[rng.integers(len(_ISO_RECTS), size=(m, 3))]
        lab = blank(m)
        for k in range(3):
            paint(lab, rect_mask(*r[:, k].T), np.full(m, k + 1, np.uint8))
        flat = lab.reshape(m, -1)
        ok = (flat > 0).sum(1) > H * W // 4
        for k in range(1, 4):  # no rectangle wholly hidden by the later ones
            ok &= (flat == k).any(1)
        return {"labels": lab}, ok

    def pair():
        labels = rejection(n, propose)["labels"]
        lut = np.zeros((n, 4), np.uint8)
        lut[:, 1:] = colours(rng, n, 3)
        x = lut[rows[:, None, None], labels]
        padded = np.concatenate([x.reshape(n, -1), np.zeros((n, 1), np.uint8)], axis=1)
        fx = np.take_along_axis(padded, _isometries()[g], axis=1).reshape(n, H, W)
        return x, fx

    return quiz(pair)
