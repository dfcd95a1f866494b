"""Count the hops of three configuration walks through the package; prints figures.

    python benchmarks/walks.py [--repo DIR] [--data-dir STORE] [--entry script|call] [--json]

The walks (issue 10): a study's start date from ``carryguard backtest --start
2023-01-01`` to the engine; the overlay settings from ``paper run --overlay carry`` and
from ``paper run --study S.toml`` to the paper decider; the data dir (``--data-dir`` and
``$CARRYGUARD_DATA_DIR``) to the store.

A hop is one call of a package function (its module is ``carryguard.*``, or the old
top-level ``signals``/``strategies``/``backtests``; comprehension frames excluded) whose
arguments or return value hold the walked value: the value itself, or inside an
attribute, dataclass/pydantic field, mapping value or sequence item, at most four levels
down. Hops are counted in call order from the CLI entry (``main``) up to and including
the first call of the walk's consumer; the run is then stopped. A module switch is two
consecutive hops in different modules. The commands run in this process under
``sys.setprofile`` (this thread only), against a local Binance emulator for ``paper run``.

The entry is called as the installed ``carryguard`` script calls it (``--entry script``,
the default): ``main()`` with the command line in ``sys.argv``. ``--entry call`` passes
the command line as an argument instead, ``main(argv, standalone_mode=False)``, as the
tests do: then an entry function that takes the command line counts as a hop too.

Run it with each checkout's own venv (``--repo`` names the checkout whose ``tests/fakes``
serve the emulator). The code before the namespace move imports as top-level
``backtests``; its ``paper run`` had no ``--study``, so there only the ``--overlay carry``
flag walk is measured (the flag selected the default overlay settings).
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib
import itertools
import json
import os
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

OLD_ROOTS = ("signals", "strategies", "backtests")
SKIPPED_FRAMES = ("<genexpr>", "<listcomp>", "<dictcomp>", "<setcomp>")
SEARCH_DEPTH = 4
SEQUENCE_ITEMS = 64
START = "2023-01-01"
VOL_TARGET, HYSTERESIS = 0.55, 7.5  # the study's non-default overlay settings (walk 2)
OVERLAY_TYPES = ("OverlayConfig", "CarryOverlay")


class Reached(BaseException):
    """Raised into the consumer's frame to stop the command (no package code catches it)."""


@dataclass
class Hop:
    module: str
    function: str
    carried_in: bool = False
    carried_out: bool = False


@dataclass
class Walk:
    name: str
    argv: list[str]
    matches: Callable[[object], bool]
    is_consumer: Callable[[str, FrameType], bool]
    env: dict[str, str] = field(default_factory=dict)
    consumer_carries: bool = True  # False: the consumer gets the value's effect (bars cut at the start)
    hops: list[Hop] = field(default_factory=list)
    reached: bool = False


def package_module(frame: FrameType) -> str | None:
    name = frame.f_globals.get("__name__", "")
    root = name.split(".", 1)[0]
    if root == "carryguard" or root in OLD_ROOTS:
        return name
    return None


def function_name(frame: FrameType) -> str:
    """The qualified name; a dataclass's generated ``__init__`` is named after its class."""
    code = frame.f_code
    if code.co_name == "__init__" and "self" in frame.f_locals:
        return f"{type(frame.f_locals['self']).__name__}.__init__"
    return code.co_qualname


def holds(value: object, matches: Callable[[object], bool], depth: int = SEARCH_DEPTH, seen: set | None = None) -> bool:
    """Whether ``value`` is, or holds within ``depth`` levels, something ``matches`` accepts."""
    seen = set() if seen is None else seen
    if id(value) in seen:
        return False
    seen.add(id(value))
    try:
        if matches(value):
            return True
    except Exception:  # a foreign __eq__ may refuse the comparison
        return False
    if depth == 0 or value is None or isinstance(value, str | bytes | int | float | Path | dt.date):
        return False
    kind = type(value).__module__.split(".", 1)[0]
    if kind in ("pandas", "numpy", "builtins") and not isinstance(value, dict | list | tuple | set | frozenset):
        return False
    if isinstance(value, dict):
        items: list[object] = list(value.values())[:SEQUENCE_ITEMS]
    elif isinstance(value, list | tuple | set | frozenset):
        items = list(value)[:SEQUENCE_ITEMS]
    else:
        attrs = getattr(value, "__dict__", None)
        slots = getattr(type(value), "__slots__", ())
        items = list(attrs.values()) if isinstance(attrs, dict) else []
        items += [getattr(value, s, None) for s in ((slots,) if isinstance(slots, str) else slots)]
    return any(holds(item, matches, depth - 1, seen) for item in items)


