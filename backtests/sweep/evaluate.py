"""Parameter sweeps on the fast engine, on local processes or a Dask cluster.

``run_sweep`` evaluates every combo of a ``SweepStudy`` on the same bars and returns one
row per combo (parameters, then the metrics of ``carryguard.backtests.engine.metrics``). As in ``carryguard
backtest``, each combo's indicators (and the overlay's) are warmed up on the stored bars
before the study's start (``warmup_bars`` of that combo), and its book runs on the study
window only, so a combo's sweep row equals its backtest. The bars (and the risk index,
with the overlay) are shipped to each worker once; combos travel in chunks and only the
running sums of ``engine_fast.book_stats`` come back. Combos whose books are the same
(every running sum bit for bit: e.g. an overlay threshold the risk index never reaches)
are one book: ranked once, listed together (``BOOK``). SMA-cross sweeps
without the overlay compute their signals inside the numba kernel from prefix sums; any
other strategy (or the overlay) builds its targets with pandas per combo, then runs the
batch kernel.
"""

from __future__ import annotations

import multiprocessing
import os
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from typing import Any, cast

import numpy as np
import pandas as pd

import carryguard.strategies  # noqa: F401  (registers every strategy)
from carryguard.backtests.engine.execution import ExecutionConfig
from carryguard.backtests.engine.fast import batch_stats, ohlc_arrays, prefix_sums, sma_cross_stats
from carryguard.backtests.engine.fast_metrics import metrics_from_stats
from carryguard.backtests.run import runner
from carryguard.backtests.run.runner import History, warm_exposure, warm_overlay
from carryguard.backtests.sweep.study import LOWER_IS_BETTER, SweepStudy, split_combo
from carryguard.backtests.sweep.study import combos as study_combos
from carryguard.signals.errors import CarryguardError
from carryguard.signals.risk import RiskConfig, risk_at
from carryguard.signals.store import series_id
from carryguard.strategies.loader import make_strategy
from carryguard.strategies.overlay import CarryOverlay, OverlayConfig
from carryguard.strategies.trend import SmaCross

EXECUTORS = ("local", "dask")
BOOK = "book"  # frame column: row of the first combo with the same book (its own row if the first)
Window = tuple[int, int]
Progress = Callable[[int], None]


@dataclass(frozen=True)
class SweepData:
    """Everything a worker needs, shipped once: the bars (warm-up bars, then the study
    window from position ``first``) also as kernel arrays, the risk index at every bar's
    decision time (None without the overlay), and the book's costs."""

    bars: pd.DataFrame
    risk: pd.DataFrame | None
    strategy: str
    execution: ExecutionConfig
    open: np.ndarray
    close: np.ndarray
    times: np.ndarray
    hi: np.ndarray
    lo: np.ndarray
    first: int = 0

    @classmethod
    def build(
        cls,
        bars: pd.DataFrame,
        *,
        strategy: str,
        execution: ExecutionConfig,
        risk: pd.DataFrame | None = None,
        first: int = 0,
    ) -> SweepData:
        open_, close = ohlc_arrays(bars)
        hi, lo = prefix_sums(close)
        return cls(
            bars=bars,
            risk=risk,
            strategy=strategy,
            execution=execution,
            open=open_,
            close=close,
            times=np.ascontiguousarray(bars.index.as_unit("ns").asi8),
            hi=hi,
            lo=lo,
            first=first,
        )


