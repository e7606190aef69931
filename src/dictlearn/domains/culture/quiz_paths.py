"""The culture tasks that walk the grid: path, fill, trajectory, bounce.

Shortest paths and flood fills run as breadth-first searches over every pending quiz at
once, each grid held as ten 10-bit row masks (uint16 [m, H]): one BFS step is a handful
of shifts and ORs over the whole batch.
"""

from __future__ import annotations

import numpy as np

from dictlearn.domains.culture.grids import (
    H, W, _rect_tables, blank, colours, dot, first_per_owner, paint, quiz, rect_mask, rect_sets,
    rejection,
)

# ---------------------------------------------------------------- row-bitmask grids


def from_bits(bits: np.ndarray) -> np.ndarray:
    """[m, H] uint16 -> [m, H, W] bool."""
    b = np.ascontiguousarray(bits, dtype="<u2").view(np.uint8).reshape(*bits.shape, 2)
    return np.unpackbits(b, axis=-1, count=W, bitorder="little").view(bool)


def cell_bits(i: np.ndarray, j: np.ndarray) -> np.ndarray:
    out = np.zeros((len(i), H), np.uint16)
    out[np.arange(len(i)), i] = np.left_shift(1, j).astype(np.uint16)
    return out


def spread(b: np.ndarray, free: np.ndarray) -> np.ndarray:
    """The free cells 4-adjacent to (or in) the cells of b."""
    g = b | (b << 1) | (b >> 1)
    g[:, 1:] |= b[:, :-1]
    g[:, :-1] |= b[:, 1:]
    return g & free


def bfs_layers(start: np.ndarray, free: np.ndarray, steps: int,
               goal: np.ndarray | None = None) -> np.ndarray:
    """[k + 1, m, H]: layer d holds the free cells at 4-connected distance d from start, for
    d up to `steps`, or fewer once every row has met `goal` or run out of cells."""
    layers, seen = [start], start.copy()
    for _ in range(steps):
        layers.append(spread(layers[-1], free) & ~seen)
        seen |= layers[-1]
        if goal is not None and ((seen & goal).any(1) | ~layers[-1].any(1)).all():
            break
    return np.stack(layers)


def flood(start: np.ndarray, free: np.ndarray) -> np.ndarray:
    """The free cells connected to start (start included)."""
    region = start.copy()
    active, reached, room = np.arange(len(start)), start, free
    while active.size:
        before = reached
        for _ in range(4):
            reached = spread(reached, room) | reached
        region[active] = reached
        moving = (reached != before).any(1)  # rows still growing; the others are done
        active, reached, room = active[moving], reached[moving], room[moving]
    return region


def rect_bits(rects: np.ndarray) -> np.ndarray:
    """[m, H] uint16: the cells covered by any of the rectangles rects [m, k, 4]."""
    i1, j1, i2, j2 = (rects[..., q, None] for q in range(4))  # [m, k, 1]
    span = (np.left_shift(1, j2) - np.left_shift(1, j1)).astype(np.uint16)
    rows = np.arange(H)
    return np.bitwise_or.reduce(np.where((rows >= i1) & (rows < i2), span, np.uint16(0)), 1)


_FULL_ROW = np.uint16((1 << W) - 1)
# _NTH_BIT[v, k]: the position of the k-th set bit of the W-bit value v
_NTH_BIT = np.zeros((1 << W, W), np.int16)
for _v in range(1 << W):
    _set = [b for b in range(W) if _v >> b & 1]
    _NTH_BIT[_v, :len(_set)] = _set


