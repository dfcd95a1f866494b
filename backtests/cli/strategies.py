"""``carryguard strategies [new NAME]`` and ``carryguard check lookahead``: your own strategies."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from carryguard.backtests.cli.console import print_json, print_table, stdout
from carryguard.backtests.cli.options import PARAM_OPTION, Choice

if TYPE_CHECKING:
    from carryguard.backtests.cli import CliContext


@click.group("strategies", invoke_without_command=True)
@click.option(
    "--json", "as_json", is_flag=True, help="Print a JSON list: strategy, name, source, baseline, parameters."
)
@click.pass_context
def strategies(ctx: click.Context, as_json: bool) -> None:
    """List the built-in strategies and those installed packages register, with their
    parameters and defaults; `strategies new NAME` writes a template of your own.

    Your own strategy is a file: `--strategy path/to/file.py:ClassName` (or
    `package.module:ClassName`) works wherever a strategy name does (backtest, study
    files, sweep, paper run, check lookahead). Packages register strategies under the
    entry-point group `carryguard.strategies`.

    \b
    Examples:
      carryguard strategies
      carryguard strategies new my_trend && carryguard backtest --strategy my_trend.py:MyTrend
    """
    if ctx.invoked_subcommand is not None:
        return
    import carryguard.strategies  # noqa: F401  (registers the built-ins)
    from carryguard.strategies.base import REGISTRY
    from carryguard.strategies.loader import describe, installed_strategies, strategy_class

    rows = [describe(name, cls, source="built-in") for name, cls in sorted(REGISTRY.items())]
    rows += [
        describe(name, strategy_class(name), source=value) for name, value in sorted(installed_strategies().items())
    ]
    if as_json:
        print_json(rows)
        return
    print_table(
        "Strategies (* = bottom-fishing baseline)",
        ["strategy", "parameters (defaults)", "what"],
        [
            [
                f"{row['strategy']}{' *' if row['baseline'] else ''}",
                ", ".join(f"{k}={v}" for k, v in dict(row["parameters"]).items()) or "-",  # type: ignore[call-overload]
                row["summary"],
            ]
            for row in rows
        ],
    )
    stdout.print(
        "Your own: --strategy path/to/file.py:ClassName (see `carryguard strategies new --help`)", highlight=False
    )


@strategies.command("new")
@click.argument("name")
@click.option(
    "--dir",
    "folder",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("."),
    show_default=True,
    help="Folder to write NAME.py into.",
)
@click.option("--force", is_flag=True, help="Overwrite an existing file.")
def new(name: str, folder: Path, force: bool) -> None:
    """Write a commented strategy template NAME.py that runs as written.

    \b
    Example:
      carryguard strategies new my_trend
      carryguard backtest --strategy my_trend.py:MyTrend --symbol BTC/USDT
    """
    from carryguard.strategies.template import render

    try:
        file_name, source = render(name)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="NAME") from None
    path = folder / file_name
    if path.exists() and not force:
        raise click.UsageError(f"{path} exists; pass --force to overwrite it or choose another NAME")
    folder.mkdir(parents=True, exist_ok=True)
    path.write_text(source, encoding="utf-8")
    class_name = source.split("class ", 1)[1].split(":", 1)[0]
    stdout.print(f"wrote {path}: try `carryguard backtest --strategy {path}:{class_name}`", highlight=False)


@strategies.command("freqtrade")
@click.argument("folder", type=click.Path(file_okay=False, path_type=Path))
def freqtrade(folder: Path) -> None:
    """Write carryguard_overlay.py, the freqtrade mixin (standard library only), into
    FOLDER (your freqtrade user_data/strategies). See README "Using the overlay from
    another bot".

    \b
    Example:
      carryguard strategies freqtrade user_data/strategies
      carryguard risk --export user_data/carryguard_risk.csv
    """
    from importlib.resources import files

    folder.mkdir(parents=True, exist_ok=True)
    target = folder / "carryguard_overlay.py"
    target.write_text((files("carryguard.strategies") / "freqtrade_overlay.py").read_text(encoding="utf-8"))
    stdout.print(
        f"wrote {target}: mix CarryguardOverlay into your IStrategy (class S(CarryguardOverlay, IStrategy))",
        highlight=False,
    )


@click.group("check")
def check() -> None:
    """Checks of your own strategies (look-ahead)."""


@check.command("lookahead")
@click.option("--strategy", "spec", required=True, metavar="NAME|PATH:Class", help="Built-in name or your own class.")
@PARAM_OPTION
@click.option(
    "--overlay",
    type=Choice(["none", "carry"]),
    default="none",
    show_default=True,
    help="Also check the overlay's sizing of the strategy (reads the risk index from the store).",
)
@click.option("--source", default="binance", show_default=True, help="Store source of the bars.")
@click.option("--symbol", default="BTC/USDT", show_default=True, help="Symbol of the bars.")
@click.option("--timeframe", default="1d", show_default=True, help="Bar length (1d, 4h, ...).")
@click.option("--cuts", type=click.IntRange(min=1, max=10_000), default=50, show_default=True, help="Cut dates.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.pass_obj
def lookahead(
    obj: CliContext,
    spec: str,
    params: tuple[str, ...],
    overlay: str,
    source: str,
    symbol: str,
    timeframe: str,
    cuts: int,
    as_json: bool,
) -> None:
    """Recompute the strategy's decisions (and the overlay's) on the stored bars cut at
    --cuts dates and compare each with the full-history run; then perturb every bar
    after each cut (prices x 1.5) and compare again. Prints `no look-ahead found at N
    cuts` or the first bar whose decision changed, with the column and both values;
    exit 1 when biased.

    \b
    Examples:
      carryguard check lookahead --strategy sma_cross
      carryguard check lookahead --strategy my_trend.py:MyTrend --param window=20 --overlay carry
    """
    from carryguard.backtests.cli.paper import _parse_params
    from carryguard.backtests.run.lookahead import check_store

    report = check_store(
        obj.store,
        spec=spec,
        params=_parse_params(params),
        overlay=overlay,
        source=source,
        symbol=symbol,
        timeframe=timeframe,
        cuts=cuts,
    )
    if as_json:
        print_json(report.to_dict())
    else:
        stdout.print(report.summary(), highlight=False)
    if report.finding is not None:
        raise SystemExit(1)


commands = [strategies, check]
