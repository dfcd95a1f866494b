"""Whole-process timings of the user-facing commands, beside their targets; prints a table.

    python benchmarks/bench_commands.py [--data-dir DIR] [--runs 5] [--only NAME ...] [--against EXE]

Each command runs as a fresh ``carryguard`` process (what a user waits for: interpreter
start, imports, JIT cache loading, the work, writing results), once to warm the OS and
numba caches, then ``--runs`` times; the table shows min/median/max wall seconds and the
largest peak RSS of the process and its children (``getrusage``; sweep workers included).
Without --data-dir the publisher CSVs of ../shared/data are imported into a temporary
store first (not timed). Run folders go to a temporary directory. The "backtrader
stepping" row is backtrader's own time inside the default study (``bench_backtest``'s
engine timer), the figure the ``--engine backtrader`` target is relative to.
``--against EXE`` runs another install's ``carryguard`` (an older checkout's venv)
alternately with this one and prints its rows below each command: on a machine shared
with other jobs, before and after then see the same load.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"
SWEEP_STUDY = REPO / "backtests" / "studies" / "sweep_sma_4h.toml"
CARRYGUARD = str(Path(sys.executable).with_name("carryguard"))
VERBS = ("data", "risk", "signals", "backtest", "sweep", "compare", "report", "paper")


@dataclass(frozen=True)
class Command:
    name: str
    args: tuple[str, ...]
    target: str  # as the issue states it
    limit: float | None  # seconds, when the target is a fixed number
    cold: bool = False  # clear the cached risk reading before each run (a miss: the stored data changed)


def commands(results: Path) -> list[Command]:
    out = [Command("--help", ("--help",), "<= 0.3 s", 0.3)]
    out += [Command(f"{verb} --help", (verb, "--help"), "<= 0.3 s", 0.3) for verb in VERBS]
    out += [
        Command("risk --json", ("risk", "--json"), "<= 0.6 s", 0.6),
        Command("risk --json (cold)", ("risk", "--json"), "<= 0.6 s", 0.6, cold=True),
        Command("backtest (default engine)", ("backtest", "--results-dir", str(results)), "<= 3 s", 3.0),
        Command(
            "backtest --engine backtrader",
            ("backtest", "--engine", "backtrader", "--results-dir", str(results)),
            "<= stepping + 1.5 s",
            None,
        ),
        Command("sweep sweep_sma_4h", ("sweep", str(SWEEP_STUDY), "--results-dir", str(results)), "<= 2.5 s", 2.5),
        Command("report latest", ("report", "LATEST"), "<= 8 s", 8.0),
    ]
    return out


def run_once(args: tuple[str, ...], env: dict[str, str], cwd: str, exe: str = CARRYGUARD) -> tuple[float, float, float]:
    """Wall seconds, CPU seconds (user + system) and peak RSS (MB) of one ``carryguard`` process (``wait4``: its own
    rusage, which also covers the children it waited for, e.g. sweep workers)."""
    with tempfile.TemporaryFile() as err:
        started = time.perf_counter()
        process = subprocess.Popen([exe, *args], env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=err)
        _, status, usage = os.wait4(process.pid, 0)
        seconds = time.perf_counter() - started
        process.returncode = os.waitstatus_to_exitcode(status)
        if process.returncode != 0:
            err.seek(0)
            message = err.read().decode(errors="replace").strip()[:300]
            raise SystemExit(f"carryguard {' '.join(args)} failed ({process.returncode}): {message}")
    return seconds, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024


def clear_cache(store: Path, cold: bool) -> None:
    """Before a ``cold`` command: remove the store's cached risk readings (not timed)."""
    if cold:
        from carryguard.backtests.cli.risk_cache import CACHE_DIR

        shutil.rmtree(store / CACHE_DIR, ignore_errors=True)


def latest_run(results: Path, *, need: bool = True) -> str:
    """The newest default-study run folder in ``results`` ("" if none and not ``need``)."""
    runs = sorted(p for p in results.iterdir() if (p / "metrics.json").is_file() and "carry_unwind" in p.name)
    if not runs:
        if not need:
            return ""
        raise SystemExit("no backtest run folder to report on (run the backtest rows first)")
    return str(runs[-1])


def stepping_seconds(store: Path) -> float:
    """Seconds spent inside backtrader's engine over the default study (one run, in this
    process): the part of ``backtest --engine backtrader`` no startup work can remove."""
    from bench_support import TIMED_ENGINE, engine_seconds

    from carryguard.backtests.run.runner import run_study
    from carryguard.backtests.run.study import load_study
    from carryguard.signals.store import Store

    with engine_seconds("backtrader") as spent:
        run_study(load_study(), Store(store), engine=TIMED_ENGINE)
        return spent()


