"""RUN_DIR arguments: ``latest`` for the newest run folder, and one clear line for a folder of the wrong kind.

A backtest run folder holds ``metrics.json``; a sweep folder holds ``sweep.parquet`` and
``summary.json``. ``latest`` is the newest folder under ``./results`` (by its
``<YYYYmmdd-HHMMSS>-<study>`` name, which sorts by time) of the kinds a verb accepts.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import click

from carryguard.signals.config import closest
from carryguard.signals.errors import DataError

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
        raise DataError(f"`latest`: no {wanted} under {results}/", fix="run `carryguard backtest` first")
    return found[-1]


class RunDir(click.ParamType):
    """A folder of one of ``kinds``, or ``latest``; anything else is a ``DataError`` (one line, exit 1)
    saying what was expected."""

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
            raise DataError(f"{path}: no such folder", fix=f"pass {wanted} or `latest`{near}")
        kind = folder_kind(path)
        if kind not in self.kinds:
            what = f"{path}: {KINDS[kind]}" if kind else f"{path}: not a run folder (no metrics.json)"
            raise DataError(what, fix=f"pass {wanted}")
        return path


def nearest(name: str, valid: Sequence[str]) -> str:
    """``; did you mean 'sma_cross'?`` for the closest valid name, or ``""``."""
    close = closest(name, valid)
    return f"; did you mean '{close}'?" if close else ""
