"""``carryguard risk`` (one reading, explained; ``risk validate``: its event study) and
``carryguard signals`` (daily history). A reading is kept in ``risk_cache`` and printed by
``risk_view``: asked again while the stored data is unchanged, it is printed without pandas."""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING

import click

from carryguard.backtests.cli.console import print_json, print_table, stdout
from carryguard.backtests.cli.freshness import freshness_options
from carryguard.backtests.cli.options import UTC_TIME
from carryguard.backtests.cli.risk_cache import Entry, ReadingCache, stamp
from carryguard.backtests.cli.risk_options import CONFIG_HELP, AsOfText, load_config, parse_as_of
from carryguard.backtests.cli.risk_validate import validate
from carryguard.backtests.cli.risk_view import View, check_age, fmt, json_view, plain, show, table_view

if TYPE_CHECKING:  # imported inside the commands so `carryguard --help` stays fast
    import pandas as pd

    from carryguard.backtests.cli import CliContext
    from carryguard.signals.pit import MemoryStore
    from carryguard.signals.risk import RiskConfig, RiskReading
    from carryguard.signals.store import Store


EXPORT_START = "2010-01-01"  # --export: from before the first crypto bar (UTC)


@click.group("risk", invoke_without_command=True)
@click.option(
    "--as-of",
    "as_of",
    type=AsOfText(),
    help="Reading time (date = 00:00 UTC of that day, i.e. what was "
    "known when that day began). Default: the latest time the stored data supports.",
)
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help='Print {"as_of", "version", "score", "regime", "components", "stale", "overlays", "age_days", "fresh", '
    '"max_age_days"} (overlays: each index-driven policy\'s multiplier now).',
)
@click.option(
    "--plot",
    "plot_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write a PNG: the index with regime bands, JGB 20Y/40Y, USD/JPY and BTC.",
)
@click.option("--plot-start", type=UTC_TIME, help="First date of the chart (default: 5 years before the reading).")
@click.option("--config", "config_path", type=click.Path(exists=True, dir_okay=False, path_type=Path), help=CONFIG_HELP)
@click.option(
    "--export",
    "export_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Also write the daily risk history with each index-driven policy's multiplier to FILE.csv "
    "(the format other bots read; see README 'Using the overlay from another bot').",
)
@freshness_options
@click.pass_context
def risk(
    ctx: click.Context,
    as_of: str | None,
    as_json: bool,
    plot_path: Path | None,
    plot_start: pd.Timestamp | None,
    config_path: Path | None,
    max_age: float,
    require_fresh: bool,
    export_path: Path | None,
) -> None:
    """The Carry-Unwind Risk Index (0-100) and regime, with what drives it.

    One line per component: raw value (its unit says what it is), change over the
    component's window, z-score, weight, contribution to the composite (weight x
    clipped z-score) and the data date behind it. Inputs older than the staleness
    limit are flagged STALE. `risk validate` judges the index on past events.

    \b
    Examples:
      carryguard risk
      carryguard risk --as-of 2024-08-05 --json
      carryguard risk --plot risk.png
      carryguard risk validate --end 2021-12-31
      carryguard risk --require-fresh --max-age 2   # exit 1 when the reading is older than 2 days
      carryguard risk --export user_data/carryguard_risk.csv   # for freqtrade and other bots
    """
    obj: CliContext = ctx.obj
    if ctx.invoked_subcommand:
        parse_as_of(ctx, as_of)  # a bad --as-of stays a usage error
        return
    cache = None
    if not (plot_path or export_path):  # a chart or an export is work a reading alone does not replace
        cache = ReadingCache.open(obj.store.root, "json" if as_json else "table", as_of, config_path)
        entry = cache.lookup() if cache else None
        if entry is not None:
            show(entry.view, check_age(entry.as_of, max_age=max_age, require_fresh=require_fresh, warn=as_of is None))
            return
    _compute(
        ctx,
        cache,
        as_of,
        as_json=as_json,
        plot=(plot_path, plot_start),
        config_path=config_path,
        freshness=(max_age, require_fresh),
        export_path=export_path,
    )


