"""Shortest-path orchestration: validate inputs, call the numba kernels, shape the results."""

from __future__ import annotations

import numpy as np
import pandas as pd

from geoaccess import _kernels
from geoaccess.errors import InputError


def _check_sources(net, sources, offsets):
    sources = np.asarray(sources)
    if sources.ndim != 1 or sources.size == 0:
        raise InputError("sources must be a non-empty 1-D array of node ids")
    if not np.issubdtype(sources.dtype, np.integer):
        raise InputError(f"sources must be integer node ids, got dtype {sources.dtype}")
    if sources.min() < 0 or sources.max() >= net.n_nodes:
        raise InputError(f"source node ids must lie in 0..{net.n_nodes - 1}")
    if offsets is None:
        offsets = np.zeros(sources.size)
    offsets = np.asarray(offsets, dtype=np.float64)
    if offsets.shape != sources.shape:
        raise InputError(f"offsets must have one value per source ({sources.size}), got {offsets.shape}")
    if not np.all(np.isfinite(offsets) & (offsets >= 0)):
        raise InputError("offsets must be finite, non-negative minutes")
    return sources.astype(np.int32), offsets


def _cutoff(cutoff) -> float:
    if cutoff is None:
        return np.inf
    c = float(cutoff)
    if not c >= 0:
        raise InputError(f"cutoff must be a non-negative number of minutes, got {cutoff!r}")
    return c


def seeded(net, nodes, minutes, labels, cutoff=None, reverse=False):
    """Multi-source search from explicit seeds (node, start minutes, label); labels pass through."""
    indptr, indices, w = net.csr(reverse)
    return _kernels.multi_source_dijkstra(
        indptr,
        indices,
        w,
        np.asarray(nodes, dtype=np.int32),
        np.asarray(minutes, dtype=np.float64),
        np.asarray(labels, dtype=np.int32),
        _cutoff(cutoff),
    )


def nearest(net, sources, offsets=None, cutoff=None, reverse=False):
    """For every node, minutes to the closest source (inf if none) and its position in ``sources`` (-1)."""
    sources, offsets = _check_sources(net, sources, offsets)
    labels = np.arange(sources.size, dtype=np.int32)
    return seeded(net, sources, offsets, labels, cutoff=cutoff, reverse=reverse)


def within(net, sources, cutoff, reverse=False) -> pd.DataFrame:
    """Long table ``source, node, minutes`` of every node within ``cutoff`` of each source."""
    sources, offsets = _check_sources(net, sources, None)
    c = _cutoff(cutoff)
    frames = []
    for k, s in enumerate(sources):
        d, _ = seeded(net, [s], [0.0], [0], cutoff=c, reverse=reverse)
        hit = np.flatnonzero(np.isfinite(d))
        frames.append(pd.DataFrame({"source": k, "node": hit, "minutes": d[hit]}))
    return pd.concat(frames, ignore_index=True)
