"""An accelerated exchange clock for the Binance emulator (``BinanceEmulator(clock=...)``).

Exchange time runs ``speed`` times faster than real time from ``start`` and stops at
``end`` (if given), so a test can replay hundreds of bars in seconds and then let the
paper loop catch up to a fixed final time.
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
        self._real_start = time.monotonic()

    def __call__(self) -> pd.Timestamp:
        now = self.start + pd.Timedelta(seconds=(time.monotonic() - self._real_start) * self.speed)
        return min(now, self.end) if self.end is not None else now

    def real_seconds_until(self, when: pd.Timestamp) -> float:
        """Real seconds left until the clock shows ``when``."""
        return max((pd.Timestamp(when) - self()).total_seconds() / self.speed, 0.0)
