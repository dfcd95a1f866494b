"""The frame contract every series obeys, and the checks run on every write.

A frame has a tz-aware UTC ``DatetimeIndex`` (sorted, unique) and float64 columns.
OHLCV frames have exactly ``open, high, low, close, volume``; macro frames one column
per field (JGB tenors ``1Y..40Y``, a FRED id, currencies of a close table).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from carryguard.signals.availability import timeframe_delta
from carryguard.signals.errors import DataError

OHLCV_COLUMNS = ("open", "high", "low", "close", "volume")
KINDS = ("ohlcv", "macro", "prices")  # prices: close-only price table (must be > 0)


@dataclass(frozen=True)
class Gap:
    """Bars missing between two consecutive stored timestamps."""

    after: pd.Timestamp
    before: pd.Timestamp
    missing: int

    def as_dict(self) -> dict[str, object]:
        return {"after": self.after.isoformat(), "before": self.before.isoformat(), "missing": self.missing}


def normalise(frame: pd.DataFrame, *, kind: str, name: str) -> pd.DataFrame:
    """Return ``frame`` sorted, exact duplicates dropped, float64, validated.

    Raises ``DataError`` naming ``name`` and the first offending timestamp for: a
    non-UTC index, infinite values, missing OHLC prices, conflicting duplicates,
    non-positive prices, high < low, negative volume, wrong OHLCV columns or an empty
    frame.
    """
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    if not isinstance(frame.index, pd.DatetimeIndex) or str(frame.index.tz) != "UTC":
        raise DataError(f"{name}: index must be tz-aware UTC timestamps", fix="parse dates with utc=True")
    if frame.empty:
        raise DataError(f"{name}: no rows", fix="check the file or the requested range")
    if kind == "ohlcv" and tuple(frame.columns) != OHLCV_COLUMNS:
        raise DataError(
            f"{name}: columns {list(frame.columns)} are not {list(OHLCV_COLUMNS)}",
            fix="pass exactly these columns, in this order",
        )
    out = frame.astype("float64").sort_index(kind="stable")
    out.index = out.index.as_unit("ns")
    out.index.name = "time"
    infinite = np.isinf(out.to_numpy()).any(axis=1)
    if infinite.any():
        raise DataError(
            f"{name}: infinite value at {out.index[infinite.argmax()].isoformat()}", fix="fix or drop that row"
        )
    if kind == "ohlcv":
        empty = out[list(OHLCV_COLUMNS[:4])].isna().any(axis=1).to_numpy()
        if empty.any():
            raise DataError(
                f"{name}: missing price at {out.index[empty.argmax()].isoformat()}", fix="fix or drop that row"
            )
    dup = out.index.duplicated(keep=False)
    if dup.any():
        groups = out[dup].groupby(level=0)
        conflicting = [ts for ts, rows in groups if len(rows.drop_duplicates()) > 1]
        if conflicting:
            raise DataError(
                f"{name}: conflicting duplicate rows for {conflicting[0].isoformat()} ({len(conflicting)} timestamps)",
                fix="keep one row per timestamp",
            )
        out = out[~out.index.duplicated(keep="first")]
    if kind in ("ohlcv", "prices"):
        prices = out[list(OHLCV_COLUMNS[:4])] if kind == "ohlcv" else out
        bad = (prices <= 0).any(axis=1)
        if bad.any():
            raise DataError(
                f"{name}: non-positive price at {out.index[bad.argmax()].isoformat()}", fix="fix or drop that row"
            )
    if kind == "ohlcv":
        inverted = out["high"] < out["low"]
        if inverted.any():
            raise DataError(
                f"{name}: high < low at {out.index[inverted.argmax()].isoformat()}", fix="fix or drop that row"
            )
        negative_volume = out["volume"] < 0
        if negative_volume.any():
            raise DataError(
                f"{name}: negative volume at {out.index[negative_volume.argmax()].isoformat()}",
                fix="fix or drop that row",
            )
    return out


def check_bar_range(frame: pd.DataFrame, name: str) -> None:
    """An exchange bar's open and close lie within its low..high; one outside is a damaged
    row or swapped columns (Yahoo FX bars break this daily, so they are not checked)."""
    prices = frame[["open", "close"]]
    outside = (prices.gt(frame["high"], axis=0) | prices.lt(frame["low"], axis=0)).any(axis=1).to_numpy()
    if outside.any():
        raise DataError(
            f"{name}: open or close outside the bar's low..high at {frame.index[outside.argmax()].isoformat()}",
            fix="fix or drop that row (columns swapped?)",
        )


def check_time(
    frame: pd.DataFrame, *, name: str, sid: str, timeframe: str | None, now: pd.Timestamp | None = None
) -> None:
    """Time checks of rows bound for series ``sid`` (a sorted, normalised frame).

    ``DataError`` for a row dated after ``now`` (default: the clock) plus one bar (a day
    for series without a timeframe), a bar off its timeframe's grid (bars open at
    multiples of the timeframe from 00:00 UTC; whole days for bars of a day or more), or
    rows spaced other than the series' timeframe (median spacing, three rows or more):
    a daily file must not land in a 4h series.
    """
    if frame.empty:
        return
    step = timeframe_delta(timeframe) if timeframe else pd.Timedelta(days=1)
    now = pd.Timestamp.now(tz="UTC") if now is None else pd.Timestamp(now)
    late = frame.index > now + step
    if late.any():
        raise DataError(
            f"{name}: row {frame.index[late.argmax()].isoformat()} lies in the future "
            f"(now is {now:%Y-%m-%d %H:%M} UTC; {int(late.sum())} such row(s))",
            fix="drop the future-dated rows (a typo in the year?)",
        )
    if not timeframe:
        return
    grid = min(step, pd.Timedelta(days=1)).value
    off = frame.index.asi8 % grid != 0
    if off.any():
        raise DataError(
            f"{name}: bar {frame.index[off.argmax()].isoformat()} is not on the {timeframe} grid of series {sid}",
            fix=f"{timeframe} bars open at multiples of {timeframe} from 00:00 UTC; check the file's time zone",
        )
    if len(frame) >= 3:
        spacing = pd.Timedelta(int(np.median(np.diff(frame.index.asi8))))
        if spacing != step:
            raise DataError(
                f"{name}: rows are {spacing} apart but series {sid} holds {timeframe} bars",
                fix="import the file as its own timeframe (name it e.g. BTCUSDT_1d.csv), or fix its timestamps",
            )


def find_gaps(index: pd.DatetimeIndex, step: pd.Timedelta, *, weekdays_only: bool = False) -> list[Gap]:
    """Spans longer than ``step`` between consecutive timestamps of a regular series.

    With ``weekdays_only`` (FX, closed at weekends) a daily gap counts only missing
    Monday-Friday dates.
    """
    if len(index) < 2:
        return []
    deltas = np.diff(index.asi8)
    where = np.flatnonzero(deltas > step.value)
    gaps = []
    for i in where:
        missing = int(deltas[i] // step.value) - 1
        if weekdays_only:
            start = (index[i] + pd.Timedelta(days=1)).date()
            missing = int(np.busday_count(start, index[i + 1].date()))
        if missing > 0:
            gaps.append(Gap(index[i], index[i + 1], missing))
    return gaps


def fx_spikes(close: pd.Series, *, threshold: float = 0.04) -> list[pd.Timestamp]:
    """One-day spikes that revert the next day (Yahoo FX quirk): |r_t| and |r_t+1| above
    ``threshold`` with opposite signs, and the day after back within threshold/2 of the
    day before."""
    log_close = np.log(close.astype("float64"))
    move_in = log_close.diff()
    move_out = log_close.diff().shift(-1)
    round_trip = (log_close.shift(-1) - log_close.shift(1)).abs()
    spike = (move_in.abs() > threshold) & (move_out.abs() > threshold) & (np.sign(move_in) != np.sign(move_out))
    spike &= round_trip < threshold / 2
    return list(close.index[spike.fillna(False).to_numpy()])


def disjoint_bars(bars: pd.DataFrame, *, tolerance: float, max_run: int) -> np.ndarray:
    """Bad prints that can be told at the bar's own close (no hindsight): a bar whose whole
    low..high range lies more than ``tolerance`` (fraction) away from the last accepted
    close. A 24-hour FX market does not jump a whole day's range away like that; Yahoo's
    2008 USD/JPY prints do. At most ``max_run`` bars in a row are rejected, so a real
    level shift is accepted after that. Returns a boolean mask (True = bad print)."""
    low, high, close = (bars[c].to_numpy(dtype="float64") for c in ("low", "high", "close"))
    bad = np.zeros(len(close), dtype=bool)
    if not len(close):
        return bad
    reference, run = close[0], 0
    for i in range(1, len(close)):
        away = low[i] > reference * (1 + tolerance) or high[i] < reference * (1 - tolerance)
        if away and run < max_run:
            bad[i], run = True, run + 1
        else:
            reference, run = close[i], 0
    return bad