def random_cell(rng: np.random.Generator, free: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A uniformly drawn cell of free [m, H] (row bitmasks) per row; rows need one."""
    per_row = np.bitwise_count(free).astype(np.int64)
    upto = per_row.cumsum(1)
    pick = rng.integers(np.maximum(upto[:, -1], 1))
    i = (upto > pick[:, None]).argmax(1)
    rows = np.arange(len(free))
    k = pick - (upto[rows, i] - per_row[rows, i])
    return i, _NTH_BIT[free[rows, i], k]


# ---------------------------------------------------------------- tasks

MAX_PATH = 2 * W - 1  # the reference keeps endpoints fewer than 2 * width steps apart


def path(rng: np.random.Generator, n: int) -> np.ndarray:
    """Two rectangles and two free endpoints more than 2 apart (Manhattan), joined by a path
    of fewer than 20 steps; f marks every cell on a shortest 4-connected path between them
    that avoids the rectangles (the union of all such paths)."""
    c = colours(rng, n, 4)
    t = _rect_tables()

    def propose(owner):
        m = owner.size
        pair = rng.integers(len(t.pairs), size=m, dtype=np.int32)
        r = t.rects[np.stack(t.split(pair), axis=1)]  # [m, 2, 4]
        i1, i2 = rng.integers(H, size=(2, m))
        j1, j2 = rng.integers(W, size=(2, m))

        def empty(i, j):
            return ~((i[:, None] >= r[..., 0]) & (i[:, None] < r[..., 2])
                     & (j[:, None] >= r[..., 1]) & (j[:, None] < r[..., 3])).any(1)

        near = np.abs(i1 - i2) + np.abs(j1 - j2) > 2
        # one BFS per row and round, for its first candidate that passes the cheap tests
        _, cand = first_per_owner(owner, near & empty(i1, j1) & empty(i2, j2))
        free = ~rect_bits(r[cand]) & _FULL_ROW
        goal = cell_bits(i2[cand], j2[cand])
        la = bfs_layers(cell_bits(i1[cand], j1[cand]), free, MAX_PATH, goal)
        hit = (la & goal).any(2)  # [layers, c]: the goal is at this distance
        kept = hit.any(0)  # reachable in fewer than 2 * W steps
        cand, la, free, goal, d = cand[kept], la[:, kept], free[kept], goal[kept], \
            hit.argmax(0)[kept]
        longest = int(d.max(initial=0))
        lb = bfs_layers(goal, free, longest)
        ks = np.arange(longest + 1)[:, None]
        partner = lb[np.clip(d - ks, 0, longest), np.arange(cand.size)]  # at distance d - k
        partner &= np.where(ks <= d, _FULL_ROW, 0).astype(np.uint16)[..., None]
        on_path = np.zeros((m, H), np.uint16)
        on_path[cand] = np.bitwise_or.reduce(la[:longest + 1] & partner, axis=0)
        ok = np.zeros(m, bool)
        ok[cand] = True
        ends = np.stack([i1, j1, i2, j2], 1)
        return {"rects": r, "ends": ends, "on_path": on_path}, ok

    def pair():
        drawn = rejection(n, propose, tries=4)
        r, (i1, j1, i2, j2) = drawn["rects"], drawn["ends"].T
        x = blank(n)
        for k in range(2):
            paint(x, rect_mask(*r[:, k].T), c[:, k])
        fx = x.copy()
        paint(fx, from_bits(drawn["on_path"]), c[:, 3])
        for g in (x, fx):
            dot(g, i1, j1, c[:, 2])
            dot(g, i2, j2, c[:, 2])
        return x, fx

    return quiz(pair)


def fill(rng: np.random.Generator, n: int) -> np.ndarray:
    """Three rectangles and a dot in the free space; f floods the dot's connected free region
    with its colour and removes the dot. Half of the grids (drawn per grid, as the reference)
    must have free space the flood does not reach."""
    c = colours(rng, n, 4)

    def pair():
        must_split = rng.random(n) >= 0.5  # the reference's accept_full is rand < 0.5

        def propose(owner):
            m = owner.size
            r = rect_sets(rng, m, 3)
            free = ~rect_bits(r) & _FULL_ROW
            si, sj = random_cell(rng, free)
            region = flood(cell_bits(si, sj), free)
            split = (free & ~region).any(1)
            ok = free.any(1) & (split | ~must_split[owner])
            return {"rects": r, "seed": np.stack([si, sj], 1), "region": region}, ok

        drawn = rejection(n, propose, tries=np.where(must_split, 2, 1))
        r, (si, sj) = drawn["rects"], drawn["seed"].T
        x = blank(n)
        for k in range(3):
            paint(x, rect_mask(*r[:, k].T), c[:, k])
        fx = x.copy()
        paint(fx, from_bits(drawn["region"]), c[:, 3])
        dot(x, si, sj, c[:, 3])
        dot(fx, si, sj, 0)
        return x, fx

    return quiz(pair)


# every start (i, j) and step (di, dj) in [-3, 3]² whose first two steps stay on the grid
_TRAJECTORIES = np.array([(i, j, di, dj) for di in range(-3, 4) for dj in range(-3, 4)
                          if di or dj for i in range(H) for j in range(W)
                          if 0 <= i + 2 * di < H and 0 <= j + 2 * dj < W], np.int16)


def trajectory(rng: np.random.Generator, n: int) -> np.ndarray:
    """Two dots give a start and a step; f continues the straight line to the grid's edge."""
    c = colours(rng, n, 2)

    def pair():
        i, j, di, dj = _TRAJECTORIES[rng.integers(len(_TRAJECTORIES), size=n)].T
        x, fx = blank(n), blank(n)
        for k in range(max(H, W)):
            pi, pj = i + k * di, j + k * dj
            rows = np.flatnonzero((pi >= 0) & (pi < H) & (pj >= 0) & (pj < W))
            col = c[rows, min(k, 1)]
            if k < 2:
                x[rows, pi[rows], pj[rows]] = col
            fx[rows, pi[rows], pj[rows]] = col
        return x, fx

    return quiz(pair)


_UNIT = np.array([(-1, 0), (0, 1), (1, 0), (0, -1)], np.int16)
N_OBSTACLES = H * W // 10
MAX_BOUNCE = W


def bounce(rng: np.random.Generator, n: int) -> np.ndarray:
    """Ten obstacle dots, a start dot and a first step; f draws the walk that goes straight
    until blocked, then turns (to (-dj, di) if free, else (dj, -di)), for at most 10 steps,
    stopping when boxed in; the end is marked in A too. Walks of fewer than 3 steps are
    drawn again."""
    c = colours(rng, n, 3)

    def propose(owner):
        m = owner.size
        rows = np.arange(m)
        obst = rng.integers(H * W, size=(m, N_OBSTACLES))  # with repeats, as the reference
        di, dj = _UNIT[rng.integers(4, size=m)].T
        i, j = rng.integers(H, size=m), rng.integers(W, size=m)
        occ = np.ones((m, H + 2, W + 2), bool)  # a ring of walls around the grid
        occ[:, 1:-1, 1:-1] = False
        occ[rows[:, None], obst // W + 1, obst % W + 1] = True
        occ[rows, i + 1, j + 1] = True
        walk = np.empty((m, MAX_BOUNCE + 1, 2), np.int16)
        walk[:, 0] = np.stack([i, j], 1)
        steps = np.zeros(m, np.int64)
        moving = np.ones(m, bool)
        for s in range(1, MAX_BOUNCE + 1):
            ahead = ~occ[rows, i + di + 1, j + dj + 1]
            left = ~occ[rows, i - dj + 1, j + di + 1]
            right = ~occ[rows, i + dj + 1, j - di + 1]
            moving &= ahead | left | right
            ndi = np.where(ahead, di, np.where(left, -dj, dj))
            ndj = np.where(ahead, dj, np.where(left, di, -di))
            di, dj = np.where(moving, ndi, di), np.where(moving, ndj, dj)
            i, j = np.where(moving, i + di, i), np.where(moving, j + dj, j)
            occ[rows, i + 1, j + 1] = True
            walk[:, s] = np.stack([i, j], 1)
            steps += moving
        return {"obst": obst, "walk": walk, "steps": steps}, steps >= 3

    def pair():
        drawn = rejection(n, propose)  # ~98% of walks are long enough
        obst, walk, steps = drawn["obst"], drawn["walk"], drawn["steps"]
        rows = np.arange(n)
        x = blank(n)
        x[rows[:, None], obst // W, obst % W] = c[:, :1]
        fx = x.copy()
        for s in range(2, MAX_BOUNCE + 1):
            on = np.flatnonzero(steps >= s)
            fx[on, walk[on, s, 0], walk[on, s, 1]] = c[on, 2]
        end = walk[rows, steps]
        for g in (x, fx):
            dot(g, walk[:, 0, 0], walk[:, 0, 1], c[:, 1])
            dot(g, end[:, 0], end[:, 1], c[:, 1])
        dot(x, walk[:, 1, 0], walk[:, 1, 1], c[:, 2])
        dot(fx, walk[:, 1, 0], walk[:, 1, 1], c[:, 1])
        return x, fx

    return quiz(pair)
