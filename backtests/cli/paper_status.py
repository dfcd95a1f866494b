"""``carryguard paper status``'s terminal view: one small field/value table per book.

A row per book needs about 150 columns (position, price, cash, equity, PnL, the last
decision and its risk reading, the lag), so at 80 most of it would be hidden; a table per
book fits 80 columns and shows every number ``--json`` gives, each whole.
"""

from __future__ import annotations

import math
from pathlib import Path

from carryguard.backtests.cli.console import print_table


def _money(value: float | None, signed: bool = False) -> str:
    if value is None or not math.isfinite(value):
        return "n/a"
    return f"{value:+,.2f}" if signed else f"{value:,.2f}"


def _ratio(value: float | None, digits: int = 2) -> str:
    return "n/a" if value is None or not math.isfinite(value) else f"{value:.{digits}f}"


def _time(text: str | None) -> str:
    """``2025-01-04T12:00:00+00:00`` -> ``2025-01-04 12:00 UTC`` (seconds kept when not zero)."""
    if not text:
        return "n/a"
    clock = text.replace("T", " ").removesuffix("+00:00")
    return f"{clock.removesuffix(':00') if len(clock) == 19 else clock} UTC"


def book_rows(summary: dict, *, live: bool) -> list[tuple[str, str]]:
    """(field, value) rows of one book's summary (``PaperState.summary``)."""
    s, last = summary, summary["last_decision"] or {}
    base = str(s["symbol"]).split("/")[0]
    rows = [
        ("market", f"{s['symbol']} {s['timeframe']} on {s['exchange']}"),
        ("position", f"{s['position']:.8f} {base}"),
        ("price", f"{_money(s['price'])} (close of the last decided bar)"),
        ("cash", _money(s["cash"])),
        ("equity", _money(s["equity"])),
        ("PnL", f"{_money(s['pnl'], signed=True)} ({s['pnl_pct']:+.2f}%) on {_money(s['start_cash'])} start cash"),
        ("decided", f"{s['decisions']} bar(s), {s['fills']} fill(s); last bar {_time(s['last_bar'])}"),
    ]
    if last:
        score = last.get("score")
        risk = "n/a" if score is None or not math.isfinite(score) else f"{score:.1f} {last.get('regime') or ''}"
        rows += [
            (
                "last decision",
                f"{last['action']} at {_time(last['bar_time'])} (close {_money(last.get('close'))}), decided "
                f"{_time(last['decided_at'])}: {last['reason']}",
            ),
            (
                "sizing",
                f"target {_ratio(last.get('target'))} (strategy {_ratio(last.get('strategy_exposure'))}, risk "
                f"multiplier {_ratio(last.get('multiplier'))}, vol scale {_ratio(last.get('vol_scale'))})",
            ),
            ("risk", risk),
        ]
    if s["bars_behind"] is not None:
        seen = "now (--live)" if live else f"as the loop last saw it ({s['loop_note']}); --live asks the exchange"
        rows.append(("bars behind", f"{s['bars_behind']} at exchange time {_time(s['exchange_time'])}, {seen}"))
    return rows


def print_status(state_path: Path, summaries: list[dict], *, live: bool) -> None:
    """Every book of ``state_path``, one table each."""
    for summary in summaries:
        print_table(
            f"{summary['strategy']} {summary['symbol']} (paper book in {state_path})",
            ["field", "value"],
            book_rows(summary, live=live),
        )
