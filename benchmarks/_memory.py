"""Peak resident memory (RSS) of this process during a block, sampled from /proc (Linux).

    with PeakRSS() as peak:
        work()
    peak.peak_mb, peak.start_mb
"""

from __future__ import annotations

import os
import resource
import threading

_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def rss_mb() -> float:
    """This process's resident set size now, in MiB (ru_maxrss where /proc is missing)."""
    try:
        with open("/proc/self/statm") as handle:
            return int(handle.read().split()[1]) * _PAGE / 2**20
    except OSError:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class PeakRSS:
    """Samples RSS every ``interval`` seconds in a thread while the block runs.

    Attributes after the block: start_mb (RSS on entry), peak_mb (highest sample, including the
    last one on exit), end_mb (RSS on exit).
    """

    def __init__(self, interval: float = 0.02):
        self.interval = float(interval)
        self.start_mb = self.peak_mb = self.end_mb = 0.0
        self._stop = threading.Event()

    def _sample(self) -> None:
        while not self._stop.wait(self.interval):
            self.peak_mb = max(self.peak_mb, rss_mb())

    def __enter__(self) -> PeakRSS:
        self.start_mb = self.peak_mb = rss_mb()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self.end_mb = rss_mb()
        self.peak_mb = max(self.peak_mb, self.end_mb)
