"""Write-phase timings and memory (issue 11): the demo bundle, and a province-sized SYNTHETIC case.

Run from the repository root (the demo part needs data/demo, i.e. ``make demo`` once):

    .venv/bin/python bench/bench_outputs.py demo            # Study.write on the Taiyuan demo, 3 runs
    .venv/bin/python bench/bench_outputs.py large [OUT]     # synthetic 5000x7000 raster, 3 M cells, 30k facilities
    .venv/bin/python bench/bench_outputs.py large-image [OUT]   # the same with one capped image per tier, no tiles

Peak RSS is the growth of the process's resident set over what it held before the write phase, sampled
every 5 ms by a thread (the compute phase before it is not counted). The large case is made up (labelled
SYNTHETIC in its pages) and fed straight to the output functions: no pipeline run.
"""

from __future__ import annotations

import os
import sys
import threading
import time
import tracemalloc
from pathlib import Path

PAGE = os.sysconf("SC_PAGE_SIZE")


def rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * PAGE


class PeakRSS:
    """Peak resident set over a ``with`` block, above what the process held at its start."""

    def __enter__(self):
        self.base = self.peak = rss()
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._watch, daemon=True)
        self._t.start()
        self.t0 = time.perf_counter()
        self.c0 = time.process_time()
        return self

    def _watch(self):
        while not self._stop.wait(0.005):
            self.peak = max(self.peak, rss())

    def __exit__(self, *exc):
        self.seconds = time.perf_counter() - self.t0
        self.cpu = time.process_time() - self.c0  # all threads; the machine is shared, so wall time varies
        self._stop.set()
        self._t.join()
        self.peak = max(self.peak, rss())
        self.growth = self.peak - self.base


def bundle_bytes(out: Path) -> int:
    return sum(f.stat().st_size for f in Path(out).rglob("*") if f.is_file())


def demo(runs: int = 3):
    from geoaccess import Study

    study = Study.from_file("data/studies/demo.toml", output_root="/tmp/geoaccess-bench-outputs")
    result = study.compute()
    for k in range(runs):
        with PeakRSS() as p:
            study.write(result)
        out = study.settings.output
        print(
            f"demo write #{k + 1}: {p.seconds:.2f} s (CPU {p.cpu:.2f} s), write-phase RSS growth {p.growth / 1e6:.0f} MB, "
            f"bundle {bundle_bytes(out) / 1e6:.2f} MB, {sum(1 for _ in Path(out).rglob('*'))} files"
        )
    # the allocator reuses the compute phase's freed memory, so RSS growth understates the write's needs;
    # tracemalloc sees every Python and numpy allocation (not GDAL's own buffers)
    tracemalloc.start()
    study.write(result)
    print(f"demo write: tracemalloc peak {tracemalloc.get_traced_memory()[1] / 1e6:.0f} MB (Python + numpy)")
    tracemalloc.stop()


def main():
    what = sys.argv[1] if len(sys.argv) > 1 else "demo"
    if what == "demo":
        demo()
    elif what in ("large", "large-image"):
        sys.path.insert(0, str(Path(__file__).parent))
        from large_bundle import write_large

        if what == "large-image":  # the alternative to tiles: one image per tier, capped at 4096 px a side
            import functools

            from geoaccess.outputs import tiles

            tiles.MAX_IMAGE_PX = 10**9
            tiles.write_image = functools.partial(tiles.write_image, max_px=4096)
        write_large(Path(sys.argv[2] if len(sys.argv) > 2 else f"/tmp/geoaccess-{what}"), PeakRSS, bundle_bytes)
    else:
        raise SystemExit(__doc__)


if __name__ == "__main__":
    main()
