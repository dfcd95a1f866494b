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


def figures(alarms: np.ndarray, starts: np.ndarray, rule: EventRule) -> dict[str, np.ndarray]:
    """Every figure for each row of ``alarms`` (rows x days, bool) against event episode
    starts (day positions): one value per row, NaN where undefined."""
    rows, n = alarms.shape
    idx = np.arange(n)
    weights = alarms.astype(np.float64)  # counts as matrix-vector products
    out: dict[str, np.ndarray] = {"on_share": weights.sum(axis=1) / n}
    ahead = np.array([_ahead(n, starts, h) for h in rule.horizons])
    longest = int(np.argmax(rule.horizons))
    with np.errstate(invalid="ignore", divide="ignore"):
        for k, h in enumerate(rule.horizons):
            valid = idx <= n - h
            on = weights @ valid.astype(np.float64)
            out[f"precision_{h}d"] = (weights @ (valid & ahead[k]).astype(np.float64)) / on
            out[f"base_{h}d"] = np.full(rows, ahead[k][valid].mean() if valid.any() else np.nan)
        h = rule.horizons[longest]
        valid = idx <= n - h
        idx32 = idx.astype(np.int32)
        last_on = np.maximum.accumulate(np.where(alarms, idx32, np.int32(-1)), axis=1)  # newest on-day <= i
        before = np.concatenate([np.full((rows, 1), -1, dtype=np.int32), last_on[:, :-1]], axis=1)
        first = alarms & ((before < 0) | (idx32 - before >= rule.gap_days))  # first day of an alarm episode
        firsts = first.astype(np.float64)
        hits = firsts @ (valid & ahead[longest]).astype(np.float64)
        out["episode_precision"] = hits / (firsts @ valid.astype(np.float64))
        years = valid.sum() / 365.25
        out["false_alarms_per_year"] = (weights @ (valid & ~ahead[longest]).astype(np.float64)) / years
        if len(starts):
            on_at = last_on[:, starts]
            hit = on_at >= (starts - rule.lookback)[None, :]
            out["recall"] = hit.mean(axis=1)
            episode_start = np.maximum.accumulate(np.where(first, idx32, np.int32(-1)), axis=1)
            began = np.take_along_axis(episode_start, np.maximum(on_at, 0), axis=1)
            lead = np.where(hit, starts[None, :] - began, np.nan)
            out["lead_mean"] = np.nanmean(lead, axis=1)
            out["lead_median"] = np.nanmedian(lead, axis=1)
        else:
            for name in ("recall", "lead_mean", "lead_median"):
                out[name] = np.full(rows, np.nan)
    return out


def _ahead(n: int, starts: np.ndarray, h: int) -> np.ndarray:
    """Day i is followed by an episode start within h days (days i..i+h-1)."""
    ahead = np.zeros(n, dtype=bool)
    for e in starts:
        ahead[max(0, e - h + 1) : e + 1] = True
    return ahead


def _circular_counts(x: np.ndarray, y: np.ndarray, lags: np.ndarray) -> np.ndarray:
    """For each lag s: sum over i of x[(i - s) mod n] * y[i] (x shifted right by s, then
    dotted with y), all lags at once by FFT cross-correlation."""
    n = len(x)
    corr = np.fft.irfft(np.conj(np.fft.rfft(x.astype(float))) * np.fft.rfft(y.astype(float)), n)
    return np.rint(corr[lags])


def null_figures(alarm: np.ndarray, starts: np.ndarray, lags: np.ndarray, rule: EventRule) -> dict[str, np.ndarray]:
    """``figures`` of the alarm circularly shifted by each of ``lags``, without building
    the shifted copies: counts are FFT cross-correlations, and the per-event quantities
    (on in the lookback window, lead) are read off the alarm taken as a circle, so an
    alarm episode may run across the sample's ends in the null copies."""
    n = len(alarm)
    idx = np.arange(n)
    out: dict[str, np.ndarray] = {"on_share": np.full(len(lags), alarm.mean())}
    longest = int(np.argmax(rule.horizons))
    twice = np.concatenate([alarm, alarm])
    pos = np.arange(2 * n)
    last_on = np.maximum.accumulate(np.where(twice, pos, -1))
    before = np.concatenate([[-1], last_on[:-1]])
    first = twice & ((before < 0) | (pos - before >= rule.gap_days))
    episode_start = np.maximum.accumulate(np.where(first, pos, -1))
    circle = slice(n, 2 * n)
    firsts = first[circle]
    with np.errstate(invalid="ignore", divide="ignore"):
        for k, h in enumerate(rule.horizons):
            valid = idx <= n - h
            ahead = _ahead(n, starts, h)
            out[f"precision_{h}d"] = _circular_counts(alarm, valid & ahead, lags) / _circular_counts(alarm, valid, lags)
            out[f"base_{h}d"] = np.full(len(lags), ahead[valid].mean() if valid.any() else np.nan)
            if k == longest:
                hits = _circular_counts(firsts, valid & ahead, lags)
                out["episode_precision"] = hits / _circular_counts(firsts, valid, lags)
                out["false_alarms_per_year"] = _circular_counts(alarm, valid & ~ahead, lags) / (valid.sum() / 365.25)
        if len(starts):
            newest = last_on[circle]
            on_window = newest >= pos[circle] - rule.lookback
            lead_at = np.where(newest >= 0, pos[circle] - episode_start[np.maximum(newest, 0)], np.nan)
            where = (starts[None, :] - lags[:, None]) % n
            hit = on_window[where]
            lead = np.where(hit, lead_at[where], np.nan)
            out["recall"] = hit.mean(axis=1)
            out["lead_mean"] = np.nanmean(lead, axis=1)
            out["lead_median"] = np.nanmedian(lead, axis=1)
        else:
            for name in ("recall", "lead_mean", "lead_median"):
                out[name] = np.full(len(lags), np.nan)
    return out


HIGHER_IS_BETTER = ("precision", "episode_precision", "recall")
LOWER_IS_BETTER = ("false_alarms_per_year",)


def study(alarm: np.ndarray, starts: np.ndarray, rule: EventRule) -> dict[str, Any]:
    """The figures of one alarm and, for each, the p-value of its circular-shift null."""
    alarm = np.asarray(alarm, dtype=bool)
    n = len(alarm)
    shifts = shift_amounts(n, rule.shifts)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        observed = figures(alarm[None, :], np.asarray(starts, dtype=int), rule)
        nulls = null_figures(alarm, np.asarray(starts, dtype=int), shifts, rule)
    result: dict[str, Any] = {"shifts": len(shifts)}
    for name in observed:
        value, null = observed[name][0], nulls[name]
        p = None
        better = None
        if name.startswith(HIGHER_IS_BETTER):
            better = null >= value
        elif name in LOWER_IS_BETTER:
            better = null <= value
        if better is not None and len(null) and np.isfinite(value):
            p = float((1 + better.sum()) / (1 + len(null)))
        result[name] = {"value": None if not np.isfinite(value) else float(value), "p": p}
    return result