@dataclass(frozen=True)
class SweepResult:
    """One row per combo in ``frame`` (parameter columns, metrics, then ``BOOK``), in combo order.

    seconds: wall time of the evaluation (after data load, worker start and JIT warm-up);
        with walk-forward in the same pass (``evaluate_groups``), until the sweep's last chunk returned.
    setup_seconds: worker start and warm-up before that.
    warmup_bars: stored bars before the window that indicators were warmed up on.
    """

    study: SweepStudy
    frame: pd.DataFrame
    param_names: tuple[str, ...]
    bars: int
    seconds: float
    setup_seconds: float
    executor: str
    workers: int
    warmup_bars: int = 0

    @property
    def bar_steps_per_second(self) -> float:
        return len(self.frame) * self.bars / self.seconds if self.seconds > 0 else float("nan")

    @property
    def books(self) -> int:
        """How many distinct books the combos make."""
        return int((self.frame[BOOK].to_numpy() == np.arange(len(self.frame))).sum())

    def ranked(self, metric: str | None = None) -> pd.DataFrame:
        """One row per distinct book (its first combo's), best first by ``metric`` (default:
        the study's), NaN last, ties in combo order; combos of the same book count once."""
        metric = metric or self.study.metric
        ascending = metric in LOWER_IS_BETTER
        distinct = self.frame[self.frame[BOOK].to_numpy() == np.arange(len(self.frame))]
        return distinct.sort_values(metric, ascending=ascending, na_position="last", kind="stable")

    def params(self, row: int) -> dict[str, Any]:
        """The parameters of the combo at ``row`` (position in combo order) as plain values."""
        return {name: _plain(self.frame[name].iloc[row]) for name in self.param_names}

    def same_as(self, row: int) -> list[dict[str, Any]]:
        """The parameters of every other combo whose book is the one of the combo at ``row``."""
        book = self.frame[BOOK].to_numpy()
        return [self.params(int(i)) for i in np.flatnonzero(book == book[row]) if i != row]

    def best(self) -> dict[str, Any]:
        """The top book of ``ranked()``: ``{"params", "same_as", "metrics"}`` as plain Python values."""
        row = int(self.ranked().index[0])
        return {
            "params": self.params(row),
            "same_as": self.same_as(row),
            "metrics": {
                name: _plain(self.frame[name].iloc[row])
                for name in self.frame.columns
                if name not in self.param_names and name != BOOK
            },
        }


def same_books(stats: np.ndarray) -> np.ndarray:
    """For each combo (a row of ``stats``: combos x N_STATS), the row of the first combo
    whose statistics are bit for bit the same (its own row if none before): the same
    book, since final equity, the sums of equity, returns, squared returns, notional and
    fees, trades and drawdown all agree; two different books agree on all by chance only."""
    first: dict[bytes, int] = {}
    rows = np.ascontiguousarray(stats, dtype="float64")
    return np.array([first.setdefault(row.tobytes(), i) for i, row in enumerate(rows)], dtype="int64")


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


def load_history(store: Any, study: SweepStudy, *, warmup: int = 0) -> History:
    """The study's OHLCV bars from the store, cut to ``start``/``end`` (UTC, inclusive),
    after up to ``warmup`` stored bars before ``start`` (``combos_warmup``); like a
    backtest's, with at least 3 bars in the window (2 returns) for the metrics."""
    return runner.load_history(
        store,
        series_id(study.source, study.symbol, study.timeframe),
        start=study.start,
        end=study.end,
        warmup=warmup,
        min_bars=3,
    )


def combos_warmup(study: SweepStudy, combos: Sequence[dict[str, Any]]) -> int:
    """The most warm-up bars any combo wants (its strategy's, or the overlay's)."""
    wanted = 0
    for combo in combos:
        params, overlay = split_combo(combo)
        wanted = max(wanted, make_strategy(study.strategy, **params).warmup_bars)
        if study.overlay:
            wanted = max(wanted, OverlayConfig.from_dict(overlay).warmup_bars)
    return wanted


def load_risk(store: Any, bars: pd.DataFrame, timeframe: str, config: RiskConfig | None = None) -> pd.DataFrame:
    """The risk index at the bars' decision times (their closes), as the overlay reads it
    (``config``: the study's ``risk_config()``; default settings when None)."""
    return risk_at(store, runner.decision_times(bars, timeframe), config)


def validate_combos(strategy: str, combos: Sequence[dict[str, Any]]) -> None:
    """Build each combo's strategy and overlay config once, so a bad combo fails before
    any work is shipped, as a ValueError naming the combo."""
    for combo in combos:
        params, overlay = split_combo(combo)
        try:
            make_strategy(strategy, **params)
            if overlay:
                OverlayConfig.from_dict(overlay)
        except (TypeError, ValueError) as error:
            raise ValueError(f"combo {combo}: {error}") from error


