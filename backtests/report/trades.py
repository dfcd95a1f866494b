"""Round trips of one book with the cause of every change of exposure, from a run folder alone.

A fill at bar open T executes the decision taken at the close of the bar before (the
exposure row of bar T - one bar). Its cause is what changed in that decision since the
decision behind the book's previous fill: the strategy's own exposure ("signal"), the
overlay's risk multiplier ("overlay cut" / "overlay restore"), the volatility scale ("vol
rescale"); when none did, the held share of equity drifted with the price until it left the
rebalance band ("rebalance band"). An entry or exit of the strategy is a "signal" alone: the overlay
only scales what the strategy holds.
"""

from __future__ import annotations

import weakref
from functools import lru_cache
from pathlib import Path
from typing import Any, TypedDict

import numpy as np
import pandas as pd

from carryguard.backtests.run.folder import BookKey, RunFolder, as_overlay
from carryguard.signals.availability import timeframe_delta

CAUSES = ("signal", "overlay cut", "overlay restore", "vol rescale", "rebalance band")
_TOLERANCE = 1e-9


class RoundTrip(TypedDict):
    """One row of ``round_trips``."""

    entry_time: str
    exit_time: str | None
    entry_price: float
    exit_price: float
    return_pct: float
    duration_days: float
    entry_cause: str
    exit_cause: str
    resizes: list[str]


def fill_causes(run: RunFolder, key: BookKey) -> pd.DataFrame:
    """The book's fills (``time, side, qty, price``) with a ``cause`` column (see the module docstring)."""
    fills = _fills(run, key)
    exposure = run.exposure.get(key)
    if exposure is None or not len(exposure) or not len(fills):
        return fills.assign(cause="")
    step = timeframe_delta(key.timeframe)
    rows = np.searchsorted(_ns(exposure.index), _ns(fills["time"] - step), side="right") - 1
    rows = rows.clip(min=0)
    columns = {
        name: exposure[name].to_numpy(dtype="float64") for name in ("strategy_exposure", "multiplier", "vol_scale")
    }
    after = {name: values[rows] for name, values in columns.items()}
    first = {"strategy_exposure": 0.0, "multiplier": columns["multiplier"][0], "vol_scale": columns["vol_scale"][0]}
    before = {name: np.r_[first[name], values[:-1]] for name, values in after.items()}
    causes = [
        _cause(*(before[name][i] for name in columns), *(after[name][i] for name in columns)) for i in range(len(rows))
    ]
    return fills.assign(cause=causes)


def _ns(times: Any) -> np.ndarray:
    """UTC times as int64 nanoseconds (comparable whatever their unit or zone)."""
    return pd.DatetimeIndex(times).as_unit("ns").asi8


def _stamp(time: pd.Timestamp) -> int:
    """One UTC time as int64 nanoseconds, as ``_ns`` gives them."""
    return int(pd.Timestamp(time).as_unit("ns").value)


def _cause(strategy0: float, multiplier0: float, vol0: float, strategy1: float, multiplier1: float, vol1: float) -> str:
    """``signal``, ``overlay cut`` ... or several joined with ``+``."""
    parts = []
    if abs(strategy1 - strategy0) > _TOLERANCE:
        if min(abs(strategy0), abs(strategy1)) <= _TOLERANCE:
            return "signal"  # an entry or exit: the overlay only scales what the strategy holds
        parts.append("signal")
    if abs(multiplier1 - multiplier0) > _TOLERANCE:
        parts.append("overlay cut" if multiplier1 < multiplier0 else "overlay restore")
    if abs(vol1 - vol0) > _TOLERANCE:
        parts.append("vol rescale")
    return "+".join(parts) or "rebalance band"


@lru_cache(maxsize=4)
def _read_fills(path: Path, stamp: float) -> pd.DataFrame:
    """fills.csv of a run (cached per file and modification time)."""
    frame = pd.read_csv(path, dtype={"overlay": str})
    frame["time"] = pd.to_datetime(frame["time"], utc=True)
    overlays = frame["overlay"].unique()  # true/false in folders written before policies
    frame["overlay"] = frame["overlay"].map(dict(zip(overlays, map(as_overlay, overlays), strict=True)))
    return frame


