"""The culture quiz generator: the token layout, and per task that f does what the reference's
task does (checked against small plain-Python oracles on tiny batches)."""

from __future__ import annotations

from collections import deque

import numpy as np
import pytest

from dictlearn.domains.culture import tasks as ct

N = 16
STEPS8 = [(di, dj) for di in (-1, 0, 1) for dj in (-1, 0, 1) if di or dj]


def pairs(task: str, n: int = N, seed: int = 0) -> list[tuple[np.ndarray, np.ndarray,
                                                              np.ndarray, np.ndarray]]:
    q = ct.generate(task, n, np.random.default_rng(seed)).astype(int)
    assert q.shape == (n, 4, 10, 10) and q.min() >= 0 and q.max() <= 10
    return [tuple(x) for x in q]


def where(mask: np.ndarray) -> set[tuple[int, int]]:
    return {(int(i), int(j)) for i, j in zip(*np.nonzero(mask))}


def cells(g: np.ndarray, colour: int) -> set[tuple[int, int]]:
    return where(g == colour)


def colour_set(g: np.ndarray) -> set[int]:
    return set(np.unique(g[g > 0]).tolist())


def bbox_cells(s: set[tuple[int, int]], shrink: int = 0) -> set[tuple[int, int]]:
    i1, i2 = min(i for i, _ in s) + shrink, max(i for i, _ in s) - shrink
    j1, j2 = min(j for _, j in s) + shrink, max(j for _, j in s) - shrink
    return {(i, j) for i in range(i1, i2 + 1) for j in range(j1, j2 + 1)}


def border(s: set[tuple[int, int]]) -> set[tuple[int, int]]:
    return bbox_cells(s) - bbox_cells(s, shrink=1)


def bfs(free: np.ndarray, start: tuple[int, int]) -> np.ndarray:
    """4-connected distances through free cells; -1 where unreachable."""
    dist = np.full(free.shape, -1)
    dist[start] = 0
    todo = deque([start])
    while todo:
        i, j = todo.popleft()
        for a, b in ((i + 1, j), (i - 1, j), (i, j + 1), (i, j - 1)):
            if 0 <= a < 10 and 0 <= b < 10 and free[a, b] and dist[a, b] < 0:
                dist[a, b] = dist[i, j] + 1
                todo.append((a, b))
    return dist


# ---------------------------------------------------------------- layout and API


def test_layout_bos_markers_and_answer_slot():
    rng = np.random.default_rng(0)
    out = ct.make_quizzes(ct.TASKS, 90, rng)
    ids, order = out["input_ids"], out["order"]
    assert ids.dtype == np.int64 and ids.shape == (90, 405)
    assert (ids[:, 0] == 0).all()
    marker_pos = np.array(ct.MARKER_POSITIONS)
    expected = 11 + np.asarray(ct.ORDERS)[order]
    assert (ids[:, marker_pos] == expected).all()
    body = np.delete(ids, np.r_[0, marker_pos], axis=1)
    assert body.min() >= 0 and body.max() <= 10
    assert set(out["task"].tolist()) <= set(range(len(ct.TASKS)))
    assert set(order.tolist()) == {0, 1, 2, 3}


@pytest.mark.parametrize("order, answer", [(0, "f_B"), (1, "B"), (2, "f_A"), (3, "A")])
def test_orders_put_the_right_grid_last(order, answer):
    # Same seed, one order each: the same quizzes, laid out differently.
    canon = ct.make_quizzes(["translate", "path"], 8, np.random.default_rng(3), orders=(0,))
    other = ct.make_quizzes(["translate", "path"], 8, np.random.default_rng(3), orders=(order,))
    grids = canon["input_ids"][:, 1:].reshape(8, 4, 101)[:, :, 1:]
    shown = other["input_ids"][:, 1:].reshape(8, 4, 101)
    for slot, g in enumerate(ct.ORDERS[order]):
        assert (shown[:, slot, 0] == 11 + g).all()
        assert (shown[:, slot, 1:] == grids[:, g]).all()
    assert ct.GRIDS[ct.ORDERS[order][3]] == answer


def test_deterministic_for_a_seed():
    a = ct.make_quizzes(ct.TASKS, 40, np.random.default_rng(7))
    b = ct.make_quizzes(ct.TASKS, 40, np.random.default_rng(7))
    c = ct.make_quizzes(ct.TASKS, 40, np.random.default_rng(8))
    for key in ("input_ids", "task", "order"):
        assert np.array_equal(a[key], b[key])
    assert not np.array_equal(a["input_ids"], c["input_ids"])


