"""Shortest-path benchmarks: geoaccess against scipy, igraph and networkit, side by side in one process.

Run with ``make bench``. Graphs come from ../shared/bench-data (skipped when absent) plus a ~1M-node synthetic
road network (the demo generator's, read from its PBF). Times are the median of a few runs after a warm-up call
(the bench machine is shared, so medians and same-run ratios are what to compare); "peak" is the largest rise of this process's
resident memory while the call ran (sampled every 2 ms). Exactness is checked against scipy on every graph.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import dijkstra

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import graphs  # noqa: E402
from bench.memory import Peak  # noqa: E402
from geoaccess import Network, paths  # noqa: E402

N_SOURCES = 50


def best(f, repeat=5, warm=True):
    """Median milliseconds of ``repeat`` runs (after one warm-up run) and the last result."""
    if warm:
        f()
    ts = []
    out = None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = f()
        ts.append(time.perf_counter() - t0)
    return float(np.median(ts)) * 1000, out


def pair(f, g, repeat=5):
    """Median milliseconds of ``f`` and ``g`` run alternately ``repeat`` times each (after one warm-up run each), so
    both see the same load on a shared machine; and the last result of each."""
    f(), g()
    tf, tg = [], []
    for _ in range(repeat):
        t0 = time.perf_counter()
        a = f()
        tf.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        b = g()
        tg.append(time.perf_counter() - t0)
    return float(np.median(tf)) * 1000, float(np.median(tg)) * 1000, a, b


def row(what, ours_ms, ref_ms=None, ref="", peak=None, extra=""):
    ratio = f"{ref_ms / ours_ms:6.2f}x vs {ref}" if ref_ms else ""
    pk = f"peak {peak:7.0f} MB" if peak is not None else ""
    print(f"  {what:<44} {ours_ms:9.{1 if ours_ms >= 10 else 3}f} ms  {ratio:<22} {pk:<16} {extra}", flush=True)


def maxrss_mb() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def rel_err(a, b):
    fa, fb = np.isfinite(a), np.isfinite(b)
    if not np.array_equal(fa, fb):
        return np.inf
    if not fa.any():
        return 0.0
    return float(np.max(np.abs(a[fa] - b[fa]) / np.maximum(np.abs(b[fa]), 1e-300)))


# -- peers ----------------------------------------------------------------------------------------------------
def peer_igraph(tail, head, w, n, src):
    try:
        import igraph as ig
    except ImportError:
        return None
    # one virtual source joined to every real source by a zero-minute arc: the peers' multi-source search
    g = ig.Graph(n=n + 1, edges=np.column_stack([np.r_[tail, np.full(src.size, n)], np.r_[head, src]]), directed=True)
    g.es["weight"] = np.r_[w, np.zeros(src.size)]
    return lambda: np.asarray(g.distances(source=[n], weights="weight", mode="out")[0][:n])


def peer_networkit(tail, head, w, n, src):
    try:
        import networkit as nk
    except ImportError:
        return None
    nk.setNumberOfThreads(1)
    g = nk.Graph(n + 1, weighted=True, directed=True)
    g.addEdges((np.r_[w, np.zeros(src.size)], (np.r_[tail, np.full(src.size, n)], np.r_[head, src])))

    def run():
        d = nk.distance.Dijkstra(g, n, storePaths=False)
        d.run()
        out = np.asarray(d.getDistances()[:n])
        out[out > 1e300] = np.inf
        return out

    return run


# -- one graph ------------------------------------------------------------------------------------------------
def bench_graph(loaded, od_sources=0):
    name, tail, head, w, x, y, note = loaded
    print(f"\n== {name}: {note}", flush=True)
    t0 = time.perf_counter()
    net = Network.from_arrays(tail, head, w, x=x, y=y)
    net.kernel_csr(False), net.kernel_csr(True)
    build = time.perf_counter() - t0
    n = net.n_nodes
    A = csr_matrix((net.arc_minutes, (net.arc_tail, net.arc_head)), shape=(n, n))  # parallel arcs collapsed
    order = "Hilbert renumbered" if net._perm is not None else "file order (no coordinates)"
    print(f"  {n:,} nodes, {net.n_arcs:,} arcs; Network built in {build:.2f} s; kernels use {order}")
    rng = np.random.default_rng(0)
    src = rng.choice(n, N_SOURCES, replace=False)

    # nearest, 50 sources
    with Peak() as pk:
        net.nearest(src)
    ms, ms_sp, (d, lab), D = pair(lambda: net.nearest(src), lambda: dijkstra(A, indices=src, min_only=True), 7)
    err = rel_err(d, D)
    row(f"nearest ({N_SOURCES} sources)", ms, ms_sp, "scipy", pk.mb, f"max rel err {err:.1e}")
    row("  scipy dijkstra(min_only=True)", ms_sp)
    for pname, mk in (("igraph", peer_igraph), ("networkit", peer_networkit)):
        try:
            f = mk(net.arc_tail, net.arc_head, net.arc_minutes, n, src)
        except Exception as e:  # a peer that fails to build is reported, not fatal
            print(f"  {pname}: skipped ({type(e).__name__}: {e})")
            continue
        if f is None:
            print(f"  {pname}: not installed")
            continue
        pm, pd_ = best(f, repeat=1)
        row(f"  {pname} (virtual source)", pm, extra=f"ours {pm / ms:.2f}x faster, rel err {rel_err(pd_, D):.1e}")
    print("  pandana: not compared (its searches are POI aggregations after a per-distance precompute)")

    # three tiers in one call (parallel over groups) vs three calls
    tiers = [src[:30], src[30:45], src[45:]]
    ms3, _ = best(lambda: [net.nearest(t) for t in tiers])
    msg, _ = best(lambda: paths.nearest_groups(net, tiers))
    row("3 tiers, nearest_groups (one call)", msg, ms3, "3 calls")

    # k nearest
    msk, ms_n, (dk, _), _ = pair(lambda: paths.k_nearest(net, src, 3), lambda: net.nearest(src), 3)
    full = dijkstra(A, indices=src[:10], min_only=False) if n < 400_000 else None
    extra = ""
    if full is not None:
        _, (dk10, _) = best(lambda: paths.k_nearest(net, src[:10], 3), repeat=1, warm=False)
        extra = f"k=3 of 10 vs scipy sort: rel err {rel_err(dk10, np.sort(full, axis=0)[:3]):.1e}"
    row(f"k_nearest k=3 ({N_SOURCES} sources)", msk, ms_n, "nearest", extra=extra)
    print("   (ratio above is nearest/k_nearest: the price of three labels per node)")

    # bounded catchments ~1 % and ~10 % of nodes
    probe, _ = net.nearest(src[:5])
    one, _ = net.nearest(src[:1])
    fin = np.sort(one[np.isfinite(one)])
    for share in (0.01, 0.10):
        cutoff = float(fin[min(fin.size - 1, int(share * n))])
        with Peak() as pk:
            paths.od(net, src, cutoff)
        mw, msl, od, DL = pair(
            lambda c=cutoff: paths.od(net, src, c), lambda c=cutoff: dijkstra(A, indices=src, limit=c)
        )
        errs = []
        for k in (0, N_SOURCES - 1):
            sl = slice(od.indptr[k], od.indptr[k + 1])
            got = np.full(n, np.inf)
            got[od.node[sl]] = od.minutes[sl]
            errs.append(rel_err(got, DL[k]))
        row(
            f"within {share:.0%} (cutoff {cutoff:.4g}, {len(od) / N_SOURCES:,.0f}/src)",
            mw,
            msl,
            "scipy limit=",
            pk.mb,
            f"rel err {max(errs):.1e}",
        )
        row("  scipy dijkstra(limit=)", msl)
    del probe

    # incremental add / remove vs recompute
    for base in (N_SOURCES, 340, 500):  # 340: about the demo's primary tier
        bsrc = rng.choice(n, base, replace=False)
        state = paths.NearestState(net, bsrc)
        new = rng.choice(n, 20, replace=False)
        ts, tf = [], []
        for i, v in enumerate(new):  # adds interleaved with recomputes (same machine load)
            t0 = time.perf_counter()
            state.add_source(int(v))
            ts.append(time.perf_counter() - t0)
            if i % 3 == 0:
                t0 = time.perf_counter()
                net.nearest(bsrc)
                tf.append(time.perf_counter() - t0)
        ms_add = float(np.median(ts)) * 1000  # median of 20 adds (the first allocates the kept workspace)
        ms_full = float(np.median(tf)) * 1000  # median of 7 recomputes
        t0 = time.perf_counter()
        for p in range(base, base + 10):
            state.remove_source(p)
        ms_rm = (time.perf_counter() - t0) * 1000 / 10
        exp, _ = net.nearest(np.r_[bsrc, new[10:]])
        err = rel_err(state.minutes, exp)
        row(
            f"add one facility to {base} (median of 20)",
            ms_add,
            ms_full,
            "recompute",
            extra=f"after 20 adds+10 removes: err {err:.1e}",
        )
        row(f"remove one facility of {base + 20}", ms_rm, ms_full, "recompute")

    if od_sources:
        osrc = rng.choice(n, od_sources, replace=False)
        pairs = 0
        with Peak() as pk:
            t0 = time.perf_counter()
            # blocks sized by od_blocks to about 512 MB each (about 58 sources on the 1M demo network, 760k nodes
            # within 60 min of a source); drop each block before the next is built, or two are held at once
            for _, part in paths.od_blocks(net, osrc, 60.0):
                pairs += len(part)
                del part
            ms_od = (time.perf_counter() - t0) * 1000
        gb = pairs * 12 / 2**30
        row(
            f"OD {od_sources:,} sources within 60 min, streamed",
            ms_od,
            peak=pk.mb,
            extra=f"{pairs:,} pairs ({pairs / od_sources:,.0f}/src); as one table: {gb:.2f} GB at 12 B/pair",
        )
        print(f"   process high-water RSS so far (getrusage): {maxrss_mb():,.0f} MB")
        if gb < 3.0:
            with Peak() as pk:
                t0 = time.perf_counter()
                big = paths.od(net, osrc, 60.0)
                ms_od = (time.perf_counter() - t0) * 1000
            row(f"OD {od_sources:,} sources within 60 min, one table", ms_od, peak=pk.mb)
            del big
            print(f"   process high-water RSS (getrusage, includes the graph and scipy matrix): {maxrss_mb():,.0f} MB")
        else:
            print(f"   one in-memory table would need {gb:.2f} GB (12 B/pair) > 3 GB: only the streamed run is made")
    return net


def snap_comparison():
    """Edge vs node snapping on a demo-like grid: how much does snapping to nodes move access minutes?"""
    from geoaccess.measures import nearest_facility

    t, h, w, x, y = graphs.grid_roads(side=200, spacing_m=250.0, seed=7)
    net = Network.from_arrays(t, h, w, x=x, y=y)
    rng = np.random.default_rng(11)
    span = x.max()
    px, py = rng.random(20_000) * span, rng.random(20_000) * span
    fx, fy = rng.random(30) * span, rng.random(30) * span
    res = {}
    for mode in ("edge", "node"):
        fs = net.snap(fx, fy, mode=mode)
        ds = net.snap(px, py, mode=mode)
        res[mode] = nearest_facility(net, fs, ds, np.ones(30, bool), to_facility=True).minutes
    ok = np.isfinite(res["edge"]) & np.isfinite(res["node"])
    e, nd = res["edge"][ok], res["node"][ok]
    rel = np.abs(nd - e) / np.maximum(e, 1e-9)
    print(
        f"\n== snapping: edge vs node on a 40k-node grid (250 m blocks), {ok.sum():,} reachable points, 30 facilities"
    )
    print(
        f"  mean minutes edge {e.mean():.2f}, node {nd.mean():.2f}; mean |diff| {np.abs(nd - e).mean():.2f} min; "
        f"points off by >10 %: {np.mean(rel > 0.10):.1%}; by >1 min: {np.mean(np.abs(nd - e) > 1):.1%}"
    )


_JIT_SETUP = (
    "import time, numpy as np; t0=time.perf_counter(); from geoaccess import Network, paths; "
    "net=Network.from_arrays(np.array([0,1]),np.array([1,2]),np.ones(2),x=np.zeros(3),y=np.zeros(3)); "
    "t1=time.perf_counter(); "
)
_JIT_CASES = {
    "net.nearest alone": "net.nearest(np.array([0]))",
    "demo pipeline kernels (seeded + od)": "paths.seeded(net,np.array([0]),np.zeros(1),np.zeros(1,np.int32),"
    "reverse=True); paths.od(net,np.array([0]),5)",
    "k_nearest alone": "paths.k_nearest(net,np.array([0]),2)",
    "NearestState add/remove alone": "s=paths.NearestState(net,np.array([0])); s.add_source(2); s.remove_source(1)",
    "od alone": "paths.od(net,np.array([0]),5)",
    "everything (nearest, od, groups, k_nearest, add/remove)": "net.nearest(np.array([0])); "
    "paths.od(net,np.array([0]),5); paths.nearest_groups(net,[np.array([0]),np.array([1])]); "
    "paths.k_nearest(net,np.array([0]),2); s=paths.NearestState(net,np.array([0])); s.add_source(2); "
    "s.remove_source(1)",
}


def jit_times():
    print("\n== first call in a fresh process (cold = empty numba cache, so it compiles; warm = cached)")
    for what, call in _JIT_CASES.items():
        code = _JIT_SETUP + call + "; print(f'{t1-t0:.2f} {time.perf_counter()-t1:.2f}')"
        env = dict(os.environ)
        env["NUMBA_CACHE_DIR"] = f"/tmp/geoaccess-bench-cold-cache-{os.getpid()}-{abs(hash(what))}"
        cold = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env).stdout.split()
        warm = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env).stdout.split()
        if warm and cold:
            print(f"  {what:<58} cold {cold[1]:>5} s   cached {warm[1]:>5} s   (import {warm[0]} s)")


def main():
    import numba

    print(
        f"geoaccess path bench: {os.cpu_count()} cpus, numba threads {numba.get_num_threads()}, numba {numba.__version__}"
    )
    print(f"bench data: {graphs.DATA} ({'present' if graphs.DATA.exists() else 'absent'})")
    jit_times()
    for load in (graphs.ny_t, lambda: graphs.pace("FLA"), lambda: graphs.pace("NE")):
        g = load()
        if g is None:
            print("\n== skipped (file absent)")
            continue
        bench_graph(g)
    bench_graph(graphs.synthetic_1m(), od_sources=5000)
    snap_comparison()


if __name__ == "__main__":
    main()
