"""Removing sources from a nearest result: only their nodes are searched again, and it equals a fresh search."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from geoaccess import Network, paths
from geoaccess.errors import InputError


def _graph(seed, n, m):
    rng = np.random.default_rng(seed)
    tail = rng.integers(0, n, m)
    head = rng.integers(0, n, m)
    w = np.round(rng.uniform(0, 5, m), 1)  # zero arcs and ties included
    return Network.from_arrays(tail, head, w, x=rng.uniform(0, 1, n), y=rng.uniform(0, 1, n)), tail, head, w


def _bellman_ford(n, tail, head, w, src, off, reverse):
    """A naive oracle: relax every arc until nothing changes (arcs turned around for travel *to* sources)."""
    a, b = (head, tail) if reverse else (tail, head)
    d = np.full(n, np.inf)
    for s_, o in zip(src, off, strict=True):
        d[s_] = min(d[s_], o)
    for _ in range(n + 1):
        cand = np.full(n, np.inf)
        np.minimum.at(cand, b, d[a] + w)
        new = np.minimum(d, cand)
        if np.array_equal(new, d):
            break
        d = new
    return d


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    n=st.integers(2, 60),
    density=st.floats(0.5, 4.0),
    n_src=st.integers(1, 8),
    reverse=st.booleans(),
)
def test_without_labels_equals_fresh_search(seed, n, density, n_src, reverse):
    net, tail, head, w = _graph(seed, n, max(1, int(n * density)))
    rng = np.random.default_rng(seed + 1)
    src = rng.integers(0, n, n_src)
    off = np.round(rng.uniform(0, 3, n_src), 1)
    labels = np.arange(n_src)
    d0, l0 = paths.seeded(net, src, off, labels, reverse=reverse)
    lost = rng.choice(n_src, size=int(rng.integers(1, n_src + 1)), replace=False)
    keep = np.setdiff1d(labels, lost)
    d1, l1 = paths.without_labels(net, d0, l0, lost, src[keep], off[keep], keep, reverse=reverse)
    ref = _bellman_ford(n, tail, head, w, src[keep], off[keep], reverse)
    np.testing.assert_allclose(d1, ref, rtol=1e-12)
    fresh, _ = (
        paths.seeded(net, src[keep], off[keep], keep, reverse=reverse) if keep.size else (np.full(n, np.inf), None)
    )
    assert np.array_equal(d1, fresh)  # bit for bit, as scenarios need
    reached = np.isfinite(d1)
    assert np.all(np.isin(l1[reached], keep)) and np.all(l1[~reached] == -1)
    # a label names a remaining source that really is that close
    for v in np.flatnonzero(reached)[:10]:
        k = l1[v]
        dv, _ = paths.seeded(net, src[k : k + 1], off[k : k + 1], np.array([k]), reverse=reverse)
        assert dv[v] == d1[v]
    # inputs untouched
    assert np.array_equal(d0, paths.seeded(net, src, off, labels, reverse=reverse)[0])


def test_without_labels_checks_shapes():
    net, *_ = _graph(1, 10, 20)
    with pytest.raises(InputError, match="one value per node"):
        paths.without_labels(net, np.zeros(3), np.zeros(3), [0], np.array([0]), np.array([0.0]), np.array([0]))
