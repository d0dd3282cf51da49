"""Placement solvers against brute force and against spopt's own models."""

from __future__ import annotations

import itertools
import warnings

import numpy as np
import pulp
import pytest

from geoaccess.errors import InputError
from geoaccess.optimize import mclp, median_objective, pmedian


def _instance(seed, n_dem=40, n_cand=9):
    rng = np.random.default_rng(seed)
    dem, cand = rng.uniform(0, 100, (n_dem, 2)), rng.uniform(0, 100, (n_cand, 2))
    cost = np.hypot(*(dem[:, None, :] - cand[None, :, :]).transpose(2, 0, 1))
    cost[rng.random(cost.shape) < 0.1] = np.inf
    return cost, rng.integers(1, 100, n_dem).astype(float), rng


def _brute_cover(cost, w, k, thr, covered):
    ww = np.where(covered, 0.0, w)
    return max(ww[(cost[:, list(s)] <= thr).any(axis=1)].sum() for s in itertools.combinations(range(cost.shape[1]), k))


@pytest.mark.parametrize("seed", range(6))
def test_mclp_greedy_and_exact_against_brute_force(seed):
    cost, w, rng = _instance(seed)
    covered = rng.random(w.size) < 0.3
    k = 3
    best = _brute_cover(cost, w, k, 30.0, covered)
    chosen, value = mclp(cost, w, k, 30.0, method="exact", covered=covered)
    assert value == pytest.approx(best)
    assert len(chosen) == k and len(set(chosen)) == k
    _, greedy = mclp(cost, w, k, 30.0, covered=covered)
    assert greedy >= 0.97 * best
    # the reported value is the demand newly covered by the returned sites
    ww = np.where(covered, 0.0, w)
    assert value == pytest.approx(ww[(cost[:, chosen] <= 30.0).any(axis=1)].sum())


@pytest.mark.parametrize("seed", range(6))
def test_pmedian_greedy_and_exact_against_brute_force(seed):
    cost, w, rng = _instance(seed)
    base = np.where(rng.random(w.size) < 0.5, rng.uniform(0, 80, w.size), np.inf)
    pen = 2.0 * max(cost[np.isfinite(cost)].max(), base[np.isfinite(base)].max()) + 1.0
    c, b = np.minimum(cost, pen), np.minimum(base, pen)
    best = min(median_objective(c, w, b, list(s)) for s in itertools.combinations(range(cost.shape[1]), 3))
    _, exact = pmedian(cost, w, 3, method="exact", base=base)
    assert exact == pytest.approx(best)
    _, greedy = pmedian(cost, w, 3, base=base)
    assert greedy <= 1.03 * best


def _spopt(model_cls, *args, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # spopt's PuLP calls, see optimize._quiet_pulp
        m = model_cls.from_cost_matrix(*args, **kw)
        m.solve(pulp.HiGHS(msg=False), results=False)
    return pulp.value(m.problem.objective)


@pytest.mark.parametrize("solver", ["highs", "cbc"])
def test_exact_mode_matches_spopt(solver):
    from spopt.locate import MCLP, PMedian

    cost, w, rng = _instance(11, n_dem=150, n_cand=20)
    covered = rng.random(w.size) < 0.25
    _, mine = mclp(cost, w, 4, 35.0, method="exact", covered=covered, solver=solver)
    theirs = _spopt(MCLP, cost, np.where(covered, 0.0, w), service_radius=35.0, p_facilities=4)
    assert mine == pytest.approx(theirs)
    pen = 2.0 * cost[np.isfinite(cost)].max() + 1.0
    _, mine = pmedian(cost, w, 4, method="exact", solver=solver)
    assert mine == pytest.approx(_spopt(PMedian, np.minimum(cost, pen), w, p_facilities=4))


def test_unreachable_rows_and_existing_cover_count_for_nothing():
    cost = np.array([[5.0, np.inf], [np.inf, 5.0], [np.inf, np.inf]])
    w = np.array([10.0, 1.0, 100.0])
    chosen, value = mclp(cost, w, 1, 10.0)
    assert list(chosen) == [0] and value == 10.0
    chosen, value = mclp(cost, w, 1, 10.0, covered=np.array([True, False, False]))
    assert list(chosen) == [1] and value == 1.0


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"k": 0}, "k must be"),
        ({"k": 5}, "k must be"),
        ({"method": "ilp"}, "method must be"),
        ({"demand": np.ones(3)}, "one weight per cost row"),
    ],
)
def test_bad_arguments(kwargs, message):
    args = {"cost": np.ones((4, 3)), "demand": np.ones(4), "k": 2, "method": "greedy"}
    args.update(kwargs)
    with pytest.raises(InputError, match=message):
        mclp(args["cost"], args["demand"], args["k"], 10.0, method=args["method"])
    with pytest.raises(InputError, match="NaN"):
        pmedian(np.full((2, 2), np.nan), np.ones(2), 1)


def test_solver_banners_stay_off_stdout():
    """HiGHS prints a banner from C straight to file descriptor 1; stdout is for the tool's results."""
    import subprocess
    import sys

    pytest.importorskip("spopt")
    code = (
        "import numpy as np\n"
        "from geoaccess.optimize import mclp, pmedian\n"
        "c = np.random.default_rng(0).random((30, 8)) * 30\n"
        "print(mclp(c, np.ones(30), 2, 10.0, method='exact')[0].tolist())\n"
        "print(pmedian(c, np.ones(30), 2, method='exact')[0].tolist())\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert "HiGHS" not in out and len(out.splitlines()) == 2
