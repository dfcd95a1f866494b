"""``RUN_DIR/report.html``: one self-contained, interactive HTML file computed from the run folder alone.

plotly.js is inlined once in the page's head and every chart is a plotly figure (zoom,
hover), the CSS is inline: the file opens offline and loads nothing from the internet.
A PNG of each overview chart is also written beside it (``report.pngs``: drawn in a second
process while this one computes the rest, and by this one too once it is done). Order: the
verdict and the overlay settings; the summary; the overview charts; one tearsheet per
strategy; crisis windows and confidence; study and data (collapsed).
"""

from __future__ import annotations

import gc
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import cast

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from carryguard.backtests.report.bootstrap import (
    BootstrapConfig,
    Interval,
    OverlayEffect,
    overlay_effects,
    run_seed,
    sharpe_confidence,
    verdict,
)
from carryguard.backtests.report.compare import HEADLINE, compare_runs
from carryguard.backtests.report.crisis import (
    PAIRED_MEASURES,
    crisis_table,
    paired_table,
    run_windows,
    uncovered,
    window_summary,
)
from carryguard.backtests.report.verdict import VERDICT_BOOTSTRAP, Judgement, judge
from carryguard.backtests.report.verdict import verdict_lines as lines_of
from carryguard.backtests.run.folder import RunFolder, load_run

STAGES = (
    "load run",
    "bootstrap",
    "verdict",
    "crisis windows",
    "tearsheets",
    "interactive charts",
    "write HTML",
    "PNG charts",
)
Progress = Callable[[str], None]


@dataclass(frozen=True)
class Report:
    """What ``write_report`` produced: the HTML file, the chart PNGs and the overlay effects."""

    html: Path
    charts: list[Path]
    effects: list[OverlayEffect]
    verdict: list[Judgement]


def write_report(
    run_dir: str | Path,
    *,
    windows: Path | None = None,
    bootstrap: BootstrapConfig = BootstrapConfig(),
    verdict_lines: Sequence[str] = (),
    progress: Progress | None = None,
) -> Report:
    """Load the run at ``run_dir``, compute everything and write report.html and the PNGs.

    ``verdict_lines`` head the report (default: the overlay lab's verdict, carry-based
    overlays against the best control, from ``report.verdict``); ``progress`` is called
    with the name of each stage (``STAGES``) as it starts."""
    step = progress or (lambda _stage: None)
    step(STAGES[0])
    run = load_run(run_dir)
    from carryguard.backtests.report.pngs import PngDrawing  # matplotlib: only when PNGs are drawn

    # The loaded run and the imported modules live to the end: the garbage collector need not
    # walk them again and again while the report allocates, nor run every 2,000 new objects
    # (~0.45 s -> ~0.05 s), here and in the forked PNG process (which inherits both settings).
    thresholds = gc.get_threshold()
    gc.freeze()
    gc.set_threshold(20_000, *thresholds[1:])
    try:
        with PngDrawing(run) as pngs:
            step(STAGES[1])
            effects = overlay_effects(run, bootstrap)
            step(STAGES[2])
            judgements = judge(run, bootstrap=replace(VERDICT_BOOTSTRAP, confidence=bootstrap.confidence))
            lines = list(verdict_lines) or lines_of(judgements)
            html = render(run, effects=effects, windows=windows, bootstrap=bootstrap, verdict_lines=lines, step=step)
            step(STAGES[6])
            path = run.path / "report.html"
            path.write_text(html, encoding="utf-8")
            step(STAGES[7])
            charts = pngs.finish()
    finally:
        gc.set_threshold(*thresholds)
        gc.unfreeze()
    return Report(html=path, charts=charts, effects=effects, verdict=judgements)


