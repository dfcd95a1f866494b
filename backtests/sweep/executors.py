"""Where a sweep's chunks run: in this process, on local worker processes, or on a Dask cluster.

``evaluate_groups`` evaluates every combo on several groups of bar windows with one set
of workers (one start, one warm-up): the data (``chunk.SweepData``) reaches each worker
once (inherited by the forked local workers, scattered to Dask ones), combos travel in
chunks, and only the kernels' running sums come back.
"""

from __future__ import annotations

import multiprocessing
import os
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from carryguard.backtests.engine.execution import ExecutionConfig
from carryguard.backtests.sweep.chunk import SweepData, Window, evaluate_chunk, warm_up
from carryguard.signals.errors import CarryguardError

EXECUTORS = ("local", "dask")
Progress = Callable[[int], None]


@dataclass(frozen=True)
class Evaluation:
    """``evaluate_groups``' answer: per group of windows, the stats (windows x combos x
    N_STATS) and the seconds from the start of the evaluation until its last chunk returned."""

    stats: list[np.ndarray]
    seconds: list[float]
    setup_seconds: float
    workers: int


GroupDone = Callable[[int, Evaluation], None]  # (group, its own evaluation) when its last chunk is in


def evaluate(
    data: SweepData,
    combos: Sequence[dict[str, Any]],
    windows: Sequence[Window],
    *,
    returns_only: bool = False,
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
        data,
        combos,
        [windows],
        returns_only=[returns_only],
        executor=executor,
        workers=workers,
        scheduler=scheduler,
        progress=[progress],
    )
    return done.stats[0], done.seconds[0], done.setup_seconds, done.workers


def evaluate_groups(
    data: SweepData,
    combos: Sequence[dict[str, Any]],
    groups: Sequence[Sequence[Window]],
    *,
    returns_only: Sequence[bool] | None = None,
    executor: str = "local",
    workers: int | None = None,
    scheduler: str | None = None,
    progress: Sequence[Progress | None] | None = None,
    meanwhile: Callable[[], None] | None = None,
    on_group: GroupDone | None = None,
) -> Evaluation:
    """``evaluate`` for several groups of windows on one set of workers (one pool start,
    one warm-up): every chunk of the first group is queued before those of the next, so a
    group's seconds are its own plus those of the groups before it. ``returns_only``: per
    group, whether only ``stat_kernels.RETURN_STATS`` are read (default: none). ``progress``: one
    callback (or None) per group, advanced by the combos of each chunk done. ``meanwhile``:
    work of the caller's run here once every chunk is queued (the workers compute meanwhile;
    local workers are forked before it starts, so they inherit no lock it holds). ``on_group``:
    called here with each group's index and its own ``Evaluation`` once its last chunk is in
    (the caller can use one group while the workers compute the next)."""
    if executor not in EXECUTORS:
        raise ValueError(f"executor must be one of {', '.join(EXECUTORS)}, got {executor!r}")
    if workers is not None and workers < 1:
        raise ValueError(f"workers must be >= 1, got {workers}")
    calls = list(progress) if progress is not None else [None] * len(groups)
    flags = list(returns_only) if returns_only is not None else [False] * len(groups)
    meanwhile = meanwhile or _nothing
    if executor == "dask":
        return _evaluate_dask(
            data,
            combos,
            groups,
            flags,
            scheduler=scheduler,
            workers=workers,
            progress=calls,
            meanwhile=meanwhile,
            on_group=on_group,
        )
    workers = workers or os.cpu_count() or 1
    setup = time.perf_counter()
    warm_up(data)
    chunks = chunked(combos, parts=workers * 8)
    tasks = [(g, i) for g in range(len(groups)) for i in range(len(chunks))]
    results = _Results(groups, chunks, calls, on_group)
    if workers == 1:
        results.start(setup, 1)
        for g, i in tasks:
            results.add(g, i, evaluate_chunk(data, chunks[i], groups[g], flags[g]))
        meanwhile()
        return results.evaluation()
    context = multiprocessing.get_context("fork")
    with ProcessPoolExecutor(
        max_workers=workers, mp_context=context, initializer=_init_worker, initargs=(data,)
    ) as pool:
        list(pool.map(_started, range(workers)))
        results.start(setup, workers)
        futures = {pool.submit(_worker_chunk, chunks[i], groups[g], flags[g]): (g, i) for g, i in tasks}
        returned: dict[Future[np.ndarray], float] = {}  # stamped on arrival, even while ``meanwhile`` runs
        for future in futures:
            future.add_done_callback(lambda done: returned.setdefault(done, time.perf_counter()))
        meanwhile()
        for future in as_completed(futures):
            results.add(*futures[future], future.result(), returned.get(future))
    return results.evaluation()


