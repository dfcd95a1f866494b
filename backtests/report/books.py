"""The columns that name a book in every per-book table (comparison, crisis windows)."""

from __future__ import annotations

from carryguard.backtests.run.folder import BookKey, RunFolder


def book_fields(run: RunFolder, key: BookKey) -> dict[str, object]:
    """``strategy`` (the label, e.g. ``sma_cross+carry``), ``base_strategy``, ``overlay``,
    ``baseline``, ``symbol`` and ``timeframe`` of one book."""
    return {
        "strategy": key.label,
        "base_strategy": key.strategy,
        "overlay": key.overlay,
        "baseline": run.is_baseline(key),
        "symbol": key.symbol,
        "timeframe": key.timeframe,
    }
