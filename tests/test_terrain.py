"""Cost distance on a grid against scikit-image's MCP and a networkx Dijkstra on the same cell graph."""

from __future__ import annotations

import math

import networkx as nx
import numpy as np
import pytest

from geoaccess import terrain
from geoaccess.errors import InputError

skgraph = pytest.importorskip("skimage.graph")

RTOL = 1e-9


def random_grid(rng, shape, barrier=0.15, nodata=0.05):
    """Friction in minutes per metre (walking 1-8 km/h), with inf barriers and NaN nodata."""
    f = 60.0 / (1000.0 * rng.uniform(1.0, 8.0, shape))
    f[rng.random(shape) < barrier] = np.inf
    f[rng.random(shape) < nodata] = np.nan
    return f


def random_sources(rng, shape, k):
    cells = rng.choice(shape[0] * shape[1], size=k, replace=False)
    return np.column_stack(np.unravel_index(cells, shape))


def assert_same(got, want):
    assert got.shape == want.shape
    assert np.array_equal(np.isinf(got), np.isinf(want))
    fin = np.isfinite(want)
    np.testing.assert_allclose(got[fin], want[fin], rtol=RTOL, atol=0)


class GeometricFlexible(skgraph.MCP_Flexible):
    """``MCP_Geometric``'s travel cost on any offsets (``MCP_Geometric`` itself refuses steps of 2, so knight's
    moves need this; the heap, the edge handling and the cost formula are scikit-image's own)."""

    def travel_cost(self, old_cost, new_cost, offset_length):
        return offset_length * 0.5 * (old_cost + new_cost)


def mcp_reference(friction, sources, cell_size, knight):
    costs = np.where(np.isnan(friction), np.inf, friction)  # MCP knows inf as impassable, not NaN
    if not knight:
        minutes, _ = skgraph.MCP_Geometric(costs, sampling=cell_size).find_costs([tuple(s) for s in sources])
        return minutes
    # MCP_Flexible starts a search at the source's own cost: one search per source, that cost taken off, the minimum
    offsets = [tuple(o) for o in terrain.moves(knight=True)]
    best = np.full(costs.shape, np.inf)
    for r, c in sources:
        if not np.isfinite(costs[r, c]):  # a source on a barrier reaches only itself
            best[r, c] = 0.0
            continue
        m, _ = GeometricFlexible(costs, offsets=offsets, sampling=cell_size).find_costs([(r, c)])
        best = np.minimum(best, m - costs[r, c])
    return best


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("knight", [False, True])
def test_cost_distance_equals_mcp(seed, knight):
    rng = np.random.default_rng(seed)
    shape = (int(rng.integers(20, 45)), int(rng.integers(20, 45)))
    friction = random_grid(rng, shape)
    sources = random_sources(rng, shape, int(rng.integers(1, 5)))
    cell_size = (float(rng.uniform(20, 100)), float(rng.uniform(20, 100)))
    got = terrain.cost_distance(friction, sources, cell_size=cell_size, knight=knight)
    want = mcp_reference(friction, sources, cell_size, knight)
    assert_same(got, want)


def test_float32_friction_is_read_as_float64():
    rng = np.random.default_rng(7)
    friction = random_grid(rng, (30, 30)).astype(np.float32)
    sources = random_sources(rng, (30, 30), 3)
    got = terrain.cost_distance(friction, sources, cell_size=(90.0, 90.0))
    assert_same(got, mcp_reference(friction.astype(np.float64), sources, (90.0, 90.0), False))


@pytest.mark.parametrize("knight", [False, True])
def test_cutoff_bounds_the_search_and_is_inclusive(knight):
    rng = np.random.default_rng(11)
    friction = random_grid(rng, (40, 40), barrier=0.1, nodata=0.0)
    sources = random_sources(rng, (40, 40), 2)
    full = terrain.cost_distance(friction, sources, cell_size=(50.0, 50.0), knight=knight)
    cutoff = float(np.quantile(full[np.isfinite(full)], 0.4))
    cut = terrain.cost_distance(friction, sources, cell_size=(50.0, 50.0), knight=knight, cutoff=cutoff)
    assert_same(cut, np.where(full <= cutoff, full, np.inf))
    # a cell at exactly the cutoff is within it
    uniform = np.ones((1, 5))
    minutes = terrain.cost_distance(uniform, [(0, 0)], cutoff=3.0)
    assert minutes[0, 3] == 3.0 and np.isinf(minutes[0, 4])


