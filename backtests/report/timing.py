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
from numba import prange

from carryguard.backtests.engine.jit import njit
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


@dataclass(frozen=True)
class TimingTask:
    """One path to rank: the strategy's exposure, the policy's multiplier and the closes
    (the same length), with the annualisation and the seed of its shifts."""

    strategy_exposure: np.ndarray
    multiplier: np.ndarray
    close: np.ndarray
    per_year: float
    seed: int


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
    task = TimingTask(strategy_exposure, multiplier, close, per_year, seed)
    return shifted_timings([task], cost=cost, shifts=shifts, min_shift=min_shift)[0]


def shifted_timings(
    tasks: list[TimingTask], *, cost: float, shifts: int = DEFAULT_SHIFTS, min_shift: int | None = None
) -> list[TimingRank]:
    """``shifted_timing`` of every task, all paths of all tasks in one parallel kernel pass."""
    if shifts < 1:
        raise ValueError(f"shifts must be >= 1, got {shifts}")
    starts, offsets = [0], []
    for task in tasks:
        n = len(task.close)
        if not len(task.strategy_exposure) == len(task.multiplier) == n or n < 4:
            raise ValueError("strategy exposure, multiplier and close need the same length (>= 4 bars)")
        low = min_shift if min_shift is not None else max(1, min(365, n // 4))
        low = max(1, min(low, n // 2))
        drawn = np.random.default_rng(task.seed).integers(low, n - low + 1, size=shifts)
        offsets.append(np.concatenate([[0], drawn]))
        starts.append(starts[-1] + n)
    if not tasks:
        return []

    def joined(field: str) -> np.ndarray:
        return np.ascontiguousarray(np.concatenate([getattr(t, field) for t in tasks]), dtype=np.float64)

    mean, std = _shifted_moments(
        joined("strategy_exposure"),
        joined("multiplier"),
        joined("close"),
        np.asarray(starts, dtype=np.int64),
        np.stack(offsets).astype(np.int64),
        cost,
    )
    out = []
    for row, task in enumerate(tasks):
        sharpes = np.asarray(sharpe_ratio(mean[row], std[row], task.per_year))
        real, shifted = sharpes[0], sharpes[1:]
        if math.isnan(real):
            out.append(TimingRank(math.nan, math.nan, shifts))
            continue
        shifted = np.where(np.isnan(shifted), -np.inf, shifted)
        rank = (np.sum(shifted < real) + 0.5 * np.sum(shifted == real)) / shifts
        out.append(TimingRank(float(rank), float(real), shifts))
    return out


@njit(cache=True, parallel=True)
def _shifted_moments(
    exposure: np.ndarray,
    multiplier: np.ndarray,
    close: np.ndarray,
    starts: np.ndarray,
    offsets: np.ndarray,
    cost: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Mean and standard deviation (ddof 1) of the per-bar ``model_returns`` of task i (bars
    ``starts[i]:starts[i + 1]`` of the joined arrays) with its multiplier shifted by each of
    ``offsets[i]`` (from running sums; all (task, offset) paths run in parallel, each on its own).
    The market's bar returns are computed once per task, not once per path (the same division)."""
    tasks, paths = offsets.shape
    mean = np.empty((tasks, paths))
    std = np.empty((tasks, paths))
    market = np.empty(len(close))
    for i in prange(tasks):
        first, n = starts[i], starts[i + 1] - starts[i]
        for t in range(n - 1):
            market[first + t] = close[first + t + 1] / close[first + t] - 1.0
    for item in prange(tasks * paths):
        i, k = item // paths, item % paths
        first, n = starts[i], starts[i + 1] - starts[i]
        j = (n - offsets[i, k] % n) % n  # position of bar 0's multiplier in the shifted path
        wrap = min(n - 1, n - j)  # the first bar whose multiplier comes from bar 0 again
        # two straight runs of the shifted path (up to the wrap, then from its bar 0): no wrap test per bar
        total, squares, held = _walk(exposure, multiplier, market, first, first + j, 0, wrap, cost, 0.0, 0.0, 0.0)
        total, squares, _ = _walk(
            exposure, multiplier, market, first, first + j - n, wrap, n - 1, cost, total, squares, held
        )
        count = n - 1
        average = total / count
        mean[i, k] = average
        std[i, k] = math.sqrt(max((squares - count * average * average) / (count - 1), 0.0)) if count > 1 else np.nan
    return mean, std


@njit(cache=True)
def _walk(
    exposure: np.ndarray,
    multiplier: np.ndarray,
    market: np.ndarray,
    first: int,
    source: int,
    start: int,
    stop: int,
    cost: float,
    total: float,
    squares: float,
    previous: float,
) -> tuple[float, float, float]:
    """Bars ``start:stop`` of one path (bar t held at ``multiplier[source + t]``): the running
    sum and sum of squares of its model returns, and the exposure held last."""
    for t in range(start, stop):
        held = min(max(exposure[first + t] * multiplier[source + t], 0.0), 1.0)
        r = held * market[first + t] - cost * abs(held - previous)
        previous = held
        total += r
        squares += r * r
    return total, squares, previous
