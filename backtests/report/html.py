"""``RUN_DIR/report.html``: one self-contained HTML file computed from the run folder alone.

Every chart is embedded as a base64 PNG data URI and the CSS is inline, so the file opens
offline and loads nothing from the internet; a PNG of each chart is also written beside
it. Sections: the verdict (``report.verdict``: carry-based overlays against the best
control), summary (with overlay deltas), all metrics, charts, crisis windows,
bootstrap confidence, and the study config with the data fingerprints.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, replace
from pathlib import Path

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
from carryguard.backtests.report.compare import DELTAS, HEADLINE, compare_runs
from carryguard.backtests.report.crisis import (
    PAIRED_MEASURES,
    crisis_table,
    paired_table,
    run_windows,
    uncovered,
    window_summary,
)
from carryguard.backtests.report.verdict import VERDICT_BOOTSTRAP, Judgement, judge, verdict_lines
from carryguard.backtests.run.folder import RunFolder, load_run


@dataclass(frozen=True)
class Report:
    """What ``write_report`` produced: the HTML file, the chart PNGs and the overlay effects."""

    html: Path
    charts: list[Path]
    effects: list[OverlayEffect]
    verdict: list[Judgement]


def write_report(
    run_dir: str | Path, *, windows: Path | None = None, bootstrap: BootstrapConfig = BootstrapConfig()
) -> Report:
    """Load the run at ``run_dir``, compute everything and write report.html and the PNGs."""
    from carryguard.backtests.report.charts import close_all, data_uri, run_charts

    run = load_run(run_dir)
    charts = run_charts(run)
    figures, pngs = [], []
    try:
        for chart in charts:
            png = chart.png()
            pngs.append(run.path / f"{chart.slug}.png")
            pngs[-1].write_bytes(png)
            figures.append({"kind": chart.kind, "title": chart.title, "uri": data_uri(png), "file": pngs[-1].name})
    finally:
        close_all(charts)
    effects = overlay_effects(run, bootstrap)
    judgements = judge(run, bootstrap=replace(VERDICT_BOOTSTRAP, confidence=bootstrap.confidence))
    html = render(
        run, figures=figures, effects=effects, windows=windows, bootstrap=bootstrap, verdict=verdict_lines(judgements)
    )
    path = run.path / "report.html"
    path.write_text(html, encoding="utf-8")
    return Report(html=path, charts=pngs, effects=effects, verdict=judgements)


def render(
    run: RunFolder,
    *,
    figures: list[dict[str, str]],
    effects: list[OverlayEffect],
    windows: Path | None,
    bootstrap: BootstrapConfig,
    verdict: list[str] | None = None,
) -> str:
    """The report's HTML text."""
    env = Environment(
        loader=PackageLoader("carryguard.backtests.report", "templates"),
        autoescape=select_autoescape(["html"]),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["num"] = number
    all_windows = run_windows(run, windows)
    comparison = compare_runs([run])
    crisis = paired_table(crisis_table(run, all_windows))
    by_window = window_summary(crisis)
    metric_names = list(dict.fromkeys(name for values in run.metrics.values() for name in values))
    context = {
        "run": run,
        "run_id": run.run_id,
        "verdict": verdict or [],
        "manifest": run.manifest,
        "period": [t.date().isoformat() for t in run.period()],
        "summary": comparison.rows,
        "headline": HEADLINE,
        "deltas": DELTAS,
        "metric_names": metric_names,
        "metrics": [
            {"label": str(key), "baseline": run.is_baseline(key), "values": run.metrics[key]} for key in run.books
        ],
        "figures": figures,
        "crisis": crisis,
        "crisis_measures": PAIRED_MEASURES,
        "by_window": by_window,
        "glance": at_a_glance(comparison.rows, effects, by_window, confidence=bootstrap.confidence),
        "uncovered": uncovered(run, all_windows),
        "effects": [_effect_row(effect) for effect in effects],
        "psr": sharpe_confidence(run),
        "bootstrap": bootstrap,
        "seed": run_seed(run),
        "study": json.dumps(run.manifest.get("study", {}), indent=2, default=str),
        "data": run.manifest.get("data", {}),
        "versions": run.manifest.get("versions", {}),
    }
    return env.get_template("report.html").render(**context)


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
    lines = [
        f"Over the whole run the overlay raised the Sharpe ratio in {better_sharpe} of {len(pairs)} "
        f"strategy pairs and made the max. drawdown shallower in {shallower} of {len(pairs)}.",
        f"How sure ({confidence:.0%} paired block-bootstrap interval excludes 0): Sharpe effect "
        f"{_sure([e.sharpe for e in effects], 'higher', 'lower')}; drawdown effect "
        f"{_sure([e.max_drawdown for e in effects], 'shallower', 'deeper')}. "
        "An effect whose interval contains 0 is not distinguishable from zero: it may be chance.",
    ]
    windows = [w for w in by_window if w["pairs"]]
    if windows:
        total = sum(int(w["pairs"]) for w in windows)
        lines.append(
            f"In the crisis windows (each window x strategy pair): drawdown shallower with the overlay in "
            f"{sum(int(w['shallower']) for w in windows)} of {total}, deeper in "
            f"{sum(int(w['deeper']) for w in windows)}; return higher in "
            f"{sum(int(w['higher return']) for w in windows)}, lower in "
            f"{sum(int(w['lower return']) for w in windows)} (the rest: both books flat)."
        )
        helped = _where([w for w in windows if w["shallower"] > w["pairs"] / 2 and w["Median Δ Return [%]"] >= 0])
        hurt = _where([w for w in windows if w["Median Δ Return [%]"] < 0 and w["Median Δ Max. Drawdown [%]"] <= 0])
        lines.append(
            f"Helped (shallower drawdown in most pairs, median return not lower): {helped}. "
            f"Hurt (lower median return, drawdown not shallower): {hurt}."
        )
    return lines


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
