"""How sure can we be? Paired block-bootstrap intervals for the overlay's effect, and PSR.

- Stationary bootstrap (Politis & Romano 1994): blocks of geometric length (mean
  ``mean_block`` bars) starting at uniform random bars, wrapping around, so the resampled
  series keeps the returns' short-range dependence (volatility clusters). Hand-written in
  a few vectorised numpy lines rather than adding a dependency (``arch``) for it.
- Paired: every resample applies the SAME bar indices to the overlay and the no-overlay
  per-bar returns, so the interval is for the difference, not for two noisy levels.
- Effect = with overlay − without, for the annualised Sharpe ratio and for the max.
  drawdown in percentage points (drawdowns are negative: a positive effect is shallower).
  Percentile interval; when it contains 0 the effect is not distinguishable from zero.
- Probabilistic Sharpe Ratio (Bailey & López de Prado 2012): the probability that the
  true per-bar Sharpe exceeds SR* (0), given the sample's length, skewness and kurtosis.
- Reproducible: a numpy ``Generator`` seeded from the run's manifest (or ``DEFAULT_SEED``),
  restarted for every pair so a pair's interval does not depend on the other pairs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import NormalDist
from typing import cast

import numpy as np
import pandas as pd
from numba import njit

from carryguard.backtests.engine.measures import bars_per_year, equity_returns, growth_curve, max_drawdown, sharpe
from carryguard.backtests.run.folder import BookKey, RunFolder

DEFAULT_SEED = 20240805  # the day of the 2024 yen-carry unwind
_CHUNK = 250  # resamples per vectorised batch (bounds memory on long 4h series)


@dataclass(frozen=True)
class BootstrapConfig:
    """n_boot: resamples (2000). mean_block: mean block length in bars (20).
    confidence: two-sided interval level (0.95)."""

    n_boot: int = 2000
    mean_block: float = 20.0
    confidence: float = 0.95

    def __post_init__(self) -> None:
        if self.n_boot < 100:
            raise ValueError(f"n_boot must be >= 100, got {self.n_boot}")
        if self.mean_block < 1:
            raise ValueError(f"mean_block must be >= 1 bar, got {self.mean_block}")
        if not 0.5 < self.confidence < 1:
            raise ValueError(f"confidence must be in (0.5, 1), got {self.confidence}")


@dataclass(frozen=True)
class Interval:
    """A point estimate on the original series and its bootstrap interval."""

    estimate: float
    low: float
    high: float

    @property
    def contains_zero(self) -> bool:
        return not self.low > 0 and not self.high < 0


@dataclass(frozen=True)
class OverlayEffect:
    """The overlay's effect on one strategy/symbol/timeframe."""

    book: BookKey  # the overlay book
    bars: int
    sharpe: Interval
    max_drawdown: Interval  # percentage points


@dataclass(frozen=True)
class SharpeConfidence:
    """One book's annualised Sharpe ratio and its Probabilistic Sharpe Ratio over ``bars`` closes."""

    book: BookKey
    bars: int
    sharpe: float  # annualised
    psr: float  # P(true Sharpe > 0)


def stationary_indices(n: int, *, n_boot: int, mean_block: float, rng: np.random.Generator) -> np.ndarray:
    """``(n_boot, n)`` bar indices of stationary-bootstrap resamples of a length-``n`` series."""
    starts = rng.integers(0, n, size=(n_boot, n))
    new_block = rng.random((n_boot, n)) < 1.0 / mean_block
    new_block[:, 0] = True
    position = np.arange(n)
    block_began = np.maximum.accumulate(np.where(new_block, position, 0), axis=1)
    return (np.take_along_axis(starts, block_began, axis=1) + position - block_began) % n


def max_drawdown_pct(returns: np.ndarray) -> np.ndarray:
    """Deepest drawdown (negative %, 0 if none) of the equity compounding each row from 1.0."""
    return np.asarray(max_drawdown(growth_curve(returns))) * 100.0


