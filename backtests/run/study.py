"""Studies: which strategies to backtest on which data, as a TOML file.

A study file reads (every key but ``name`` optional; defaults shown)::

    name = "carry_unwind"           # letters, digits, _ and -; used in the run id
    source = "binance"              # store source of the bars
    symbols = ["BTC/USDT", "ETH/USDT"]
    timeframes = ["1d"]             # 1d and 4h are stored for BTC/USDT
    start = "2018-01-01"            # first bar of the backtest (default: first stored bar)
    end = "latest"                  # last bar (inclusive) or "latest"
    with_overlay = [false, true]    # run each strategy without and/or with the overlay

    [strategies]                    # name = { parameters } (empty: the defaults)
    buy_and_hold = {}
    sma_cross = { fast = 20, slow = 100 }

    [overlay]      # strategies.overlay.OverlayConfig fields
    [risk]         # signals.risk.RiskConfig fields
    [execution]    # carryguard.backtests.engine.execution.ExecutionConfig: cash, commission, slippage_bps, rebalance_band

Every problem raises ``StudyError`` naming the file and the key.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields, replace
from datetime import date, datetime
from importlib.resources import files
from pathlib import Path

import pandas as pd

import carryguard.strategies  # noqa: F401  (registers every strategy)
from carryguard.backtests.engine.execution import ExecutionConfig
from carryguard.signals.availability import timeframe_delta
from carryguard.signals.errors import CarryguardError
from carryguard.signals.risk import RiskConfig
from carryguard.signals.toml_file import read_toml
from carryguard.strategies.base import Strategy, parse_strategy_spec
from carryguard.strategies.loader import absolute_spec, is_baseline, make_strategy, strategy_class
from carryguard.strategies.overlay import OverlayConfig

DEFAULT_STUDY = Path(str(files("carryguard.backtests") / "studies" / "carry_unwind.toml"))
KEYS = (
    "name",
    "description",
    "source",
    "symbols",
    "timeframes",
    "start",
    "end",
    "with_overlay",
    "strategies",
    "overlay",
    "risk",
    "execution",
    "crisis_windows",
)
NAME_PATTERN = re.compile(r"^[A-Za-z0-9_-]+$")


class StudyError(CarryguardError):
    """A study file or override that cannot be run as written."""


@dataclass(frozen=True)
class StrategySpec:
    """One strategy of a study: its registered name and parameters (sorted pairs)."""

    name: str
    params: tuple[tuple[str, object], ...] = ()

    @property
    def baseline(self) -> bool:
        return is_baseline(strategy_class(self.name))

    def build(self) -> Strategy:
        return make_strategy(self.name, **dict(self.params))


@dataclass(frozen=True)
class Study:
    """A resolved study. ``start``/``end`` are UTC timestamps or None (first/latest bar);
    ``overlay``/``risk`` are the raw parameter tables for OverlayConfig / RiskConfig."""

    name: str
    strategies: tuple[StrategySpec, ...]
    description: str = ""
    source: str = "binance"
    symbols: tuple[str, ...] = ("BTC/USDT", "ETH/USDT")
    timeframes: tuple[str, ...] = ("1d",)
    start: pd.Timestamp | None = None
    end: pd.Timestamp | None = None
    with_overlay: tuple[bool, ...] = (False, True)
    overlay: tuple[tuple[str, object], ...] = ()
    risk: tuple[tuple[str, object], ...] = ()
    execution: ExecutionConfig = field(default_factory=ExecutionConfig)
    # extra named episodes for compare/report: (name, start, end) read from the study's
    # crisis_windows file and copied into the manifest, so a report needs only the run folder
    crisis_windows: tuple[tuple[str, str, str], ...] = ()

    def overlay_config(self) -> OverlayConfig:
        return OverlayConfig.from_dict(dict(self.overlay))

    def risk_config(self) -> RiskConfig:
        return RiskConfig.from_dict(dict(self.risk), origin="[risk]")

    def to_dict(self) -> dict[str, object]:
        """JSON-ready form for the manifest (dates as ISO strings, None = open; overlay,
        risk and execution with every default filled in)."""
        return {
            "name": self.name,
            "description": self.description,
            "source": self.source,
            "symbols": list(self.symbols),
            "timeframes": list(self.timeframes),
            "start": self.start.isoformat() if self.start is not None else None,
            "end": self.end.isoformat() if self.end is not None else None,
            "with_overlay": list(self.with_overlay),
            "strategies": {s.name: dict(s.params) for s in self.strategies},
            "overlay": _plain(self.overlay_config()),
            "risk": _plain(self.risk_config()),
            "execution": asdict(self.execution),
            "crisis_windows": [{"name": n, "start": s, "end": e} for n, s, e in self.crisis_windows],
        }


def load_study(path: str | Path | None = None) -> Study:
    """Read and validate a study file (``None``: the default study shipped with carryguard)."""
    path = Path(path) if path is not None else DEFAULT_STUDY
    data = read_toml(path, what="study", error=StudyError)
    return parse_study(data, origin=str(path))


def parse_study(data: dict[str, object], *, origin: str = "<study>") -> Study:
    """Validate a study table (as parsed from TOML)."""
    unknown = sorted(set(data) - set(KEYS))
    if unknown:
        raise StudyError(f"{origin}: unknown key {unknown[0]!r}", fix=f"known keys: {', '.join(KEYS)}")
    name = data.get("name")
    if not isinstance(name, str) or not NAME_PATTERN.match(name):
        raise StudyError(f"{origin}: 'name' must be a string of letters, digits, _ or -, got {name!r}")
    start = parse_time(data.get("start"), key="start", origin=origin)
    end = None if data.get("end", "latest") == "latest" else parse_time(data.get("end"), key="end", origin=origin)
    check_window(start, end, origin=origin)
    study = Study(
        name=name,
        description=_string(data, "description", "", origin),
        source=_string(data, "source", "binance", origin),
        symbols=tuple(_symbol(s, origin) for s in _list(data, "symbols", ["BTC/USDT", "ETH/USDT"], str, origin)),
        timeframes=tuple(_timeframe(t, origin) for t in _list(data, "timeframes", ["1d"], str, origin)),
        start=start,
        end=end,
        with_overlay=tuple(dict.fromkeys(_list(data, "with_overlay", [False, True], bool, origin))),
        strategies=_strategies(data.get("strategies"), origin),
        overlay=_table(data, "overlay", origin),
        risk=_table(data, "risk", origin),
        execution=_execution(_table(data, "execution", origin), origin),
        crisis_windows=_windows_file(data, origin),
    )
    for key, build in (("overlay", study.overlay_config), ("risk", study.risk_config)):
        try:
            build()
        except (CarryguardError, TypeError, ValueError) as exc:
            message = str(exc) if str(exc).startswith(f"[{key}]") else f"[{key}]: {exc}"
            raise StudyError(f"{origin}: {message}") from None
    return study


def _windows_file(data: Mapping[str, object], origin: str) -> tuple[tuple[str, str, str], ...]:
    """``crisis_windows = "FILE"`` (resolved beside the study file): its validated windows."""
    from carryguard.backtests.report.crisis import load_windows

    if "crisis_windows" not in data:
        return ()
    path = Path(_string(data, "crisis_windows", "", origin))
    if not path.is_absolute() and Path(origin).is_file():
        path = Path(origin).resolve().parent / path
    if not path.is_file():
        raise StudyError(
            f"{origin}: crisis_windows file {path} not found", fix="point it at a TOML file of [[window]] entries"
        )
    try:
        windows = load_windows(path)
    except CarryguardError as exc:
        raise StudyError(str(exc)) from None
    return tuple((w.name, str(w.start.date()), str(w.end.date())) for w in windows)


def narrow(
    study: Study,
    *,
    strategies: tuple[str, ...] = (),
    symbols: tuple[str, ...] = (),
    timeframes: tuple[str, ...] = (),
    start: str | None = None,
    end: str | None = None,
    with_overlay: tuple[bool, ...] = (),
) -> Study:
    """The study restricted or overridden by command-line options (empty = keep).

    ``strategies`` are names or ``name+carry`` specs; a name the study lacks is added
    with default parameters. Plain names keep the study's overlay modes (both, by
    default); when every spec is ``name+carry`` only the overlay runs are kept.
    """
    changes: dict[str, object] = {}
    if strategies:
        existing = {s.name: s for s in study.strategies}
        specs = []
        modes: set[bool] = set()
        for text in strategies:
            try:
                name, overlay = parse_strategy_spec(text)
            except ValueError as exc:
                raise StudyError(str(exc)) from None
            modes.add(overlay)
            specs.append(existing.get(name) or _strategies({name: {}}, "--strategy")[0])
        changes["strategies"] = tuple(dict.fromkeys(specs))
        if not with_overlay and modes == {True}:
            changes["with_overlay"] = (True,)
    if symbols:
        changes["symbols"] = tuple(_symbol(s, "--symbol") for s in symbols)
    if timeframes:
        changes["timeframes"] = tuple(_timeframe(t, "--timeframe") for t in timeframes)
    if with_overlay:
        changes["with_overlay"] = tuple(dict.fromkeys(with_overlay))
    if start is not None:
        changes["start"] = parse_time(start, key="start", origin="--start")
    if end is not None:
        changes["end"] = None if end == "latest" else parse_time(end, key="end", origin="--end")
    narrowed = replace(study, **changes)
    check_window(narrowed.start, narrowed.end, origin="--start/--end")
    return narrowed


def parse_time(value: object, *, key: str, origin: str) -> pd.Timestamp | None:
    """A date or datetime (TOML value or ISO string) as a UTC timestamp."""
    if value is None:
        return None
    if not isinstance(value, (str, date, datetime)):
        raise StudyError(f"{origin}: {key!r} must be a date like 2018-01-01, got {value!r}")
    try:
        stamp = pd.Timestamp(value)
    except ValueError:
        stamp = pd.NaT
    if pd.isna(stamp):
        raise StudyError(f"{origin}: {key!r} is not a date: {value!r}", fix="use YYYY-MM-DD")
    return stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")


def check_window(start: pd.Timestamp | None, end: pd.Timestamp | None, *, origin: str) -> None:
    """``StudyError`` unless ``start`` is before ``end`` (either may be open: None)."""
    if start is not None and end is not None and start >= end:
        raise StudyError(f"{origin}: start {start.date()} is not before end {end.date()}")


def _plain(config: object) -> dict[str, object]:
    """A config dataclass as JSON-ready values (mappings as dicts, tuples as lists)."""

    def convert(value: object) -> object:
        if isinstance(value, Mapping):
            return {k: convert(v) for k, v in value.items()}
        if isinstance(value, (tuple, list)):
            return [convert(v) for v in value]
        return value

    return {f.name: convert(getattr(config, f.name)) for f in fields(config)}


def _strategies(value: object, origin: str) -> tuple[StrategySpec, ...]:
    if not isinstance(value, dict) or not value:
        raise StudyError(
            f"{origin}: 'strategies' must be a table of name = {{ parameters }}",
            fix="e.g. [strategies] then sma_cross = { fast = 20, slow = 100 }",
        )
    specs = []
    base_dir = Path(origin).resolve().parent if Path(origin).is_file() else Path.cwd()
    for given, params in value.items():
        name = absolute_spec(given, base_dir)  # a user file is read from the study's folder
        if not isinstance(params, dict):
            raise StudyError(f"{origin}: strategies.{name} must be a table of parameters, got {params!r}")
        try:
            make_strategy(name, **params)
        except (ValueError, TypeError) as exc:
            raise StudyError(f"{origin}: strategies.{name}: {exc}") from None
        specs.append(StrategySpec(name, tuple(sorted(params.items()))))
    return tuple(specs)


def _execution(params: tuple[tuple[str, object], ...], origin: str) -> ExecutionConfig:
    try:
        return ExecutionConfig(**dict(params))
    except (TypeError, ValueError) as exc:
        raise StudyError(f"{origin}: [execution]: {exc}") from None


def _table(data: dict, key: str, origin: str) -> tuple[tuple[str, object], ...]:
    value = data.get(key, {})
    if not isinstance(value, dict):
        raise StudyError(f"{origin}: {key!r} must be a table, got {value!r}")
    return tuple(sorted(value.items()))


def _string(data: dict, key: str, default: str, origin: str) -> str:
    value = data.get(key, default)
    if not isinstance(value, str) or (key != "description" and not value):
        raise StudyError(f"{origin}: {key!r} must be a non-empty string, got {value!r}")
    return value


def _list(data: dict, key: str, default: list, kind: type, origin: str) -> list:
    value = data.get(key, default)
    if not isinstance(value, list) or not value or not all(isinstance(v, kind) for v in value):
        raise StudyError(f"{origin}: {key!r} must be a non-empty list of {kind.__name__}, got {value!r}")
    return value


def _symbol(value: str, origin: str) -> str:
    if not re.match(r"^[A-Z0-9]+/[A-Z0-9]+$", value):
        raise StudyError(f"{origin}: bad symbol {value!r}", fix="use BASE/QUOTE, e.g. BTC/USDT")
    return value


def _timeframe(value: str, origin: str) -> str:
    try:
        timeframe_delta(value)
    except ValueError as exc:
        raise StudyError(f"{origin}: {exc}") from None
    return value
