"""Point in time: key each value by the time it became usable, then as-of join.

A value dated D is usable from ``available_at(D)`` (the series' rule in
``signals.availability``). ``on_availability`` re-keys a stored series by that time;
``asof`` joins it onto any target calendar (daily bar closes, 4h bar closes, ...)
carrying the last usable value forward together with its data date, and never uses a
value before its availability time (a value available exactly at ``t`` is usable at
``t``). ``MemoryStore`` holds frames in memory so inputs can be cut at a time
(``cut``), which is how truncation tests prove there is no look-ahead.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Protocol, TypeVar, cast

import numpy as np
import pandas as pd

from carryguard.signals.availability import FX_SNAPSHOT_FIELDS, available_at, field_available_at
from carryguard.signals.errors import DataError
from carryguard.signals.sources.formats import fred_meta, mof_meta
from carryguard.signals.store import SeriesMeta, Store

T = TypeVar("T")


class SeriesSource(Protocol):
    """What the risk index reads: a ``Store`` or a ``MemoryStore``."""

    def read(self, sid: str) -> pd.DataFrame: ...

    def meta(self, sid: str) -> SeriesMeta: ...

    def exists(self, sid: str) -> bool: ...


def default_meta(sid: str, frame: pd.DataFrame) -> SeriesMeta:
    """Metadata for a bare frame: what the MOF/FRED parsers give ``mof/jgb`` and
    ``fred/<ID>`` (so their availability rules live in one place), else ``bar_close`` of
    the id's timeframe suffix (``yahoo/JPY=X/1d`` -> 1d)."""
    publisher, _, name = sid.partition("/")
    if sid == "mof/jgb":
        return mof_meta(tuple(frame.columns), "memory")
    if publisher == "fred" and name and "/" not in name:
        return replace(fred_meta(name, "memory", pd.DatetimeIndex(frame.index)), fields=tuple(frame.columns))
    timeframe = sid.rsplit("/", 1)[-1]
    if not timeframe[:-1].isdigit():
        raise DataError(f"series {sid}: no availability rule known for a bare frame", fix="pass its SeriesMeta too")
    return SeriesMeta(
        id=sid,
        kind="macro",
        source="memory",
        publisher="",
        symbol=sid,
        fields=tuple(frame.columns),
        units="",
        frequency="",
        availability="bar_close",
        timeframe=timeframe,
    )


class MemoryStore:
    """Frames and metadata held in memory, read like a ``Store``."""

    def __init__(self, frames: Mapping[str, pd.DataFrame], metas: Mapping[str, SeriesMeta] | None = None) -> None:
        self._frames = dict(frames)
        metas = dict(metas or {})
        self._metas = {sid: metas.get(sid) or default_meta(sid, frame) for sid, frame in self._frames.items()}
        self._derived: list[tuple[str, object, object]] = []

    @classmethod
    def load(cls, store: Store, sids: Iterable[str]) -> MemoryStore:
        """Read ``sids`` (those that exist) from ``store`` once."""
        present = [sid for sid in sids if store.exists(sid)]
        return cls({sid: store.read(sid) for sid in present}, {sid: store.meta(sid) for sid in present})

    def read(self, sid: str) -> pd.DataFrame:
        if sid not in self._frames:
            raise DataError(f"series {sid} is not in the in-memory inputs", fix="load it into the MemoryStore")
        return self._frames[sid]

    def meta(self, sid: str) -> SeriesMeta:
        self.read(sid)
        return self._metas[sid]

    def exists(self, sid: str) -> bool:
        return sid in self._frames

    def derived(self, name: str, config: object, build: Callable[[], T]) -> T:
        """``build()`` once per ``name`` and ``config`` (compared by equality): something
        computed from these frames alone (the risk index's inputs and components), shared
        by every reading taken from this store. The frames are never changed once loaded
        (``cut`` makes a new store)."""
        for key, known, value in self._derived:
            if key == name and known == config:
                return cast(T, value)
        value = build()
        self._derived.append((name, config, value))
        return value

    def ids(self) -> list[str]:
        return sorted(self._frames)

    def cut(self, at: pd.Timestamp) -> MemoryStore:
        """Every series truncated to the rows usable at ``at`` (availability <= at).

        A Yahoo FX bar (``fx_snapshot``) whose open/close snapshot is known but whose bar
        has not closed is kept with its other fields (high, low) blanked. Metadata flags
        are dropped: they are set with hindsight (a spike is flagged once the next bar
        reverts it), so the inputs as known at ``at`` cannot carry them."""
        frames, metas = {}, {}
        for sid, frame in self._frames.items():
            meta = self._metas[sid]
            whole = available_at(frame.index, meta.availability, meta.timeframe)
            if meta.availability == "fx_snapshot" and "close" in frame.columns:
                part = frame[field_available_at(frame.index, meta.availability, "close", meta.timeframe) <= at].copy()
                open_bar = np.asarray(whole[: len(part)] > at)
                part.loc[open_bar, [c for c in part.columns if c not in FX_SNAPSHOT_FIELDS]] = np.nan
                frames[sid] = part
            else:
                frames[sid] = frame[whole <= at]
            metas[sid] = replace(meta, flags=())
        return MemoryStore(frames, metas)