def combo_target(data: SweepData, combo: dict[str, Any]) -> np.ndarray:
    """The final target exposure of one combo on every bar (strategy, then overlay), as
    ``carryguard backtest`` computes it on the window (0 on the warm-up bars before it)."""
    params, overlay = split_combo(combo)
    history = History(data.bars, data.first)
    exposure = warm_exposure(make_strategy(data.strategy, **params), history)
    if data.risk is not None:
        exposure = warm_overlay(CarryOverlay(OverlayConfig.from_dict(overlay)), exposure, history, data.risk)[
            "final_exposure"
        ]
    target = np.zeros(len(data.bars))
    target[data.first :] = exposure.to_numpy(dtype="float64")
    return target


def uses_sma_kernel(data: SweepData) -> bool:
    """SMA cross without the overlay: signals come from prefix sums inside the numba kernel."""
    return data.strategy == "sma_cross" and data.risk is None


def _joined(results: list[np.ndarray | None]) -> np.ndarray:
    """The chunks' stats side by side (every chunk has run when this is called)."""
    done = [r for r in results if r is not None]
    assert len(done) == len(results), "a sweep chunk has no result"
    return np.concatenate(done, axis=1)


def evaluate_chunk(data: SweepData, chunk: Sequence[dict[str, Any]], windows: Sequence[Window]) -> np.ndarray:
    """Stats of each combo on each window: array windows x combos x N_STATS."""
    starts = np.array([w[0] for w in windows], dtype=np.int64)
    ends = np.array([w[1] for w in windows], dtype=np.int64)
    args = (starts, ends, data.execution.costs)
    if uses_sma_kernel(data):
        strategies_ = [cast(SmaCross, make_strategy("sma_cross", **split_combo(c)[0])) for c in chunk]
        fast = np.array([s.fast for s in strategies_], dtype=np.int64)
        slow = np.array([s.slow for s in strategies_], dtype=np.int64)
        return sma_cross_stats(data.open, data.close, data.times, data.hi, data.lo, fast, slow, *args)
    targets = np.ascontiguousarray(np.stack([combo_target(data, c) for c in chunk]))
    return batch_stats(data.open, data.close, data.times, targets, *args)


def warm_up(data: SweepData) -> None:
    """Load (or compile) the kernels so timings exclude JIT; cheap with numba's cache."""
    window = (np.array([0]), np.array([min(len(data.close), 64)]), (1.0, 0.0, 0.0, 0.0))
    batch_stats(data.open, data.close, data.times, np.zeros((1, len(data.close))), *window)
    sma_cross_stats(data.open, data.close, data.times, data.hi, data.lo, np.array([1]), np.array([2]), *window)


