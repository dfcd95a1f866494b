"""The ``carryguard`` command: the one place that wires signals, strategies and backtests.

Each verb lives in its own module of this package and exports ``commands``. Importing the
package (what ``--help`` does) loads click, rich, the store class and the verb modules
only: pandas, numpy, numba, matplotlib, dask and ccxt are imported inside the commands
that use them (``tests/test_cli_imports.py`` holds this), so ``--help`` stays fast, and
``main`` opens the store for every command.
Exit codes (``Carryguard.main``): 0 success, 1 runtime/data error (one line on stderr),
2 usage error (one line too), 130 interrupted. The installed script is ``script``, which
ends the process without the interpreter's teardown (``leave``).
"""

from __future__ import annotations

import atexit
import gc
import os
import sys
import threading
import traceback
from dataclasses import dataclass
from functools import partial
from importlib import import_module
from pathlib import Path
from typing import Any, NoReturn, cast

import click

from carryguard.backtests.cli.console import add_wide_option
from carryguard.signals.config import closest
from carryguard.signals.errors import CarryguardError
from carryguard.signals.store import Store

COMMAND_MODULES = ("data", "risk", "backtest", "compare", "trades", "sweep", "paper", "strategies")
# The script's collector: a young-generation pass per 100,000 net allocations instead of 700
# (imports allocate millions of objects that live as long as the process); still bounded.
SCRIPT_GC_THRESHOLDS = (100_000, 50, 50)


@dataclass(frozen=True)
class CliContext:
    """What every command gets: the store and whether to show tracebacks."""

    store: Store
    debug: bool


class Carryguard(click.Group):
    """The ``carryguard`` group, whose ``main`` is the one place errors become exit codes:
    a known error is one stderr line and exit 1, a usage error one line and exit 2 (an
    unknown command or subcommand names the nearest one), Ctrl-C exits 130."""

    debug = False  # --debug of the running command (set by its callback): tracebacks on errors

    def main(  # type: ignore[override]
        self,
        args: list[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        as_script: bool = False,
        **extra: Any,
    ) -> Any:
        """Run the command line. ``as_script`` (the installed script, ``script``): the process is
        this command's alone, so the cyclic garbage collector runs less often while pandas,
        numba... load (``SCRIPT_GC_THRESHOLDS``: 0.2-0.4 s less CPU for a backtest or a sweep)
        and the process ends with ``leave`` instead of raising ``SystemExit``."""
        self.debug = False
        if as_script:
            gc.set_threshold(*SCRIPT_GC_THRESHOLDS)
        try:
            try:
                result = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
            except click.NoSuchCommand as exc:
                usage_fail(exc, nearest_command(exc))
            except click.UsageError as exc:
                usage_fail(exc)
            except click.Abort as exc:
                if isinstance(exc.__cause__, KeyboardInterrupt):
                    click.echo("interrupted", err=True)
                    sys.exit(130)
                click.echo("Aborted!", err=True)
                sys.exit(1)
            except click.ClickException as exc:
                exc.show()
                sys.exit(exc.exit_code)
            except CarryguardError as exc:
                fail(f"error: {exc}", exc, self.debug)
            except Exception as exc:
                message = f"internal error: {type(exc).__name__}: {exc} (rerun with --debug for the traceback)"
                fail(message, exc, self.debug)
            if not standalone_mode:
                return result
            sys.exit(result if isinstance(result, int) else 0)
        except SystemExit as done:
            if as_script:
                leave(done.code)
            raise


def leave(code: str | int | None) -> NoReturn:
    """End the process now with ``code`` as ``sys.exit`` would, without the interpreter's
    teardown: unloading pandas, pyarrow and numba's compiled kernels took 0.2-0.7 s after a
    command's work was done (on this project's 2-core box). What an exit must still do is
    done first: the atexit callbacks run (multiprocessing's children, logging's files,
    temporary folders) and the standard streams are flushed. While another non-daemon
    thread runs (Python would wait for it), it exits the usual way."""
    if any(t.is_alive() and not t.daemon for t in threading.enumerate() if t is not threading.main_thread()):
        sys.exit(code)
    status = code if isinstance(code, int) else 0 if code is None else 1
    if isinstance(code, str):
        print(code, file=sys.stderr)
    atexit._run_exitfuncs()  # the callbacks Python's own exit runs (no public name for this)
    for stream in (sys.stdout, sys.stderr):
        try:
            if stream is not None:
                stream.flush()
        except (OSError, ValueError):  # a closed pipe (`| head`): status 120, as Python's own exit gives
            status = status or 120
    os._exit(status)


def nearest_command(exc: click.NoSuchCommand) -> str:
    """``no such command 'x'; did you mean 'y'?`` (else the group's commands)."""
    assert exc.ctx is not None and isinstance(exc.ctx.command, click.Group)  # click raises it inside a group
    names = exc.ctx.command.list_commands(exc.ctx)
    near = closest(exc.command_name, names)
    hint = f"did you mean {near!r}?" if near else f"commands: {', '.join(names)}"
    return f"no such command {exc.command_name!r}; {hint}"


def usage_fail(exc: click.UsageError, message: str = "") -> NoReturn:
    """Exit 2 with the usage error on one stderr line, and where the command's help is."""
    message = " ".join((message or exc.format_message()).split())
    where = f" (see `{exc.ctx.command_path} --help`)" if exc.ctx is not None else ""
    click.echo(f"error: {message}{where}", err=True)
    sys.exit(exc.exit_code)


def fail(message: str, exc: BaseException, debug: bool) -> NoReturn:
    """Exit 1 with the first line of ``message`` on stderr (the traceback too with ``--debug``;
    an error in a user's strategy code always shows that code's own traceback first)."""
    if debug:
        traceback.print_exception(exc)
    elif user_code := getattr(exc, "user_traceback", ""):
        click.echo(str(user_code).rstrip(), err=True)
    click.echo(message.splitlines()[0] if message else "error", err=True)
    sys.exit(1)


@click.group(cls=Carryguard, context_settings={"help_option_names": ["-h", "--help"]})
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
    cast(Carryguard, ctx.command).debug = debug
    ctx.obj = CliContext(Store(data_dir), debug)


for _name in COMMAND_MODULES:
    for _command in import_module(f"carryguard.backtests.cli.{_name}").commands:
        main.add_command(add_wide_option(_command))

# The installed `carryguard` script (and ``python -m carryguard.backtests.cli``): ``main`` on
# sys.argv as a process of its own (``Carryguard.main``'s ``as_script``). A partial, not a
# function: the script's way to every command stays as short as ``main()``'s (benchmarks/walks.py).
script = partial(main, as_script=True)