def as_source(inputs: SeriesSource | Mapping[str, pd.DataFrame]) -> SeriesSource:
    """A ``Store``/``MemoryStore`` as is; a mapping of series id -> frame as a MemoryStore."""
    if isinstance(inputs, Mapping):
        return MemoryStore(inputs)
    if all(hasattr(inputs, name) for name in ("read", "meta", "exists")):
        return inputs
    raise TypeError(f"inputs must be a Store, MemoryStore or mapping of frames, got {type(inputs).__name__}")


@dataclass(frozen=True)
class Timed:
    """Values keyed by availability time with each row's data date, in data-date order.
    Rows released together (a week of DEXJPUS fixings) share one time; an as-of lookup
    then finds the newest of them, while rolling features still see every row."""

    values: pd.DataFrame
    data_date: pd.DatetimeIndex

    def __post_init__(self) -> None:
        if len(self.values) != len(self.data_date):
            raise ValueError("values and data_date must have the same length")


def on_availability(frame: pd.DataFrame, meta: SeriesMeta, field: str | None = None) -> Timed:
    """Re-key ``frame`` by the time each row became usable, keeping every row: a weekly
    release makes five daily values usable at once, and a 5-day return must still span
    five days, not five weeks. With ``field``, by the time that column became usable (a
    Yahoo FX close is a snapshot known before its bar closes). Metadata flags are not used
    here: they are set with next-day hindsight (``signals.frames.disjoint_bars`` is the
    point-in-time check)."""
    values = frame.copy()
    if field is None:
        times = available_at(frame.index, meta.availability, meta.timeframe)
    else:
        times = field_available_at(frame.index, meta.availability, field, meta.timeframe)
    values.index = pd.DatetimeIndex(times, name="time")
    return Timed(values, pd.DatetimeIndex(frame.index))


def to_targets(times: pd.DatetimeIndex | Iterable[pd.Timestamp] | pd.Timestamp | str) -> pd.DatetimeIndex:
    """Decision times as a sorted-or-not tz-aware UTC index (naive times are refused)."""
    if isinstance(times, (str, pd.Timestamp)):
        times = [times]
    index = pd.DatetimeIndex(times)
    if index.tz is None:
        raise ValueError("decision times must be tz-aware (UTC); use pd.Timestamp(..., tz='UTC')")
    if index.hasnans:
        raise ValueError("decision times contain NaT")
    return index.tz_convert("UTC").as_unit("ns").rename("time")


def asof_positions(avail: pd.DatetimeIndex, targets: pd.DatetimeIndex) -> np.ndarray:
    """Row of the newest value usable at each target (-1: none yet)."""
    return np.searchsorted(avail.as_unit("ns").asi8, targets.as_unit("ns").asi8, side="right") - 1


def asof(timed: Timed, targets: pd.DatetimeIndex) -> tuple[pd.DataFrame, pd.Series]:
    """The last usable row at each target and its data date (NaN/NaT before the first)."""
    pos = asof_positions(pd.DatetimeIndex(timed.values.index), targets)
    found = pos >= 0
    values = np.full((len(targets), timed.values.shape[1]), np.nan)
    values[found] = timed.values.to_numpy(dtype="float64")[pos[found]]
    dates = np.full(len(targets), np.datetime64("NaT"), dtype="datetime64[ns]")
    dates[found] = timed.data_date.tz_convert("UTC").tz_localize(None).to_numpy()[pos[found]]
    frame = pd.DataFrame(values, index=targets, columns=timed.values.columns)
    return frame, pd.Series(pd.DatetimeIndex(dates).tz_localize("UTC"), index=targets)


def age_days(targets: pd.DatetimeIndex, data_date: pd.Series) -> pd.Series:
    """Days between each target and the data date behind it (NaN when there is none)."""
    return (pd.Series(targets, index=targets) - data_date) / pd.Timedelta(days=1)


def union_calendar(*timed: Timed) -> pd.DatetimeIndex:
    """All availability times of several series: a common calendar built only from
    times at which something new became known."""
    parts = [pd.DatetimeIndex(t.values.index).as_unit("ns").asi8 for t in timed]
    return pd.DatetimeIndex(np.unique(np.concatenate(parts)), tz="UTC", name="time")
