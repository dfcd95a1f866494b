"""Run a study: bars from the store, targets (strategy x overlay), one book per run.

Each (strategy, symbol, timeframe, overlay) is its own book with its own starting cash;
an overlay is a sizing policy of ``strategies.policies`` (``none``, ``carry``,
``vol_target*carry`` ...), whose multiplier path depends only on the bars and the risk
readings, so it is computed once per symbol and timeframe and applied to every strategy.
Indicators are warmed up on the stored bars before the study's start: a strategy's
exposure (and the overlay's sizing) is computed on the window plus its ``warmup_bars``
earlier bars (fewer if the store has fewer), then the engine runs on the window only.
Each book's warm-up depends on its own parameters only, never on the other strategies of
the study. The risk index is read point in time from the store at each bar's close, in
one ``risk_at`` call per run (each reading depends only on its own time, so one read
over every time the run needs gives the same rows as one read per series).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from functools import cached_property, reduce
from typing import Any

import numpy as np
import pandas as pd

from carryguard.backtests.engine import DEFAULT_ENGINE
from carryguard.backtests.engine.book import Book
from carryguard.backtests.engine.execution import ExecutionConfig
from carryguard.backtests.engine.metrics import compute_metrics
from carryguard.backtests.run.study import Study
from carryguard.signals.availability import timeframe_delta
from carryguard.signals.errors import DataError
from carryguard.signals.risk import risk_at
from carryguard.signals.store import SeriesMeta, Store, series_id
from carryguard.strategies.base import Strategy, book_label
from carryguard.strategies.carry_policies import yen_moves
from carryguard.strategies.loader import checked_exposure, strategy_label
from carryguard.strategies.overlay import COLUMNS as EXPOSURE_COLUMNS
from carryguard.strategies.overlay import CarryOverlay
from carryguard.strategies.policies import PolicyInputs, PolicyPath

Engine = Callable[[pd.DataFrame, pd.Series, ExecutionConfig], Book]


def _backtrader(bars: pd.DataFrame, target: pd.Series, config: ExecutionConfig) -> Book:
    from carryguard.backtests.engine.backtrader import run_backtrader  # only runs that use it pay its import

    return run_backtrader(bars, target, config)


def _fast(bars: pd.DataFrame, target: pd.Series, config: ExecutionConfig) -> Book:
    from carryguard.backtests.engine.fast import run_fast

    return run_fast(bars, target, config)


# Engine name (``engine.ENGINE_NAMES``) -> function(bars, target, config) -> Book.
SLOW_STRATEGY_SECONDS = 5.0  # a strategy's own exposure computation, per series

ENGINES: dict[str, Engine] = {"backtrader": _backtrader, "fast": _fast}
# What --verify holds the two engines to (as the parity tests): as many fills, final
# equity within 0.01%, equity within 0.1% at every bar.
PARITY_FINAL = 1e-4
PARITY_BAR = 1e-3


@dataclass(frozen=True)
class RunResult:
    """One book of a study and how it was sized."""

    strategy: str
    symbol: str
    timeframe: str
    overlay: str  # the sizing policy's name ("none", "carry", "vol_target*carry" ...)
    baseline: bool
    book: Book
    sizing: dict[str, np.ndarray]  # strategies.overlay.COLUMNS -> one value per bar (``sized_columns``)
    metrics: dict[str, object]

    @cached_property
    def exposure(self) -> pd.DataFrame:
        """``sizing`` as a frame on the bars' index (built on first use)."""
        return pd.DataFrame(self.sizing, index=self.book.index)

    @property
    def label(self) -> str:
        """``sma_cross+carry BTC/USDT 1d`` (progress display)."""
        return f"{book_label(self.strategy, self.overlay)} {self.symbol} {self.timeframe}"