def measure(store: Path, runs: int, only: list[str], against: str | None = None) -> None:
    with tempfile.TemporaryDirectory(prefix="bench-commands-") as tmp:
        results = Path(tmp) / "results"
        results.mkdir()
        # as a user's shell runs them: the warm-up may write .pyc files (this sandbox sets
        # PYTHONDONTWRITEBYTECODE, which would make every run compile the package again)
        env = {**os.environ, "CARRYGUARD_DATA_DIR": str(store)}
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        exes = [CARRYGUARD] if against is None else [CARRYGUARD, against]
        # each install its own copy of the store: their cached risk readings would evict each other
        stores = {exe: store for exe in exes}
        if against is not None:
            stores[against] = Path(tmp) / "against-store"
            shutil.copytree(store, stores[against], ignore=shutil.ignore_patterns(".cache"))
        envs = {exe: {**env, "CARRYGUARD_DATA_DIR": str(stores[exe])} for exe in exes}
        rows = []
        stepping = None
        for command in commands(results):
            if only and not any(word in command.name for word in only):
                continue
            if command.name == "backtest --engine backtrader":
                stepping = stepping_seconds(store)
            if "LATEST" in command.args and not latest_run(results, need=False):  # --only "report latest"
                run_once(("backtest", "--results-dir", str(results)), env, tmp)  # the run to report on, untimed
            args = tuple(latest_run(results) if a == "LATEST" else a for a in command.args)
            for exe in exes:
                clear_cache(stores[exe], command.cold)
                run_once(args, envs[exe], tmp, exe)  # warm-up
            timings: dict[str, list[tuple[float, float, float]]] = {exe: [] for exe in exes}
            for i in range(runs):  # with --against: alternating, each first every other time
                for exe in exes if i % 2 == 0 else exes[::-1]:
                    clear_cache(stores[exe], command.cold)
                    timings[exe].append(run_once(args, envs[exe], tmp, exe))
            limit = command.limit if command.limit is not None else (stepping or 0.0) + 1.5
            for exe in exes:
                seconds = [t for t, _, _ in timings[exe]]
                median = statistics.median(seconds)
                cpu = statistics.median(c for _, c, _ in timings[exe])
                peak = max(p for _, _, p in timings[exe])
                name = command.name if exe == CARRYGUARD else f"  {command.name} (against)"
                row = Command(name, command.args, command.target, command.limit)
                rows.append((row, min(seconds), median, max(seconds), cpu, peak, median <= limit))
                print(f"  measured {name}: median {median:.2f} s", file=sys.stderr, flush=True)
        print_table(rows, runs, stepping)
        if against is not None:
            print(f"(against) rows: {against}, run alternately with this install's in the same minutes")


def print_table(rows: list, runs: int, stepping: float | None) -> None:
    print(f"{'command':30} {'min s':>6} {'median':>6} {'max s':>6} {'cpu s':>6} {'peak MB':>7}  target")
    for command, low, median, high, cpu, peak, met in rows:
        mark = "ok" if met and peak <= 1024 else "MISSED"
        print(
            f"{command.name:30} {low:6.2f} {median:6.2f} {high:6.2f} {cpu:6.2f} {peak:7.0f}  {command.target:19} {mark}"
        )
    if stepping is not None:
        print(
            f"{'backtrader stepping (default study)':30} {stepping:7.2f} s: backtrader target <= {stepping + 1.5:.2f} s"
        )
    print(f"{runs} runs after one warm-up; cpu s = median user + system seconds (what load cannot inflate);")
    print("peak MB = largest RSS of the process and the children it waited for (target <= 1,024)")
    print(f"machine: {os.cpu_count()} cores, load average {' '.join(f'{x:.1f}' for x in os.getloadavg())}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--data-dir", type=Path, help="an existing store (default: import ../shared/data to a temp dir)"
    )
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--only", nargs="*", default=[], help="only the commands whose name contains one of these")
    parser.add_argument(
        "--against",
        metavar="EXE",
        help="another carryguard executable (e.g. an older checkout's venv) run alternately with this one, "
        "so before/after figures share the machine's load",
    )
    args = parser.parse_args()
    if shutil.which(CARRYGUARD) is None:
        raise SystemExit(f"{CARRYGUARD} not found: install the project (pip install -e .) in this interpreter's venv")
    if args.data_dir:
        measure(args.data_dir, args.runs, args.only, args.against)
        return
    with tempfile.TemporaryDirectory(prefix="bench-store-") as tmp:
        subprocess.run(
            [CARRYGUARD, "--data-dir", tmp, "data", "import", str(SHARED_DATA)], check=True, capture_output=True
        )
        measure(Path(tmp), args.runs, args.only, args.against)


if __name__ == "__main__":
    main()
