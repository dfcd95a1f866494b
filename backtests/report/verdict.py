"""The verdict: does the carry signal add anything beyond a vol target and a trend filter?

For every book of a run (strategy x symbol x timeframe) and every carry-based overlay
(``strategies.policies.is_carry_based``), the overlay's book is judged against the BEST
CONTROL of the same strategy and market: whichever of ``none``, ``vol_target`` and
``trend`` had the highest Sharpe ratio in the period judged (chosen with hindsight, so a
carry overlay must beat the simple alternative a user would have picked):

- paired stationary block-bootstrap intervals (``report.bootstrap``) for Δ Sharpe and
  Δ max. drawdown (overlay − best control; drawdown in pp, positive = shallower);
- the randomly-shifted-timing test (``report.timing``): the rank of the overlay's real
  timing among circular shifts of its own multiplier path.

Periods: the whole run, 2018-2021 and 2022-now (split at ``SPLIT``). Books are grouped
into the trend/DCA strategies and the bottom-fishing baselines. ``verdict_lines`` says in
plain words, per group and period, whether any carry-based overlay beats the best control
in most books with an interval above zero; whatever the answer is, it is stated.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace
from typing import cast

import numpy as np
import pandas as pd

from carryguard.backtests.engine.fast_metrics import gathered_moments
from carryguard.backtests.engine.measures import bars_per_year, equity_returns, sharpe, sharpe_ratio
from carryguard.backtests.report.bootstrap import (
    BootstrapConfig,
    Interval,
    max_drawdown_pct,
    percentile_interval,
    run_seed,
    stationary_indices,
)
from carryguard.backtests.report.timing import DEFAULT_SHIFTS, TimingTask, shifted_timings
from carryguard.backtests.run.folder import BookKey, RunFolder
from carryguard.strategies.policies import CONTROLS, is_carry_based

SPLIT = pd.Timestamp("2022-01-01", tz="UTC")
GROUPS = (("trend & DCA strategies", False), ("bottom-fishing baselines", True))
VERDICT_BOOTSTRAP = BootstrapConfig(n_boot=1000)


@dataclass(frozen=True)
class Judgement:
    """One carry-based overlay's book against its best control over one period."""

    strategy: str
    symbol: str
    timeframe: str
    baseline: bool
    policy: str
    period: str
    control: str  # the best control in this period
    bars: int
    policy_sharpe: float
    control_sharpe: float
    none_sharpe: float
    sharpe: Interval  # Δ Sharpe, overlay − best control
    max_drawdown: Interval  # Δ max. drawdown in pp (positive: shallower)
    timing_rank: float  # share of shifted copies the real timing beats
    confidence: float = 0.95  # of the intervals

    def to_dict(self) -> dict[str, object]:
        out = asdict(self)
        return {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in out.items()}


def periods(run: RunFolder) -> list[tuple[str, pd.Timestamp, pd.Timestamp]]:
    """(label, first bar, last bar): the whole run, then before and from ``SPLIT`` when it
    splits the run."""
    first, last = run.period()
    out = [(f"{first.date()}..{last.date()}", first, last)]
    if first < SPLIT <= last:
        before = SPLIT - pd.Timedelta(days=1)
        out += [(f"{first.date()}..{before.date()}", first, before), (f"{SPLIT.date()}..{last.date()}", SPLIT, last)]
    return out