def resampled_stats(returns: np.ndarray, index: np.ndarray, per_year: float) -> tuple[np.ndarray, np.ndarray]:
    """Annualized Sharpe and max. drawdown (negative %) of ``returns[index[b]]`` for each
    resample b, as ``measures.sharpe`` / ``max_drawdown_pct`` without building the
    resampled matrix."""
    sharpe_out, drawdown_out = _resampled(np.ascontiguousarray(returns, dtype=np.float64), index)
    return sharpe_out * math.sqrt(per_year), drawdown_out * 100.0


@njit(cache=True)
def _resampled(returns: np.ndarray, index: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    n_boot, n = index.shape
    sharpe_out = np.empty(n_boot)
    drawdown_out = np.empty(n_boot)
    for b in range(n_boot):
        total = 0.0
        squares = 0.0
        equity = 1.0
        peak = 1.0
        worst = 1.0  # lowest equity / peak so far
        for t in range(n):
            r = returns[index[b, t]]
            total += r
            squares += r * r
            equity *= 1.0 + r
            if equity > peak:
                peak = equity
            elif equity < worst * peak:
                worst = equity / peak
        mean = total / n
        variance = (squares - n * mean * mean) / (n - 1) if n > 1 else 0.0
        sharpe_out[b] = mean / math.sqrt(variance) if variance > 0.0 else np.nan
        drawdown_out[b] = worst - 1.0
    return sharpe_out, drawdown_out


def paired_effect(
    plain: np.ndarray, overlay: np.ndarray, *, per_year: float, config: BootstrapConfig, seed: int
) -> tuple[Interval, Interval]:
    """(Sharpe effect, max-drawdown effect) intervals of ``overlay`` vs ``plain`` per-bar returns."""
    return paired_effects([(plain, overlay, per_year)], config=config, seed=seed)[0]


def paired_effects(
    pairs: list[tuple[np.ndarray, np.ndarray, float]], *, config: BootstrapConfig, seed: int
) -> list[tuple[Interval, Interval]]:
    """``paired_effect`` of each (plain, overlay, per_year); pairs of the same length share each
    chunk of resampled indices (drawn once: the generator restarts at ``seed`` for every pair anyway)."""
    for plain, overlay, _ in pairs:
        if plain.shape != overlay.shape or plain.ndim != 1 or len(plain) < 2:
            raise ValueError("plain and overlay must be 1-d return series of the same length (>= 2)")
    results: dict[int, tuple[Interval, Interval]] = {}
    for length in dict.fromkeys(len(plain) for plain, _, _ in pairs):
        members = [i for i, (plain, _, _) in enumerate(pairs) if len(plain) == length]
        rng = np.random.default_rng(seed)
        sharpe_effects: dict[int, list[np.ndarray]] = {i: [] for i in members}
        drawdown_effects: dict[int, list[np.ndarray]] = {i: [] for i in members}
        for done in range(0, config.n_boot, _CHUNK):
            index = stationary_indices(
                length, n_boot=min(_CHUNK, config.n_boot - done), mean_block=config.mean_block, rng=rng
            )
            for i in members:
                plain, overlay, per_year = pairs[i]
                a, b = plain[index], overlay[index]
                # rows of resampled returns: one Sharpe ratio per row, an array
                sharpe_effects[i].append(cast(np.ndarray, sharpe(b, per_year)) - cast(np.ndarray, sharpe(a, per_year)))
                drawdown_effects[i].append(max_drawdown_pct(b) - max_drawdown_pct(a))
        for i in members:
            plain, overlay, per_year = pairs[i]
            both = np.stack([plain, overlay])
            originals = (cast(np.ndarray, sharpe(both, per_year)), max_drawdown_pct(both))
            effects = (np.concatenate(sharpe_effects[i]), np.concatenate(drawdown_effects[i]))
            sharpe_interval, drawdown_interval = (
                _interval(values, before, after, config.confidence)
                for values, (before, after) in zip(effects, originals, strict=True)
            )
            results[i] = (sharpe_interval, drawdown_interval)
    return [results[i] for i in range(len(pairs))]


def _interval(effects: np.ndarray, before: float, after: float, confidence: float) -> Interval:
    tail = (1.0 - confidence) / 2.0
    finite = effects[np.isfinite(effects)]
    low, high = np.quantile(finite, [tail, 1.0 - tail]) if len(finite) else (math.nan, math.nan)
    return Interval(float(after - before), float(low), float(high))


def probabilistic_sharpe(returns: np.ndarray, *, benchmark: float = 0.0) -> float:
    """PSR = Φ((SR − SR*)·√(n−1) / √(1 − γ3·SR + (γ4 − 1)/4·SR²)), SR per bar (std ddof 1),
    γ3 skewness and γ4 (non-excess) kurtosis from the sample's central moments."""
    n = len(returns)
    std = float(np.std(returns, ddof=1)) if n > 2 else 0.0
    if std == 0.0:
        return math.nan
    sr = float(np.mean(returns)) / std
    centred = returns - np.mean(returns)
    m2 = float(np.mean(centred**2))
    skew = float(np.mean(centred**3)) / m2**1.5
    kurt = float(np.mean(centred**4)) / m2**2
    variance = 1.0 - skew * sr + (kurt - 1.0) / 4.0 * sr**2
    return NormalDist().cdf((sr - benchmark) * math.sqrt(n - 1) / math.sqrt(variance)) if variance > 0 else math.nan


def run_seed(run: RunFolder) -> int:
    """The manifest's integer ``seed``, else ``DEFAULT_SEED``."""
    seed = run.manifest.get("seed")
    return seed if isinstance(seed, int) and not isinstance(seed, bool) and seed >= 0 else DEFAULT_SEED


def book_returns(run: RunFolder, key: BookKey) -> np.ndarray:
    """Per-bar returns of one book's equity curve."""
    return equity_returns(run.equity[key]["equity"].to_numpy(dtype="float64"))


def overlay_effects(run: RunFolder, config: BootstrapConfig = BootstrapConfig()) -> list[OverlayEffect]:
    """The paired bootstrap for every overlay book whose no-overlay twin is in the run."""
    seed = run_seed(run)
    keys, pairs = [], []
    for key in run.books:
        if not key.sized or key.pair not in run.equity:
            continue
        both = pd.concat(
            {"plain": run.equity[key.pair]["equity"], "overlay": run.equity[key]["equity"]}, axis=1, join="inner"
        )
        plain = equity_returns(both["plain"].to_numpy(dtype="float64"))
        overlay = equity_returns(both["overlay"].to_numpy(dtype="float64"))
        keys.append((key, len(both)))
        pairs.append((plain, overlay, bars_per_year(key.timeframe)))
    return [
        OverlayEffect(key, bars, on_sharpe, on_drawdown)
        for (key, bars), (on_sharpe, on_drawdown) in zip(
            keys, paired_effects(pairs, config=config, seed=seed), strict=True
        )
    ]


def sharpe_confidence(run: RunFolder) -> list[SharpeConfidence]:
    """PSR (vs SR* = 0) of every book."""
    rows = []
    for key in run.books:
        returns = book_returns(run, key)
        rows.append(
            SharpeConfidence(
                key,
                len(returns) + 1,
                float(sharpe(returns, bars_per_year(key.timeframe))),
                probabilistic_sharpe(returns),
            )
        )
    return rows


def verdict(interval: Interval, *, better: str, worse: str) -> str:
    """The effect in plain words: ``better``/``worse`` only when the interval excludes 0."""
    if math.isnan(interval.low):
        return "not computable (flat equity in every resample)"
    if interval.contains_zero:
        return "not distinguishable from zero"
    return better if interval.low > 0 else worse
