"""``carryguard risk`` (one reading, explained) and ``carryguard signals`` (daily history)."""

from __future__ import annotations

from pathlib import Path

import click
import pandas as pd

from backtests.console import print_json, print_table, stdout

CONFIG_HELP = "Risk index settings (TOML, top-level keys or a [risk] table); default: built-in defaults."


class UtcTime(click.ParamType):
    """A date or ISO time; a bare date is 00:00 UTC of that day, naive times are UTC."""

    name = "DATE"

    def convert(self, value: object, param: click.Parameter | None, ctx: click.Context | None) -> pd.Timestamp:
        if isinstance(value, pd.Timestamp):
            return value
        try:
            stamp = pd.Timestamp(str(value))
        except (ValueError, TypeError):
            self.fail(f"{value!r} is not a date (use YYYY-MM-DD or an ISO time)", param, ctx)
        if pd.isna(stamp):
            self.fail(f"{value!r} is not a date", param, ctx)
        return stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")


UTC_TIME = UtcTime()


def load_config(path: Path | None):
    from signals.risk import RiskConfig

    return RiskConfig.from_toml(path) if path else RiskConfig()


def _fmt(x: float | None, digits: int = 2, sign: bool = False, unit: str = "") -> str:
    """``x`` with ``digits`` decimals (and a unit); "n/a" for None/NaN."""
    if x is None or not pd.notna(x):
        return "n/a"
    text = f"{x:+.{digits}f}" if sign else f"{x:.{digits}f}"
    return f"{text} {unit}" if unit else text


@click.command("risk")
@click.option("--as-of", "as_of", type=UTC_TIME, help="Reading time (date = 00:00 UTC of that day, i.e. what was "
              "known when that day began). Default: the latest time the stored data supports.")
@click.option("--json", "as_json", is_flag=True, help='Print {"as_of", "score", "regime", "components", "stale"}.')
@click.option("--plot", "plot_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Write a PNG: the index with regime bands, JGB 20Y/40Y, USD/JPY and BTC.")
@click.option("--plot-start", type=UTC_TIME, help="First date of the chart (default: 5 years before the reading).")
@click.option("--config", "config_path", type=click.Path(exists=True, dir_okay=False, path_type=Path), help=CONFIG_HELP)
@click.pass_obj
def risk(obj, as_of: pd.Timestamp | None, as_json: bool, plot_path: Path | None, plot_start: pd.Timestamp | None,
         config_path: Path | None) -> None:
    """The Carry-Unwind Risk Index (0-100) and regime, with what drives it.

    One line per component: raw value, change, z-score, contribution to the composite
    and the data date behind it. Inputs older than the staleness limit are listed.

    \b
    Examples:
      carryguard risk
      carryguard risk --as-of 2024-08-05 --json
      carryguard risk --plot risk.png
    """
    from signals.features import UNITS
    from signals.risk import explain, latest_time

    cfg = load_config(config_path)
    inputs = _load(obj.store, cfg)
    as_of = as_of or latest_time(inputs, cfg)
    reading = explain(inputs, as_of, cfg)
    if plot_path:
        _plot(obj.store, inputs, cfg, as_of, plot_start or as_of - pd.DateOffset(years=5), plot_path)
    if as_json:
        print_json(reading.to_json())
        return
    stdout.print(f"Carry-Unwind Risk Index as of {as_of:%Y-%m-%d %H:%M} UTC: "
                 f"[bold]{_fmt(reading.score, 1)}[/bold] ({reading.regime or 'not computable'})", highlight=False)
    rows = [(c.name, _fmt(c.value, 3, unit=UNITS[c.name][0]), _fmt(c.change, 3, True, UNITS[c.name][1]),
             _fmt(c.zscore, 2, True), _fmt(c.contribution, 3, True),
             c.data_date.strftime("%Y-%m-%d") if c.data_date is not None else "n/a") for c in reading.components]
    print_table("Components (contributions add up to the composite "
                f"{_fmt(reading.composite, 3, True)}; score 50 at {cfg.center:+.2f})",
                ["component", "value", "change", "zscore", "contribution", "data date"], rows,
                right=["value", "change", "zscore", "contribution"])
    if not reading.regime:
        stdout.print(f"no score: less than {cfg.min_weight:.0%} of the component weight has inputs with enough "
                     f"history and younger than {cfg.expire_days:g} days", highlight=False)
    for sid, date in reading.input_dates.items():
        age = f"{(as_of - date) / pd.Timedelta(days=1):.1f} days old" if date is not None else "no data yet"
        flag = "  STALE" if sid in reading.stale else ""
        stdout.print(f"input {sid}: data date {date:%Y-%m-%d}, {age}{flag}" if date is not None
                     else f"input {sid}: {age}", highlight=False)
    check = _cross_check(obj.store, cfg, as_of)
    if check:
        stdout.print(check, highlight=False)
    if plot_path:
        stdout.print(f"chart written to {plot_path}", highlight=False)


