"""Per-stage wall time and peak memory, logged to stderr and kept for run.json."""

from __future__ import annotations

import sys
import threading
import time
from contextlib import contextmanager

import psutil

_MIB = 1024**2


class _PeakRSS(threading.Thread):
    """Samples the resident set size while a stage runs.

    A sampler rather than tracemalloc because most of the memory is allocated by
    numba and native libraries, which tracemalloc does not see.
    """

    def __init__(self, interval: float = 0.05):
        super().__init__(daemon=True)
        self._process = psutil.Process()
        self._interval = interval
        self._stop_event = threading.Event()
        self.peak = self._process.memory_info().rss

    def run(self):
        while not self._stop_event.wait(self._interval):
            self.peak = max(self.peak, self._process.memory_info().rss)

    def stop(self) -> int:
        self._stop_event.set()
        self.join()
        return max(self.peak, self._process.memory_info().rss)


def stderr_printer(verbose: bool = True):
    """A ``say(message)`` that prints ``raregal: message`` on stderr, or nothing."""

    def say(message: str) -> None:
        if verbose:
            print(f"raregal: {message}", file=sys.stderr, flush=True)

    return say


class StageLog:
    """Times named stages; ``stages`` maps each name to seconds and peak MiB.

    Parameters
    ----------
    quiet : bool
        Keep stderr silent (the figures are still recorded).
    """

    def __init__(self, quiet: bool = False):
        self.quiet = quiet
        self.say = stderr_printer(not quiet)
        self.stages: dict[str, dict] = {}

    @contextmanager
    def stage(self, name: str, what: str = ""):
        self.say(f"{name}: {what}…" if what else f"{name}…")
        sampler = _PeakRSS()
        sampler.start()
        start = time.perf_counter()
        try:
            yield
        finally:
            seconds = time.perf_counter() - start
            peak = sampler.stop() / _MIB
            self.stages[name] = {"seconds": round(seconds, 3), "peak_rss_mib": round(peak, 1)}
        self.say(f"{name}: done in {seconds:.1f} s (peak memory {peak:,.0f} MiB)")
