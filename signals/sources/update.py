"""One store write per downloaded series, reported as what the series gained."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime

import pandas as pd

from carryguard.signals.store import SeriesMeta, Store


@dataclass(frozen=True)
class UpdateResult:
    """What a fetch did to one series."""

    series: str
    added: int  # rows the series gained (a replaced overlapping row counts 0)
    fetched: int  # rows received and written (including re-fetched overlapping rows)
    rows: int  # rows stored now
    last: str  # last stored timestamp, ISO ("" when nothing is stored)


def resume_start(store: Store, sid: str, since: pd.Timestamp | None) -> pd.Timestamp | None:
    """Where a download of ``sid`` starts (UTC; None = the source's default).

    A stored series continues from its last stored bar, re-fetched so a bar stored while
    still forming is replaced, unless ``since`` lies before its first bar (then history
    is back-filled from ``since``); a new series starts at ``since``.
    """
    start = None if since is None else pd.Timestamp(since)
    if start is not None:
        start = start.tz_localize("UTC") if start.tzinfo is None else start.tz_convert("UTC")
    if store.exists(sid):
        stored = store.meta(sid)
        if start is None or start >= pd.Timestamp(stored.first):
            return pd.Timestamp(stored.last)
    return start


def store_update(store: Store, frame: pd.DataFrame, meta: SeriesMeta, *, now: datetime | None = None) -> UpdateResult:
    """Merge ``frame`` into ``store`` with one validated, atomic ``Store.write``.

    An empty ``frame`` writes nothing. ``fetched_at`` is set to ``now`` (default: the
    current UTC time).
    """
    before = store.meta(meta.id) if store.exists(meta.id) else None
    rows_before = before.rows if before else 0
    if frame.empty:
        return UpdateResult(meta.id, 0, 0, rows_before, before.last if before else "")
    fetched_at = (now or datetime.now(UTC)).isoformat(timespec="seconds")
    stored = store.write(frame, replace(meta, fetched_at=fetched_at))
    return UpdateResult(meta.id, stored.rows - rows_before, len(frame), stored.rows, stored.last)
