"""What ``Store.write`` checks and merges: the content hash, quality flags (FX spikes,
snapshot closes), conflicting repeated bars and the merge of new rows into a stored series.

Kept apart from ``signals.store`` so that opening a store (``carryguard`` does on every
command) imports no pandas, numpy or pyarrow: the CLI's ``--help`` stays fast.
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from carryguard.signals.availability import timeframe_delta
from carryguard.signals.errors import DataError
from carryguard.signals.frames import fx_spikes

if TYPE_CHECKING:
    from carryguard.signals.store import SeriesMeta


HASH_ROWS = 65536  # rows hashed at a time: a large series is never copied whole


def content_hash(frame: pd.DataFrame) -> str:
    """sha256 of the index and values (row by row): equal data gives equal hashes,
    whatever the file."""
    digest = hashlib.sha256()
    digest.update(",".join(frame.columns).encode())
    digest.update(np.ascontiguousarray(frame.index.asi8).data)
    for start in range(0, len(frame), HASH_ROWS):
        digest.update(np.ascontiguousarray(frame.iloc[start : start + HASH_ROWS].to_numpy(dtype="float64")).data)
    return digest.hexdigest()


def expected_step(meta: SeriesMeta) -> pd.Timedelta | None:
    """The bar spacing gaps are measured against (None for business-day/monthly data)."""
    return timeframe_delta(meta.timeframe) if meta.timeframe else None


SNAPSHOT_FLAG = "close_equals_open"
SNAPSHOT_SHARE = 0.5  # "most rows" of a calendar year
SNAPSHOT_MIN_ROWS = 50


def snapshot_flags(frame: pd.DataFrame, meta: SeriesMeta) -> tuple[dict, ...]:
    """Daily OHLCV bars whose close equals their open on most rows of a calendar year (at
    least ``SNAPSHOT_MIN_ROWS`` rows): the "close" is a snapshot, not a close (Yahoo FX
    2022-2025). One flag per such year, stamped with its first row."""
    if meta.kind != "ohlcv" or meta.timeframe != "1d" or frame.empty:
        return ()
    same = (frame["close"] == frame["open"]).groupby(frame.index.year)
    flags = []
    for year, rows in same:
        if len(rows) >= SNAPSHOT_MIN_ROWS and rows.mean() > SNAPSHOT_SHARE:
            text = f"close equals open on {rows.mean():.0%} of {year}'s {len(rows)} rows: a snapshot, not a close"
            flags.append({"time": rows.index[0].isoformat(), "flag": text, "kind": SNAPSHOT_FLAG})
    return tuple(flags)


def series_flags(frame: pd.DataFrame, meta: SeriesMeta) -> tuple[dict, ...]:
    """Quality flags of a whole stored series: for FX bars (``JPY=X``) the one-day spikes
    that revert (Yahoo quirk), found over the merged series so a spike on the seam of an
    update is seen; other series keep the flags they came with."""
    snapshots = snapshot_flags(frame, meta)
    if meta.kind != "ohlcv" or not meta.symbol.endswith("=X"):
        return tuple(f for f in meta.flags if f.get("kind") != SNAPSHOT_FLAG) + snapshots
    spikes = tuple({"time": ts.isoformat(), "flag": "one-day spike that reverts"} for ts in fx_spikes(frame["close"]))
    return spikes + snapshots


def positions(index: pd.DatetimeIndex, within: pd.DatetimeIndex) -> tuple[np.ndarray, np.ndarray]:
    """Which rows of ``index`` are in ``within`` (a mask) and where (their positions in
    ``within``); both sorted and unique, matched by binary search, not a hash table."""
    keys, sorted_keys = index.asi8, within.asi8
    where = np.searchsorted(sorted_keys, keys)
    found = where < len(sorted_keys)
    found[found] = sorted_keys[where[found]] == keys[found]
    return found, where[found]


def merge_fields(old: pd.DataFrame, new: pd.DataFrame, meta: SeriesMeta, *, allow_fewer_fields: bool) -> pd.DataFrame:
    """``new`` merged into ``old`` (new rows win; both sorted, unique). A field the stored
    series has and ``new`` lacks (a renamed or dropped MOF tenor) is an error unless
    ``allow_fewer_fields``; then those cells of the new rows are empty. New fields are
    added after the stored ones."""
    name = meta.origin or meta.id
    lacking = [c for c in old.columns if c not in new.columns]
    if lacking and (meta.kind == "ohlcv" or not allow_fewer_fields):
        raise DataError(
            f"{name}: lacks field(s) {lacking} that stored series {meta.id} has (fields {list(old.columns)})",
            fix="check the file (a renamed column?), or pass --allow-fewer-fields to keep them empty from here on",
        )
    columns = list(old.columns) + [c for c in new.columns if c not in old.columns]
    replaced, _ = positions(old.index, new.index)
    if replaced.all() and columns == list(new.columns):  # every stored row comes again
        return new
    kept = old[~replaced]
    return pd.concat([kept.reindex(columns=columns), new.reindex(columns=columns)]).sort_index()


SAME_PRICE_RTOL = 1e-5
PRICES = ["open", "high", "low", "close"]


def check_conflicts(old: pd.DataFrame, new: pd.DataFrame, meta: SeriesMeta) -> None:
    """A stored bar that ``new`` repeats with other OHLC is a conflict, except the stored last
    bar (it may have been stored while still open; the new one replaces it). Prices within
    ``SAME_PRICE_RTOL`` of each other are the same price (two exports of one ticker round
    differently: Yahoo's float32 dumps against its 6-decimal CSVs). Compared a column at a
    time (a 2M-row re-import holds no 2M x 4 copies)."""
    if meta.kind != "ohlcv" or old.empty:
        return
    repeated, at = positions(new.index, old.index[:-1])
    if not at.size:
        return
    differ = np.zeros(at.size, dtype=bool)
    for column in PRICES:
        stored, given = old[column].to_numpy()[at], new[column].to_numpy()[repeated]
        differ |= ~np.isclose(stored, given, rtol=SAME_PRICE_RTOL, atol=0.0)
    if differ.any():
        i = int(differ.argmax())
        row, stored_row = int(np.flatnonzero(repeated)[i]), int(at[i])
        raise DataError(
            f"{meta.origin or meta.id}: bar {new.index[row].isoformat()} differs from the one stored in {meta.id} "
            f"(close {new['close'].iloc[row]:g} vs {old['close'].iloc[stored_row]:g}; {int(differ.sum())} bar(s) "
            "differ)",
            fix=f"check the file; to replace the stored bars delete {meta.id} from the store first",
        )
