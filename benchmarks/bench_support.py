"""Shared pieces of the benchmark scripts (run as ``python benchmarks/NAME.py``, so this
module is importable by its bare name): best/median timing, a store with the shared data,
and engine-only seconds inside a study run."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from carryguard.signals.importer import import_directory
from carryguard.signals.store import Store, default_data_dir

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
TIMED_ENGINE = "_timed"


def timed(fn: Callable[[], object], runs: int) -> tuple[float, float, object]:
    """Best and median seconds of ``runs`` calls, and the last call's result."""
    seconds, result = [], None
    for _ in range(runs):
        start = time.perf_counter()
        result = fn()
        seconds.append(time.perf_counter() - start)
    return min(seconds), statistics.median(seconds), result


def open_store(argv: list[str], scratch: Path, needs: tuple[str, ...]) -> Store:
    """The store named by ``argv[1]`` (else the default data dir) when it holds ``needs``;
    else ``scratch`` with ../shared/data imported."""
    store = Store(argv[1]) if len(argv) > 1 else Store(default_data_dir())
    if all(store.exists(sid) for sid in needs):
        return store
    store = Store(scratch)
    import_directory(store, SHARED_DATA)
    return store


@contextmanager
def engine_seconds(engine: str) -> Iterator[Callable[[], float]]:
    """Registers engine ``TIMED_ENGINE``: ``engine`` timed; yields the seconds spent in it so far."""
    from carryguard.backtests.run.runner import ENGINES

    run_engine, spent = ENGINES[engine], [0.0]

    def timed_engine(bars, target, config):  # type: ignore[no-untyped-def]
        started = time.perf_counter()
        book = run_engine(bars, target, config)
        spent[0] += time.perf_counter() - started
        return book

    ENGINES[TIMED_ENGINE] = timed_engine
    try:
        yield lambda: spent[0]
    finally:
        del ENGINES[TIMED_ENGINE]
