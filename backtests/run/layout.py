"""The run-folder format, in one place: file names, columns, data fingerprints.

``write`` (the writer of backtest folders), ``folder`` (their reader) and the sweep's
``output`` all take their names from here. See README "Results layout".
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from carryguard.signals.store import SeriesMeta

MANIFEST = "manifest.json"
METRICS = "metrics.json"
BOOK_COLUMNS = ("strategy", "symbol", "timeframe", "overlay")
EQUITY_COLUMNS = ("equity", "cash", "position")
EXPOSURE_COLUMNS = ("strategy_exposure", "risk_score", "multiplier", "vol_scale", "final_exposure")
PRICE_COLUMNS = ("open", "high", "low", "close")
TRADE_COLUMNS = ("entry_price", "exit_price", "qty", "pnl", "return_pct", "fees")
RISK_COLUMNS = ("score", "regime")
REWRITE = "rerun `carryguard backtest` to rewrite the run folder"


def fingerprint(meta: SeriesMeta) -> dict[str, object]:
    """What a manifest records of one input series: content hash, first, last, rows, origin."""
    return {
        "content_hash": meta.content_hash,
        "first": meta.first,
        "last": meta.last,
        "rows": meta.rows,
        "origin": meta.origin,
    }


def fingerprints(metas: Mapping[str, SeriesMeta]) -> dict[str, dict[str, object]]:
    """``fingerprint`` of each series, by series id, in the given order."""
    return {sid: fingerprint(meta) for sid, meta in metas.items()}