def _compute(
    ctx: click.Context,
    cache: ReadingCache | None,
    as_of_text: str | None,
    *,
    as_json: bool,
    plot: tuple[Path | None, pd.Timestamp | None],
    config_path: Path | None,
    freshness: tuple[float, bool],
    export_path: Path | None,
) -> None:
    """The reading from the store (a cache miss): printed, then kept in ``cache`` when given."""
    import pandas as pd

    from carryguard.signals.errors import CarryguardError
    from carryguard.signals.risk import explain, latest_time

    obj: CliContext = ctx.obj
    (plot_path, plot_start), (max_age, require_fresh) = plot, freshness
    as_of = parse_as_of(ctx, as_of_text)
    if plot_path and plot_path.suffix.lower() != ".png":
        raise click.BadParameter("must end in .png", param_hint="--plot")
    if as_of is not None and as_of > pd.Timestamp.now(tz="UTC") + pd.Timedelta(days=1):
        raise click.BadParameter(f"{as_of:%Y-%m-%d} lies in the future; no data is known then", param_hint="--as-of")
    cfg = load_config(config_path)
    if cache is not None and cache != cache.reopen(config_path):
        cache = None  # the config file changed while it was read
    paths = [obj.store.path(sid).absolute() for sid in cfg.series_ids()] if cache else []
    files = stamp(cache.root, paths) if cache else []  # before the series are read: a change after is a miss
    inputs = _load(obj.store, cfg)
    as_of = as_of or latest_time(inputs, cfg)
    fresh = check_age(as_of.isoformat(), max_age=max_age, require_fresh=require_fresh, warn=as_of_text is None)
    reading = explain(inputs, as_of, cfg)
    if export_path:
        from carryguard.backtests.paper.export import export_frame, write_export

        try:
            write_export(export_frame(inputs, cfg, start=pd.Timestamp(EXPORT_START, tz="UTC")), export_path)
        except OSError as exc:
            raise CarryguardError(f"cannot write {export_path}: {exc.strerror}", fix="choose a writable path") from exc
    if plot_path:
        start = plot_start or as_of - pd.DateOffset(years=5)
        if start >= as_of:
            raise click.BadParameter(
                f"{start:%Y-%m-%d} is not before the reading ({as_of:%Y-%m-%d})", param_hint="--plot-start"
            )
        try:
            _plot(obj.store, inputs, cfg, as_of, start, plot_path)
        except OSError as exc:
            raise CarryguardError(f"cannot write {plot_path}: {exc.strerror}", fix="choose a writable path") from exc
    view = _view(inputs, cfg, reading, as_json=as_json)
    show(view, fresh)  # the same bytes a cache hit prints
    if plot_path:
        stdout.print(f"chart written to {plot_path}", highlight=False)
    if not math.isfinite(reading.score):  # a reading without a score is not a success (and is not kept)
        raise CarryguardError(
            f"no risk score as of {as_of:%Y-%m-%d %H:%M} UTC: the stored inputs lack the history it needs",
            fix="pick a date the stored series cover (`carryguard data list`), or import more history",
        )
    if cache is not None:
        cache.save(files, paths, Entry(as_of.isoformat(), view))


def _view(inputs: MemoryStore, cfg: RiskConfig, reading: RiskReading, *, as_json: bool) -> View:
    """What is printed for ``reading`` (and kept in the cache): the JSON with each index-driven
    policy's multiplier, or the table with the USD/JPY cross-check."""
    if as_json:
        from carryguard.strategies.carry_policies import multipliers_now

        return plain(json_view(reading, multipliers_now(inputs, reading.as_of, cfg)))
    from carryguard.signals.risk import fx_cross_check

    return plain(table_view(reading, cfg, fx_cross_check(inputs, cfg, reading.as_of)))


def warm_cache(store: Store) -> None:
    """Keep the latest reading (built-in settings, ``--json`` and the table) after the store
    changed, so the next ``risk`` a bot asks is a cache hit. Nothing is kept when the index's
    inputs are not all stored or give no score, or the cache cannot be written (``data
    import`` and ``data fetch`` call this; a reading asked later computes as usual)."""
    from carryguard.signals.errors import CarryguardError
    from carryguard.signals.pit import MemoryStore
    from carryguard.signals.risk import explain, latest_time

    cfg = load_config(None)
    if not all(store.exists(sid) for sid in cfg.inputs().values()):
        return
    caches = {view: ReadingCache.open(store.root, view, None, None) for view in ("json", "table")}
    if all(cache is None or cache.lookup() is not None for cache in caches.values()):
        return  # kept already: the data it came from did not change
    paths = [store.path(sid).absolute() for sid in cfg.series_ids()]
    files = stamp(store.root.absolute(), paths)
    try:
        inputs = MemoryStore.load(store, cfg.series_ids())
        reading = explain(inputs, latest_time(inputs, cfg), cfg)
        if not math.isfinite(reading.score):
            return
        for view, cache in caches.items():
            if cache is not None:
                entry = Entry(reading.as_of.isoformat(), _view(inputs, cfg, reading, as_json=view == "json"))
                cache.save(files, paths, entry)
    except CarryguardError:
        return  # the data cannot give a reading now: `risk` says why when asked


def _load(store: Store, cfg: RiskConfig) -> MemoryStore:
    """The index's inputs read once into memory; a missing series is one clear line
    naming it, the store and the command that brings it in."""
    from carryguard.signals.errors import DataError
    from carryguard.signals.pit import MemoryStore
    from carryguard.signals.risk import FETCH_HINT

    for sid in cfg.inputs().values():
        if not store.exists(sid):
            raise DataError(f"series {sid} is not in the store at {store.root}", fix=FETCH_HINT)
    return MemoryStore.load(store, cfg.series_ids())


