"""Shared pieces of the engine tests: cost rates and four hand-made daily bars."""

from __future__ import annotations

import pandas as pd

COMMISSION = 0.001
SLIP = 0.0005  # 5 bps


def small_bars() -> pd.DataFrame:
    """Four daily bars; bar 1 opens at its high and bar 3 at its low (slippage goes past them)."""
    index = pd.date_range("2024-01-01", periods=4, freq="1D", tz="UTC", name="time")
    return pd.DataFrame(
        {
            "open": [100.0, 110.0, 120.0, 130.0],
            "high": [105.0, 110.0, 125.0, 135.0],
            "low": [95.0, 104.0, 115.0, 130.0],
            "close": [102.0, 108.0, 124.0, 133.0],
            "volume": [1.0, 1.0, 1.0, 1.0],
        },
        index=index,
    )