@dataclass(frozen=True)
class StudyRun:
    """Everything a study run produced (``results.write_results`` writes it out)."""

    study: Study
    engine: str
    results: tuple[RunResult, ...]
    bars: dict[tuple[str, str], pd.DataFrame]  # (symbol, timeframe) -> bars of the window
    data: dict[str, SeriesMeta]  # series id -> metadata of every series read
    risk: pd.DataFrame  # daily risk readings (score, regime) covering the run
    # series id -> {strategy or overlay name: warm-up bars actually read}
    warmup: dict[str, dict[str, int]] = field(default_factory=dict)


@dataclass(frozen=True)
class History:
    """A stored series' study window and the bars before it read for warm-ups."""

    bars: pd.DataFrame  # warm-up bars, then the window
    first: int  # position of the window's first bar in ``bars``

    @property
    def window(self) -> pd.DataFrame:
        return self.bars.iloc[self.first :]

    def since(self, warmup: int) -> pd.DataFrame:
        """The window with at most ``warmup`` bars of history before it."""
        return self.bars.iloc[max(0, self.first - warmup) :]

    def warmup_used(self, warmup: int) -> int:
        """How many of ``warmup`` wanted bars the store holds before the window."""
        return min(warmup, self.first)


@dataclass(frozen=True)
class Parity:
    """One book of a run re-run on the other engine, and how close the two came."""

    label: str
    engine: str  # the engine it was re-run on
    fills: tuple[int, int]  # fills of the run, of the re-run
    final_gap: float  # |relative difference| of the final equity
    worst_bar_gap: float  # largest |relative difference| of the equity at any close

    @property
    def ok(self) -> bool:
        return self.fills[0] == self.fills[1] and self.final_gap <= PARITY_FINAL and self.worst_bar_gap <= PARITY_BAR


def verify_books(run: StudyRun, books: int) -> list[Parity]:
    """Re-run the first ``books`` books of ``run`` (study order) on the other engine with
    the same bars and exposures, and compare fills and equity."""
    engine_name = "backtrader" if run.engine != "backtrader" else "fast"
    other = ENGINES[engine_name]
    parities = []
    for result in run.results[:books]:
        bars = run.bars[(result.symbol, result.timeframe)]
        again = other(bars, result.exposure["final_exposure"], run.study.execution)
        mine, theirs = result.book.equity.to_numpy(), again.equity.to_numpy()
        gaps = np.abs(theirs / mine - 1.0)
        parities.append(
            Parity(
                result.label,
                engine_name,
                (len(result.book.fills), len(again.fills)),
                float(gaps[-1]),
                float(gaps.max()),
            )
        )
    return parities