def _load(store, cfg):
    """The index's inputs read once into memory; a missing series is one clear line
    naming it, the store and the command that brings it in."""
    from signals.errors import DataError
    from signals.pit import MemoryStore
    from signals.risk import FETCH_HINT

    for sid in cfg.inputs().values():
        if not store.exists(sid):
            raise DataError(f"series {sid} is not in the store at {store.root}", fix=FETCH_HINT)
    return MemoryStore.load(store, cfg.inputs().values())


def _cross_check(store, cfg, as_of: pd.Timestamp) -> str:
    """USD/JPY from the configured series vs the cross-check series, both as of the reading."""
    from signals.pit import asof, on_availability

    if not cfg.fx_check_series or cfg.fx_check_series == cfg.fx_series or not store.exists(cfg.fx_check_series):
        return ""
    values = []
    for sid in (cfg.fx_series, cfg.fx_check_series):
        frame = store.read(sid)
        frame = frame[["close"]] if "close" in frame.columns else frame.iloc[:, :1]
        got, date = asof(on_availability(frame, store.meta(sid)), pd.DatetimeIndex([as_of]))
        values.append((sid, got.iloc[0, 0], date.iloc[0]))
    (a, x, dx), (b, y, dy) = values
    if not (pd.notna(x) and pd.notna(y)):
        return ""
    if dx != dy:
        return f"cross-check USD/JPY: {b} has no value for {dx:%Y-%m-%d} (its latest usable is {dy:%Y-%m-%d})"
    return (f"cross-check USD/JPY: {a} {x:.3f} ({dx:%Y-%m-%d}) vs {b} {y:.3f} ({dy:%Y-%m-%d}), "
            f"difference {100 * (x / y - 1):+.2f}%")


def _plot(store, inputs, cfg, as_of: pd.Timestamp, start: pd.Timestamp, path: Path) -> None:
    from signals.risk import risk_at
    from signals.risk_plot import plot_risk

    days = pd.date_range(start.normalize(), as_of, freq="D")
    history = risk_at(inputs, days, cfg)
    jgb = inputs.read(cfg.jgb_series).loc[start:as_of - pd.Timedelta(days=1)]
    fx = inputs.read(cfg.fx_series)
    fx = (fx["close"] if "close" in fx.columns else fx.iloc[:, 0]).loc[start:as_of - pd.Timedelta(days=1)]
    btc_ids = [sid for sid in ("yahoo/BTC-USD/1d", "binance/BTC-USDT/1d") if store.exists(sid)]
    btc, label = None, "BTC"
    if btc_ids:
        sid = max(btc_ids, key=lambda s: store.meta(s).last)
        btc, label = store.read(sid)["close"].loc[start:as_of - pd.Timedelta(days=1)], f"BTC close ({sid})"
    plot_risk(path, history["score"], thresholds=cfg.thresholds, jgb=jgb, usdjpy=fx, btc=btc, btc_label=label,
              title=f"Carry-Unwind Risk Index, {start:%Y-%m-%d} to {as_of:%Y-%m-%d}")


@click.command("signals")
@click.option("--start", type=UTC_TIME, default="2000-01-01", show_default=True, help="First day (00:00 UTC).")
@click.option("--end", type=UTC_TIME, help="Last day (default: the latest time the stored data supports).")
@click.option("--out", "out_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Write every row to FILE.csv or FILE.parquet (otherwise the last 10 days are shown).")
@click.option("--json", "as_json", is_flag=True, help="Print every row as a JSON list of objects.")
@click.option("--config", "config_path", type=click.Path(exists=True, dir_okay=False, path_type=Path), help=CONFIG_HELP)
@click.pass_obj
def signals(obj, start: pd.Timestamp, end: pd.Timestamp | None, out_path: Path | None, as_json: bool,
            config_path: Path | None) -> None:
    """Daily history (00:00 UTC each day) of every feature, the score and the regime.

    Columns: score, regime, composite, <component>_value/_change/_zscore/_contribution,
    <input>_date/_age_days and stale.

    \b
    Examples:
      carryguard signals --start 2024-01-01 --out signals.csv
      carryguard signals --start 2024-07-01 --end 2024-08-31 --json
    """
    from signals.errors import CarryguardError
    from signals.risk import latest_time, risk_at

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
        print_json([{k: (None if isinstance(v, float) and v != v else v) for k, v in row.items()}
                    for row in table.to_dict(orient="records")])
    elif not out_path:
        tail = history.tail(10)
        print_table(f"Risk index, last {len(tail)} of {len(history)} days (use --out FILE for all)",
                    ["day", "score", "regime"] + [c.removesuffix("_contribution") for c in history.columns
                                                  if c.endswith("_contribution")],
                    [(t.strftime("%Y-%m-%d"), _fmt(r.score, 1), r.regime,
                      *[_fmt(r[c], 3, True) for c in history.columns if c.endswith("_contribution")])
                     for t, r in tail.iterrows()],
                    right=["score"])


commands = [risk, signals]