def _nothing() -> None:
    pass


def chunked(items: Sequence[Any], *, parts: int, min_size: int = 8) -> list[list[Any]]:
    """Split into about ``parts`` contiguous chunks of at least ``min_size`` (order kept)."""
    size = max(min_size, -(-len(items) // max(parts, 1)))
    return [list(items[i : i + size]) for i in range(0, len(items), size)]


class _Results:
    """Chunk results as they come back, per group; a group's seconds when its last arrives."""

    def __init__(
        self,
        groups: Sequence[Sequence[Window]],
        chunks: Sequence[Sequence[Any]],
        progress: Sequence[Progress | None],
        on_group: GroupDone | None = None,
    ) -> None:
        self.chunks, self.progress, self.on_group = chunks, progress, on_group
        self.parts: list[list[np.ndarray | None]] = [[None] * len(chunks) for _ in groups]
        self.seconds = [0.0] * len(groups)
        self.began, self.setup, self.workers = 0.0, 0.0, 0

    def start(self, setup_began: float, workers: int) -> None:
        """The workers are ready (set up since ``setup_began``): the evaluation's clock starts."""
        self.began = time.perf_counter()
        self.setup, self.workers = self.began - setup_began, workers

    def add(self, group: int, chunk: int, stats: np.ndarray, returned: float | None = None) -> None:
        """Chunk ``chunk`` of ``group`` done, ``returned`` at that ``perf_counter`` time (default now)."""
        self.parts[group][chunk] = stats
        if self.progress[group]:
            self.progress[group](len(self.chunks[chunk]))  # type: ignore[misc]
        if all(part is not None for part in self.parts[group]):
            self.seconds[group] = (returned or time.perf_counter()) - self.began
            if self.on_group is not None:
                own = Evaluation([_joined(self.parts[group])], [self.seconds[group]], self.setup, self.workers)
                self.on_group(group, own)

    def evaluation(self) -> Evaluation:
        return Evaluation([_joined(parts) for parts in self.parts], self.seconds, self.setup, self.workers)


def _joined(results: list[np.ndarray | None]) -> np.ndarray:
    """The chunks' stats side by side (every chunk has run when this is called)."""
    done = [r for r in results if r is not None]
    assert len(done) == len(results), "a sweep chunk has no result"
    return np.concatenate(done, axis=1)


# Local processes: forked after ``warm_up``, so each inherits the data and the loaded kernels.
_WORKER_DATA: SweepData | None = None


def _init_worker(data: SweepData) -> None:
    global _WORKER_DATA
    _WORKER_DATA = data


def _started(_: int) -> None:
    """A no-op task: the pool has started (its setup is timed apart from the evaluation)."""


def _worker_chunk(chunk: Sequence[dict[str, Any]], windows: Sequence[Window], returns_only: bool) -> np.ndarray:
    assert _WORKER_DATA is not None, "worker not initialised"
    return evaluate_chunk(_WORKER_DATA, chunk, windows, returns_only)


def _evaluate_dask(
    data: SweepData,
    combos: Sequence[dict[str, Any]],
    groups: Sequence[Sequence[Window]],
    returns_only: Sequence[bool],
    *,
    scheduler: str | None,
    workers: int | None,
    progress: Sequence[Progress | None],
    meanwhile: Callable[[], None],
    on_group: GroupDone | None,
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
            results = _Results(groups, chunks, progress, on_group)
            results.start(setup, n_workers)
            tasks = [(g, i) for g in range(len(groups)) for i in range(len(chunks))]
            futures = [
                client.submit(evaluate_chunk, shipped, chunks[i], groups[g], returns_only[g], pure=False)
                for g, i in tasks
            ]
            index = {future.key: task for future, task in zip(futures, tasks, strict=True)}
            meanwhile()
            for future in dask_completed(futures):
                results.add(*index[future.key], future.result())
    except OSError as error:
        raise CarryguardError(
            f"cannot reach the Dask scheduler at {scheduler} ({error})",
            fix="start one with `dask scheduler` and `dask worker ADDRESS`, or use --executor local",
        ) from error
    finally:
        if cluster is not None:
            cluster.close()
    return results.evaluation()


def _dask_warm_up() -> None:
    """Compile/load the kernels on a Dask worker before timing (tiny synthetic bars)."""
    index = pd.date_range("2020-01-01", periods=4, freq="D", tz="UTC")
    bars = pd.DataFrame({"open": 1.0, "high": 1.0, "low": 1.0, "close": 1.0, "volume": 1.0}, index=index)
    warm_up(SweepData.build(bars, strategy="sma_cross", execution=ExecutionConfig()), every=True)