def run_study(
    study: Study, store: Store, *, engine: str = DEFAULT_ENGINE, on_result: Callable[[RunResult], None] | None = None
) -> StudyRun:
    """Run every (strategy, symbol, timeframe, overlay) book of ``study`` on ``store``'s data.

    Raises ``DataError`` for a missing series or an empty window, ``ValueError`` for an
    unknown engine. ``on_result`` is called after each book (progress display).
    """
    if engine not in ENGINES:
        raise ValueError(f"unknown engine {engine!r}; known: {', '.join(sorted(ENGINES))}")
    run_engine = ENGINES[engine]
    policies = study.policies()
    risk_config = study.risk
    strategies = [(spec, spec.build()) for spec in study.strategies]
    policy_warmup = {
        timeframe: {spec: policy.warmup_bars(timeframe_delta(timeframe)) for spec, policy in policies.items()}
        for timeframe in study.timeframes
    }
    warmup_wanted = max(
        [w for by_spec in policy_warmup.values() for w in by_spec.values()]
        + [strategy.warmup_bars for _, strategy in strategies]
    )
    histories = {
        (symbol, timeframe): load_history(
            store, series_id(study.source, symbol, timeframe), start=study.start, end=study.end, warmup=warmup_wanted
        )
        for timeframe in study.timeframes
        for symbol in study.symbols
    }
    all_bars = {key: history.window for key, history in histories.items()}
    closes = {key: decision_times(history.bars, key[1]) for key, history in histories.items()}
    days = daily_times(all_bars)
    # One read of the risk inputs for every decision time of the run and the daily calendar.
    times = reduce(pd.DatetimeIndex.union, closes.values(), days)
    readings = risk_at(store, times, risk_config)
    if any(policy.needs_risk for policy in policies.values()):
        readings = readings.join(yen_moves(store, times, risk_config))
    results: list[RunResult] = []
    data: dict[str, SeriesMeta] = {}
    warmup: dict[str, dict[str, int]] = {}
    for (symbol, timeframe), history in histories.items():
        sid = series_id(study.source, symbol, timeframe)
        data[sid] = store.meta(sid)
        warmup[sid] = {spec.name: history.warmup_used(strategy.warmup_bars) for spec, strategy in strategies}
        risk = readings.reindex(closes[(symbol, timeframe)])
        paths = {}
        for policy_spec, policy in policies.items():
            paths[policy_spec] = policy_path(policy, history, risk, policy_warmup[timeframe][policy_spec])
            if policy_spec != "none":
                warmup[sid][policy_spec] = history.warmup_used(policy_warmup[timeframe][policy_spec])
        window_risk = risk.iloc[history.first :]
        score = window_risk["score"].to_numpy(dtype="float64")
        regime = window_risk["regime"].to_numpy(dtype=object)  # one array shared by the books that show it
        bars = history.window
        for spec, strategy in strategies:
            strategy_exposure = warm_exposure(strategy, history)
            values = strategy_exposure.to_numpy(dtype="float64")
            for overlay in study.overlays:
                sizing = sized_columns(values, paths[overlay], score, regime)
                target = pd.Series(sizing["final_exposure"], index=strategy_exposure.index)
                book = run_engine(bars, target, study.execution)
                result = RunResult(
                    spec.name,
                    symbol,
                    timeframe,
                    overlay,
                    spec.baseline,
                    book,
                    sizing,
                    compute_metrics(book, bars, timeframe=timeframe),
                )
                results.append(result)
                if on_result is not None:
                    on_result(result)
    for sid in risk_config.inputs().values():
        if store.exists(sid):
            data[sid] = store.meta(sid)
    return StudyRun(
        study,
        engine,
        tuple(results),
        all_bars,
        dict(sorted(data.items())),
        readings.reindex(days)[["score", "regime"]],
        warmup,
    )


def load_history(
    store: Store, sid: str, *, start: pd.Timestamp | None, end: pd.Timestamp | None, warmup: int, min_bars: int = 2
) -> History:
    """The ``[start, end]`` window of a stored OHLCV series (None: first/latest bar) and up
    to ``warmup`` bars before it; a missing series or a window of under ``min_bars`` bars
    is a ``DataError`` naming both."""
    stored_bars = store.read(sid, end=end)
    first = 0 if start is None else int(stored_bars.index.searchsorted(start))
    if len(stored_bars) - first < min_bars:
        stored = store.meta(sid)
        window = f"{_day(start) or 'first'}..{_day(end) or 'latest'}"
        raise DataError(
            f"{sid} has {len(stored_bars) - first} bar(s) in {window} (stored {stored.first[:10]}..{stored.last[:10]})",
            fix="choose --start/--end inside the stored range",
        )
    begin = max(0, first - warmup)
    return History(stored_bars.iloc[begin:], first - begin)