def chunked(items: Sequence[Any], *, parts: int, min_size: int = 8) -> list[list[Any]]:
    """Split into about ``parts`` contiguous chunks of at least ``min_size`` (order kept)."""
    size = max(min_size, -(-len(items) // max(parts, 1)))
    return [list(items[i : i + size]) for i in range(0, len(items), size)]


# Local processes: the data reaches each worker once (inherited or pickled at start).
_WORKER_DATA: SweepData | None = None


def _init_worker(data: SweepData) -> None:
    global _WORKER_DATA
    _WORKER_DATA = data
    warm_up(data)


def _worker_chunk(chunk: Sequence[dict[str, Any]], windows: Sequence[Window]) -> np.ndarray:
    assert _WORKER_DATA is not None, "worker not initialised"
    return evaluate_chunk(_WORKER_DATA, chunk, windows)


def evaluate(
    data: SweepData,
    combos: Sequence[dict[str, Any]],
    windows: Sequence[Window],
    *,
    executor: str = "local",
    workers: int | None = None,
    scheduler: str | None = None,
    progress: Progress | None = None,
) -> tuple[np.ndarray, float, float, int]:
    """Stats of every combo on every window (windows x combos x N_STATS), with
    (evaluation seconds, setup seconds, workers used). ``local`` uses ``workers``
    processes (default: all cores; 1 = in this process); ``dask`` connects to
    ``scheduler`` (a ``tcp://HOST:PORT`` address, or a local cluster when None)."""
    done = evaluate_groups(
        data, combos, [windows], executor=executor, workers=workers, scheduler=scheduler, progress=[progress]
    )
    return done.stats[0], done.seconds[0], done.setup_seconds, done.workers


@dataclass(frozen=True)
class Evaluation:
    """``evaluate_groups``' answer: per group of windows, the stats (windows x combos x
    N_STATS) and the seconds from the start of the evaluation until its last chunk returned."""

    stats: list[np.ndarray]
    seconds: list[float]
    setup_seconds: float
    workers: int


def evaluate_groups(
    data: SweepData,
    combos: Sequence[dict[str, Any]],
    groups: Sequence[Sequence[Window]],
    *,
    executor: str = "local",
    workers: int | None = None,
    scheduler: str | None = None,
    progress: Sequence[Progress | None] | None = None,
) -> Evaluation:
    """``evaluate`` for several groups of windows on one set of workers (one pool start,
    one warm-up): every chunk of the first group is queued before those of the next, so a
    group's seconds are its own plus those of the groups before it. ``progress``: one
    callback (or None) per group, advanced by the combos of each chunk done."""
    if executor not in EXECUTORS:
        raise ValueError(f"executor must be one of {', '.join(EXECUTORS)}, got {executor!r}")
    if workers is not None and workers < 1:
        raise ValueError(f"workers must be >= 1, got {workers}")
    calls = list(progress) if progress is not None else [None] * len(groups)
    if executor == "dask":
        return _evaluate_dask(data, combos, groups, scheduler=scheduler, workers=workers, progress=calls)
    workers = workers or os.cpu_count() or 1
    setup = time.perf_counter()
    warm_up(data)
    chunks = chunked(combos, parts=workers * 8)
    tasks = [(g, i) for g in range(len(groups)) for i in range(len(chunks))]
    results = _Results(groups, chunks, calls)
    if workers == 1:
        began = time.perf_counter()
        for g, i in tasks:
            results.add(g, i, evaluate_chunk(data, chunks[i], groups[g]), began)
        return results.evaluation(began - setup, 1)
    context = multiprocessing.get_context("fork")
    with ProcessPoolExecutor(
        max_workers=workers, mp_context=context, initializer=_init_worker, initargs=(data,)
    ) as pool:
        list(pool.map(_warm_worker, range(workers)))
        began = time.perf_counter()
        futures = {pool.submit(_worker_chunk, chunks[i], groups[g]): (g, i) for g, i in tasks}
        for future in as_completed(futures):
            results.add(*futures[future], future.result(), began)
    return results.evaluation(began - setup, workers)


class _Results:
    """Chunk results as they come back, per group; a group's seconds when its last arrives."""

    def __init__(
        self, groups: Sequence[Sequence[Window]], chunks: Sequence[Sequence[Any]], progress: Sequence[Progress | None]
    ) -> None:
        self.chunks, self.progress = chunks, progress
        self.parts: list[list[np.ndarray | None]] = [[None] * len(chunks) for _ in groups]
        self.seconds = [0.0] * len(groups)

    def add(self, group: int, chunk: int, stats: np.ndarray, began: float) -> None:
        self.parts[group][chunk] = stats
        if all(part is not None for part in self.parts[group]):
            self.seconds[group] = time.perf_counter() - began
        if self.progress[group]:
            self.progress[group](len(self.chunks[chunk]))  # type: ignore[misc]

    def evaluation(self, setup: float, workers: int) -> Evaluation:
        return Evaluation([_joined(parts) for parts in self.parts], self.seconds, setup, workers)


def _warm_worker(_: int) -> None:
    """A no-op task per worker: returns once the worker has started and warmed up."""
    time.sleep(0.05)


def _evaluate_dask(
    data: SweepData,
    combos: Sequence[dict[str, Any]],
    groups: Sequence[Sequence[Window]],
    *,
    scheduler: str | None,
    workers: int | None,
    progress: Sequence[Progress | None],
) -> Evaluation:
    from distributed import Client, LocalCluster
    from distributed import as_completed as dask_completed

    setup = time.perf_counter()
    cluster = None
    if scheduler is None:
        cluster = LocalCluster(
            n_workers=workers or os.cpu_count() or 1,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            dashboard_address=None,
        )
        scheduler = cluster.scheduler_address
    try:
        with Client(scheduler, timeout="20s") as client:
            n_workers = max(len(client.scheduler_info()["workers"]), 1)
            shipped = client.scatter(data, broadcast=True, hash=False)
            client.run(_dask_warm_up)
            warm_up(data)
            chunks = chunked(combos, parts=n_workers * 8)
            results = _Results(groups, chunks, progress)
            began = time.perf_counter()
            tasks = [(g, i) for g in range(len(groups)) for i in range(len(chunks))]
            futures = [client.submit(evaluate_chunk, shipped, chunks[i], groups[g], pure=False) for g, i in tasks]
            index = {future.key: task for future, task in zip(futures, tasks, strict=True)}
            for future in dask_completed(futures):
                results.add(*index[future.key], future.result(), began)
    except OSError as error:
        raise CarryguardError(
            f"cannot reach the Dask scheduler at {scheduler} ({error})",
            fix="start one with `dask scheduler` and `dask worker ADDRESS`, or use --executor local",
        ) from error
    finally:
        if cluster is not None:
            cluster.close()
    return results.evaluation(began - setup, n_workers)


def _dask_warm_up() -> None:
    """Compile/load the kernels on a Dask worker before timing (tiny synthetic bars)."""
    index = pd.date_range("2020-01-01", periods=4, freq="D", tz="UTC")
    bars = pd.DataFrame({"open": 1.0, "high": 1.0, "low": 1.0, "close": 1.0, "volume": 1.0}, index=index)
    warm_up(SweepData.build(bars, strategy="sma_cross", execution=ExecutionConfig()))


def run_sweep(
    study: SweepStudy,
    *,
    bars: pd.DataFrame,
    risk: pd.DataFrame | None = None,
    first: int = 0,
    executor: str = "local",
    workers: int | None = None,
    scheduler: str | None = None,
    progress: Progress | None = None,
    combos: Sequence[dict[str, Any]] | None = None,
) -> SweepResult:
    """Evaluate every combo of ``study`` on ``bars[first:]`` and rank them.

    bars: warm-up bars, then the window from position ``first`` (``load_history``).
    risk: the risk index at every bar's close (``load_risk``), required when the study
        uses the overlay. combos: override the study's combos (default: all of them).
    """
    if study.overlay and risk is None:
        raise ValueError("the study uses the overlay: pass risk=load_risk(store, bars, timeframe, study.risk_config())")
    combos = list(combos if combos is not None else study_combos(study))
    validate_combos(study.strategy, combos)
    data = SweepData.build(
        bars, strategy=study.strategy, execution=study.execution, risk=risk if study.overlay else None, first=first
    )
    done = evaluate_groups(
        data,
        combos,
        [[(first, len(bars))]],
        executor=executor,
        workers=workers,
        scheduler=scheduler,
        progress=[progress],
    )
    return sweep_result(study, data, combos, done, executor=executor)


def sweep_result(
    study: SweepStudy, data: SweepData, combos: Sequence[dict[str, Any]], done: Evaluation, *, executor: str
) -> SweepResult:
    """The ranked sweep from an evaluation whose first group is the one window
    ``data.bars[data.first:]``; its seconds include computing the metrics."""
    began = time.perf_counter()
    stats = done.stats[0][0]
    metrics = metrics_from_stats(stats, index=data.bars.index[data.first :], timeframe=study.timeframe)
    params = pd.DataFrame(list(combos))
    frame = pd.concat([params, metrics], axis=1).assign(**{BOOK: same_books(stats)})
    return SweepResult(
        study=study,
        frame=frame,
        param_names=tuple(params.columns),
        bars=len(data.bars) - data.first,
        seconds=done.seconds[0] + time.perf_counter() - began,
        setup_seconds=done.setup_seconds,
        executor=executor,
        workers=done.workers,
        warmup_bars=data.first,
    )
