"""Measures against PySAL access, naive reference implementations and hand-computed cases."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from geoaccess import measures
from geoaccess.network import Network

access_fca = pytest.importorskip("access.fca")
access_weights = pytest.importorskip("access.weights")


def _random_case(seed, n_orig=40, n_dest=7, unreachable=0.0):
    rng = np.random.default_rng(seed)
    o, d = np.meshgrid(np.arange(n_orig), np.arange(n_dest), indexing="ij")
    od = pd.DataFrame({"origin": o.ravel(), "destination": d.ravel(), "minutes": rng.uniform(0, 45, o.size)})
    if unreachable:
        od.loc[rng.random(len(od)) < unreachable, "minutes"] = np.inf
    demand = pd.Series(rng.integers(1, 5000, n_orig).astype(float))
    supply = pd.Series(rng.integers(0, 300, n_dest).astype(float))
    return od, demand, supply


def _pysal(od, demand, supply, max_cost, weight_fn=None):
    dem = demand.rename("demand").rename_axis("geoid").to_frame()
    sup = supply.rename("supply").rename_axis("geoid").to_frame()
    cost = od.rename(columns={"destination": "dest", "minutes": "cost"})
    got = access_fca.two_stage_fca(
        dem,
        sup,
        cost,
        max_cost=max_cost,
        demand_index=True,
        demand_name="demand",
        supply_name="supply",
        weight_fn=weight_fn,
    )
    # PySAL leaves out origins with nothing in reach; geoaccess reports 0 for them
    return got.reindex(demand.index).fillna(0.0)


CASES = [
    pytest.param(1, 0.0, id="dense"),
    pytest.param(2, 0.3, id="unreachable-pairs"),
    pytest.param(3, 0.9, id="mostly-unreachable"),
]


@pytest.mark.parametrize(("seed", "unreachable"), CASES)
def test_two_sfca_equals_pysal(seed, unreachable):
    od, demand, supply = _random_case(seed, unreachable=unreachable)
    ours = measures.two_sfca(od, demand, supply, cutoff=30)
    ref = _pysal(od, demand, supply, 30)
    np.testing.assert_allclose(ours.to_numpy(), ref.to_numpy(), rtol=0, atol=1e-9)
    assert (ours > 0).any()


@pytest.mark.parametrize(("seed", "unreachable"), CASES)
def test_e2sfca_equals_pysal(seed, unreachable):
    od, demand, supply = _random_case(seed, unreachable=unreachable)
    ours = measures.e2sfca(od, demand, supply, weight=measures.step([10, 20, 30], [1.0, 0.68, 0.22]))
    ref = _pysal(od, demand, supply, 30, access_weights.step_fn({10: 1, 20: 0.68, 30: 0.22}))
    np.testing.assert_allclose(ours.to_numpy(), ref.to_numpy(), rtol=0, atol=1e-9)
    # the default weight is the same step function
    np.testing.assert_array_equal(measures.e2sfca(od, demand, supply).to_numpy(), ours.to_numpy())


def test_gaussian_e2sfca_equals_pysal():
    od, demand, supply = _random_case(4, unreachable=0.2)
    ours = measures.e2sfca(od, demand, supply, weight=measures.gaussian(15), cutoff=40)
    ref = _pysal(od, demand, supply, 40, access_weights.gaussian(15))
    np.testing.assert_allclose(ours.to_numpy(), ref.to_numpy(), rtol=0, atol=1e-9)


def test_fca_conserves_supply():
    """Every bed of a facility with demand in reach is handed out: Σ demand × access = Σ reached supply."""
    od, demand, supply = _random_case(5, unreachable=0.3)
    for acc, cut in (
        (measures.two_sfca(od, demand, supply, 30), 30),
        (measures.gravity(od, demand, supply, cutoff=45), 45),
    ):
        reached = od.loc[od.minutes <= cut, "destination"].unique()
        assert (demand * acc).sum() == pytest.approx(supply[reached].sum())


def test_step_weight_edges():
    w = measures.step([10, 20, 30], [1.0, 0.68, 0.22])
    np.testing.assert_array_equal(w(np.array([0, 10, 10.01, 20, 30, 30.01])), [1, 1, 0.68, 0.68, 0.22, 0])


# -- capacity-aware coverage -----------------------------------------------------------------------
def _naive_capacity(od, people, capacity):
    remaining = list(map(float, people))
    catchment = [0.0] * len(capacity)
    for j in sorted(range(len(capacity)), key=lambda j: (-capacity[j], j)):
        left = capacity[j]
        pairs = sorted((t, o) for o, d, t in od.itertuples(index=False) if d == j)
        for _, o in pairs:
            take = min(left, remaining[o])
            if take <= 0:
                continue
            remaining[o] -= take
            left -= take
            catchment[j] += take
    return np.array(remaining), np.array(catchment)


@pytest.mark.parametrize("seed", range(8))
def test_capacity_coverage_equals_naive(seed):
    rng = np.random.default_rng(seed)
    n_o, n_d = rng.integers(5, 60), rng.integers(1, 8)
    rows = [(o, d, float(rng.integers(0, 40))) for o in range(n_o) for d in range(n_d) if rng.random() < 0.6]
    od = pd.DataFrame(rows, columns=["origin", "destination", "minutes"])
    people = rng.integers(0, 2000, n_o).astype(float)
    capacity = rng.integers(0, 8000, n_d).astype(float)
    cov = measures.capacity_coverage(od, people, capacity)
    rem, catch = _naive_capacity(od, people, capacity)
    np.testing.assert_allclose(cov.unserved, rem, atol=1e-9)
    np.testing.assert_allclose(cov.catchment, catch, atol=1e-9)
    np.testing.assert_allclose(cov.served + cov.unserved, people)
    assert (cov.catchment <= capacity + 1e-9).all()
    assert cov.catchment.sum() == pytest.approx(cov.served.sum())


def test_capacity_coverage_partial_cell():
    od = pd.DataFrame({"origin": [0, 1, 2], "destination": [0, 0, 0], "minutes": [5.0, 1.0, 9.0]})
    cov = measures.capacity_coverage(od, np.array([100.0, 100.0, 100.0]), np.array([150.0]))
    # nearest first: point 1 fully, point 0 half, point 2 not at all
    np.testing.assert_allclose(cov.served, [50, 100, 0])


# -- equity ------------------------------------------------------------------------------------------
def test_gini_equals_double_sum():
    rng = np.random.default_rng(7)
    x = rng.uniform(0, 60, 50)
    x[:5] = x[5]  # ties
    w = rng.uniform(0, 10, 50)
    naive = (w[:, None] * w[None, :] * np.abs(x[:, None] - x[None, :])).sum() / (2 * w.sum() ** 2 * (w @ x / w.sum()))
    assert measures.gini(x, w) == pytest.approx(naive, abs=1e-12)
    assert measures.gini(np.full(4, 7.0)) == 0.0
    assert measures.gini(np.array([0, 0, 0, 10.0])) == pytest.approx(0.75)
    assert measures.gini(np.array([1.0, np.inf]), np.array([1.0, 5.0])) == 0.0  # unreachable left out


def test_weighted_quantile():
    assert measures.weighted_quantile(np.array([1.0, 2, 3]), np.array([1.0, 1, 2]), 0.5) == 2.0
    assert measures.weighted_quantile(np.array([1.0, np.inf]), np.array([1.0, 3]), 0.9) == np.inf


# -- the OD table from the network ---------------------------------------------------------------------
@pytest.fixture
def grid_net():
    rng = np.random.default_rng(0)
    n = 8
    ids = np.arange(n * n).reshape(n, n)
    tail = np.concatenate([ids[:, :-1].ravel(), ids[:, 1:].ravel(), ids[:-1].ravel(), ids[1:].ravel()])
    head = np.concatenate([ids[:, 1:].ravel(), ids[:, :-1].ravel(), ids[1:].ravel(), ids[:-1].ravel()])
    keep = rng.random(tail.size) > 0.1  # some one-way streets
    x, y = (ids % n).ravel() * 500.0, (ids // n).ravel() * 500.0
    minutes = rng.uniform(0.5, 3, tail.size)[keep]
    return Network.from_arrays(tail[keep], head[keep], minutes, x=x, y=y)


@pytest.mark.parametrize("to_facility", [True, False])
def test_od_table_matches_nearest(grid_net, to_facility):
    rng = np.random.default_rng(1)
    fac = grid_net.snap(rng.uniform(0, 3500, 6), rng.uniform(0, 3500, 6))
    dem = grid_net.snap(rng.uniform(-100, 3600, 300), rng.uniform(-100, 3600, 300))
    od = measures.od_table(grid_net, fac, dem, 12.0, to_facility=to_facility)
    assert (od.minutes <= 12).all()
    for j in range(6):
        one = np.zeros(6, dtype=bool)
        one[j] = True
        r = measures.nearest_facility(grid_net, fac, dem, one, to_facility=to_facility)
        expect = np.flatnonzero(r.minutes <= 12)
        got = od[od.destination == j]
        np.testing.assert_array_equal(np.sort(got.origin.to_numpy()), expect)
        np.testing.assert_allclose(got.set_index("origin").minutes.sort_index(), r.minutes[expect])
        assert got.minutes.is_monotonic_increasing


def test_od_table_per_facility_cutoff(grid_net):
    fac = grid_net.snap(np.array([0.0, 3500]), np.array([0.0, 3500]))
    dem = grid_net.snap(np.linspace(0, 3500, 50), np.linspace(0, 3500, 50))
    od = measures.od_table(grid_net, fac, dem, np.array([3.0, 20.0]))
    assert (od.loc[od.destination == 0, "minutes"] <= 3).all()
    assert od.loc[od.destination == 1, "minutes"].max() > 3


# -- referral --------------------------------------------------------------------------------------
@pytest.fixture
def line4():
    # 0 - 1 - 2 - 3 along x, 1000 m apart; 2, 4 and 10 minutes per link, both ways
    t = np.array([0, 1, 1, 2, 2, 3])
    h = np.array([1, 0, 2, 1, 3, 2])
    w = np.array([2.0, 2, 4, 4, 10, 10])
    return Network.from_arrays(t, h, w, x=np.array([0.0, 1000, 2000, 3000]), y=np.zeros(4))


def test_referral_hand_computed(line4):
    fac = pd.DataFrame(
        {
            "id": ["V1", "V2", "T1", "C1", "R1"],
            "tier": ["primary", "primary", "primary", "county", "regional"],
            "type": ["village clinic", "village clinic", "township health centre", "county hospital", "x"],
        }
    )
    snap = line4.snap(np.array([0.0, 2200, 1000, 2000, 3000]), np.zeros(5))
    levels = ["village", "township", "county", "regional"]
    level = measures.facility_levels(
        fac,
        levels,
        {"village clinic": "village", "township health centre": "township"},
        {"primary": "township", "county": "county", "regional": "regional"},
    )
    np.testing.assert_array_equal(level, [0, 0, 1, 2, 3])
    ref = measures.referral_table(line4, snap, fac, level, levels, {"township": 3, "county": 60, "regional": 5})
    ref = ref.set_index("from_pos")
    # V1 at node 0 -> T1 at node 1: 2 min; V2 (x=2200, on the 10-minute link 2-3) -> C1 at node 2, which
    # stands in for a township centre: a fifth of the link, 2 min
    assert ref.loc[0, "to_pos"] == 2 and ref.loc[0, "minutes"] == pytest.approx(2)
    assert ref.loc[1, "to_pos"] == 3 and ref.loc[1, "minutes"] == pytest.approx(2)
    # T1 -> C1: 4 min; C1 -> R1: 10 min, above the 5-minute regional threshold
    assert ref.loc[2, "to_pos"] == 3 and ref.loc[2, "minutes"] == pytest.approx(4)
    assert ref.loc[3, "to_pos"] == 4 and ref.loc[3, "minutes"] == pytest.approx(10)
    assert ref["over_threshold"].tolist() == [False, False, False, True]
    assert 4 not in ref.index  # the top level refers nowhere
    # without the stand-in, V2's nearest township centre is T1: 2 + 4 min, above the 3-minute threshold
    strict = measures.referral_table(line4, snap, fac, level, levels, {"township": 3}, higher_levels_count=False)
    strict = strict.set_index("from_pos")
    assert strict.loc[1, "to_pos"] == 2 and strict.loc[1, "minutes"] == pytest.approx(6)
    assert strict.loc[1, "over_threshold"]


def test_facility_levels_without_type_uses_tier():
    fac = pd.DataFrame({"tier": ["primary", "county", "other"]})
    lv = measures.facility_levels(
        fac, ["village", "township", "county"], {}, {"primary": "township", "county": "county"}
    )
    np.testing.assert_array_equal(lv, [1, 2, -1])


# -- within-county service share ---------------------------------------------------------------------
def test_within_county_share_nearest_hand_computed():
    people = np.array([100.0, 300.0, 50.0, 50.0])
    demand_county = np.array([0, 0, 1, 1])
    nearest = np.array([0, 1, 1, -1])  # the last point reaches nothing
    facility_county = np.array([0, 1])
    o, f, p = measures.assign_demand(people, nearest)
    share = measures.within_county_share(o, f, p, demand_county, facility_county, 3)
    np.testing.assert_allclose(share[:2], [100 / 400, 1.0])
    assert np.isnan(share[2])


def test_nearest_share_equals_assignment_then_share():
    # the one-pass sums against assign_demand, within_county_share and a bincount: equal bit for bit
    rng = np.random.default_rng(7)
    n, n_fac, n_cty = 5000, 40, 9
    people = rng.gamma(1.5, 37.0, n)
    nearest = rng.integers(-1, n_fac, n)  # about one cell in 41 reaches nothing
    demand_county = rng.integers(0, n_cty - 1, n).astype(np.int32)  # the last county has no people
    facility_county = rng.integers(-1, n_cty, n_fac)  # some facilities lie outside every county
    served, share = measures.nearest_share(nearest, people, demand_county, facility_county, n_cty)
    o, f, p = measures.assign_demand(people, nearest)
    expect = measures.within_county_share(o, f, p, demand_county.astype(np.intp), facility_county, n_cty)
    assert np.array_equal(share, expect, equal_nan=True) and np.isnan(share[-1])
    assert np.array_equal(served, np.bincount(f, weights=p, minlength=n_fac))


def test_huff_hand_computed():
    # one point, two facilities: beds 100 at 10 min and 400 at 20 min, beta 2 -> 1 : 1
    od = pd.DataFrame({"origin": [0, 0, 1], "destination": [0, 1, 1], "minutes": [10.0, 20.0, 5.0]})
    p = measures.huff_shares(od, np.array([100.0, 400.0]), beta=2.0)
    np.testing.assert_allclose(p, [0.5, 0.5, 1.0])
    o, f, w = measures.assign_demand(np.array([200.0, 10.0, 7.0]), np.array([0, 1, 1]), od, np.array([100.0, 400]), 2.0)
    # point 2 has no pair in the table: it goes to its nearest facility
    assert w.sum() == pytest.approx(217.0)
    share = measures.within_county_share(o, f, w, np.array([0, 1, 1]), np.array([0, 1]), 2)
    np.testing.assert_allclose(share, [0.5, 1.0])


def test_od_pool_reuses_blocks_and_bounds_scenario_memory(grid_net):
    from geoaccess.measures.blocks import ODPool
    from geoaccess.network import Snap

    rng = np.random.default_rng(4)
    fac = grid_net.snap(rng.uniform(0, 3500, 6), rng.uniform(0, 3500, 6))
    dem = grid_net.snap(rng.uniform(-100, 3600, 300), rng.uniform(-100, 3600, 300))
    people = rng.uniform(1, 10, 300)
    weights = {"2sfca": measures.step([8.0], [1.0]), "gaussian": measures.gaussian(4.0, cutoff=8.0)}
    pool = ODPool(grid_net, dem, people, weights, 8.0, to_facility=True, walk_kmh=4.5)
    cut = np.full(6, 12.0)
    b = pool.blocks(fac, cut)
    pool.seal()  # the baseline's blocks
    od = measures.od_table(grid_net, fac, dem, 12.0)
    pd.testing.assert_frame_equal(b.frame().astype({"origin": "int64"}), od.astype({"origin": "int64"}))
    # prefixes within a threshold equal the filtered table
    take = b.within(5.0)
    assert take.sum() == (od.minutes <= 5.0).sum()
    base_pairs = pool.pairs
    pool.min_extra_pairs = 0  # forget as soon as scenario blocks outgrow the baseline
    # many scenario sites: the pool forgets them once they outgrow the baseline, and answers stay the same
    for _ in range(40):
        one = grid_net.snap(rng.uniform(0, 3500, 1), rng.uniform(0, 3500, 1))
        s2 = Snap(np.r_[fac.link, one.link], np.r_[fac.t, one.t], np.r_[fac.offroad_m, one.offroad_m])
        got = pool.blocks(s2, np.full(7, 12.0)).frame()
        ref = measures.od_table(grid_net, s2, dem, 12.0)
        np.testing.assert_array_equal(got.origin.to_numpy(), ref.origin.to_numpy())
        np.testing.assert_array_equal(got.minutes.to_numpy(), ref.minutes.to_numpy())
        assert pool.pairs <= 2 * base_pairs + ref.shape[0]
    assert pool.forgotten > 0
    # the baseline blocks are still those of the first request
    again = pool.blocks(fac, cut)
    np.testing.assert_array_equal(again.frame().minutes.to_numpy(), od.minutes.to_numpy())


def test_fca_blocks_continue_from_a_memo_when_facilities_are_added(grid_net):
    from geoaccess.measures.blocks import ODPool
    from geoaccess.network import Snap

    rng = np.random.default_rng(9)
    fac = grid_net.snap(rng.uniform(0, 3500, 8), rng.uniform(0, 3500, 8))
    dem = grid_net.snap(rng.uniform(-100, 3600, 400), rng.uniform(-100, 3600, 400))
    people = rng.uniform(1, 10, 400)
    weights = {"e2sfca": measures.step([3.0, 6.0, 9.0], [1.0, 0.68, 0.22]), "gaussian": measures.gaussian(4.0, 9.0)}
    pool = ODPool(grid_net, dem, people, weights, 9.0, to_facility=True, walk_kmh=4.5)
    beds = rng.choice([0.0, 50.0, 300.0], 8)
    base, memo = measures.fca_blocks(pool.blocks(fac, np.full(8, 9.0)), beds, people, 400, keep=True)
    more = grid_net.snap(rng.uniform(0, 3500, 2), rng.uniform(0, 3500, 2))
    both = Snap(np.r_[fac.link, more.link], np.r_[fac.t, more.t], np.r_[fac.offroad_m, more.offroad_m])
    beds2 = np.r_[beds, [120.0, 80.0]]
    blocks = pool.blocks(both, np.full(10, 9.0))
    fresh, _ = measures.fca_blocks(blocks, beds2, people, 400)
    cont, _ = measures.fca_blocks(blocks, beds2, people, 400, memo=memo)
    for k in weights:
        np.testing.assert_array_equal(cont[k], fresh[k])  # bit for bit
        assert not np.array_equal(cont[k], base[k])
    # a change among the first facilities (beds) subtracts the old share and adds the new one
    beds3 = beds2.copy()
    beds3[0] += 10
    changed, _ = measures.fca_blocks(blocks, beds3, people, 400, memo=memo)
    ref, _ = measures.fca_blocks(blocks, beds3, people, 400)
    np.testing.assert_allclose(changed["e2sfca"], ref["e2sfca"], rtol=0, atol=1e-12 * ref["e2sfca"].max())
    # the table API agrees
    od = measures.od_table(grid_net, both, dem, 9.0)
    table = measures.fca_many(od, pd.Series(people), pd.Series(beds2), weights, 9.0)
    np.testing.assert_array_equal(table["e2sfca"].to_numpy(), fresh["e2sfca"])


def _naive_fca(origin, dest, minutes, people, beds, weight, n_orig):
    """2SFCA with decay in both steps, one facility at a time, in plain Python (the oracle)."""
    acc = np.zeros(n_orig)
    for j in np.unique(dest):
        sel = dest == j
        w = weight(minutes[sel])
        reach = float((people[origin[sel]] * w).sum())
        if beds[j] > 0 and reach > 0:
            np.add.at(acc, origin[sel], beds[j] / reach * w)
    return acc


@pytest.mark.parametrize("seed", range(6))
def test_fca_blocks_subtract_closed_moved_and_changed_facilities(grid_net, seed):
    """Removals continue the baseline's memo by subtraction: equal to a full sum within 1e-9 of the largest value,
    and to a naive oracle; origins that lose every facility get exactly 0."""
    from geoaccess.measures import fca as fca_module
    from geoaccess.measures.blocks import ODPool
    from geoaccess.network import Snap

    rng = np.random.default_rng(100 + seed)
    n_fac, n_dem, cut = 12, 500, 9.0
    fac = grid_net.snap(rng.uniform(0, 3500, n_fac), rng.uniform(0, 3500, n_fac))
    dem = grid_net.snap(rng.uniform(-100, 3600, n_dem), rng.uniform(-100, 3600, n_dem))
    people = rng.uniform(1, 10, n_dem) * 10.0 ** rng.integers(0, 4, n_dem)
    weights = {
        "e2sfca": measures.step([3.0, 6.0, 9.0], [1.0, 0.68, 0.22]),
        "2sfca": measures.step([9.0], [1.0]),
        "gaussian": measures.gaussian(4.0, cut),
        "gravity": measures.power(1.5, cutoff=cut),
    }
    pool = ODPool(grid_net, dem, people, weights, cut, to_facility=True, walk_kmh=4.5)
    beds = rng.choice([0.0, 20.0, 50.0, 300.0, 2000.0], n_fac)
    beds[:3] = [40.0, 300.0, 1500.0]
    _, memo = measures.fca_blocks(pool.blocks(fac, np.full(n_fac, cut)), beds, people, n_dem, keep=True)
    pool.seal()
    # close facility 1, move facility 2, change beds of 0, add two sites (one where a closed one was)
    keep = np.array([j for j in range(n_fac) if j != 1])
    moved = grid_net.snap(rng.uniform(0, 3500, 1), rng.uniform(0, 3500, 1))
    more = grid_net.snap(np.r_[rng.uniform(0, 3500, 1), 0.0], np.r_[rng.uniform(0, 3500, 1), 0.0])
    link, t, off = fac.link[keep].copy(), fac.t[keep].copy(), fac.offroad_m[keep].copy()
    i2 = int(np.flatnonzero(keep == 2)[0])
    link[i2], t[i2], off[i2] = moved.link[0], moved.t[0], moved.offroad_m[0]
    snap = Snap(np.r_[link, more.link], np.r_[t, more.t], np.r_[off, more.offroad_m])
    beds2 = np.r_[beds[keep], [120.0, 80.0]]
    beds2[0] += 15.0
    blocks = pool.blocks(snap, np.full(len(snap), cut))
    plan = fca_module._plan(memo, blocks, beds2)
    assert plan is not None and plan[1].size == 3 and plan[2].size >= 3  # subtracted, not summed from scratch
    got, _ = measures.fca_blocks(blocks, beds2, people, n_dem, memo=memo)
    ref, _ = measures.fca_blocks(blocks, beds2, people, n_dem)
    frame = blocks.frame(blocks.wlength)
    o, d, m = (frame[c].to_numpy() for c in ("origin", "destination", "minutes"))
    for k, fn in weights.items():
        top = ref[k].max()
        assert top > 0
        np.testing.assert_allclose(got[k], ref[k], rtol=0, atol=1e-9 * top)
        naive = _naive_fca(o, d, m, people, beds2, fn, n_dem)
        np.testing.assert_allclose(got[k], naive, rtol=0, atol=1e-9 * top)
        np.testing.assert_array_equal(got[k] == 0, ref[k] == 0)  # no residue where nothing is in reach
        assert (got[k] >= 0).all()
    # closing every facility leaves nothing anywhere: exactly 0, by subtraction or by the full sum
    none, _ = measures.fca_blocks(pool.blocks(fac[:1], np.full(1, cut)), np.zeros(1), people, n_dem, memo=memo)
    for k in weights:
        assert (none[k] == 0).all()


def test_fca_memo_survives_the_pool_cache(grid_net):
    """A pool restored from its state (the user cache) subtracts from the restored memo as the original does."""
    from geoaccess.measures.blocks import ODPool

    rng = np.random.default_rng(5)
    fac = grid_net.snap(rng.uniform(0, 3500, 6), rng.uniform(0, 3500, 6))
    dem = grid_net.snap(rng.uniform(-100, 3600, 300), rng.uniform(-100, 3600, 300))
    people = rng.uniform(1, 10, 300)
    weights = {"e2sfca": measures.step([3.0, 6.0, 9.0], [1.0, 0.68, 0.22])}
    pool = ODPool(grid_net, dem, people, weights, 9.0, to_facility=True, walk_kmh=4.5)
    beds = np.full(6, 100.0)
    _, pool.fca_memo = measures.fca_blocks(pool.blocks(fac, np.full(6, 9.0)), beds, people, 300, keep=True)
    pool.seal()
    other = ODPool(grid_net, dem, people, weights, 9.0, to_facility=True, walk_kmh=4.5)
    other.restore(pool.state())
    np.testing.assert_array_equal(other.fca_memo.start, pool.fca_memo.start)
    np.testing.assert_array_equal(other.fca_memo.wlength, pool.fca_memo.wlength)
    np.testing.assert_array_equal(other.fca_memo.count, pool.fca_memo.count)
    five = fac[np.arange(1, 6)]
    a, _ = measures.fca_blocks(pool.blocks(five, np.full(5, 9.0)), beds[1:], people, 300, memo=pool.fca_memo)
    b, _ = measures.fca_blocks(other.blocks(five, np.full(5, 9.0)), beds[1:], people, 300, memo=other.fca_memo)
    ref, _ = measures.fca_blocks(other.blocks(five, np.full(5, 9.0)), beds[1:], people, 300)
    np.testing.assert_array_equal(a["e2sfca"], b["e2sfca"])
    np.testing.assert_allclose(a["e2sfca"], ref["e2sfca"], rtol=0, atol=1e-9 * ref["e2sfca"].max())
