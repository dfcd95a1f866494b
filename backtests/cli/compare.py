"""``carryguard compare RUN_DIR ...`` and ``carryguard report RUN_DIR``: judge finished runs.

Both read only the run folders written by ``carryguard backtest``, so an old run can be
compared or reported again at any time.
"""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import TYPE_CHECKING

import click

from carryguard.backtests.cli.console import print_json, print_table, say, stage_progress, stderr, stdout
from carryguard.backtests.cli.options import Finite
from carryguard.backtests.cli.paths import RunDir

if TYPE_CHECKING:
    from carryguard.backtests.report.bootstrap import Interval
    from carryguard.backtests.report.compare import Comparison, DeltaRow


def _interval(interval: Interval) -> str:
    """``+0.18 [-0.16, +0.56]``: the estimate and its bootstrap interval (cells as in the report)."""
    from carryguard.backtests.report.html import number

    low, high = number(interval.low, signed=True), number(interval.high, signed=True)
    return f"{number(interval.estimate, signed=True)} [{low}, {high}]"


MATRIX = (
    ("Sharpe Ratio", "Sh", 2),
    ("Max. Drawdown [%]", "DD", 1),
    ("Return [%]", "Ret", 0),
)  # (metric, short, digits)


@click.command("compare")
@click.argument("run_dirs", nargs=-1, required=True, type=RunDir("run"))
@click.option(
    "--sort",
    default="sharpe",
    show_default=True,
    metavar="METRIC",
    help="Sort by: sharpe, return, cagr, maxdd, or a column name such as 'Δ Sharpe' (best first).",
)
@click.option(
    "--books", is_flag=True, help="One row per book (every headline metric and its Δ) instead of the Δ-vs-none matrix."
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object per book (as --books shows them).")
def compare(run_dirs: tuple[Path, ...], sort: str, books: bool, as_json: bool) -> None:
    """Every strategy of one or more runs side by side: what each overlay changed.

    One row per strategy and market: its book without an overlay (none), then per
    overlay Δ = that overlay's book − the same strategy's none book, for Sharpe, max.
    drawdown and return. In a narrow terminal ΔRet goes first, then ΔDD (last overlay
    first), then the none book's Return and MaxDD; --wide shows all. --books prints one
    row per book instead. Runs covering different periods are aligned on their common
    window and their metrics recomputed there (the title says so). Then each run's
    verdict: every carry-based overlay against the best control (none, vol_target,
    trend) with bootstrap intervals and the shifted-timing rank (as in the report).

    \b
    Examples:
      carryguard compare latest
      carryguard compare results/20260101-120000-carry_unwind --books
      carryguard compare results/run-a results/run-b --sort maxdd
      carryguard compare results/run-a --json
    """
    from carryguard.backtests.report.compare import compare_runs, json_rows, resolve_metric
    from carryguard.backtests.run.folder import load_run

    try:
        resolve_metric(sort)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--sort") from None
    runs = [load_run(path) for path in run_dirs]
    comparison = compare_runs(runs, sort=sort)
    if as_json:
        print_json(json_rows(comparison))
        return
    number = {run.run_id: f"#{i}" for i, run in enumerate(runs, start=1)} if len(runs) > 1 else {}
    for run in runs if number else []:
        start, end = (t.date().isoformat() for t in run.period())
        stdout.print(f"{number[run.run_id]} = {run.path} ({start}..{end})", highlight=False)
    (_print_books if books else _print_matrix)(comparison, number)
    from carryguard.backtests.report.verdict import judge, verdict_lines

    for run in runs:
        if number:
            stdout.print(f"{number[run.run_id]}:", highlight=False)
        with stderr.status(f"judging {run.run_id} ..."):
            lines = verdict_lines(judge(run))
        for line in lines:
            say(line)


def abbreviations(overlays: list[str]) -> dict[str, str]:
    """Short names for column headers: vol_target -> vt, trend -> tr, vol_target*carry -> vt*ca
    (the full names when two would read the same)."""

    def short(name: str) -> str:
        words = name.split("_")
        return "".join(w[:1] for w in words) if len(words) > 1 else name[:2]

    shorts = {o: "*".join(short(part) for part in o.split("*")) for o in overlays}
    return shorts if len(set(shorts.values())) == len(shorts) else {o: o for o in overlays}


def _print_matrix(comparison: Comparison, number: dict[str, str]) -> None:
    """One row per strategy x market: the none book, then Δ vs none per metric and overlay."""
    from carryguard.backtests.report.compare import delta_matrix
    from carryguard.backtests.report.html import number as cell

    overlays, matrix = delta_matrix(comparison)
    short = abbreviations(overlays)
    plain = [f"none {tag}" for _, tag, _ in MATRIX]
    deltas = [[f"Δ{tag} {short[o]}" for o in overlays] for _, tag, _ in MATRIX]
    market = _markets(matrix)
    columns = (["run"] if number else []) + ["strategy", "mkt", *plain, *(c for group in deltas for c in group)]
    rows = [
        ([number[row.run]] if number else [])
        + [f"{row.strategy}{' *' if row.baseline else ''}", market[(row.symbol, row.timeframe)]]
        + [cell(row.none[metric], digits) for metric, _, digits in MATRIX]
        + [
            cell(row.deltas.get(o, {}).get(f"Δ {metric}"), digits, signed=True)
            for metric, _, digits in MATRIX
            for o in overlays
        ]
        for row in matrix
    ]
    names = ", ".join(f"{short[o]}={o}" for o in overlays if short[o] != o)
    timeframes = sorted({row.timeframe for row in matrix})
    legend = [
        "none: the book without an overlay; Δ = overlay book − its strategy's none book",
        "Sh: Sharpe; DD: max. drawdown % (Δ > 0: shallower); Ret: return % (Δ in pp)",
        *textwrap.wrap(f"overlays: {names}", width=78, subsequent_indent="  "),
        "* bottom-fishing baseline; when narrow, hidden first: every ΔRet, none Ret,",
        "  every ΔDD, none DD",
    ]
    print_table(
        f"Δ vs none per overlay ({', '.join(timeframes)} bars): {comparison.note}",
        columns,
        rows,
        right=[*plain, *(c for group in deltas for c in group)],
        drop=[[columns.index(c) for c in deltas[2]], plain[2], [columns.index(c) for c in deltas[1]], plain[1]],
        legend="\n".join(line for line in legend if line.strip() != "overlays:"),
    )


def _markets(matrix: list[DeltaRow]) -> dict[tuple[str, str], str]:
    """The market column: the base currency (the symbol when two share a base), with the
    timeframe only when the rows have several."""
    symbols = {row.symbol for row in matrix}
    several = len({row.timeframe for row in matrix}) > 1
    bases = {s.split("/")[0] for s in symbols}
    name = {s: s.split("/")[0] if len(bases) == len(symbols) else s for s in symbols}
    return {(r.symbol, r.timeframe): f"{name[r.symbol]} {r.timeframe}" if several else name[r.symbol] for r in matrix}


def _print_books(comparison: Comparison, number: dict[str, str]) -> None:
    """One row per book: headline metrics and Δ vs its none book (``--books``)."""
    from carryguard.backtests.report.compare import DELTAS, HEADLINE, SHORT_NAMES
    from carryguard.backtests.report.html import number as cell

    rows = [
        ([number[str(row["run"])]] if number else [])
        + [f"{row['strategy']}{' *' if row['baseline'] else ''}", row["symbol"], row["timeframe"]]
        + [cell(row[name]) for name in HEADLINE]
        + [cell(row[name], signed=True) for name in DELTAS]
        for row in comparison.rows
    ]
    headline = [SHORT_NAMES[name] for name in HEADLINE]
    deltas = [f"Δ {SHORT_NAMES[name]}" for name in HEADLINE]
    columns = (["run"] if number else []) + ["strategy", "symbol", "tf", *headline, *deltas]
    print_table(
        f"Comparison: {comparison.note}; Δ = with overlay − without (Δ MaxDD > 0: shallower)",
        columns,
        rows,
        right=[*headline, *deltas],
        drop=[deltas[1], headline[1], "tf", deltas[0], headline[0], "symbol"],
        legend="* bottom-fishing baseline",
    )


@click.command("report")
@click.argument("run_dir", type=RunDir("run", "sweep"))
@click.option(
    "--windows",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    metavar="FILE",
    help="TOML file of extra crisis windows ([[window]] name/start/end), added to the defaults.",
)
@click.option("--resamples", default=2000, show_default=True, type=click.IntRange(min=100), help="Bootstrap resamples.")
@click.option(
    "--block",
    default=20.0,
    show_default=True,
    type=Finite(min=1, max=1e6),
    help="Mean block length of the stationary bootstrap, in bars.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the written files and the overlay effects as JSON.")
def report(run_dir: Path, windows: Path | None, resamples: int, block: float, as_json: bool) -> None:
    """Write RUN_DIR/report.html (self-contained, interactive, opens offline) and a PNG of each chart.

    The report opens with the verdict and the overlay settings, then the summary, the
    charts (equity, drawdown, exposure vs the risk index: zoom and hover), one tearsheet
    per strategy (monthly returns, rolling Sharpe/volatility, worst drawdowns, alpha/beta,
    round trips), crisis windows, bootstrap confidence, and the study and data. RUN_DIR may
    be `latest`, or a sweep folder (best combos, parameter heatmaps, walk-forward).

    \b
    Examples:
      carryguard report latest
      carryguard report results/20260101-120000-carry_unwind --windows my_windows.toml
      carryguard report results/20260101-120000-sweep_overlay_1d
    """
    from carryguard.backtests.cli.paths import folder_kind
    from carryguard.backtests.report.bootstrap import BootstrapConfig, verdict
    from carryguard.backtests.report.html import STAGES, write_report
    from carryguard.backtests.report.verdict import verdict_data, verdict_lines

    if folder_kind(run_dir) == "sweep":
        from carryguard.backtests.report.sweep_report import write_sweep_report

        path = write_sweep_report(run_dir)
        if as_json:
            print_json({"report": str(path), "charts": [], "overlay_effects": []})
        else:
            stdout.print(f"wrote {path}", highlight=False)
        return

    config = BootstrapConfig(n_boot=resamples, mean_block=block)
    with stage_progress(f"report {run_dir.name}", STAGES) as step:
        written = write_report(run_dir, windows=windows, bootstrap=config, progress=step)
    effects = [
        {
            "strategy": e.book.strategy,
            "symbol": e.book.symbol,
            "timeframe": e.book.timeframe,
            "overlay": e.book.overlay,
            "bars": e.bars,
            "sharpe_effect": [e.sharpe.estimate, e.sharpe.low, e.sharpe.high],
            "max_drawdown_effect_pp": [e.max_drawdown.estimate, e.max_drawdown.low, e.max_drawdown.high],
            "sharpe_distinguishable": not e.sharpe.contains_zero,
            "max_drawdown_distinguishable": not e.max_drawdown.contains_zero,
        }
        for e in written.effects
    ]
    if as_json:
        print_json(
            {
                "report": str(written.html),
                "charts": [str(p) for p in written.charts],
                "verdict": verdict_data(written.verdict),
                "overlay_effects": effects,
            }
        )
        return
    for line in verdict_lines(written.verdict):
        say(line)
    if not written.effects:
        stdout.print("no overlay / no-overlay pairs in this run: no bootstrap of the overlay's effect", highlight=False)
    else:
        level = f"{config.confidence:.0%}"
        print_table(
            f"Overlay effect (each overlay − the same strategy without one), {level} paired block-bootstrap intervals",
            [
                "strategy",
                "symbol",
                "tf",
                "overlay",
                f"Δ Sharpe [{level} interval]",
                "Sharpe effect",
                f"Δ MaxDD pp [{level} interval]",
                "drawdown effect",
            ],
            [
                (
                    e.book.strategy,
                    e.book.symbol,
                    e.book.timeframe,
                    e.book.overlay,
                    _interval(e.sharpe),
                    verdict(e.sharpe, better="higher", worse="lower"),
                    _interval(e.max_drawdown),
                    verdict(e.max_drawdown, better="shallower", worse="deeper"),
                )
                for e in written.effects
            ],
            drop=("tf", "Sharpe effect", "drawdown effect"),  # the intervals say it in numbers
        )
    stdout.print(f"wrote {written.html} and {len(written.charts)} chart PNGs", highlight=False)


commands = [compare, report]