def test_knight_moves_shorten_oblique_trips():
    friction = np.ones((21, 21))
    eight = terrain.cost_distance(friction, [(0, 0)])
    sixteen = terrain.cost_distance(friction, [(0, 0)], knight=True)
    straight = math.hypot(10, 20)
    assert eight[10, 20] > sixteen[10, 20] >= straight - 1e-9
    assert sixteen[10, 20] == pytest.approx(10 * math.sqrt(5))  # ten knight's moves along the line
    assert (eight[10, 20] - straight) / straight > 0.05 > (sixteen[10, 20] - straight) / straight


# -- the networkx oracle: the same directed cell graph, built move by move ----------------------------------------


def cell_graph(friction, cell_size, knight, dem=None, cut_corners=True):
    """Directed graph of every allowed move, weighted as the docs of cost_distance / walking_time say."""
    rows, cols = friction.shape
    dy, dx = cell_size

    def open_(r, c):
        return bool(friction[r, c] < np.inf)

    g = nx.DiGraph()
    g.add_nodes_from((r, c) for r in range(rows) for c in range(cols))
    for r in range(rows):
        for c in range(cols):
            if not open_(r, c):
                continue
            for dr, dc in terrain.moves(knight):
                rr, cc = r + dr, c + dc
                if not (0 <= rr < rows and 0 <= cc < cols) or not open_(rr, cc):
                    continue
                if not cut_corners:
                    if abs(dr) == 1 and abs(dc) == 1 and not open_(r + dr, c) and not open_(r, c + dc):
                        continue
                    if abs(dr) + abs(dc) == 3:
                        # the two cells the move passes through on its way
                        if abs(dr) == 2:
                            mids = [(r + dr // 2, c), (r + dr // 2, c + dc)]
                        else:
                            mids = [(r, c + dc // 2), (r + dr, c + dc // 2)]
                        if not all(open_(*m) for m in mids):
                            continue
                length = math.sqrt((dy * dr) ** 2 + (dx * dc) ** 2)
                w = length * 0.5 * (friction[r, c] + friction[rr, cc])
                if dem is not None:
                    slope = (dem[rr, cc] - dem[r, c]) / length
                    if math.isnan(slope):
                        continue
                    w *= math.exp(3.5 * (abs(slope + 0.05) - 0.05))
                g.add_edge((r, c), (rr, cc), weight=w)
    return g


def nx_minutes(g, shape, sources, to_sources):
    graph = g.reverse(copy=False) if to_sources else g
    lengths = nx.multi_source_dijkstra_path_length(graph, {tuple(int(v) for v in s) for s in sources})
    out = np.full(shape, np.inf)
    for (r, c), m in lengths.items():
        out[r, c] = m
    return out


def random_dem(rng, shape):
    """Hills: a smooth surface plus noise, slopes up to about 40 %."""
    yy, xx = np.mgrid[0 : shape[0], 0 : shape[1]]
    z = 200 * np.sin(xx / 4.0) * np.cos(yy / 5.0) + rng.normal(0, 15, shape) + 1000
    z[rng.random(shape) < 0.03] = np.nan
    return z


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("knight", [False, True])
@pytest.mark.parametrize("to_sources", [True, False])
def test_walking_time_equals_networkx_on_directed_cell_graph(seed, knight, to_sources):
    rng = np.random.default_rng(100 + seed)
    shape = (int(rng.integers(10, 18)), int(rng.integers(10, 18)))
    friction = random_grid(rng, shape, barrier=0.1, nodata=0.03)
    dem = random_dem(rng, shape)
    sources = random_sources(rng, shape, int(rng.integers(1, 4)))
    cell_size = (float(rng.uniform(50, 120)), float(rng.uniform(50, 120)))
    got = terrain.walking_time(dem, friction, sources, cell_size=cell_size, knight=knight, to_sources=to_sources)
    want = nx_minutes(cell_graph(friction, cell_size, knight, dem=dem), shape, sources, to_sources)
    assert_same(got, want)


def test_walking_uphill_is_slower_than_downhill():
    dem = np.tile(np.arange(10, dtype=float) * 20.0, (3, 1))  # rising 20 m per 100 m cell eastwards
    friction = np.full(dem.shape, 60 / 5000)
    up = terrain.walking_time(dem, friction, [(1, 9)], cell_size=(100.0, 100.0), to_sources=True)  # walk east
    down = terrain.walking_time(dem, friction, [(1, 0)], cell_size=(100.0, 100.0), to_sources=True)  # walk west
    assert up[1, 0] > down[1, 9] > 0
    flat = terrain.cost_distance(friction, [(1, 0)], cell_size=(100.0, 100.0))
    # 20 % uphill: exp(3.5 * 0.2) = 2.01 x flat; 20 % downhill: exp(3.5 * 0.1) = 1.42 x flat
    assert up[1, 0] == pytest.approx(flat[1, 9] * math.exp(0.7))
    assert down[1, 9] == pytest.approx(flat[1, 9] * math.exp(0.35))


def test_walking_on_flat_ground_equals_cost_distance():
    rng = np.random.default_rng(5)
    friction = random_grid(rng, (25, 30))
    sources = random_sources(rng, (25, 30), 3)
    flat = np.full(friction.shape, 1500.0)
    for knight in (False, True):
        # flat ground: Tobler's factor is exactly 1 for every move, so the bits agree
        walk = terrain.walking_time(flat, friction, sources, cell_size=(30.0, 40.0), knight=knight)
        iso = terrain.cost_distance(friction, sources, cell_size=(30.0, 40.0), knight=knight)
        np.testing.assert_array_equal(walk, iso)


@pytest.mark.parametrize("knight", [False, True])
def test_no_move_crosses_a_barrier_line_without_corner_cutting(knight):
    rng = np.random.default_rng(21)
    friction = random_grid(rng, (16, 16), barrier=0.0, nodata=0.0)
    for i in range(16):  # a diagonal river, one cell wide and 8-connected
        friction[i, 15 - i] = np.inf
    cut = terrain.cost_distance(friction, [(0, 0)], knight=knight)
    strict = terrain.cost_distance(friction, [(0, 0)], knight=knight, cut_corners=False)
    assert np.isfinite(cut[15, 15])  # moves slip through the corners of the line
    assert np.isinf(strict[15, 15]) and np.isinf(strict[8, 9])
    mixed = random_grid(rng, (14, 15), barrier=0.25, nodata=0.05)
    sources = random_sources(rng, mixed.shape, 2)
    got = terrain.cost_distance(mixed, sources, cell_size=(30.0, 50.0), knight=knight, cut_corners=False)
    want = nx_minutes(cell_graph(mixed, (30.0, 50.0), knight, cut_corners=False), mixed.shape, sources, False)
    assert_same(got, want)


def test_labels_name_the_nearest_source():
    rng = np.random.default_rng(3)
    friction = random_grid(rng, (30, 30), nodata=0.0)
    sources = random_sources(rng, (30, 30), 4)
    start = np.array([0.0, 5.0, 1.0, 2.5])
    minutes, label = terrain.search(
        friction, sources, cell_size=(10.0, 10.0), source_minutes=start, labels=[0, 1, 2, 3]
    )
    each = np.stack(
        [terrain.cost_distance(friction, [s], cell_size=(10.0, 10.0)) + m for s, m in zip(sources, start, strict=True)]
    )
    assert_same(minutes, each.min(axis=0))
    reached = np.isfinite(minutes)
    picked = np.take_along_axis(each, np.where(reached, label, 0)[None], axis=0)[0]
    np.testing.assert_allclose(picked[reached], minutes[reached], rtol=RTOL)
    assert np.all(label[~reached] == -1)


def test_source_on_a_barrier_reaches_only_itself():
    friction = np.ones((3, 3))
    friction[1, 1] = np.inf
    minutes = terrain.cost_distance(friction, [(1, 1)])
    assert minutes[1, 1] == 0 and np.isinf(minutes).sum() == 8


@pytest.mark.parametrize(
    "kwargs, words",
    [
        ({"friction": -np.ones((3, 3))}, "negative"),
        ({"sources": [(5, 0)]}, "outside"),
        ({"sources": [(0.5, 0)]}, "integer"),
        ({"cell_size": (0, 10)}, "cell_size"),
        ({"friction": np.ones(4)}, "2-D"),
        ({"cutoff": -1}, "cutoff"),
    ],
)
def test_bad_input_is_one_clear_error(kwargs, words):
    args = {"friction": np.ones((3, 3)), "sources": [(0, 0)], "cell_size": (1, 1)} | kwargs
    with pytest.raises(InputError, match=words):
        terrain.cost_distance(args.pop("friction"), args.pop("sources"), **args)


def test_exact_when_moves_span_more_than_the_bucket_ring():
    """Frictions 10 orders of magnitude apart (the ring is widened: cells are scanned again when they improve),
    zero friction, and cliffs whose moves overrun the ring (queued in its last bucket) stay exact."""
    rng = np.random.default_rng(42)
    friction = 10.0 ** rng.uniform(-6, 4, (30, 30))
    friction[rng.random((30, 30)) < 0.1] = 0.0
    friction[rng.random((30, 30)) < 0.1] = np.inf
    sources = random_sources(rng, (30, 30), 3)
    lo, hi = terrain._terrain_kernels.move_range(friction.reshape(-1), terrain.Moves(30, (10.0, 10.0), True).length)
    delta, nb = terrain._buckets((lo, hi), False)
    assert delta > lo and nb == 2**17  # the widened ring
    for knight in (False, True):
        got = terrain.cost_distance(friction, sources, cell_size=(10.0, 10.0), knight=knight)
        assert_same(got, mcp_reference(friction, sources, (10.0, 10.0), knight))
    dem = rng.uniform(0, 1, (14, 14)) * 1000.0  # slopes up to 10: moves thousands of times dearer than flat
    flat = np.full((14, 14), 0.01)
    src = random_sources(rng, (14, 14), 2)
    got = terrain.walking_time(dem, flat, src, cell_size=(100.0, 100.0), knight=True)
    assert_same(got, nx_minutes(cell_graph(flat, (100.0, 100.0), True, dem=dem), (14, 14), src, True))


@pytest.mark.parametrize("knight", [False, True])
def test_a_search_for_targets_stops_once_they_are_final(knight):
    rng = np.random.default_rng(8)
    friction = random_grid(rng, (60, 60), barrier=0.1, nodata=0.02)
    sources = random_sources(rng, (60, 60), 3)
    start = rng.uniform(0, 30, 3)
    full, flab = terrain.search(friction, sources, knight=knight, source_minutes=start, labels=[0, 1, 2])
    near = np.flatnonzero(
        np.isfinite(full.reshape(-1)) & (full.reshape(-1) < np.quantile(full[np.isfinite(full)], 0.2))
    )
    targets = rng.choice(near, 40, replace=False)
    got, glab = terrain.search(
        friction, sources, knight=knight, source_minutes=start, labels=[0, 1, 2], targets=targets
    )
    np.testing.assert_array_equal(got.reshape(-1)[targets], full.reshape(-1)[targets])
    np.testing.assert_array_equal(glab.reshape(-1)[targets], flab.reshape(-1)[targets])
    assert np.isinf(got).sum() > np.isinf(full).sum() + 100  # the far side of the grid was never reached
    with pytest.raises(InputError, match="targets"):
        terrain.search(friction, sources, targets=[60 * 60])


def heuristic_calls(monkeypatch) -> list[int]:
    """How many targets were pending each time a search went goal-directed (one entry per switch)."""
    calls = []
    real = terrain._heuristic

    def spy(pending, *args):
        calls.append(len(pending))
        return real(pending, *args)

    monkeypatch.setattr(terrain, "_heuristic", spy)
    return calls


@pytest.mark.parametrize(
    "knight, slope, to_sources, cut_corners",
    [(True, False, True, False), (False, False, True, True), (True, True, True, False), (True, True, False, False)],
)
def test_the_last_targets_are_searched_for_goal_directed_and_stay_exact(monkeypatch, knight, slope, to_sources,
                                                                        cut_corners):  # fmt: skip
    """Once only 1 % of the targets are pending the search goes on towards them (A* on a straight-line bound per
    block of cells): their minutes and labels equal a full search's, bit for bit, with barriers, nodata, seeds
    queued late, knight's moves and slopes both ways; and the goal-directed part leaves cells away from them alone."""
    calls = heuristic_calls(monkeypatch)
    rng = np.random.default_rng(21)
    shape = (150, 170)
    friction = random_grid(rng, shape, barrier=0.08, nodata=0.01)
    dem = rng.uniform(0, 400, shape).cumsum(axis=0) / 40 if slope else None
    sources = random_sources(rng, shape, 25)
    start = rng.uniform(0, 200, 25)  # some seeds join long after the sweep began
    lab = np.arange(25)
    kw = dict(cell_size=(30.0, 30.0), knight=knight, dem=dem, to_sources=to_sources, cut_corners=cut_corners)
    full, flab = terrain.search(friction, sources, source_minutes=start, labels=lab, **kw)
    reached = np.flatnonzero(np.isfinite(full.reshape(-1)))
    order = np.argsort(full.reshape(-1)[reached])
    # 2,000 targets near the seeds and 12 far out, in two clusters: the search pauses with 20 pending
    near = rng.choice(reached[order[: reached.size // 3]], 2000, replace=False)
    far = reached[order[-400:]]
    targets = np.concatenate([near, rng.choice(far, 12, replace=False)])
    got, glab = terrain.search(friction, sources, source_minutes=start, labels=lab, targets=targets, **kw)
    assert calls and calls[0] <= len(targets) // 100
    np.testing.assert_array_equal(got.reshape(-1)[targets], full.reshape(-1)[targets])
    np.testing.assert_array_equal(glab.reshape(-1)[targets], flab.reshape(-1)[targets])
    if not slope:  # cells away from the far targets were never reached (on slopes the bound is weaker)
        assert np.isfinite(got).sum() < 0.9 * np.isfinite(full).sum()


def test_small_codes_keep_a_friction_grid_exactly_or_refuse():
    """A cached surface keeps its friction as codes into its few distinct values (NaN and inf among them), and
    as it is when there are more than 255."""
    rng = np.random.default_rng(3)
    few = rng.choice(np.array([0.012, 0.02, np.inf, np.nan, 1 / 75], dtype=np.float32), 10_000)
    codes, table = terrain._terrain_kernels.small_codes(few, 255)
    assert codes.dtype == np.uint8 and table.size == 5
    np.testing.assert_array_equal(table[codes], few)  # NaN where NaN
    many = rng.random(10_000).astype(np.float32)
    codes, table = terrain._terrain_kernels.small_codes(many, 255)
    assert table.size == 0 and codes.size == 0


@pytest.mark.parametrize("knight", [False, True])
@pytest.mark.parametrize("dem", [False, True])
def test_a_search_for_targets_sweeps_on_to_sweep_to(knight, dem):
    """Targets near the seeds, and ``sweep_to`` far beyond them: every cell within ``sweep_to`` (and the targets)
    equals the full search, minutes and labels, and the search still stops short of the whole grid."""
    rng = np.random.default_rng(21)
    shape = (70, 70)
    friction = random_grid(rng, shape, barrier=0.1, nodata=0.02)
    z = random_dem(rng, shape) if dem else None
    sources = random_sources(rng, shape, 4)
    start = rng.uniform(0, 20, 4)
    kw = dict(cell_size=(100.0, 100.0), knight=knight, dem=z, source_minutes=start, labels=[0, 1, 2, 3])
    full, flab = terrain.search(friction, sources, **kw)
    fin = full[np.isfinite(full)]
    near = np.flatnonzero(np.isfinite(full.reshape(-1)) & (full.reshape(-1) < np.quantile(fin, 0.1)))
    targets = rng.choice(near, 30, replace=False)
    sweep = float(np.quantile(fin, 0.6))
    got, glab = terrain.search(friction, sources, targets=targets, sweep_to=sweep, **kw)
    within = full <= sweep
    assert within.sum() > 5 * near.size
    np.testing.assert_array_equal(got[within], full[within])
    np.testing.assert_array_equal(glab[within], flab[within])
    np.testing.assert_array_equal(got.reshape(-1)[targets], full.reshape(-1)[targets])
    assert np.all(~(got[~within] <= sweep))  # nothing beyond it looks within it
    assert np.isinf(got).sum() > np.isinf(full).sum() + 100  # and the far side was never reached
    # without sweep_to the search stops at the targets, short of the sweep
    early, _ = terrain.search(friction, sources, targets=targets, **kw)
    assert (early[within] != full[within]).sum() > 100
    with pytest.raises(InputError, match="sweep_to"):
        terrain.search(friction, sources, targets=targets, sweep_to=-1.0)


def test_sweep_to_holds_when_the_search_ends_goal_directed(monkeypatch):
    """Many targets, the last 1 % far out: the search pauses for its goal-directed end only once it has swept
    ``sweep_to``, so every cell within it is still the full search's, and so are the targets."""
    calls = heuristic_calls(monkeypatch)
    rng = np.random.default_rng(5)
    shape = (120, 140)
    friction = random_grid(rng, shape, barrier=0.08, nodata=0.01)
    sources = random_sources(rng, shape, 6)
    kw = dict(cell_size=(30.0, 30.0), knight=True, cut_corners=False, source_minutes=rng.uniform(0, 5, 6),
              labels=np.arange(6))  # fmt: skip
    full, flab = terrain.search(friction, sources, **kw)
    reached = np.flatnonzero(np.isfinite(full.reshape(-1)))
    order = np.argsort(full.reshape(-1)[reached])
    near = rng.choice(reached[order[: reached.size // 5]], 1200, replace=False)
    targets = np.concatenate([near, rng.choice(reached[order[-300:]], 10, replace=False)])
    sweep = float(full.reshape(-1)[reached[order[reached.size // 2]]])  # half the grid, past the near targets
    got, glab = terrain.search(friction, sources, targets=targets, sweep_to=sweep, **kw)
    assert calls and calls[0] <= len(targets) // 100  # it did end goal-directed
    within = full <= sweep
    np.testing.assert_array_equal(got[within], full[within])
    np.testing.assert_array_equal(glab[within], flab[within])
    np.testing.assert_array_equal(got.reshape(-1)[targets], full.reshape(-1)[targets])
    np.testing.assert_array_equal(glab.reshape(-1)[targets], flab.reshape(-1)[targets])


@pytest.mark.parametrize("n", [0, 1, 2, 3, 16, 17, 18, 40, 1000, 20_000])
@pytest.mark.parametrize("kind", ["random", "sorted", "reversed", "few values", "sorted runs"])
def test_sort_keys_equals_numpy_sort(n, kind):
    from geoaccess._terrain_kernels import sort_keys

    rng = np.random.default_rng(n + len(kind))
    if kind == "few values":
        a = rng.integers(0, 4, n)
    elif kind == "sorted runs":  # what a bucket of the queue looks like: cells appended scan after scan
        a = np.concatenate([np.sort(rng.integers(0, 1 << 40, n // 3 + 1)) for _ in range(3)])[:n]
    else:
        a = rng.integers(0, 1 << 62, n)
        if kind != "random":
            a = np.sort(a)[:: 1 if kind == "sorted" else -1]
    buf = np.concatenate([a, [-5, 7, 3]]).astype(np.int64)  # only the first n are sorted
    sort_keys(buf, n)
    np.testing.assert_array_equal(buf[:n], np.sort(a))
    np.testing.assert_array_equal(buf[n:], [-5, 7, 3])


@pytest.mark.parametrize("n", [0, 1, 7, 5000])
def test_best_per_cell_picks_what_a_stable_sort_by_cell_then_minutes_picks(n):
    from geoaccess._terrain_kernels import best_per_cell

    rng = np.random.default_rng(n)
    cells = rng.integers(0, max(1, n // 5), n)
    minutes = rng.integers(0, 6, n).astype(float)  # many ties: the first seed of them wins
    order = np.lexsort((minutes, cells))
    first = order[np.r_[True, cells[order][1:] != cells[order][:-1]]] if n else order
    np.testing.assert_array_equal(best_per_cell(cells, minutes), first)


@pytest.mark.parametrize("knight, slope", [(True, True), (False, False)])
def test_buckets_scanned_sorted_or_as_filled_give_the_same_bits(monkeypatch, knight, slope):
    """Within a bucket the scan order is free: sorted by cell (big grids) or as filled (small ones), every cell's
    minutes and label are the same to the bit, with targets, late seeds and the goal-directed end."""
    rng = np.random.default_rng(5)
    shape = (120, 140)
    friction = random_grid(rng, shape, barrier=0.08, nodata=0.01)
    dem = rng.uniform(0, 400, shape).cumsum(axis=0) / 40 if slope else None
    sources = random_sources(rng, shape, 20)
    kw = dict(cell_size=(30.0, 30.0), knight=knight, dem=dem, source_minutes=rng.uniform(0, 150, 20),
              labels=np.arange(20), targets=rng.choice(shape[0] * shape[1], 1500, replace=False))  # fmt: skip
    got = {}
    for sort_min in (0, 10**12):
        monkeypatch.setattr(terrain, "SORT_MIN_CELLS", sort_min)
        got[sort_min] = terrain.search(friction, sources, **kw)
    for a, b in zip(got[0], got[10**12], strict=True):
        np.testing.assert_array_equal(a, b)


def test_grid_array_fills_and_maps_large_layers(monkeypatch):
    from geoaccess.terrain import grid_array

    monkeypatch.setattr(terrain, "GRID_ARRAY_MIN_BYTES", 1 << 16)  # "large" from 64 KB: a small test
    small = grid_array((3, 4), np.int32, -1)
    assert small.dtype == np.int32 and (small == -1).all() and small.flags.owndata
    n = (1 << 16) // 8 + 10
    big = grid_array(n, np.float64, np.inf)
    assert big.shape == (n,) and np.isinf(big).all() and big.flags.writeable and not big.flags.owndata
    zeros = grid_array((n // 100, 100), bool)
    assert zeros.shape == (n // 100, 100) and not zeros.any()
    zeros[3, 7] = True
    assert zeros.sum() == 1


def test_grid_buffers_hand_arrays_on_refilled_and_bounded():
    from geoaccess.terrain import GridBuffers

    b = GridBuffers(most=2)
    a = b.take(50, np.float64, np.inf)
    a[:10] = 3.0
    b.give(a.reshape(5, 10))
    b.give(a)  # the same memory twice is kept once
    again = b.take(50, np.float64, np.inf)
    assert np.shares_memory(again, a) and np.isinf(again).all()
    assert not np.shares_memory(b.take(50, np.float64, 0.0), a)  # none kept any more: a new one
    b.give(*(np.zeros(50) for _ in range(3)), np.zeros(50, np.int32), np.zeros(7))
    assert b.nbytes == 2 * 400 + 200 + 56  # at most two of a kind
    b.clear(np.float64, keep=1)
    assert b.nbytes == 400 + 200 + 56
    b.clear(np.int32)
    assert b.nbytes == 400 + 56
    b.clear()
    assert b.nbytes == 0


def test_search_with_buffers_equals_a_fresh_search():
    from geoaccess.terrain import GridBuffers, search

    rng = np.random.default_rng(11)
    friction = rng.uniform(0.01, 0.05, (40, 50))
    friction[rng.random((40, 50)) < 0.1] = np.inf
    src = [(1, 1), (30, 40), (20, 5)]
    kw = dict(cell_size=(90.0, 90.0), knight=True, cut_corners=False, labels=[0, 1, 2], source_minutes=[0.0, 2, 5])
    want_d, want_l = search(friction, src, **kw)
    buf = GridBuffers()
    for _ in range(2):  # the second search reuses the first one's arrays, dirty
        d, lab = search(friction, src, buffers=buf, **kw)
        np.testing.assert_array_equal(d, want_d)
        np.testing.assert_array_equal(lab, want_l)
        buf.give(d, lab)
    assert buf.nbytes == friction.size * 10  # minutes, and labels in two bytes (three sources)
    # labels beyond two bytes: four-byte labels, the same cells
    d32, lab32 = search(friction, src, **(kw | {"labels": [40_000, 40_001, 40_002]}))
    assert lab32.dtype == np.int32 and want_l.dtype == np.int16
    np.testing.assert_array_equal(d32, want_d)
    np.testing.assert_array_equal(lab32, np.where(want_l >= 0, want_l.astype(np.int32) + 40_000, -1))
