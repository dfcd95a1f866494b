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
    ``offsets[i]`` (from running sums). The market's bar returns are computed once per task,
    not once per path (the same division); each task's multiplier is laid out twice in a row,
    so a shifted path reads it straight, without a wrap. Four paths of a task walk the bars
    together, each with its own sums in the same order as alone: four independent additions
    per bar instead of one chain waiting on the last. Groups of paths run in parallel."""
    tasks, paths = offsets.shape
    mean = np.empty((tasks, paths))
    std = np.empty((tasks, paths))
    market = np.empty(len(close))
    doubled = np.empty(2 * len(multiplier))
    for i in prange(tasks):
        first, n = starts[i], starts[i + 1] - starts[i]
        for t in range(n - 1):
            market[first + t] = close[first + t + 1] / close[first + t] - 1.0
        for t in range(n):
            doubled[2 * first + t] = doubled[2 * first + n + t] = multiplier[first + t]
    groups = (paths + 3) // 4
    for item in prange(tasks * groups):
        i, k = item // groups, item % groups * 4
        first, n = starts[i], starts[i + 1] - starts[i]
        # where each path's multiplier starts in the doubled copy (a spare lane repeats the last path)
        at = [2 * first + (n - offsets[i, min(k + lane, paths - 1)] % n) % n for lane in range(4)]
        a0, a1, a2, a3 = at[0], at[1], at[2], at[3]
        held0 = total0 = squares0 = held1 = total1 = squares1 = 0.0
        held2 = total2 = squares2 = held3 = total3 = squares3 = 0.0
        for t in range(n - 1):
            e, m = exposure[first + t], market[first + t]
            held0, total0, squares0 = _step(e, doubled[a0 + t], m, cost, held0, total0, squares0)
            held1, total1, squares1 = _step(e, doubled[a1 + t], m, cost, held1, total1, squares1)
            held2, total2, squares2 = _step(e, doubled[a2 + t], m, cost, held2, total2, squares2)
            held3, total3, squares3 = _step(e, doubled[a3 + t], m, cost, held3, total3, squares3)
        count = n - 1
        for lane, total, squares in (
            (0, total0, squares0),
            (1, total1, squares1),
            (2, total2, squares2),
            (3, total3, squares3),
        ):
            if k + lane < paths:
                average = total / count
                mean[i, k + lane] = average
                std[i, k + lane] = (
                    math.sqrt(max((squares - count * average * average) / (count - 1), 0.0)) if count > 1 else np.nan
                )
    return mean, std


@njit(cache=True, inline="always")
def _step(
    exposure: float, multiplier: float, market: float, cost: float, previous: float, total: float, squares: float
) -> tuple[float, float, float]:
    """One bar of one path: the exposure held (the strategy's times the multiplier, within
    [0, 1]), and the running sum and sum of squares with this bar's model return added."""
    held = min(max(exposure * multiplier, 0.0), 1.0)
    r = held * market - cost * abs(held - previous)
    return held, total + r, squares + r * r