def _plot(
    store: Store, inputs: MemoryStore, cfg: RiskConfig, as_of: pd.Timestamp, start: pd.Timestamp, path: Path
) -> None:
    import pandas as pd

    from carryguard.backtests.report.risk_plot import plot_risk
    from carryguard.signals.risk import fx_price, risk_at

    days = pd.date_range(start.normalize(), as_of, freq="D")
    history = risk_at(inputs, days, cfg)
    jgb = inputs.read(cfg.jgb_series).loc[start : as_of - pd.Timedelta(days=1)]
    fx = fx_price(inputs.read(cfg.fx_series)).iloc[:, 0].loc[start : as_of - pd.Timedelta(days=1)]
    btc_ids = [sid for sid in ("yahoo/BTC-USD/1d", "binance/BTC-USDT/1d") if store.exists(sid)]
    btc, label = None, "BTC"
    if btc_ids:
        sid = max(btc_ids, key=lambda s: store.meta(s).last)
        btc, label = store.read(sid)["close"].loc[start : as_of - pd.Timedelta(days=1)], f"BTC close ({sid})"
    plot_risk(
        path,
        history["score"],
        thresholds=cfg.thresholds,
        jgb=jgb,
        usdjpy=fx,
        btc=btc,
        btc_label=label,
        title=f"Carry-Unwind Risk Index, {start:%Y-%m-%d} to {as_of:%Y-%m-%d}",
    )


@click.command("signals")
@click.option("--start", type=UTC_TIME, default="2000-01-01", show_default=True, help="First day (00:00 UTC).")
@click.option("--end", type=UTC_TIME, help="Last day (default: the latest time the stored data supports).")
@click.option(
    "--out",
    "out_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write every row to FILE.csv or FILE.parquet (otherwise the last 10 days are shown).",
)
@click.option("--json", "as_json", is_flag=True, help="Print every row as a JSON list of objects.")
@click.option("--config", "config_path", type=click.Path(exists=True, dir_okay=False, path_type=Path), help=CONFIG_HELP)
@click.pass_obj
def signals(
    obj: CliContext,
    start: pd.Timestamp,
    end: pd.Timestamp | None,
    out_path: Path | None,
    as_json: bool,
    config_path: Path | None,
) -> None:
    """Daily history (00:00 UTC each day) of every feature, the score and the regime.

    Columns: score, regime, composite, <component>_value/_change/_zscore/_contribution,
    <input>_date/_age_days and stale.

    \b
    Examples:
      carryguard signals --start 2024-01-01 --out signals.csv
      carryguard signals --start 2024-07-01 --end 2024-08-31 --json
    """
    import pandas as pd

    from carryguard.signals.errors import CarryguardError
    from carryguard.signals.json_file import json_ready
    from carryguard.signals.risk import latest_time, risk_at

    if out_path and out_path.suffix.lower() not in (".csv", ".parquet"):
        raise click.BadParameter("must end in .csv or .parquet", param_hint="--out")
    cfg = load_config(config_path)
    inputs = _load(obj.store, cfg)
    end = end or latest_time(inputs, cfg)
    if end < start:
        raise click.BadParameter(f"--end {end:%Y-%m-%d} is before --start {start:%Y-%m-%d}", param_hint="--end")
    history = risk_at(inputs, pd.date_range(start.normalize(), end, freq="D"), cfg)
    if out_path:
        out_path.parent.mkdir(parents=True, exist_ok=True)
        try:
            history.to_parquet(out_path) if out_path.suffix.lower() == ".parquet" else history.to_csv(out_path)
        except OSError as exc:
            raise CarryguardError(f"cannot write {out_path}: {exc.strerror}", fix="choose a writable path") from exc
        stdout.print(f"{len(history)} days ({start:%Y-%m-%d} .. {end:%Y-%m-%d}) written to {out_path}", highlight=False)
    if as_json:
        table = history.reset_index()
        for column in table.columns:
            if isinstance(table[column].dtype, pd.DatetimeTZDtype):
                table[column] = table[column].map(lambda t: None if pd.isna(t) else t.isoformat())
        print_json(json_ready(table.to_dict(orient="records")))
    elif not out_path:
        tail = history.tail(10)
        names = [c.removesuffix("_contribution") for c in history.columns if c.endswith("_contribution")]
        print_table(
            f"Risk index, last {len(tail)} of {len(history)} days: score, regime and each component's "
            "contribution to the composite (use --out FILE for every column and day)",
            ["day", "score", "regime", *names],
            [
                (
                    t.strftime("%Y-%m-%d"),
                    fmt(r.score, 1),
                    r.regime,
                    *[fmt(r[f"{n}_contribution"], 3, True) for n in names],
                )
                for t, r in tail.iterrows()
            ],
            right=["score", *names],
        )


risk.add_command(validate)
commands = [risk, signals]
