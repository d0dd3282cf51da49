"""Resident memory for the benches: the process's RSS now, and the largest rise over a block (:class:`Peak`)."""

from __future__ import annotations

import os
import threading
import time

PAGE = os.sysconf("SC_PAGE_SIZE")


def rss() -> int:
    """This process's resident set size in bytes (from /proc, cheap enough to poll every 2 ms)."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * PAGE


class Peak:
    """Largest RSS rise over the baseline while the block runs."""

    def __enter__(self):
        self.base = rss()
        self.peak = self.base
        self._stop = False
        self._t = threading.Thread(target=self._poll, daemon=True)
        self._t.start()
        return self

    def _poll(self):
        while not self._stop:
            self.peak = max(self.peak, rss())
            time.sleep(0.002)

    def __exit__(self, *exc):
        self._stop = True
        self._t.join()
        self.peak = max(self.peak, rss())

    @property
    def mb(self) -> float:
        return (self.peak - self.base) / 2**20