def render(
    run: RunFolder,
    *,
    effects: list[OverlayEffect],
    windows: Path | None,
    bootstrap: BootstrapConfig,
    verdict_lines: Sequence[str] = (),
    step: Progress = lambda _stage: None,
) -> str:
    """The report's HTML text."""
    from carryguard.backtests.report.interactive import equity_drawdown_figure, exposure_figure, fragment, plotly_script
    from carryguard.backtests.report.pages import flatten, overlay_settings, tearsheets

    env = templates()
    all_windows = run_windows(run, windows)
    step(STAGES[3])
    comparison = compare_runs([run])
    crisis = paired_table(crisis_table(run, all_windows))
    by_window = window_summary(crisis)
    step(STAGES[4])
    pages = tearsheets(run)
    step(STAGES[5])
    overview = []
    for symbol, timeframe in dict.fromkeys((k.symbol, k.timeframe) for k in run.books):
        books = [k for k in run.books if (k.symbol, k.timeframe) == (symbol, timeframe)]
        tag = f"{symbol}-{timeframe}".replace("/", "-")
        overview.append(
            {
                "market": f"{symbol} {timeframe}",
                "equity": fragment(equity_drawdown_figure(run, books), f"equity-{tag}"),
                "exposure": fragment(exposure_figure(run, books), f"exposure-{tag}"),
                "pngs": [
                    f"{kind}_{symbol.replace('/', '-')}_{timeframe}.png" for kind in ("equity", "drawdown", "exposure")
                ],
            }
        )
    study = run.manifest.get("study", {})
    context = {
        "run": run,
        "run_id": run.run_id,
        "manifest": run.manifest,
        "period": [t.date().isoformat() for t in run.period()],
        "verdict": verdict_items(verdict_lines),
        "overlays": overlay_settings(study if isinstance(study, dict) else {}),
        "pair_rows": pair_rows(comparison.rows),
        "overview": overview,
        "pages": pages,
        "crisis": crisis,
        "crisis_measures": PAIRED_MEASURES,
        "window_grid": window_grid(by_window),
        "glance": at_a_glance(comparison.rows, effects, by_window, confidence=bootstrap.confidence),
        "uncovered": uncovered(run, all_windows),
        "effects": [_effect_row(effect) for effect in effects],
        "psr": sharpe_confidence(run),
        "bootstrap": bootstrap,
        "seed": run_seed(run),
        "study": flatten(study),
        "data": run.manifest.get("data", {}),
        "versions": run.manifest.get("versions", {}),
        "plotly_js": plotly_script(),
    }
    return env.get_template("report.html").render(**context)


def verdict_items(lines: Sequence[str]) -> list[dict[str, object]]:
    """The verdict's lines as the box shows them: each answer (``line``) with the indented
    lines of numbers after it (``details``, collapsed), so the first screen holds the answers."""
    items: list[dict[str, object]] = []
    for line in lines:
        if line.startswith("  ") and items:
            cast(list[str], items[-1]["details"]).append(line.strip())
        else:
            items.append({"line": line, "details": []})
    return items


def pair_rows(rows: list[dict[str, object]]) -> list[dict[str, object]]:
    """The summary: one row per strategy and market with each headline metric without the
    overlay, with the carry overlay, and Δ (the other policies are in the verdict)."""
    plain = {(r["strategy"], r["symbol"], r["timeframe"]): r for r in rows if r["overlay"] == "none"}
    carried = {(str(r["strategy"]).split("+")[0], r["symbol"], r["timeframe"]) for r in rows if r["overlay"] == "carry"}
    out = []
    for row in rows:
        key = (str(row["strategy"]).split("+")[0], row["symbol"], row["timeframe"])
        if row["overlay"] == "carry":
            base = plain.get(key)
            values = {n: (base[n] if base else None, row[n], row[f"Δ {n}"]) for n in HEADLINE}
        elif row["overlay"] == "none" and key not in carried:
            values = {n: (row[n], None, None) for n in HEADLINE}
        else:
            continue
        out.append(
            {"strategy": key[0], "symbol": key[1], "timeframe": key[2], "baseline": row["baseline"], "values": values}
        )
    return out


def at_a_glance(
    summary: list[dict[str, object]],
    effects: list[OverlayEffect],
    by_window: list[dict[str, object]],
    *,
    confidence: float = 0.95,
) -> list[str]:
    """Plain sentences: did the overlay help over the whole run, how sure can we be (at the
    bootstrap's ``confidence``), and in which crisis windows (``window_summary`` rows)."""
    pairs = [row for row in summary if row["overlay"] != "none" and row["Δ Sharpe Ratio"] is not None]
    if not pairs:
        return ["This run has no overlay / no-overlay pairs."]
    better_sharpe = sum(1 for row in pairs if _positive(row["Δ Sharpe Ratio"]))
    shallower = sum(1 for row in pairs if _positive(row["Δ Max. Drawdown [%]"]))
    fell = sum(1 for row in pairs if _negative(row.get("Δ Return [%]")))
    lines = [
        f"Over the whole run the overlay raised the Sharpe ratio in {better_sharpe} of {len(pairs)} "
        f"strategy pairs, made the max. drawdown shallower in {shallower} of {len(pairs)}, "
        f"and lowered the total return in {fell} of {len(pairs)}.",
        f"How sure ({confidence:.0%} paired block-bootstrap interval excludes 0): Sharpe effect "
        f"{_sure([e.sharpe for e in effects], 'higher', 'lower')}; drawdown effect "
        f"{_sure([e.max_drawdown for e in effects], 'shallower', 'deeper')}. "
        "An effect whose interval contains 0 is not distinguishable from zero: it may be chance.",
    ]
    windows = [w for w in by_window if w["pairs"]]
    if windows:
        # window_summary rows: the counts are ints, and with pairs > 0 both medians are floats
        def count(rows: list[dict[str, object]], name: str) -> int:
            return sum(cast(int, w[name]) for w in rows)

        def median(w: dict[str, object], name: str) -> float:
            return cast(float, w[name])

        per_overlay = {
            o: [w for w in windows if w["overlay"] == o] for o in dict.fromkeys(w["overlay"] for w in windows)
        }
        lines.append(
            "In the crisis windows (each window x strategy, against the same strategy without an overlay): "
            + "; ".join(
                f"{o}: drawdown shallower in {count(rows, 'shallower')} of {count(rows, 'pairs')}, deeper in "
                f"{count(rows, 'deeper')}, return higher in {count(rows, 'higher return')}, lower in "
                f"{count(rows, 'lower return')}"
                for o, rows in per_overlay.items()
            )
            + " (the rest: both books flat)."
        )
        carry = per_overlay.get("carry", [])
        if carry:
            helped = _where(
                [
                    w
                    for w in carry
                    if count([w], "shallower") > count([w], "pairs") / 2 and median(w, "Median Δ Return [%]") >= 0
                ]
            )
            hurt = _where(
                [
                    w
                    for w in carry
                    if median(w, "Median Δ Return [%]") < 0 and median(w, "Median Δ Max. Drawdown [%]") <= 0
                ]
            )
            lines.append(
                f"The carry overlay helped (shallower drawdown in most pairs, median return not lower): {helped}. "
                f"Hurt (lower median return, drawdown not shallower): {hurt}."
            )
    return lines


