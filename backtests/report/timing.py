"""The randomly-shifted-timing test: is an overlay's timing better than chance?

The policy's own multiplier path is circularly shifted in time (by at least
``min_shift`` bars, so a shifted copy keeps the path's own statistics — how often and how
long it cuts — but not its timing) and applied to the same strategy exposure and market.
The real path's Sharpe ratio is ranked among the shifted copies' Sharpe ratios: a rank
near 1 means the timing beats almost every shifted copy, near 0.5 it is what a path
with the same statistics at random times gives.

Returns are those of a per-bar model on the closes (exposure decided at bar t's close
earns bar t+1's close-to-close return, minus ``cost`` x the exposure traded), the same
model for the real and the shifted paths; it is not the engine's book (no rebalance band,
no cash effects), so ranks are comparable with each other, not the Sharpe to the metrics.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numba import njit, prange

from carryguard.backtests.engine.measures import sharpe_ratio

DEFAULT_SHIFTS = 500


@dataclass(frozen=True)
class TimingRank:
    """``rank``: share of shifted copies with a lower Sharpe (ties count half), in [0, 1];
    ``sharpe``: the real path's Sharpe under the per-bar model; ``shifts``: copies drawn."""

    rank: float
    sharpe: float
    shifts: int


def model_returns(exposure: np.ndarray, close: np.ndarray, cost: float) -> np.ndarray:
    """Per-bar returns of holding ``exposure`` rows (n_paths x n bars, decided at each close)
    over the next bar, minus ``cost`` per unit of exposure traded; n - 1 returns per row."""
    market = close[1:] / close[:-1] - 1.0
    held = exposure[..., :-1]
    previous = np.concatenate([np.zeros((*held.shape[:-1], 1)), held[..., :-1]], axis=-1)
    return held * market - cost * np.abs(held - previous)


def shifted_timing(
    strategy_exposure: np.ndarray,
    multiplier: np.ndarray,
    close: np.ndarray,
    *,
    per_year: float,
    cost: float,
    seed: int,
    shifts: int = DEFAULT_SHIFTS,
    min_shift: int | None = None,
) -> TimingRank:
    """Rank of the real timing of ``multiplier`` among ``shifts`` circular shifts of it
    (each by ``min_shift``..n - ``min_shift`` bars, default a quarter of the bars at most a
    year of daily bars), all applied to ``strategy_exposure`` on ``close``."""
    n = len(close)
    if not len(strategy_exposure) == len(multiplier) == n or n < 4:
        raise ValueError("strategy exposure, multiplier and close need the same length (>= 4 bars)")
    if shifts < 1:
        raise ValueError(f"shifts must be >= 1, got {shifts}")
    low = min_shift if min_shift is not None else max(1, min(365, n // 4))
    low = max(1, min(low, n // 2))
    rng = np.random.default_rng(seed)
    offsets = rng.integers(low, n - low + 1, size=shifts)
    mean, std = _shifted_moments(
        np.ascontiguousarray(strategy_exposure, dtype=np.float64),
        np.ascontiguousarray(multiplier, dtype=np.float64),
        np.ascontiguousarray(close, dtype=np.float64),
        np.concatenate([[0], offsets]).astype(np.int64),
        cost,
    )
    sharpes = np.asarray(sharpe_ratio(mean, std, per_year))
    real, shifted = sharpes[0], sharpes[1:]
    if math.isnan(real):
        return TimingRank(math.nan, math.nan, shifts)
    shifted = np.where(np.isnan(shifted), -np.inf, shifted)
    rank = (np.sum(shifted < real) + 0.5 * np.sum(shifted == real)) / shifts
    return TimingRank(float(rank), float(real), shifts)


@njit(cache=True, parallel=True)
def _shifted_moments(
    exposure: np.ndarray, multiplier: np.ndarray, close: np.ndarray, offsets: np.ndarray, cost: float
) -> tuple[np.ndarray, np.ndarray]:
    """Mean and standard deviation (ddof 1) of the per-bar ``model_returns`` for the multiplier
    shifted by each offset (from running sums; the offsets run in parallel, each on its own)."""
    n = close.shape[0]
    market = close[1:] / close[:-1] - 1.0
    doubled = np.concatenate((multiplier, multiplier))  # shifted path k: doubled[start_k + t]
    mean = np.empty(offsets.shape[0])
    std = np.empty(offsets.shape[0])
    for k in prange(offsets.shape[0]):
        total = 0.0
        squares = 0.0
        previous = 0.0
        start = (n - offsets[k] % n) % n  # position of bar 0's multiplier in the shifted path
        for t in range(n - 1):
            held = min(max(exposure[t] * doubled[start + t], 0.0), 1.0)
            r = held * market[t] - cost * abs(held - previous)
            previous = held
            total += r
            squares += r * r
        count = n - 1
        average = total / count
        mean[k] = average
        std[k] = math.sqrt(max((squares - count * average * average) / (count - 1), 0.0)) if count > 1 else np.nan
    return mean, std
