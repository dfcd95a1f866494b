"""``carryguard risk validate``: the index's own event study, printed at 80 columns."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from carryguard.backtests.cli.console import print_json, stdout
from carryguard.backtests.cli.options import UTC_TIME, list_option
from carryguard.backtests.cli.risk_options import CONFIG_HELP, load_config

if TYPE_CHECKING:
    import pandas as pd

    from carryguard.backtests.cli import CliContext
    from carryguard.signals.validate_run import Validation

FIGURES = ("precision_10d", "precision_20d", "episode_precision", "recall")


@click.command("validate")
@click.option("--start", type=UTC_TIME, default="2015-01-01", show_default=True, help="First day (00:00 UTC).")
@click.option("--end", type=UTC_TIME, help="Last day (default: the latest time the stored data supports).")
@click.option("--config", "config_path", type=click.Path(exists=True, dir_okay=False, path_type=Path), help=CONFIG_HELP)
@list_option(
    "--threshold",
    "thresholds",
    type=click.FloatRange(0, 100),
    help="Index alarm: score >= this (default: the stress and crisis thresholds).",
)
@click.option("--fx-drop", type=click.FloatRange(0, 1, min_open=True, max_open=True), default=0.04, show_default=True)
@click.option("--fx-window", type=click.IntRange(min=1), default=20, show_default=True, help="Observations.")
@click.option(
    "--crypto-drop", type=click.FloatRange(0, 1, min_open=True, max_open=True), default=0.20, show_default=True
)
@click.option("--crypto-window", type=click.IntRange(min=1), default=30, show_default=True, help="Observations.")
@click.option("--gap", type=click.IntRange(min=1), default=30, show_default=True, help="Days that split episodes.")
@list_option("--horizon", "horizons", type=click.IntRange(min=1), help="Precision horizons, days [10, 20].")
@click.option("--lookback", type=click.IntRange(min=1), default=10, show_default=True, help="Recall window, days.")
@click.option("--shifts", type=click.IntRange(min=1), default=500, show_default=True, help="Circular shifts (null).")
@click.option("--json", "as_json", is_flag=True, help="Print every figure and p-value as JSON.")
@click.option(
    "--plot",
    "plot_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write a PNG: v1 and v2 with the event episodes marked.",
)
@click.pass_obj
def validate(
    obj: CliContext,
    start: pd.Timestamp,
    end: pd.Timestamp | None,
    config_path: Path | None,
    thresholds: tuple[float, ...],
    fx_drop: float,
    fx_window: int,
    crypto_drop: float,
    crypto_window: int,
    gap: int,
    horizons: tuple[int, ...],
    lookback: int,
    shifts: int,
    as_json: bool,
    plot_path: Path | None,
) -> None:
    """Event study: do index v1, index v2 and plain rules come on before yen-carry
    unwinds and BTC/ETH drawdowns more often than chance?

    Per event set and alarm: share of days on, day precision at 10/20 days (base
    rate in the header), episode precision, recall (on in the 10 days up to the
    event), lead time (mean/median days from the alarm episode's start) and
    false-alarm days per year; beside each, p = share of circular shifts of the
    alarm (>= 1 year each) doing at least as well. Readings are at 00:00 UTC of
    each day from data published by then.

    \b
    Examples:
      carryguard risk validate --end 2021-12-31
      carryguard risk validate --start 2022-01-01 --json
      carryguard risk validate --threshold 60 --plot validate.png
    """
    from carryguard.signals.errors import CarryguardError
    from carryguard.signals.pit import MemoryStore
    from carryguard.signals.risk import latest_time
    from carryguard.signals.validate import EventRule
    from carryguard.signals.validate_run import CRYPTO
    from carryguard.signals.validate_run import validate as run

    if plot_path and plot_path.suffix.lower() != ".png":
        raise click.BadParameter("must end in .png", param_hint="--plot")
    cfg = load_config(config_path)
    ids = [*cfg.series_ids(), *(sid for group in CRYPTO.values() for sid in group)]
    inputs = MemoryStore.load(obj.store, ids)
    end = end or latest_time(inputs, cfg)
    if end <= start:
        raise click.BadParameter(f"--end {end:%Y-%m-%d} is not after --start {start:%Y-%m-%d}", param_hint="--end")
    rule = EventRule(fx_window, fx_drop, crypto_window, crypto_drop, gap, tuple(horizons) or (10, 20), lookback, shifts)
    result = run(inputs, cfg, rule, start, end, thresholds or cfg.thresholds[1:])
    if plot_path:
        from carryguard.backtests.report.risk_plot import plot_validation

        try:
            plot_validation(plot_path, result.scores, {e.name: e.starts for e in result.events}, cfg.thresholds)
        except OSError as exc:
            raise CarryguardError(f"cannot write {plot_path}: {exc.strerror}", fix="choose a writable path") from exc
    if as_json:
        print_json(result.to_json())
        return
    for line in table_lines(result):
        stdout.print(line, highlight=False, markup=False)
    if plot_path:
        stdout.print(f"chart written to {plot_path}", highlight=False)


def _cell(figure: dict[str, Any], percent: bool = True) -> str:
    """``13.6 .002``: the value (in % when ``percent``) and its p-value."""
    value, p = figure["value"], figure["p"]
    text = "n/a" if value is None else f"{100 * value:.1f}" if percent else f"{value:.1f}"
    mark = "" if p is None else "1.00" if p >= 0.9995 else f"{p:.3f}".lstrip("0")
    return f"{text:>5} {mark:<4}"


def table_lines(result: Validation) -> list[str]:
    """One block per event set: header, base rates, one row per alarm (< 80 columns)."""
    rule = result.rule
    h1, h2 = sorted(rule.horizons)[0], sorted(rule.horizons)[-1]
    lines = []
    for events in result.events:
        rows = result.results[events.name]
        any_row = next(iter(rows.values()))
        lines += [
            f"{events.name} events: {events.definition} ({events.series})",
            f"  {events.first:%Y-%m-%d}..{events.last:%Y-%m-%d}: {len(events.starts)} episodes; base rate "
            f"{h1}d {_pct(any_row[f'base_{h1}d']['value'])}, {h2}d {_pct(any_row[f'base_{h2}d']['value'])}",
            f"  p = share of {any_row['shifts']} circular shifts of the alarm doing at least as well",
            f"{'alarm':<12} {'on%':>4} {f'prec{h1}d':>9} {f'prec{h2}d':>10} {'ep.prec':>10} "
            f"{f'recall{rule.lookback}':>10} {'lead':>7} {'FA/yr':>9}",
        ]
        for name, figures in rows.items():
            lead = figures["lead_mean"]["value"], figures["lead_median"]["value"]
            lead_text = "n/a" if lead[0] is None else f"{lead[0]:.0f}/{lead[1]:.0f}"
            lines.append(
                f"{name:<12} {100 * figures['on_share']['value']:>4.1f} "
                f"{_cell(figures[f'precision_{h1}d'])} {_cell(figures[f'precision_{h2}d'])} "
                f"{_cell(figures['episode_precision'])} {_cell(figures['recall'])} {lead_text:>7} "
                f"{_cell(figures['false_alarms_per_year'], percent=False)}"
            )
        lines.append("")
    lines += [
        "%: prec = alarm days with an episode starting within that many days; ep.prec =",
        f"alarm episodes followed by one within {h2}d; recall = episodes with the alarm on",
        f"in the {rule.lookback} days up to them. lead = mean/median days from the alarm episode's",
        f"start. FA/yr = alarm days a year with no episode within {h2}d. Beside each: p.",
    ]
    return lines


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.1f}%"
