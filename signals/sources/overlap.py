"""Import-time checks across files: a second export of a stored Yahoo series must agree
with it where they overlap, and a daily series whose close is mostly its open is named."""

from __future__ import annotations

from carryguard.signals.store import SeriesMeta
from carryguard.signals.store_merge import SNAPSHOT_FLAG

PRICE_FIELDS = ("open", "high", "low", "close")


def snapshot_notes(meta: SeriesMeta) -> tuple[str, ...]:
    """One stderr note per stored flag saying close equals open on most rows of a year."""
    return tuple(f"{meta.id}: {f['flag']}" for f in meta.flags if f.get("kind") == SNAPSHOT_FLAG)