def test_weights_pick_the_mix():
    out = ct.make_quizzes(["frame", "fill"], 50, np.random.default_rng(0), weights=[0.0, 1.0])
    assert (out["task"] == 1).all()


@pytest.mark.parametrize("task", ct.TASKS)
def test_no_trivial_quiz(task):
    q = ct.generate(task, 48, np.random.default_rng(1))
    assert not ct.trivial(q).any()
    assert all((q[:, k] > 0).any() for k in range(4))


def test_isometry_never_emits_the_identity():
    # the reference emits ~1.4% identity quizzes (rotation 0, no flip, no shift)
    q = ct.generate("isometry", 400, np.random.default_rng(2))
    assert not ct.trivial(q).any()


@pytest.mark.parametrize("bad, message", [
    (["translate", "teleport"], "teleport"), ([], "none given"), (["fill", "fill"], "twice")])
def test_task_names_are_validated(bad, message):
    with pytest.raises(ValueError, match=message) as err:
        ct.make_quizzes(bad, 4, np.random.default_rng(0))
    if message == "teleport":
        assert "replace_color" in str(err.value) and "bounce" in str(err.value)


@pytest.mark.parametrize("kwargs, message", [
    ({"orders": (0, 5)}, "orders"), ({"weights": [0.5, 0.2]}, "weights"),
    ({"weights": [1.0]}, "weights")])
def test_orders_and_weights_are_validated(kwargs, message):
    with pytest.raises(ValueError, match=message):
        ct.make_quizzes(["grow", "frame"], 4, np.random.default_rng(0), **kwargs)


# ---------------------------------------------------------------- tasks


def test_replace_color_changes_exactly_one_colour_the_same_way_in_a_and_b():
    for a, fa, b, fb in pairs("replace_color"):
        swaps = []
        for x, fx in ((a, fa), (b, fb)):
            d = x != fx
            (old,), (new,) = set(x[d].tolist()), set(fx[d].tolist())
            assert cells(x, old) == where(d)
            assert new not in colour_set(x) and old not in colour_set(fx)
            swaps.append((old, new))
        assert swaps[0] == swaps[1]


def test_translate_moves_one_rectangle_by_the_same_offset_in_a_and_b():
    for a, fa, b, fb in pairs("translate"):
        moves = []
        for x, fx in ((a, fa), (b, fb)):
            found = [(k, d) for k in colour_set(x) for d in STEPS8
                     if {(i + d[0], j + d[1]) for i, j in cells(x, k)} == cells(fx, k)]
            assert len(found) == 1
            (k, (di, dj)) = found[0]
            s = cells(x, k)
            moved = s | {(i + di, j + dj) for i, j in s}
            rest = [(i, j) for i in range(10) for j in range(10) if (i, j) not in moved]
            assert all(x[p] == fx[p] for p in rest)
            assert bbox_cells(s) == s  # a whole rectangle moved
            moves.append(found[0])
        assert moves[0] == moves[1]


def test_grow_grows_or_shrinks_one_rectangle_by_a_cell_per_side():
    for a, fa, b, fb in pairs("grow"):
        ways = []
        for x, fx in ((a, fa), (b, fb)):
            (k,) = (set(x[x != fx].tolist()) | set(fx[x != fx].tolist())) - {0}
            small, big = sorted([cells(x, k), cells(fx, k)], key=len)
            assert big == bbox_cells(big) and small == bbox_cells(big, shrink=1)
            ways.append(len(cells(fx, k)) > len(cells(x, k)))
        assert ways[0] == ways[1]


def test_half_fill_extends_the_middle_line_over_half_a_rectangle():
    for a, fa, b, fb in pairs("half_fill"):
        sides = []
        for x, fx in ((a, fa), (b, fb)):
            (line,) = set(fx[x != fx].tolist())
            region, seed = cells(fx, line), cells(x, line)
            assert region == bbox_cells(region) and seed < region
            rows, cols = {i for i, _ in seed}, {j for _, j in seed}
            box = bbox_cells(region)
            if len(rows) == 1:  # a row: the region's first or last row, full width
                assert {j for _, j in region} == cols
                sides.append("top" if rows == {min(i for i, _ in box)} else "bottom")
            else:
                assert len(cols) == 1 and {i for i, _ in region} == rows
                sides.append("left" if cols == {min(j for _, j in box)} else "right")
        assert sides[0] == sides[1]