def warm_exposure(strategy: Strategy, history: History) -> pd.Series:
    """The strategy's exposure on the window, computed on the window and its
    ``warmup_bars`` earlier bars (only earlier bars: no look-ahead). A strategy slower than
    ``SLOW_STRATEGY_SECONDS`` is named on stderr: every engine waits for it alike."""
    bars = history.since(strategy.warmup_bars)
    began = time.perf_counter()
    exposure = checked_exposure(strategy, bars)
    took = time.perf_counter() - began
    if took > SLOW_STRATEGY_SECONDS:
        print(
            f"note: strategy {strategy_label(type(strategy))} took {took:.1f} s for {len(bars)} bars; it runs once, "
            "vectorised, before any engine, so --engine fast cannot speed it up (vectorise its target_exposure)",
            file=sys.stderr,
        )
    return exposure.iloc[-len(history.window) :]


def warm_overlay(overlay: CarryOverlay, exposure: pd.Series, history: History, risk: pd.DataFrame) -> pd.DataFrame:
    """The overlay frame on the window, with the hysteresis and vol window run over the
    overlay's ``warmup_bars`` earlier bars. ``exposure`` is on the window; ``risk`` has one
    row per bar of ``history.bars``. Before the window the strategy is flat (those rows
    are dropped: each row's sizing reads only the score and closes up to it)."""
    frame = history.since(overlay.config.warmup_bars)
    sized = overlay.apply(exposure.reindex(frame.index, fill_value=0.0), risk.iloc[-len(frame) :], frame)
    return sized.iloc[-len(exposure) :]


def decision_times(bars: pd.DataFrame, timeframe: str) -> pd.DatetimeIndex:
    """When each bar's decision is taken: at its close (open time + timeframe)."""
    return pd.DatetimeIndex(bars.index) + timeframe_delta(timeframe)


def policy_path(policy: Any, history: History, risk: pd.DataFrame, warmup: int) -> PolicyPath:
    """A policy's path on the window, run over its ``warmup`` earlier bars (backtest
    convention: missing risk data leaves the strategy unsized). ``risk`` has one row per
    bar of ``history.bars``."""
    frame = history.since(warmup)
    path = policy.path(PolicyInputs(frame, risk.iloc[-len(frame) :]))
    n = len(history.window)
    # the parts by name, not ``astuple`` (which deep-copies every array)
    multiplier, reason, *optional = (getattr(path, part.name) for part in fields(path))
    return PolicyPath(multiplier[-n:], reason[-n:], *(None if part is None else part[-n:] for part in optional))


def sized_columns(
    strategy_exposure: np.ndarray, path: PolicyPath, score: np.ndarray, regime: np.ndarray
) -> dict[str, np.ndarray]:
    """The exposure columns (``strategies.overlay.COLUMNS``, in that order) of a strategy
    sized by a policy path: final = clip(strategy x multiplier, 0, 1); the regime is the
    policy's own (carry's sticky regime) or else the risk index's ``regime``, shown and not
    applied. ``score`` and ``regime`` are the risk readings at the window's bars."""
    multiplier, scale = path.multiplier, np.ones(len(strategy_exposure))
    if path.vol_scale is not None and path.risk_part is not None:  # carry with its own vol target
        multiplier, scale = path.risk_part, path.vol_scale
    columns = {
        "strategy_exposure": strategy_exposure,
        "risk_score": score,
        "regime": path.regime if path.regime is not None else regime,
        "multiplier": multiplier,
        "vol_scale": scale,
        "final_exposure": np.clip(strategy_exposure * multiplier * scale, 0.0, 1.0),
    }
    return {name: columns[name] for name in EXPOSURE_COLUMNS}


def daily_times(bars: dict[tuple[str, str], pd.DataFrame]) -> pd.DatetimeIndex:
    """Every 00:00 UTC from the first bar's close to the last's (the calendar of
    ``StudyRun.risk``)."""
    first = min(frame.index[0] for frame in bars.values()).normalize() + pd.Timedelta(days=1)
    last = max(frame.index[-1] for frame in bars.values()).normalize() + pd.Timedelta(days=1)
    return pd.date_range(first, last, freq="1D", tz="UTC", name="time")


def _day(stamp: pd.Timestamp | None) -> str | None:
    return None if stamp is None else str(stamp.date())