def _fills(run: RunFolder, key: BookKey) -> pd.DataFrame:
    """fills.csv rows of ``key`` (read here: the run folder reader does not load fills)."""
    path = run.path / "fills.csv"
    if not path.is_file():
        return pd.DataFrame({"time": pd.to_datetime([], utc=True), "side": [], "qty": [], "price": []})
    frame = _read_fills(path, path.stat().st_mtime)
    mine = frame.iloc[_rows_of(frame, key)]
    return pd.DataFrame(
        {
            "time": mine["time"],
            "side": mine["side"].astype(str),
            "qty": mine["qty"].astype(float),
            "price": mine["price"].astype(float),
        }
    ).reset_index(drop=True)


_BOOK_ROWS: dict[int, tuple[weakref.ref, dict[tuple, np.ndarray]]] = {}  # id(table) -> (the table, rows per book)


def _rows_of(frame: pd.DataFrame, key: BookKey) -> np.ndarray:
    """Positions of ``key``'s rows in a per-book table (fills, trades), grouped once per table
    (while the table lives: DataFrames cannot be dictionary keys, so by id with a weak check)."""
    cached = _BOOK_ROWS.get(id(frame))
    if cached is None or cached[0]() is not frame:
        columns = ["strategy", "symbol", "timeframe", "overlay"]
        groups = frame.groupby(columns, sort=False).indices if len(frame) else {}
        _BOOK_ROWS[id(frame)] = cached = (weakref.ref(frame, lambda _: _BOOK_ROWS.pop(id(frame), None)), groups)
    return cached[1].get((key.strategy, key.symbol, key.timeframe, key.overlay), np.array([], dtype=int))


def round_trips(run: RunFolder, key: BookKey) -> list[RoundTrip]:
    """Each round trip of ``key``: entry/exit time and price, return, duration, the cause of the
    entry and of the exit, and the causes of the resizes in between (in order)."""
    mine = run.trades.iloc[_rows_of(run.trades, key)]
    causes = fill_causes(run, key)
    times, labels = _ns(causes["time"]), causes["cause"].tolist()
    rows: list[RoundTrip] = []
    for trade in mine.itertuples(index=False):
        entry, exit_ = trade.entry_time, trade.exit_time
        still_open = str(trade.is_open).lower() == "true"
        lo = int(np.searchsorted(times, _stamp(entry), side="right"))
        first_exit = int(np.searchsorted(times, _stamp(exit_), side="left"))
        rows.append(
            {
                "entry_time": entry.isoformat(),
                "exit_time": None if still_open else exit_.isoformat(),
                "entry_price": float(trade.entry_price),
                "exit_price": float(trade.exit_price),
                "return_pct": float(trade.return_pct),
                "duration_days": round((exit_ - entry) / pd.Timedelta(days=1), 4),
                "entry_cause": _at(times, labels, entry),
                "exit_cause": "open" if still_open else _at(times, labels, exit_),
                "resizes": labels[lo:first_exit],
            }
        )
    return rows


def _at(times: np.ndarray, labels: list[str], time: pd.Timestamp) -> str:
    """The causes of the fills at ``time`` (``+``-joined), or ``""``."""
    at = _stamp(time)
    lo, hi = int(np.searchsorted(times, at, side="left")), int(np.searchsorted(times, at, side="right"))
    return "+".join(dict.fromkeys(labels[lo:hi]))


def find_book(run: RunFolder, name: str) -> list[BookKey]:
    """Books matching ``name``: a label (``sma_cross+carry``), optionally with symbol and timeframe
    (``sma_cross+carry BTC/USDT 1d``), or ``str(book)``."""
    wanted = name.split()
    return [
        key
        for key in run.books
        if key.label == wanted[0] and all(part in (key.symbol, key.timeframe) for part in wanted[1:])
    ]
