"""How sure can we be? Paired block-bootstrap intervals for the overlay's effect, and PSR.

- Stationary bootstrap (Politis & Romano 1994): blocks of geometric length (mean
  ``mean_block`` bars) starting at uniform random bars, wrapping around, so the resampled
  series keeps the returns' short-range dependence (volatility clusters). Hand-written
  (numpy draws, one numba pass) rather than adding a dependency (``arch``) for it; every
  series of one length is resampled in one pass (``fast_metrics.gathered_moments``).
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

from carryguard.backtests.engine.fast_metrics import gathered_moments
from carryguard.backtests.engine.jit import njit
from carryguard.backtests.engine.measures import (
    bars_per_year,
    equity_returns,
    growth_curve,
    max_drawdown,
    sharpe,
    sharpe_ratio,
)
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
    """``(n_boot, n)`` bar indices (int32) of stationary-bootstrap resamples of a length-``n`` series."""
    starts = rng.integers(0, n, size=(n_boot, n))
    new_block = rng.random((n_boot, n)) < 1.0 / mean_block
    return _blocks(starts, new_block)


@njit(cache=True)
def _blocks(starts: np.ndarray, new_block: np.ndarray) -> np.ndarray:
    """Row b, bar t: the start of the block bar t is in plus its offset in the block, wrapped
    at n (a block starts at bar 0 and wherever ``new_block``); one pass, no temporaries."""
    n_boot, n = starts.shape
    out = np.empty((n_boot, n), dtype=np.int32)
    for b in range(n_boot):
        position = 0
        for t in range(n):
            position = starts[b, t] if t == 0 or new_block[b, t] else (position + 1 if position + 1 < n else 0)
            out[b, t] = position
    return out


def max_drawdown_pct(returns: np.ndarray) -> np.ndarray:
    """Deepest drawdown (negative %, 0 if none) of the equity compounding each row from 1.0."""
    return np.asarray(max_drawdown(growth_curve(returns))) * 100.0


def resampled_stats(returns: np.ndarray, index: np.ndarray, per_year: float) -> tuple[np.ndarray, np.ndarray]:
    """Annualized Sharpe and max. drawdown (negative %) of ``returns[index[b]]`` for each
    resample b: ``measures.sharpe`` / ``max_drawdown_pct`` of each resampled row, from the
    running moments of ``fast_metrics.gathered_moments`` (no resampled matrix is built).
    ``returns`` is one series (giving ``(n_boot,)`` arrays) or bars x books (``(n_boot, books)``)."""
    columns = np.ascontiguousarray(returns.reshape(len(returns), -1), dtype=np.float64)
    mean, std, drawdown = gathered_moments(columns, np.ascontiguousarray(index, dtype=np.int32))
    sharpes, falls = np.asarray(sharpe_ratio(mean, std, per_year)), drawdown * 100.0
    return (sharpes[:, 0], falls[:, 0]) if returns.ndim == 1 else (sharpes, falls)


def paired_effect(
    plain: np.ndarray, overlay: np.ndarray, *, per_year: float, config: BootstrapConfig, seed: int
) -> tuple[Interval, Interval]:
    """(Sharpe effect, max-drawdown effect) intervals of ``overlay`` vs ``plain`` per-bar returns."""
    return paired_effects([(plain, overlay, per_year)], config=config, seed=seed)[0]


def paired_effects(
    pairs: list[tuple[np.ndarray, np.ndarray, float]], *, config: BootstrapConfig, seed: int
) -> list[tuple[Interval, Interval]]:
    """``paired_effect`` of each (plain, overlay, per_year). Pairs of the same length share the
    resampled indices (the generator restarts at ``seed`` for every pair anyway, so drawing
    them once changes nothing) and are resampled together, each distinct series once (a
    ``plain`` array passed for several overlays is the same object)."""
    for plain, overlay, _ in pairs:
        if plain.shape != overlay.shape or plain.ndim != 1 or len(plain) < 2:
            raise ValueError("plain and overlay must be 1-d return series of the same length (>= 2)")
    results: dict[int, tuple[Interval, Interval]] = {}
    for length in dict.fromkeys(len(plain) for plain, _, _ in pairs):
        members = [i for i, (plain, _, _) in enumerate(pairs) if len(plain) == length]
        index = resample_indices(length, config, seed)
        column: dict[int, int] = {}  # id(series) -> its column
        series: list[np.ndarray] = []
        for i in members:
            for array in pairs[i][:2]:
                if id(array) not in column:
                    column[id(array)] = len(series)
                    series.append(array)
        moments = gathered_moments(np.ascontiguousarray(np.stack(series, axis=1)), index)
        for i in members:
            plain, overlay, per_year = pairs[i]
            a, b = column[id(plain)], column[id(overlay)]
            sharpes = np.asarray(sharpe_ratio(moments[0][:, [a, b]], moments[1][:, [a, b]], per_year))
            falls = moments[2][:, [a, b]] * 100.0
            both = np.stack([plain, overlay])
            originals = (cast(np.ndarray, sharpe(both, per_year)), max_drawdown_pct(both))
            effects = (sharpes[:, 1] - sharpes[:, 0], falls[:, 1] - falls[:, 0])
            sharpe_interval, drawdown_interval = (
                percentile_interval(values, before, after, config.confidence)
                for values, (before, after) in zip(effects, originals, strict=True)
            )
            results[i] = (sharpe_interval, drawdown_interval)
    return [results[i] for i in range(len(pairs))]


def resample_indices(length: int, config: BootstrapConfig, seed: int) -> np.ndarray:
    """The ``config.n_boot`` resamples of a length-``length`` series for ``seed``, drawn in
    chunks of ``_CHUNK`` (the stream every report since the first has used)."""
    rng = np.random.default_rng(seed)
    return np.concatenate(
        [
            stationary_indices(length, n_boot=min(_CHUNK, config.n_boot - done), mean_block=config.mean_block, rng=rng)
            for done in range(0, config.n_boot, _CHUNK)
        ]
    )


def percentile_interval(effects: np.ndarray, before: float, after: float, confidence: float) -> Interval:
    """``after - before`` and the two-sided ``confidence`` percentile interval of the finite
    resampled ``effects`` (NaN bounds when none is finite)."""
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
    """The paired bootstrap for every overlay book whose no-overlay twin is in the run (on the
    bars both have; a book's returns are computed once when its bars are its twin's)."""
    seed = run_seed(run)
    keys, pairs = [], []
    whole: dict[BookKey, np.ndarray] = {}

    def returns_of(key: BookKey) -> np.ndarray:
        if key not in whole:
            whole[key] = book_returns(run, key)
        return whole[key]

    for key in run.books:
        if not key.sized or key.pair not in run.equity:
            continue
        plain_equity, overlay_equity = run.equity[key.pair]["equity"], run.equity[key]["equity"]
        if plain_equity.index.equals(overlay_equity.index):
            plain, overlay, bars = returns_of(key.pair), returns_of(key), len(plain_equity)
        else:
            both = pd.concat({"plain": plain_equity, "overlay": overlay_equity}, axis=1, join="inner")
            plain = equity_returns(both["plain"].to_numpy(dtype="float64"))
            overlay = equity_returns(both["overlay"].to_numpy(dtype="float64"))
            bars = len(both)
        keys.append((key, bars))
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
