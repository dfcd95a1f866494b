"""An accelerated exchange clock for the Binance emulator (``BinanceEmulator(clock=...)``).

The clock shows ``start`` until ``go()`` is called (so a test can set up a deterministic
first step); from then on exchange time runs ``speed`` times faster than real time and
stops at ``end`` (if given), so a test replays hundreds of bars in seconds and the paper
loop can catch up to a fixed final time.
"""

from __future__ import annotations

import time

import pandas as pd


class AcceleratedClock:
    """Callable returning the exchange's "now" (tz-aware UTC)."""

    def __init__(self, start: pd.Timestamp, *, speed: float, end: pd.Timestamp | None = None) -> None:
        if speed <= 0:
            raise ValueError(f"speed must be > 0, got {speed}")
        self.start, self.speed, self.end = pd.Timestamp(start), speed, end
        self._real_start: float | None = None

    def go(self) -> AcceleratedClock:
        """Start running (idempotent)."""
        if self._real_start is None:
            self._real_start = time.monotonic()
        return self

    def __call__(self) -> pd.Timestamp:
        if self._real_start is None:
            return self.start
        now = self.start + pd.Timedelta(seconds=(time.monotonic() - self._real_start) * self.speed)
        return min(now, self.end) if self.end is not None else now

    def real_seconds_until(self, when: pd.Timestamp) -> float:
        """Real seconds left until the clock shows ``when``."""
        return max((pd.Timestamp(when) - self()).total_seconds() / self.speed, 0.0)