def judge(
    run: RunFolder, *, bootstrap: BootstrapConfig = VERDICT_BOOTSTRAP, shifts: int = DEFAULT_SHIFTS
) -> list[Judgement]:
    """Every carry-based book of ``run`` against its best control, per period."""
    seed = run_seed(run)
    cost = _cost(run)
    markets = []
    for strategy, symbol, timeframe in dict.fromkeys((k.strategy, k.symbol, k.timeframe) for k in run.books):
        base = BookKey(strategy, symbol, timeframe, "none")
        controls = [base.with_overlay(c) for c in CONTROLS if base.with_overlay(c) in run.equity]
        policies = [k for k in run.books if (k.strategy, k.symbol, k.timeframe) == (strategy, symbol, timeframe)]
        policies = [k for k in policies if is_carry_based(k.overlay)]
        if controls and policies:
            markets.append((base, controls, policies))
    spans = periods(run)
    returns, resampled = {}, {}
    for label, start, end in spans:  # every book of a period resampled together
        returns[label] = {k: _returns(run, k, start, end) for _, cs, ps in markets for k in [*cs, *ps]}
        resampled[label] = _resample(returns[label], bootstrap, seed)
    out, tasks = [], []
    for base, controls, policies in markets:
        per_year = bars_per_year(base.timeframe)
        for label, start, end in spans:
            sharpes = {k: float(sharpe(returns[label][k], per_year)) for k in [*controls, *policies]}
            control = max(controls, key=lambda k: _finite(sharpes[k]))
            close = run.prices[(base.symbol, base.timeframe)]["close"].loc[start:end].to_numpy(dtype="float64")
            for key in policies:
                on_sharpe, on_drawdown = _effect(
                    returns[label], resampled[label], control, key, per_year, bootstrap.confidence
                )
                frame = run.exposure[key].loc[start:end]
                multiplier = frame["multiplier"].to_numpy(dtype="float64") * frame["vol_scale"].to_numpy(
                    dtype="float64"
                )
                tasks.append(
                    TimingTask(frame["strategy_exposure"].to_numpy(dtype="float64"), multiplier, close, per_year, seed)
                )
                out.append(
                    Judgement(
                        base.strategy,
                        base.symbol,
                        base.timeframe,
                        run.is_baseline(key),
                        key.overlay,
                        label,
                        control.overlay,
                        len(returns[label][key]) + 1,
                        sharpes[key],
                        sharpes[control],
                        sharpes.get(base, math.nan),
                        on_sharpe,
                        on_drawdown,
                        math.nan,  # timing rank: below, all paths at once
                        bootstrap.confidence,
                    )
                )
    ranks = shifted_timings(tasks, cost=cost, shifts=shifts)
    return [replace(j, timing_rank=r.rank) for j, r in zip(out, ranks, strict=True)]


def _resample(
    returns: dict[BookKey, np.ndarray], bootstrap: BootstrapConfig, seed: int
) -> dict[BookKey, tuple[np.ndarray, np.ndarray]]:
    """Each book's resampled (per-bar) mean, std and max. drawdown: the paired stationary block
    bootstrap of ``report.bootstrap``, books of the same length on the same resampled bar
    indices (one set per length, the generator restarted at ``seed``), all in one kernel pass."""
    out: dict[BookKey, tuple[np.ndarray, np.ndarray]] = {}
    for n in dict.fromkeys(len(r) for r in returns.values()):
        keys = [k for k, r in returns.items() if len(r) == n]
        index = stationary_indices(
            n, n_boot=bootstrap.n_boot, mean_block=bootstrap.mean_block, rng=np.random.default_rng(seed)
        )
        mean, std, drawdown = gathered_moments(
            np.ascontiguousarray(np.stack([returns[k] for k in keys], axis=1)), index
        )
        for column, key in enumerate(keys):
            out[key] = (np.stack([mean[:, column], std[:, column]]), drawdown[:, column] * 100.0)
    return out


def _effect(
    returns: dict[BookKey, np.ndarray],
    resampled: dict[BookKey, tuple[np.ndarray, np.ndarray]],
    control: BookKey,
    key: BookKey,
    per_year: float,
    confidence: float,
) -> tuple[Interval, Interval]:
    """(Δ Sharpe, Δ max. drawdown pp) of ``key`` − ``control``, with their intervals."""
    both = np.stack([returns[control], returns[key]])
    (control_moments, control_falls), (moments, falls) = resampled[control], resampled[key]
    resampled_sharpe = np.asarray(sharpe_ratio(moments[0], moments[1], per_year))
    control_sharpe = np.asarray(sharpe_ratio(control_moments[0], control_moments[1], per_year))
    originals = (cast(np.ndarray, sharpe(both, per_year)), max_drawdown_pct(both))
    on_sharpe, on_drawdown = (
        percentile_interval(effects, before, after, confidence)
        for effects, (before, after) in zip(
            (resampled_sharpe - control_sharpe, falls - control_falls), originals, strict=True
        )
    )
    return on_sharpe, on_drawdown


