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

import pandas as pd

from carryguard.backtests.run.folder import BookKey, RunFolder
from carryguard.signals.availability import timeframe_delta

CAUSES = ("signal", "overlay cut", "overlay restore", "vol rescale", "rebalance band")
_TOLERANCE = 1e-9


def fill_causes(run: RunFolder, key: BookKey) -> pd.DataFrame:
    """The book's fills (``time, side, qty, price``) with a ``cause`` column (see the module docstring)."""
    fills = _fills(run, key)
    exposure = run.exposure.get(key)
    step = timeframe_delta(key.timeframe)
    causes = []
    previous: pd.Series | None = None
    for time in fills["time"]:
        if exposure is None or not len(exposure):
            causes.append("")
            continue
        rows = exposure.loc[: time - step]
        decision = rows.iloc[-1] if len(rows) else exposure.iloc[0]
        baseline = previous if previous is not None else _flat(exposure.iloc[0])
        causes.append(_cause(baseline, decision))
        previous = decision
    return fills.assign(cause=causes)


def _flat(row: pd.Series) -> pd.Series:
    """The state before the first trade: no strategy exposure, the first row's overlay settings."""
    return row.copy().where(row.index != "strategy_exposure", 0.0)


def _changed(before: pd.Series, after: pd.Series, column: str) -> float:
    return float(after[column]) - float(before[column])


def _cause(before: pd.Series, after: pd.Series) -> str:
    """``signal``, ``overlay cut`` ... or several joined with ``+``."""
    parts = []
    if abs(_changed(before, after, "strategy_exposure")) > _TOLERANCE:
        if min(abs(float(before["strategy_exposure"])), abs(float(after["strategy_exposure"]))) <= _TOLERANCE:
            return "signal"  # an entry or exit: the overlay only scales what the strategy holds
        parts.append("signal")
    multiplier = _changed(before, after, "multiplier")
    if abs(multiplier) > _TOLERANCE:
        parts.append("overlay cut" if multiplier < 0 else "overlay restore")
    if abs(_changed(before, after, "vol_scale")) > _TOLERANCE:
        parts.append("vol rescale")
    return "+".join(parts) or "rebalance band"


def _fills(run: RunFolder, key: BookKey) -> pd.DataFrame:
    """fills.csv rows of ``key`` (read here: the run folder reader does not load fills)."""
    path = run.path / "fills.csv"
    if not path.is_file():
        return pd.DataFrame({"time": pd.to_datetime([], utc=True), "side": [], "qty": [], "price": []})
    frame = pd.read_csv(path)
    mine = frame[
        (frame["strategy"] == key.strategy)
        & (frame["symbol"] == key.symbol)
        & (frame["timeframe"] == key.timeframe)
        & (frame["overlay"].astype(str) == str(key.overlay))
    ]
    return pd.DataFrame(
        {
            "time": pd.to_datetime(mine["time"], utc=True),
            "side": mine["side"].astype(str),
            "qty": mine["qty"].astype(float),
            "price": mine["price"].astype(float),
        }
    ).reset_index(drop=True)


def round_trips(run: RunFolder, key: BookKey) -> list[dict[str, object]]:
    """Each round trip of ``key``: entry/exit time and price, return, duration, the cause of the
    entry and of the exit, and the causes of the resizes in between (in order)."""
    trades = run.trades
    mine = trades[
        (trades["strategy"] == key.strategy)
        & (trades["symbol"] == key.symbol)
        & (trades["timeframe"] == key.timeframe)
        & (trades["overlay"] == key.overlay)
    ]
    causes = fill_causes(run, key)
    by_time = causes.groupby("time")["cause"].agg("+".join) if len(causes) else pd.Series(dtype=str)
    rows = []
    for trade in mine.itertuples(index=False):
        entry, exit_ = trade.entry_time, trade.exit_time
        still_open = str(trade.is_open).lower() == "true"
        inside = causes[(causes["time"] > entry) & (causes["time"] < exit_)]
        rows.append(
            {
                "entry_time": entry.isoformat(),
                "exit_time": None if still_open else exit_.isoformat(),
                "entry_price": float(trade.entry_price),
                "exit_price": float(trade.exit_price),
                "return_pct": float(trade.return_pct),
                "duration_days": round((exit_ - entry) / pd.Timedelta(days=1), 4),
                "entry_cause": str(by_time.get(entry, "")),
                "exit_cause": "open" if still_open else str(by_time.get(exit_, "")),
                "resizes": list(inside["cause"]),
            }
        )
    return rows


def find_book(run: RunFolder, name: str) -> list[BookKey]:
    """Books matching ``name``: a label (``sma_cross+carry``), optionally with symbol and timeframe
    (``sma_cross+carry BTC/USDT 1d``), or ``str(book)``."""
    wanted = name.split()
    return [
        key
        for key in run.books
        if key.label == wanted[0] and all(part in (key.symbol, key.timeframe) for part in wanted[1:])
    ]