def window_grid(by_window: list[dict[str, object]]) -> tuple[list[str], list[dict[str, object]]]:
    """The crisis summary with one column per overlay: (overlays, rows); each row is one window
    and market with its ``window_summary`` row per overlay under ``cells``."""
    overlays = list(dict.fromkeys(str(w["overlay"]) for w in by_window))
    rows: dict[tuple, dict[str, object]] = {}
    for w in by_window:
        row = rows.setdefault((w["window"], w["start"], w["symbol"], w["timeframe"]), {"first": w, "cells": {}})
        cast(dict[str, object], row["cells"])[str(w["overlay"])] = w
    return overlays, list(rows.values())


def _where(windows: list[dict[str, object]]) -> str:
    """``Yen carry unwind (BTC/USDT, ETH/USDT), FTX collapse (BTC/USDT)``, or ``none``."""
    markets: dict[str, list[str]] = {}
    for window in windows:
        markets.setdefault(str(window["window"]), []).append(str(window["symbol"]))
    return ", ".join(f"{name} ({', '.join(dict.fromkeys(symbols))})" for name, symbols in markets.items()) or "none"


def _sure(intervals: list[Interval], up: str, down: str) -> str:
    """``distinguishable in 2 of 16 pairs (0 higher, 2 lower)``."""
    ups = sum(1 for i in intervals if i.low > 0)
    downs = sum(1 for i in intervals if i.high < 0)
    return f"distinguishable in {ups + downs} of {len(intervals)} pairs ({ups} {up}, {downs} {down})"


def _positive(value: object) -> bool:
    return isinstance(value, int | float) and not math.isnan(float(value)) and float(value) > 0


def _negative(value: object) -> bool:
    return isinstance(value, int | float) and not math.isnan(float(value)) and float(value) < 0


def _effect_row(effect: OverlayEffect) -> dict[str, object]:
    return {
        "book": effect.book,
        "bars": effect.bars,
        "sharpe": effect.sharpe,
        "drawdown": effect.max_drawdown,
        "sharpe_verdict": verdict(effect.sharpe, better="overlay raises it", worse="overlay lowers it"),
        "drawdown_verdict": verdict(
            effect.max_drawdown, better="overlay makes it shallower", worse="overlay makes it deeper"
        ),
    }


def templates() -> Environment:
    """The report templates (package data), strict about undefined names, with the ``num`` filter."""
    env = Environment(
        loader=PackageLoader("carryguard.backtests.report", "templates"),
        autoescape=select_autoescape(["html"]),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["num"] = number
    return env


def number(value: object, digits: int = 2, signed: bool = False) -> str:
    """A table cell: fixed decimals, "—" for missing/NaN, text as is but without a midnight time."""
    if value is None or isinstance(value, bool):
        return "—" if value is None else ("yes" if value else "")
    if isinstance(value, int | float):
        if math.isnan(float(value)):
            return "—"
        if abs(float(value)) < 0.5 * 10**-digits:
            return f"{0:.{digits}f}"  # no "+0.00" or "-0.00" for float noise
        return f"{float(value):{'+' if signed else ''},.{digits}f}"
    text = str(value)  # metrics.json's Start/End and durations: drop a midnight time of day
    return text.removesuffix("T00:00:00+00:00").removesuffix(" 00:00:00")
