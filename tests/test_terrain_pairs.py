"""OD pairs of off-road tiers (geoaccess.terrain_pairs, geoaccess._terrain_od_kernels) against a full terrain search
per facility, and against the tier's nearest minutes."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from geoaccess import _terrain_od_kernels as tk
from geoaccess import terrain, terrain_pairs
from geoaccess.load.terrain import Grid, road_samples
from geoaccess.measures.blocks import ODPool
from geoaccess.network import Network
from geoaccess.terrain import Surface
from geoaccess.trip import Trip
from tests.test_terrain_trip import WALK_KMH, small_case


def full_search_pairs(trip, fsnap, fcells, dcells, cutoffs):
    """Per facility: the demand points within its cutoff and their minutes, sorted by minutes then point, from one
    unbounded :func:`geoaccess.terrain.search` seeded as :meth:`Trip.terrain_minutes` seeds it, with that facility
    alone (its road minutes from an unbounded road search), read as :meth:`Surface.at` reads demand cells."""
    sf = trip.surface
    rows, cols = sf.shape
    out = []
    for j in range(len(fsnap)):
        cells, start = [np.array([fcells[j]])], [np.zeros(1)]
        if trip.mode == "mixed":
            node_min, _ = trip.search(fsnap[j : j + 1])
            m = trip.point_minutes(node_min, sf.road_snap)
            m, _ = trip.same_link(fsnap[j : j + 1], sf.road_snap, m, np.zeros(len(m), dtype=np.int64))
            cells.append(sf.road_cell)
            start.append(m)
        cells, start = np.concatenate(cells), np.concatenate(start)
        ok = (cells >= 0) & np.isfinite(start)
        if not ok.any():
            out.append((np.zeros(0, np.int32), np.zeros(0)))
            continue
        dist, lab = terrain.search(
            sf.friction, np.column_stack([cells[ok] // cols, cells[ok] % cols]), cell_size=(sf.cell_m, sf.cell_m),
            knight=sf.knight, dem=sf.dem, to_sources=trip.to_facility, cut_corners=sf.cut_corners,
            source_minutes=start[ok], labels=np.zeros(int(ok.sum()), dtype=np.int32),
        )  # fmt: skip
        minutes, _ = sf.at(dist, lab, dcells)
        keep = np.flatnonzero(minutes <= cutoffs[j]) if cutoffs[j] >= 0 else np.zeros(0, np.int64)
        order = np.lexsort((keep, minutes[keep]))
        out.append((keep[order], minutes[keep][order]))
    return out


def assert_pairs_equal(pairs, want):
    for j, (wp, wm) in enumerate(want):
        s, n = pairs.start[j], pairs.count[j]
        np.testing.assert_array_equal(pairs.point[s : s + n], wp, err_msg=f"facility {j}")
        np.testing.assert_array_equal(pairs.minutes[s : s + n], wm, err_msg=f"facility {j}")  # to the last bit


def with_demand(surface, rng, sparse=False):
    """The surface with its demand points: every cell (``sparse``: a few, so the searches skip the cells nobody
    within the cutoff can pass), some twice (a coarser grid than the population), some off the grid (-1)."""
    n = surface.shape[0] * surface.shape[1]
    extra = rng.integers(0, n, 40)
    every = rng.choice(n, 12, replace=False) if sparse else np.arange(n)
    cells = np.concatenate([every, extra[: 4 if sparse else 40], [-1, -1]])
    return Surface(surface.friction, surface.dem, surface.transform, surface.crs, surface.cell_m, surface.road_cell,
                   surface.road_snap, cells, surface.facility_cell)  # fmt: skip


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("mode", ["mixed", "walk_only"])
@pytest.mark.parametrize("to_facility", [True, False])
def test_pairs_equal_a_full_search_per_facility(seed, mode, to_facility, monkeypatch):
    from geoaccess import terrain_pairs

    monkeypatch.setattr(terrain_pairs, "_PRUNE", seed >= 2)  # sparse demand: the searches skip cells nobody can use
    net, grid, surface, fsnap = small_case(seed, dem=seed % 2 == 0)
    rng = np.random.default_rng(seed)
    surface = with_demand(surface, rng, sparse=seed >= 2)
    fcells = surface.facility_cell.copy()
    if seed == 1:
        fcells[0] = -1  # off the grid: mixed trips still start on its road
    if seed in (3, 5):  # a facility on an impassable cell: reached there, leads nowhere
        fcells[1] = np.flatnonzero(~np.isfinite(surface.friction.reshape(-1)))[0]
    cutoffs = np.array([rng.uniform(2, 8), rng.uniform(8, 20), -1.0 if seed == 2 else 40.0])
    trip = Trip(net, WALK_KMH, to_facility, surface=surface, mode=mode)
    index = trip.terrain_index(surface.demand_cell)
    got = trip.pairs(fsnap, index, cutoffs, fcells=fcells)
    want = full_search_pairs(trip, fsnap, fcells, surface.demand_cell, cutoffs)
    assert sum(len(w[0]) for w in want) > 0 or seed >= 2
    assert_pairs_equal(got, want)
    if seed == 2:
        assert got.count[2] == 0  # a negative cutoff takes nothing


@pytest.mark.parametrize("mode", ["mixed", "walk_only"])
@pytest.mark.parametrize("to_facility", [True, False])
def test_the_nearest_facilitys_pair_has_the_nearest_minutes(mode, to_facility):
    net, grid, surface, fsnap = small_case(7)
    trip = Trip(net, WALK_KMH, to_facility, surface=surface, mode=mode)
    dsnap = net.snap(*grid.centres(surface.demand_cell))
    minutes, lab, _, _ = trip.nearest(fsnap, dsnap, fcells=surface.facility_cell, dcells=surface.demand_cell)
    cut = float(np.median(minutes[np.isfinite(minutes)]))  # some within, some beyond
    pairs = trip.pairs(fsnap, trip.terrain_index(surface.demand_cell), np.full(len(fsnap), cut),
                       fcells=surface.facility_cell)  # fmt: skip
    best = np.full(len(minutes), np.inf)
    for j in range(len(fsnap)):
        s, n = pairs.start[j], pairs.count[j]
        p, m = pairs.point[s : s + n], pairs.minutes[s : s + n]
        assert np.all(np.diff(m) >= 0)
        np.minimum.at(best, p, m)
        mine = lab[p] == j
        np.testing.assert_array_equal(m[mine], minutes[p[mine]])  # bit for bit
    inside = minutes <= cut
    assert inside.any() and (~inside & np.isfinite(minutes)).any()
    np.testing.assert_array_equal(best[inside], minutes[inside])
    assert np.all(np.isinf(best[~inside]))


def uniform_case(rows=260, cols=270):
    """A uniform grid with a river and one straight road: searches reach tens of thousands of cells (the queue's
    blocks and the list of reached cells must grow)."""
    cell = 50.0
    grid = Grid(0.0, rows * cell, cell, rows, cols, "EPSG:32649")
    friction = np.full((rows, cols), 60.0 / (1000.0 * 4.5), dtype=np.float32)
    friction[:, cols // 2] = np.inf
    x = np.array([100.0, cols * cell - 100.0, cols * cell / 2])
    y = np.array([rows * cell / 2, rows * cell / 2, 100.0])
    net = Network.from_arrays(np.array([0, 1, 0, 2]), np.array([1, 0, 2, 0]), np.array([12.0, 12.0, 9.0, 9.0]),
                              x=x, y=y, crs="EPSG:32649")  # fmt: skip
    road_cell, road_snap = road_samples(net, grid)
    friction.reshape(-1)[road_cell] = np.float32(60.0 / (1000.0 * 4.5))  # the bridge
    rng = np.random.default_rng(3)
    fx, fy = rng.uniform(0, cols * cell, 30), rng.uniform(0, rows * cell, 30)
    demand = rng.choice(rows * cols, 20_000, replace=False)
    surface = Surface(friction, None, grid.transform, grid.crs, cell, road_cell, road_snap, demand,
                      grid.cells(fx, fy), knight=False)  # fmt: skip
    return net, surface, net.snap(fx, fy)


def test_large_searches_many_facilities_and_a_small_buffer_give_the_same_pairs(monkeypatch):
    net, surface, fsnap = uniform_case()
    trip = Trip(net, WALK_KMH, True, surface=surface, mode="mixed")
    index = trip.terrain_index(surface.demand_cell)
    cutoffs = np.linspace(5.0, 90.0, len(fsnap))
    want = trip.pairs(fsnap, index, cutoffs, fcells=surface.facility_cell)
    assert want.count.max() > 10_000 and len(want) > 150_000
    # the workers' buffers fill many times over: pairs are copied out as they go, one facility at a time at most
    monkeypatch.setattr(terrain_pairs, "_MIN_BUFFER", 1)
    monkeypatch.setattr(terrain_pairs, "_CHUNK", 3)
    monkeypatch.setattr(tk, "FIRST_BLOCKS", 1)  # the queue's blocks, reached cells and bucket scratch grow
    monkeypatch.setattr(tk, "FIRST_TOUCHED", 16)
    monkeypatch.setattr(tk, "FIRST_SCRATCH", 2)
    small = trip.pairs(fsnap, index, cutoffs, fcells=surface.facility_cell, buffer_mb=0.0)
    assert_pairs_equal(small, [(want.point[s : s + n], want.minutes[s : s + n])
                               for s, n in zip(want.start, want.count, strict=True)])  # fmt: skip
    some = [0, 7, len(fsnap) - 1]  # the widest searches against the full search
    oracle = full_search_pairs(trip, fsnap[some], surface.facility_cell[some], surface.demand_cell, cutoffs[some])
    for j, w in zip(some, oracle, strict=True):
        s, n = want.start[j], want.count[j]
        np.testing.assert_array_equal(want.point[s : s + n], w[0])
        np.testing.assert_array_equal(want.minutes[s : s + n], w[1])


def test_an_od_pool_of_an_off_road_trip_keeps_blocks_by_site_cell_and_cutoff():
    net, grid, surface, fsnap = small_case(4)
    people = np.ones(len(surface.demand_cell))
    pool = ODPool(net, net.snap(*grid.centres(surface.demand_cell)), people, {}, 30.0, to_facility=True,
                  walk_kmh=WALK_KMH, surface=surface, mode="walk_only")  # fmt: skip
    cut = np.array([10.0, 0.0, 20.0])
    od = pool.blocks(fsnap, cut)
    want = full_search_pairs(pool.trip, fsnap, surface.facility_cell, surface.demand_cell, cut)
    for j, (wp, wm) in enumerate(want):
        s, n = od.start[j], od.length[j]
        if cut[j] == 0:
            assert n == 0
            continue
        np.testing.assert_array_equal(od.origin[s : s + n], wp)
        np.testing.assert_array_equal(od.minutes[s : s + n], wm)
    held = pool.pairs
    pool.blocks(fsnap, cut)
    assert pool.pairs == held  # nothing searched again
    other = surface.facility_cell.copy()
    other[0] = (other[0] + 1) % (surface.shape[0] * surface.shape[1])
    pool.blocks(fsnap, cut, cells=other)
    assert pool.pairs > held  # the same road point in another cell is another trip
    with pytest.raises(NotImplementedError, match="one process"):
        pool.state()
    with pytest.raises(ValueError, match="needs a terrain surface"):
        ODPool(net, fsnap, np.ones(3), {}, 30.0, to_facility=True, walk_kmh=WALK_KMH, mode="mixed")


def test_rank_bits_give_each_cell_its_position():
    rng = np.random.default_rng(0)
    n = 5000
    cells = np.unique(rng.integers(0, n, 700))
    bits, rank = tk.rank_bits(cells, n)
    slot = np.full(n, -1)
    slot[cells] = np.arange(cells.size)
    got = np.array([tk._slot(bits, rank, v) for v in range(n)])
    np.testing.assert_array_equal(got, slot)
    words = rng.integers(0, 2**63, 200, dtype=np.int64).astype(np.uint64) * np.uint64(2) + np.uint64(1)
    assert [tk.popcount(w) for w in words] == [bin(int(w)).count("1") for w in words]


@pytest.mark.parametrize("mode", ["mixed", "walk_only"])
def test_referrals_to_an_off_road_tier_travel_its_trip(mode):
    from geoaccess.measures.referral import referral_table

    net, grid, surface, fsnap = small_case(2)
    fac = pd.DataFrame({"tier": ["primary", "primary", "county"]})
    level = np.array([0, 0, 1])
    ref = referral_table(net, fsnap, fac, level, ["township", "county"], {"county": 5.0}, walk_kmh=WALK_KMH,
                         modes={"county": mode}, surface=surface)  # fmt: skip
    trip = Trip(net, WALK_KMH, True, surface=surface, mode=mode)
    want = full_search_pairs(trip, fsnap[[2]], surface.facility_cell[[2]], surface.facility_cell[[0, 1]], [np.inf])
    minutes = np.full(2, np.inf)
    minutes[want[0][0]] = want[0][1]
    np.testing.assert_array_equal(ref["minutes"].to_numpy(), minutes)
    np.testing.assert_array_equal(ref["to_pos"].to_numpy(), np.where(np.isfinite(minutes), 2, -1))
    road = referral_table(net, fsnap, fac, level, ["township", "county"], {"county": 5.0}, walk_kmh=WALK_KMH)
    assert not np.array_equal(road["minutes"].to_numpy(), minutes)


def test_road_entries_keep_per_node_and_cell_the_samples_reached_best():
    net, grid, surface, fsnap = small_case(4)
    trip = Trip(net, WALK_KMH, True, surface=surface, mode="mixed")
    full = trip.point_index(surface.road_snap)
    kept = trip.terrain_index(surface.demand_cell).roads
    assert kept.pt_point.size < full.pt_point.size  # roads are sampled finer than the grid: some entries go

    def best(ix):  # per (node, cell): the least drive + walk into the cell over the node's entries
        node = np.repeat(np.arange(ix.pt_ptr.size - 1), np.diff(ix.pt_ptr))
        cell = surface.road_cell[ix.pt_point]
        frame = pd.DataFrame({"node": node, "cell": cell, "v": ix.pt_part + ix.walk[ix.pt_point]})
        return frame[frame.cell >= 0].groupby(["node", "cell"]).v.min()

    pd.testing.assert_series_equal(best(kept), best(full))  # every node still seeds every cell, at its best


def test_best_entries_equal_a_reference_on_small_and_large_nodes():
    """Nodes of a few entries (compared pairwise) and of hundreds (a mountain road's samples: grouped by cell)."""
    rng = np.random.default_rng(0)
    sizes = np.concatenate([rng.integers(0, 10, 300), rng.integers(33, 400, 20)])
    ptr = np.zeros(sizes.size + 1, np.int64)
    ptr[1:] = np.cumsum(sizes)
    point = rng.permutation(ptr[-1]).astype(np.int32)
    part = rng.integers(0, 5, ptr[-1]) * 0.5  # many ties: every tied entry is kept
    walk = rng.integers(0, 3, ptr[-1]) * 0.25
    cell = rng.integers(-1, 40, ptr[-1])
    keep = tk.best_entries(ptr, point, part, walk, cell, 1e-9)
    frame = pd.DataFrame({"node": np.repeat(np.arange(sizes.size), sizes), "cell": cell[point],
                          "v": part + walk[point]})  # fmt: skip
    least = frame.groupby(["node", "cell"]).v.transform("min")
    np.testing.assert_array_equal(keep, (frame.cell >= 0) & (frame.v <= least + 1e-9 * (1 + least.abs())))
    assert 0 < keep.sum() < keep.size


@pytest.fixture(scope="module")
def expressway_files(tmp_path_factory):
    from tests.test_terrain_trip import write_expressway_files

    return write_expressway_files(tmp_path_factory.mktemp("expressway"))


@pytest.mark.parametrize("to_facility", [True, False])
def test_pairs_without_expressway_entries_agree_with_the_nearest_search(expressway_files, to_facility):
    """[travel] no_entry (the default: motorway, motorway_link): the OD pairs read the same road points as the
    nearest search, so a facility's pairs hold its nearest people's minutes to the bit, and equal a full search."""
    from tests.test_terrain_trip import EXPRESSWAY, expressway_case

    net, grid, surface, fsnap = expressway_case(expressway_files)
    assert not np.isin(net.link_class[surface.road_snap.link], EXPRESSWAY).any()
    trip = Trip(net, WALK_KMH, to_facility, surface=surface, mode="mixed")
    dsnap = net.snap(*grid.centres(surface.demand_cell))
    minutes, lab, _, _ = trip.nearest(fsnap, dsnap, fcells=surface.facility_cell, dcells=surface.demand_cell)
    cut = float(np.median(minutes[np.isfinite(minutes)]))
    cutoffs = np.full(len(fsnap), cut)
    pairs = trip.pairs(fsnap, trip.terrain_index(surface.demand_cell), cutoffs, fcells=surface.facility_cell)
    assert_pairs_equal(pairs, full_search_pairs(trip, fsnap, surface.facility_cell, surface.demand_cell, cutoffs))
    best = np.full(len(minutes), np.inf)
    for j in range(len(fsnap)):
        s, n = pairs.start[j], pairs.count[j]
        p, m = pairs.point[s : s + n], pairs.minutes[s : s + n]
        np.minimum.at(best, p, m)
        mine = lab[p] == j
        assert mine.any()
        np.testing.assert_array_equal(m[mine], minutes[p[mine]])  # bit for bit
    inside = minutes <= cut
    np.testing.assert_array_equal(best[inside], minutes[inside])
    assert np.all(np.isinf(best[~inside]))
