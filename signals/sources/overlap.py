"""Import-time checks across files: a second export of a stored Yahoo series must agree
with it where they overlap, and a daily series whose close is mostly its open is named."""

from __future__ import annotations

import numpy as np

from carryguard.signals.errors import DataError
from carryguard.signals.sources.formats import Parsed
from carryguard.signals.store import SNAPSHOT_FLAG, SeriesMeta, Store

OVERLAP_TOLERANCE = 1e-5  # relative; two Yahoo exports of AUDJPY=X differ by < 1e-8 (float32 vs 6 decimals)
PRICE_FIELDS = ("open", "high", "low", "close")


def check_overlap(store: Store, parsed: Parsed) -> None:
    """``DataError`` when a Yahoo file's prices differ from the stored series' on a common
    day by more than ``OVERLAP_TOLERANCE`` (two exports of one ticker that disagree:
    the import would silently replace one with the other)."""
    meta = parsed.meta
    if meta.source != "yahoo" or meta.kind != "ohlcv" or not store.exists(meta.id):
        return
    stored = store.read(meta.id)
    common = stored.index.intersection(parsed.frame.index)
    if common.empty:
        return
    old = stored.loc[common, list(PRICE_FIELDS)].to_numpy()
    new = parsed.frame.loc[common, list(PRICE_FIELDS)].to_numpy()
    off = np.abs(new / old - 1.0) > OVERLAP_TOLERANCE
    if off.any():
        row, col = np.argwhere(off)[0]
        raise DataError(
            f"{meta.origin}: {PRICE_FIELDS[col]} on {common[row].date()} is {new[row, col]:.6g} but stored "
            f"{meta.id} has {old[row, col]:.6g} ({int(off.any(axis=1).sum())} of {len(common)} common days differ)",
            fix="two exports of one ticker disagree: delete the stored series and import the one you trust",
        )


def snapshot_notes(meta: SeriesMeta) -> tuple[str, ...]:
    """One stderr note per stored flag saying close equals open on most rows of a year."""
    return tuple(f"{meta.id}: {f['flag']}" for f in meta.flags if f.get("kind") == SNAPSHOT_FLAG)