def test_frame_hollows_one_rectangle():
    for quiz in pairs("frame"):
        for x, fx in (quiz[:2], quiz[2:]):
            d = x != fx
            (k,) = set(x[d].tolist())
            assert (fx[d] == 0).all()
            assert cells(fx, k) == border(cells(x, k))


def test_detect_marks_two_top_left_corners():
    for quiz in pairs("detect"):
        for x, fx in (quiz[:2], quiz[2:]):
            d = x != fx
            assert d.sum() == 6
            (mark,) = set(fx[d].tolist())
            assert mark not in colour_set(x)
            corners = [(i, j) for i, j in cells(fx, mark)
                       if fx[i + 1, j] == mark and fx[i, j + 1] == mark]
            assert len(corners) == 2
            for i, j in corners:  # the top-left cell of a rectangle of A
                k = x[i, j]
                assert (i == 0 or x[i - 1, j] != k) and (j == 0 or x[i, j - 1] != k)


def test_corners_fill_the_rectangle_two_corners_outline():
    for quiz in pairs("corners"):
        for x, fx in (quiz[:2], quiz[2:]):
            for k in colour_set(x):
                assert len(cells(x, k)) == 6
                assert cells(fx, k) == bbox_cells(cells(x, k))


def test_contact_outlines_the_rectangles_touching_the_first():
    for quiz in pairs("contact"):
        for x, fx in (quiz[:2], quiz[2:]):
            d = x != fx
            (first,) = set(fx[d].tolist())
            r0 = cells(x, first)
            assert r0 == bbox_cells(r0)
            for k in colour_set(x) - {first}:
                rk = cells(x, k)
                touch = any((i + di, j + dj) in r0 for i, j in rk
                            for di, dj in ((0, 1), (1, 0), (0, -1), (-1, 0)))
                if touch:
                    assert cells(fx, first) & rk == border(rk)
                else:
                    assert cells(fx, k) == rk
            assert d.any()


