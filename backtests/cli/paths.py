"""RUN_DIR arguments: ``latest`` for the newest run folder, and one clear line for a folder of the wrong kind.

A backtest run folder holds ``metrics.json``; a sweep folder holds ``sweep.parquet`` and
``summary.json``. ``latest`` is the newest folder under ``./results`` (by its
``<YYYYmmdd-HHMMSS>-<study>`` name, which sorts by time) of the kinds a verb accepts.
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from pathlib import Path

import click

RESULTS = Path("results")
KINDS = {
    "run": "a backtest run folder (from `carryguard backtest`)",
    "sweep": "a sweep folder (from `carryguard sweep`)",
}


def folder_kind(path: Path) -> str | None:
    """``run``, ``sweep`` or None (neither)."""
    if (path / "metrics.json").is_file():
        return "run"
    if (path / "summary.json").is_file() and (path / "sweep.parquet").is_file():
        return "sweep"
    return None


def latest(results: Path, kinds: Sequence[str]) -> Path:
    """The newest folder under ``results`` of one of ``kinds``."""
    found = sorted(p for p in results.glob("*") if p.is_dir() and folder_kind(p) in kinds) if results.is_dir() else []
    if not found:
        wanted = " or ".join(KINDS[k] for k in kinds)
        raise click.BadParameter(f"`latest`: no {wanted} under {results}/; run `carryguard backtest` first")
    return found[-1]


class RunDir(click.ParamType):
    """A folder of one of ``kinds``, or ``latest``; anything else fails with what was expected."""

    name = "RUN_DIR"

    def __init__(self, *kinds: str) -> None:
        self.kinds = kinds or ("run",)

    def convert(self, value: object, param: click.Parameter | None, ctx: click.Context | None) -> Path:
        if isinstance(value, Path):
            return value
        text = str(value)
        if text == "latest":
            return latest(RESULTS, self.kinds)
        path = Path(text)
        wanted = " or ".join(KINDS[k] for k in self.kinds)
        if not path.is_dir():
            near = (
                nearest(path.name, [p.name for p in path.parent.glob("*") if p.is_dir()])
                if path.parent.is_dir()
                else ""
            )
            self.fail(f"{path}: no such folder; expected {wanted} or `latest`{near}", param, ctx)
        kind = folder_kind(path)
        if kind not in self.kinds:
            what = f"{path} is {KINDS[kind]}" if kind else f"{path} is not a run or sweep folder"
            self.fail(f"{what}; expected {wanted}", param, ctx)
        return path


def nearest(name: str, valid: Sequence[str]) -> str:
    """``; did you mean 'sma_cross'?`` for the closest valid name, or ``""``."""
    close = difflib.get_close_matches(name, list(valid), n=1, cutoff=0.5)
    return f"; did you mean '{close[0]}'?" if close else ""