@contextmanager
def traced(walk: Walk) -> Iterator[None]:
    active: dict[int, Hop] = {}

    def profile(frame: FrameType, event: str, arg: Any) -> None:
        if event not in ("call", "return"):
            return
        code = frame.f_code
        if code.co_name in SKIPPED_FRAMES:
            return
        module = package_module(frame)
        if module is None:
            return
        if event == "call":
            hop = Hop(module, function_name(frame))
            hop.carried_in = any(holds(v, walk.matches) for v in frame.f_locals.values())
            consumer = walk.is_consumer(module, frame) and (hop.carried_in or not walk.consumer_carries)
            if hop.carried_in or consumer:
                walk.hops.append(hop)
            active[id(frame)] = hop
            if consumer:
                walk.reached = True
                raise Reached
        else:
            hop = active.pop(id(frame), None)
            if hop is not None and not hop.carried_in and arg is not None and holds(arg, walk.matches):
                hop.carried_out = True
                walk.hops.append(hop)  # a producer: counted where it returned the value

    sys.setprofile(profile)
    try:
        yield
    finally:
        sys.setprofile(None)


def run_walk(walk: Walk, main: Callable[..., object], entry: str) -> None:
    saved = {k: os.environ.get(k) for k in walk.env}
    os.environ.update(walk.env)
    argv = sys.argv
    try:
        with traced(walk):
            if entry == "script":
                sys.argv = ["carryguard", *walk.argv]
                main()
            else:
                main(walk.argv, prog_name="carryguard", standalone_mode=False)
    except Reached:
        pass
    except BaseException as exc:  # the walk never reached its consumer: say so in the figures
        print(f"{walk.name}: stopped before the consumer: {type(exc).__name__}: {exc}", file=sys.stderr)
    finally:
        sys.argv = argv
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def is_start(value: object) -> bool:
    if isinstance(value, str):
        return value == START
    if isinstance(value, dt.date):  # date, datetime and pandas.Timestamp
        return value.isoformat()[:10] == START
    return False


def is_overlay_setting(value: object) -> bool:
    if type(value).__name__ in OVERLAY_TYPES:
        return True
    if isinstance(value, str):
        return value == "carry"
    return isinstance(value, float) and value in (VOL_TARGET, HYSTERESIS)


def is_path(text: str) -> Callable[[object], bool]:
    return lambda value: isinstance(value, str | Path) and str(value) == text


def named(*functions: str) -> Callable[[str, FrameType], bool]:
    return lambda module, frame: frame.f_code.co_qualname in functions


def switches(hops: list[Hop]) -> int:
    return sum(1 for a, b in itertools.pairwise(hops) if a.module != b.module)


def chain(hops: list[Hop]) -> list[str]:
    """``module:function`` per hop, runs of the same function collapsed as ``xN``."""
    out: list[list] = []
    for hop in hops:
        name = f"{hop.module}:{hop.function}" + (" (returns it)" if hop.carried_out else "")
        if out and out[-1][0] == name:
            out[-1][1] += 1
        else:
            out.append([name, 1])
    return [name if n == 1 else f"{name} x{n}" for name, n in out]


