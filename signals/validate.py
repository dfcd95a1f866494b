"""Event study of a daily alarm: does it come on before yen-carry unwinds and crypto
drawdowns more often than chance?

Everything runs on a calendar of days (a reading at 00:00 UTC of day D uses only data
published by then); an event dated D happened during day D (the USD/JPY value or the
daily bar of D), so a reading at 00:00 of D is still *before* it.

- **Events.** Yen-carry unwind: USD/JPY simple return over ``fx_window`` observations
  <= ``-fx_drop``; crypto drawdown: daily close <= ``1 - crypto_drop`` times the
  highest close of the last ``crypto_window`` observations. Breach days less than
  ``gap_days`` apart form one episode, dated by its first breach.
- **Figures** per alarm (a boolean per day): share of days on; day precision at each
  horizon h (share of on-days followed by an episode start within h days, days 0..h-1)
  beside the base rate (the same share over all days); episode precision (an alarm
  episode, on-days less than ``gap_days`` apart, counts when an event starts within the
  longest horizon of its first day); recall (events with the alarm on in the
  ``lookback`` days up to and including the event day); lead time (days from the start
  of the alarm episode that was on to the event); false-alarm days per year (on-days
  with no event within the longest horizon).
- **Null.** The same figures for ``shifts`` circular shifts of the alarm (each by at
  least 365 days and at most the sample length minus 365), which keep its share of days
  on and its clustering but break any timing link; p = (1 + shifts at least as good) /
  (1 + shifts). Days near the end whose horizon runs past the sample are left out of
  the precisions and false alarms.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

MIN_SHIFT = 365


@dataclass(frozen=True)
class EventRule:
    """How events are found and scored (every threshold and horizon an option)."""

    fx_window: int = 20
    fx_drop: float = 0.04
    crypto_window: int = 30
    crypto_drop: float = 0.20
    gap_days: int = 30
    horizons: tuple[int, ...] = (10, 20)
    lookback: int = 10
    shifts: int = 500

    def __post_init__(self) -> None:
        if min(self.fx_window, self.crypto_window, self.gap_days, self.lookback, *self.horizons) < 1:
            raise ValueError("windows, gap, lookback and horizons must be >= 1 day")
        if not (0 < self.fx_drop < 1 and 0 < self.crypto_drop < 1):
            raise ValueError("fx_drop and crypto_drop must be fractions in (0, 1)")
        if self.shifts < 1:
            raise ValueError("shifts must be >= 1")


def fx_breaches(price: pd.Series, rule: EventRule) -> pd.DatetimeIndex:
    """Data dates on which USD/JPY is down at least ``fx_drop`` over ``fx_window`` observations."""
    change = price / price.shift(rule.fx_window) - 1.0
    return pd.DatetimeIndex(price.index[(change <= -rule.fx_drop).to_numpy()])


def drawdown_breaches(close: pd.Series, rule: EventRule) -> pd.DatetimeIndex:
    """Days whose close is at least ``crypto_drop`` below the highest close of the last
    ``crypto_window`` observations (that day included)."""
    high = close.rolling(rule.crypto_window, min_periods=rule.crypto_window).max()
    return pd.DatetimeIndex(close.index[(close <= (1.0 - rule.crypto_drop) * high).to_numpy()])


def episodes(breaches: pd.DatetimeIndex, gap_days: int) -> pd.DatetimeIndex:
    """First day of each run of breach days less than ``gap_days`` apart."""
    days = pd.DatetimeIndex(breaches).normalize().unique().sort_values()
    if days.empty:
        return days
    gaps = (days[1:] - days[:-1]) / pd.Timedelta(days=1)
    return days[np.concatenate([[True], gaps >= gap_days])]


def shift_amounts(n: int, count: int) -> np.ndarray:
    """Up to ``count`` distinct shifts spread evenly over [365, n - 365] days."""
    if n - 2 * MIN_SHIFT < 0:
        return np.array([], dtype=int)
    return np.unique(np.linspace(MIN_SHIFT, n - MIN_SHIFT, count).round().astype(int))


def _windows_any(on: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """For each row of ``on`` (rows x days) and each window [lo, hi] (inclusive): is any day on?"""
    cum = np.concatenate([np.zeros((on.shape[0], 1), dtype=np.int32), np.cumsum(on, axis=1, dtype=np.int32)], axis=1)
    return (cum[:, hi + 1] - cum[:, lo]) > 0


def figures(alarms: np.ndarray, starts: np.ndarray, rule: EventRule) -> dict[str, np.ndarray]:
    """Every figure for each row of ``alarms`` (rows x days, bool) against event episode
    starts (day positions): one value per row, NaN where undefined."""
    rows, n = alarms.shape
    idx = np.arange(n)
    out: dict[str, np.ndarray] = {"on_share": alarms.mean(axis=1)}
    ahead = np.zeros((len(rule.horizons), n), dtype=bool)  # an episode starts within h days of day i
    for k, h in enumerate(rule.horizons):
        for e in starts:
            ahead[k, max(0, e - h + 1) : e + 1] = True
    longest = int(np.argmax(rule.horizons))
    with np.errstate(invalid="ignore", divide="ignore"):
        for k, h in enumerate(rule.horizons):
            valid = idx <= n - h
            on = alarms & valid
            out[f"precision_{h}d"] = (on & ahead[k]).sum(axis=1) / on.sum(axis=1)
            out[f"base_{h}d"] = np.full(rows, ahead[k][valid].mean() if valid.any() else np.nan)
        h = rule.horizons[longest]
        valid = idx <= n - h
        quiet = _windows_any(alarms, np.maximum(idx - rule.gap_days, 0), np.maximum(idx - 1, 0))
        quiet[:, 0] = False
        first = alarms & ~quiet  # first day of an alarm episode
        out["episode_precision"] = (first & valid & ahead[longest]).sum(axis=1) / (first & valid).sum(axis=1)
        years = valid.sum() / 365.25
        out["false_alarms_per_year"] = (alarms & valid & ~ahead[longest]).sum(axis=1) / years
        if len(starts):
            hit = _windows_any(alarms, np.maximum(starts - rule.lookback, 0), starts)
            out["recall"] = hit.mean(axis=1)
            last_on = np.maximum.accumulate(np.where(alarms, idx, -1), axis=1)
            episode_start = np.maximum.accumulate(np.where(first, idx, -1), axis=1)
            on_at = last_on[:, starts]
            began = np.take_along_axis(episode_start, np.maximum(on_at, 0), axis=1)
            lead = np.where(hit, starts[None, :] - began, np.nan).astype(float)
            out["lead_mean"] = np.nanmean(np.where(hit, lead, np.nan), axis=1) if hit.any() else np.full(rows, np.nan)
            out["lead_median"] = np.nanmedian(lead, axis=1) if hit.any() else np.full(rows, np.nan)
        else:
            for name in ("recall", "lead_mean", "lead_median"):
                out[name] = np.full(rows, np.nan)
    return out


HIGHER_IS_BETTER = ("precision", "episode_precision", "recall")
LOWER_IS_BETTER = ("false_alarms_per_year",)


def study(alarm: np.ndarray, starts: np.ndarray, rule: EventRule) -> dict[str, Any]:
    """The figures of one alarm and, for each, the p-value of its circular-shift null."""
    alarm = np.asarray(alarm, dtype=bool)
    n = len(alarm)
    shifts = shift_amounts(n, rule.shifts)
    rows = np.vstack([alarm, *(np.roll(alarm, s) for s in shifts)]) if len(shifts) else alarm[None, :]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        table = figures(rows, np.asarray(starts, dtype=int), rule)
    result: dict[str, Any] = {"shifts": len(shifts)}
    for name, values in table.items():
        observed, null = values[0], values[1:]
        p = None
        better = None
        if name.startswith(HIGHER_IS_BETTER):
            better = null >= observed
        elif name in LOWER_IS_BETTER:
            better = null <= observed
        if better is not None and len(null) and np.isfinite(observed):
            p = float((1 + better.sum()) / (1 + len(null)))
        result[name] = {"value": None if not np.isfinite(observed) else float(observed), "p": p}
    return result