def verdict_lines(judgements: list[Judgement]) -> list[str]:
    """The report's first lines: the question, then per group and period the answer with
    the numbers behind it (one line per carry-based overlay)."""
    if not judgements:
        return [
            "Verdict: this run has no carry-based overlay beside a control (none, vol_target, trend): "
            "nothing to judge. Run the default study (`carryguard backtest`) for the verdict."
        ]
    lines = [
        "Verdict: does the carry signal add anything beyond a vol target and a trend filter? Each carry-based "
        "overlay against the best control of the same book (none, vol_target or trend, whichever had the higher "
        f"Sharpe in that period); {judgements[0].confidence:.0%} paired block-bootstrap intervals; timing ranked among "
        f"{DEFAULT_SHIFTS} random circular shifts of the overlay's own path (0.5 = chance)."
    ]
    for group, baseline in GROUPS:
        for period in dict.fromkeys(j.period for j in judgements):
            rows = [j for j in judgements if j.baseline == baseline and j.period == period]
            if rows:
                lines += _group_lines(group, period, rows)
    return lines


def _group_lines(group: str, period: str, rows: list[Judgement]) -> list[str]:
    by_policy: dict[str, list[Judgement]] = {}
    for row in rows:
        by_policy.setdefault(row.policy, []).append(row)
    summaries = {policy: _summary(items) for policy, items in by_policy.items()}
    books = len(next(iter(by_policy.values())))
    winners = [p for p, s in summaries.items() if s["better"] > s["worse"] and s["better"] * 2 >= books]
    losers = [p for p, s in summaries.items() if s["worse"] > s["better"]]
    if winners:
        answer = f"YES for {', '.join(winners)}: above the best control beyond the interval in at least half the books"
    elif losers and len(losers) == len(summaries):
        answer = "NO: every carry-based overlay is worse than the best control in more books than it is better"
    else:
        answer = "NO: no carry-based overlay beats the best control beyond chance in most books"
    out = [f"{group}, {period} ({books} books): {answer}."]
    for policy, s in summaries.items():
        out.append(
            f"  {policy}: Δ Sharpe vs best control median {s['d_sharpe']:+.2f} (interval above 0 in {s['better']}, "
            f"below in {s['worse']} of {books}); Δ MaxDD median {s['d_dd']:+.1f} pp (shallower in {s['shallower']}, "
            f"deeper in {s['deeper']}); timing rank median {s['rank']:.2f}"
        )
    return out


def _summary(items: list[Judgement]) -> dict[str, float]:
    def median(values: list[float]) -> float:
        finite = [v for v in values if math.isfinite(v)]
        return float(np.median(finite)) if finite else math.nan

    return {
        "d_sharpe": median([j.sharpe.estimate for j in items]),
        "better": sum(j.sharpe.low > 0 for j in items),
        "worse": sum(j.sharpe.high < 0 for j in items),
        "d_dd": median([j.max_drawdown.estimate for j in items]),
        "shallower": sum(j.max_drawdown.low > 0 for j in items),
        "deeper": sum(j.max_drawdown.high < 0 for j in items),
        "rank": median([j.timing_rank for j in items]),
    }


def verdict_data(judgements: list[Judgement]) -> dict[str, object]:
    """JSON-ready: the lines and every judgement."""
    return {"lines": verdict_lines(judgements), "judgements": [j.to_dict() for j in judgements]}


def _returns(run: RunFolder, key: BookKey, start: pd.Timestamp, end: pd.Timestamp) -> np.ndarray:
    return equity_returns(run.equity[key]["equity"].loc[start:end].to_numpy(dtype="float64"))


def _finite(value: float) -> float:
    return value if math.isfinite(value) else -math.inf


def _cost(run: RunFolder) -> float:
    """Commission + slippage per unit traded, from the manifest's execution (defaults if absent)."""
    study = run.manifest.get("study")
    execution = study.get("execution", {}) if isinstance(study, dict) else {}
    commission = float(execution.get("commission", 0.001))
    slippage = float(execution.get("slippage_bps", 5.0)) / 10_000.0
    return commission + slippage