def walks(store: str, tmp: Path, new: bool, emulator_url: str) -> list[Walk]:
    engine = named("run_fast", "run_backtrader")
    backtest = ["backtest", "--start", START, "--symbol", "BTC/USDT", "--timeframe", "1d", "--strategy", "sma_cross"]
    backtest += ["--results-dir", str(tmp / "results")]
    paper = ["--data-dir", store, "paper", "run", "--exchange", "binance", "--symbol", "BTC/USDT"]
    paper += [
        "--timeframe",
        "4h",
        "--strategy",
        "sma_cross",
        "--history",
        "300",
        "--once",
        "--state",
        str(tmp / "p.db"),
    ]
    url = {"CARRYGUARD_BINANCE_URL": emulator_url}
    decider = named("OverlayDecider.__init__")
    overlay_walks = [
        Walk("overlay: paper run --overlay", [*paper, "--overlay", "carry"], is_overlay_setting, decider, url),
    ]
    if new:
        study = tmp / "S.toml"
        study.write_text(
            'name = "walk"\noverlays = ["carry"]\n[data]\nsymbols = ["BTC/USDT"]\ntimeframes = ["4h"]\n'
            f"[strategies]\nsma_cross = {{}}\n[overlay]\nvol_target = {VOL_TARGET}\nhysteresis = {HYSTERESIS}\n"
        )
        state = [str(tmp / "s.db") if a == str(tmp / "p.db") else a for a in paper]
        overlay_walks.append(
            Walk("overlay: paper run --study", [*state, "--study", str(study)], is_overlay_setting, decider, url)
        )
    store_init = named("Store.__init__")
    return [
        Walk(
            "start date: backtest --start", ["--data-dir", store, *backtest], is_start, engine, consumer_carries=False
        ),
        *overlay_walks,
        Walk("data dir: --data-dir", ["--data-dir", store, "data", "list"], is_path(store), store_init),
        Walk(
            "data dir: $CARRYGUARD_DATA_DIR",
            ["data", "list"],
            is_path(store),
            store_init,
            {"CARRYGUARD_DATA_DIR": store},
        ),
    ]


# The CLI module of each layout, newest first: a checkout from before issue 10 (passed with
# --repo to measure the "before" walks) still had the top-level folders as import names.
CLI_MODULES = ("carryguard.backtests.cli", "backtests.cli")


def _cli_entry() -> tuple[Callable[..., Any], bool]:
    """The click entry point of the checkout on sys.path, and whether it is the carryguard.* layout."""
    for name in CLI_MODULES:
        try:
            return importlib.import_module(name).main, name == CLI_MODULES[0]
        except ImportError:
            continue
    raise SystemExit(f"walks: none of {', '.join(CLI_MODULES)} imports from --repo")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--repo", type=Path, default=Path(__file__).resolve().parents[1], help="checkout for tests/fakes"
    )
    parser.add_argument("--data-dir", default=os.environ.get("CARRYGUARD_DATA_DIR"), help="store with shared/data")
    parser.add_argument(
        "--entry",
        choices=("script", "call"),
        default="script",
        help="call main() as the carryguard script does (argv in sys.argv) or with argv as an argument",
    )
    parser.add_argument("--json", action="store_true", help="print JSON instead of text")
    args = parser.parse_args()
    if not args.data_dir:
        raise SystemExit("walks: pass --data-dir STORE (a store with ../shared/data imported)")
    sys.path.insert(0, str(args.repo))
    cli_main, new = _cli_entry()
    import pandas as pd

    from tests.fakes.binance import BinanceEmulator, read_bars

    bars = read_bars(args.repo.parent / "shared" / "data" / "btcusdt_4h_binance.csv")
    now = pd.Timestamp("2025-01-01T00:00:05Z")
    report = []
    with tempfile.TemporaryDirectory() as tmp, BinanceEmulator({("BTCUSDT", "4h"): bars}, now=now) as emulator:
        for walk in walks(str(Path(args.data_dir).resolve()), Path(tmp), new, emulator.url):
            run_walk(walk, cli_main, args.entry)
            modules = sorted({h.module for h in walk.hops})
            report.append(
                {
                    "walk": walk.name,
                    "reached": walk.reached,
                    "hops": len(walk.hops),
                    "module_switches": switches(walk.hops),
                    "modules": len(modules),
                    "functions": len({(h.module, h.function) for h in walk.hops}),
                    "path": chain(walk.hops),
                }
            )
    if args.json:
        layout = "carryguard.*" if new else "top-level"
        print(json.dumps({"layout": layout, "entry": args.entry, "walks": report}, indent=1))
        return
    print(f"layout: {'carryguard.*' if new else 'top-level signals/strategies/backtests'}; entry: {args.entry}")
    for row in report:
        status = "" if row["reached"] else "  (consumer NOT reached)"
        figures = (
            f"{row['hops']} hops ({row['functions']} distinct functions), {row['module_switches']} module switches"
        )
        print(f"\n{row['walk']}: {figures}, {row['modules']} modules{status}")
        for step in row["path"]:
            print(f"  {step}")


if __name__ == "__main__":
    main()