def test_scale_doubles_the_marked_window():
    for a, fa, b, fb in pairs("scale"):
        marks = []
        for x, fx in ((a, fa), (b, fb)):
            (mark,) = [k for k in colour_set(x) if len(cells(x, k)) == 3
                       and cells(x, k) == cells(fx, k)]  # the L, drawn last in both
            oi, oj = min(cells(x, mark))
            (body,) = colour_set(x) - {mark}
            under = cells(x, mark)
            for i in range(10):
                for j in range(10):
                    src = (oi + i // 2, oj + j // 2)
                    if (i, j) in under or src in under:
                        continue
                    assert (fx[i, j] == body) == (x[src] == body), (i, j)
            marks.append((oi, oj))
        assert marks[0] == marks[1]


def test_symbols_paints_the_centre_with_the_pointed_square_colour():
    for quiz in pairs("symbols"):
        for x, fx in (quiz[:2], quiz[2:]):
            (ci, cj), = zip(*np.nonzero(x != fx))
            target = fx[ci, cj]
            pointer = x[ci - 1, cj - 1:cj + 2].tolist() + x[ci + 1, cj - 1:cj + 2].tolist()
            squares = {k: min(bbox_cells(cells(x, k))) for k in colour_set(x)
                       if len(cells(x, k)) >= 6}
            own = x[ci, cj]
            (ptr,) = colour_set(x) - set(squares)
            assert ptr in pointer and own in squares and target in squares and target != own
            si = [s for s in (-1, 1) if x[ci + s, cj] == ptr][0]
            sj = [s for s in (-1, 1) if x[ci, cj + s] == ptr][0]
            tops = np.array(list(squares.values()))
            centroid = tops.mean(0)
            ti, tj = squares[target]
            assert np.sign(ti - centroid[0]) == si and np.sign(tj - centroid[1]) == sj


def test_symbol_placements_never_put_a_square_on_the_centroid():
    pos = ct._symbol_layouts()
    assert (4 * pos[:, 1:] != pos.sum(1, keepdims=True)).all()
    gaps = np.abs(pos[:, :, None] - pos[:, None]).max(-1) + 10 * np.eye(4, dtype=int)
    assert gaps.min() == 4


def _isometries_by_numpy():
    """The 72 maps (rotation/reflection then shift by at most one) for borderless grids."""
    maps = []
    for flip in (False, True):
        for k in range(4):
            for di in (-1, 0, 1):
                for dj in (-1, 0, 1):
                    maps.append(lambda g, f=flip, k=k, di=di, dj=dj: np.roll(
                        np.rot90(g.T if f else g, k), (di, dj), axis=(0, 1)))
    return maps


def test_isometry_applies_one_nontrivial_isometry_to_both_grids():
    maps = _isometries_by_numpy()
    for a, fa, b, fb in pairs("isometry"):
        assert (a[[0, -1]] == 0).all() and (a[:, [0, -1]] == 0).all()
        same = [m for m in maps if (m(a) == fa).all() and (m(b) == fb).all()]
        assert same and (a > 0).sum() > 25 and len(colour_set(a)) == 3


def test_trajectory_continues_the_line_to_the_edge():
    for quiz in pairs("trajectory"):
        for x, fx in (quiz[:2], quiz[2:]):
            start_colour = [k for k in colour_set(fx) if len(cells(fx, k)) == 1][0]
            (p0,), (p1,) = cells(x, start_colour), cells(x, (colour_set(x) - {start_colour}).pop())
            di, dj = p1[0] - p0[0], p1[1] - p0[1]
            line, k = set(), 1
            while 0 <= p0[0] + k * di < 10 and 0 <= p0[1] + k * dj < 10:
                line.add((p0[0] + k * di, p0[1] + k * dj))
                k += 1
            assert len(line) >= 2 and cells(fx, x[p1]) == line


def test_path_marks_every_shortest_path_around_the_obstacles():
    for quiz in pairs("path"):
        for x, fx in (quiz[:2], quiz[2:]):
            (mark,) = colour_set(fx) - colour_set(x)
            (ends,) = [k for k in colour_set(x) if len(cells(x, k)) == 2]
            p, q = sorted(cells(x, ends))
            assert abs(p[0] - q[0]) + abs(p[1] - q[1]) > 2
            free = (x == 0) | (x == ends)
            dp, dq = bfs(free, p), bfs(free, q)
            length = dp[q]
            assert 0 < length < 20
            on = (dp >= 0) & (dq >= 0) & (dp + dq == length)
            on[p] = on[q] = False
            assert np.array_equal(fx == mark, on)
            assert not (on & ~free).any()
            assert np.array_equal(np.where(on, 0, fx), x)


def test_fill_floods_the_dot_region_and_stops_at_walls():
    split = 0
    for quiz in pairs("fill", n=32):
        for x, fx in (quiz[:2], quiz[2:]):
            (dot_colour,) = [k for k in colour_set(x) if len(cells(x, k)) == 1]
            (seed,) = cells(x, dot_colour)
            free = (x == 0) | (x == dot_colour)
            region = bfs(free, seed) >= 0
            expect = np.where(region, dot_colour, x)
            expect[seed] = 0
            assert np.array_equal(fx, expect)
            split += bool((free & ~region).any())
    assert split >= 32  # about 3/4 of grids leave free space unreached (half must)


def test_bounce_walks_straight_until_blocked_then_turns():
    for quiz in pairs("bounce", n=32):
        for x, fx in (quiz[:2], quiz[2:]):
            counts = {k: len(cells(x, k)) for k in colour_set(x)}
            (step_colour,) = [k for k, v in counts.items() if v == 1]
            (end_colour,) = [k for k, v in counts.items() if v == 2]
            (s1,) = cells(x, step_colour)
            start = [p for p in cells(x, end_colour) if abs(p[0] - s1[0]) + abs(p[1] - s1[1]) == 1]
            start = start[0]
            taken = (x > 0) & (x != step_colour)
            taken[[p[0] for p in cells(x, end_colour)], [p[1] for p in cells(x, end_colour)]] = False
            taken[start] = True
            walk, (di, dj) = [start, s1], (s1[0] - start[0], s1[1] - start[1])
            taken[s1] = True

            def free(i, j):
                return 0 <= i < 10 and 0 <= j < 10 and not taken[i, j]

            while len(walk) <= 10:
                i, j = walk[-1]
                if free(i + di, j + dj):
                    pass
                elif free(i - dj, j + di):
                    di, dj = -dj, di
                elif free(i + dj, j - di):
                    di, dj = dj, -di
                else:
                    break
                walk.append((i + di, j + dj))
                taken[walk[-1]] = True
            assert len(walk) >= 4  # at least 3 steps
            expect = x.copy()
            expect[s1] = end_colour
            for p in walk[2:-1]:
                expect[p] = step_colour
            assert walk[-1] in cells(x, end_colour)
            assert np.array_equal(fx, expect)
