"""The ``carryguard`` command: the one place that wires signals, strategies and backtests.

Each verb lives in its own module of this package and exports ``commands``. Importing the
package (what ``--help`` does) loads click, rich and the verb modules only: pandas, numpy,
numba, matplotlib, dask, ccxt and the store are imported inside the commands that use
them (``tests/test_cli_imports.py`` holds this), so ``--help`` stays fast.
Exit codes: 0 success, 1 runtime/data error (one line on stderr), 2 usage error (one line too).
"""

from __future__ import annotations

import sys
import traceback
from dataclasses import dataclass
from functools import cached_property
from importlib import import_module
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import click

from carryguard.backtests.cli.console import add_wide_option
from carryguard.backtests.cli.options import Group
from carryguard.signals.errors import CarryguardError

if TYPE_CHECKING:
    from carryguard.signals.store import Store

COMMAND_MODULES = ("data", "risk", "backtest", "compare", "trades", "sweep", "paper", "strategies")


@dataclass(frozen=True)
class CliContext:
    """What every command gets: the store (opened on first use) and whether to show tracebacks."""

    data_dir: Path | None
    debug: bool

    @cached_property
    def store(self) -> Store:
        from carryguard.signals.store import Store

        return Store(self.data_dir)


class CarryguardGroup(Group):
    """Turns known errors into one stderr line and exit code 1, and usage errors into one line and 2."""

    def make_context(
        self, info_name: str | None, args: list[str], parent: click.Context | None = None, **extra: Any
    ) -> click.Context:
        try:
            return super().make_context(info_name, args, parent, **extra)
        except click.UsageError as exc:
            usage_fail(exc)

    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except click.UsageError as exc:
            usage_fail(exc)
        except (click.exceptions.Exit, click.exceptions.Abort, click.ClickException):
            raise
        except CarryguardError as exc:
            fail(ctx, f"error: {exc}", exc)
        except KeyboardInterrupt:
            click.echo("interrupted", err=True)
            sys.exit(130)
        except Exception as exc:
            fail(ctx, f"internal error: {type(exc).__name__}: {exc} (rerun with --debug for the traceback)", exc)


def usage_fail(exc: click.UsageError) -> NoReturn:
    """Exit 2 with the usage error on one stderr line, and where the command's help is."""
    message = " ".join(exc.format_message().split())
    where = f" (see `{exc.ctx.command_path} --help`)" if exc.ctx is not None else ""
    click.echo(f"error: {message}{where}", err=True)
    sys.exit(exc.exit_code)


def fail(ctx: click.Context, message: str, exc: BaseException) -> NoReturn:
    """Exit 1 with the first line of ``message`` on stderr (the traceback too with ``--debug``;
    an error in a user's strategy code always shows that code's own traceback first)."""
    if ctx.params.get("debug"):
        traceback.print_exception(exc)
    elif user_code := getattr(exc, "user_traceback", ""):
        click.echo(str(user_code).rstrip(), err=True)
    click.echo(message.splitlines()[0] if message else "error", err=True)
    sys.exit(1)


@click.group(cls=CarryguardGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="carryguard", prog_name="carryguard")
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    envvar="CARRYGUARD_DATA_DIR",
    help="Where series are stored (default: $CARRYGUARD_DATA_DIR or the per-user cache dir).",
)
@click.option("--debug", is_flag=True, help="Show tracebacks on errors.")
@click.pass_context
def main(ctx: click.Context, data_dir: Path | None, debug: bool) -> None:
    """carryguard: yen carry-unwind risk for crypto, as an index, an overlay and backtests.

    \b
    Examples:
      carryguard data import ../shared/data     # offline: publisher CSVs
      carryguard risk                           # risk level now
      carryguard backtest                       # default study, with/without overlay
    """
    ctx.obj = CliContext(data_dir=data_dir, debug=debug)


for _name in COMMAND_MODULES:
    for _command in import_module(f"carryguard.backtests.cli.{_name}").commands:
        main.add_command(add_wide_option(_command))
