"""Test series shared by the store, import and hostile-data tests: OHLCV metadata, a price
ramp of bars, and a digest of a store's files (to show a rejected write changed nothing)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pandas as pd

from carryguard.signals.frames import OHLCV_COLUMNS
from carryguard.signals.store import SeriesMeta


def bars_meta(sid: str, timeframe: str, *, symbol: str, units: str, kind: str = "ohlcv") -> SeriesMeta:
    """Metadata of a test series of ``timeframe`` bars (source and publisher ``test``)."""
    return SeriesMeta(
        id=sid,
        kind=kind,
        source="test",
        publisher="test",
        symbol=symbol,
        fields=OHLCV_COLUMNS,
        units=units,
        frequency=timeframe,
        availability="bar_close",
        timeframe=timeframe,
    )


def ramp_bars(
    start: str, periods: int, *, freq: str, base: float, offsets: tuple[float, float, float, float], volume: float
) -> pd.DataFrame:
    """Bars whose level rises by 1 a bar from ``base``; open, high, low and close sit at
    ``offsets`` from that level (UTC nanosecond index named ``time``)."""
    index = pd.date_range(start, periods=periods, freq=freq, tz="UTC", name="time", unit="ns")
    level = base + np.arange(periods, dtype="float64")
    prices = {column: level + offset for column, offset in zip(OHLCV_COLUMNS[:4], offsets, strict=True)}
    return pd.DataFrame({**prices, "volume": np.full(periods, volume)}, index=index)


def store_digest(root: Path, pattern: str = "*") -> dict[str, str]:
    """sha256 of every file under ``root`` matching ``pattern``, by relative path."""
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob(pattern))
        if p.is_file()
    }
