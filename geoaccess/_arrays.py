"""Array helpers shared by modules that are not kernels."""

from __future__ import annotations

import numpy as np


def unique(a) -> np.ndarray:
    """The sorted distinct values of an integer array (any shape), as ``np.unique(a)`` returns them, by sorting.

    numpy 2.3 and later find distinct values with a hash table: on 656 k distinct grid cells (a province's
    population) that took 0.44-0.59 s against 0.03-0.04 s to sort and drop repeats, and the tier searches each
    ask for it. Other dtypes (floats with NaN, strings) go to ``np.unique``.
    """
    a = np.asarray(a)
    if a.dtype.kind not in "iub":
        return np.unique(a)
    s = np.sort(a, axis=None)
    if s.size < 2:
        return s
    keep = np.empty(s.size, dtype=bool)
    keep[0] = True
    np.not_equal(s[1:], s[:-1], out=keep[1:])
    return s[keep]


def lookup(table: np.ndarray, codes: np.ndarray, out: np.ndarray, chunk: int = 1 << 22) -> np.ndarray:
    """``out[...] = table[codes]`` (codes: small unsigned integers, e.g. a land-cover class per grid cell).

    In chunks: numpy turns index arrays into 8-byte indices first, and on a province's grid that copy alone is
    865 MB of fresh memory for a 108 MB layer of codes. Returns ``out``.
    """
    src, dst = codes.reshape(-1), out.reshape(-1)
    if src.size != dst.size:
        raise ValueError("codes and out must have the same number of values")
    for i in range(0, src.size, chunk):
        np.take(table, src[i : i + chunk], out=dst[i : i + chunk])
    return out


def bincount(codes: np.ndarray, minlength: int = 0, chunk: int = 1 << 22) -> np.ndarray:
    """``np.bincount(codes.ravel(), minlength=minlength)`` for non-negative integer codes of any shape, in chunks
    (as :func:`lookup`: numpy would first copy a grid of one-byte codes into 8-byte integers)."""
    src = codes.reshape(-1)
    total = np.zeros(minlength, dtype=np.int64)
    for i in range(0, src.size, chunk):
        part = np.bincount(src[i : i + chunk], minlength=minlength)
        if part.size > total.size:
            total = np.concatenate([total, np.zeros(part.size - total.size, dtype=np.int64)])
        total[: part.size] += part
    return total
