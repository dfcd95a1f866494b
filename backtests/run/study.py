"""Studies: which strategies to backtest on which data, as a TOML file.

A study file reads (every key but ``name`` optional; defaults shown)::

    name = "carry_unwind"           # letters, digits, _ and -; used in the run id
    source = "binance"              # store source of the bars
    symbols = ["BTC/USDT", "ETH/USDT"]
    timeframes = ["1d"]             # 1d and 4h are stored for BTC/USDT
    start = "2018-01-01"            # first bar of the backtest (default: first stored bar)
    end = "latest"                  # last bar (inclusive) or "latest"
    overlays = ["none", "carry"]    # sizing policies (strategies.policies), each its own book;
                                    # products like "vol_target*carry"; legacy:
                                    # with_overlay = [false, true] means ["none", "carry"]

    [strategies]                    # name = { parameters } (empty: the defaults)
    buy_and_hold = {}
    sma_cross = { fast = 20, slow = 100 }

    [overlay]      # the carry map's strategies.overlay.OverlayConfig fields, and
    [overlay.vol_target]  # one sub-table of parameters per other policy (vol_target,
                          # trend, yen_shock, carry_confirmed)
    [risk]         # signals.risk.RiskConfig fields
    [execution]    # backtests.engine.execution.ExecutionConfig: cash, commission, slippage_bps, rebalance_band

Every problem raises ``StudyError`` naming the file and the key.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields, replace
from datetime import date, datetime
from importlib.resources import files
from pathlib import Path
from typing import Any

import pandas as pd

import carryguard.strategies  # noqa: F401  (registers every strategy)
from carryguard.backtests.engine.execution import ExecutionConfig
from carryguard.signals.availability import timeframe_delta
from carryguard.signals.errors import CarryguardError
from carryguard.signals.risk import RiskConfig
from carryguard.signals.toml_file import read_toml
from carryguard.strategies.base import REGISTRY, Strategy, make_strategy
from carryguard.strategies.overlay import OverlayConfig
from carryguard.strategies.policies import make_policy, policy_names, policy_params

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
    "overlays",
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
        return bool(REGISTRY[self.name].baseline)

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
    overlays: tuple[str, ...] = ("none", "carry")
    overlay: tuple[tuple[str, object], ...] = ()
    risk: tuple[tuple[str, object], ...] = ()
    execution: ExecutionConfig = field(default_factory=ExecutionConfig)
    # extra named episodes for compare/report: (name, start, end) read from the study's
    # crisis_windows file and copied into the manifest, so a report needs only the run folder
    crisis_windows: tuple[tuple[str, str, str], ...] = ()

    def overlay_config(self) -> OverlayConfig:
        """The carry map: the ``[overlay]`` keys that are not a policy's sub-table."""
        return OverlayConfig.from_dict({k: v for k, v in self.overlay if not isinstance(v, dict)})

    def policy_params(self) -> dict[str, dict[str, object]]:
        """Parameters per policy name: ``carry`` from the top of ``[overlay]``, the others
        from its sub-tables (``[overlay.vol_target]`` ...)."""
        tables = {k: dict(v) for k, v in self.overlay if isinstance(v, dict)}
        return tables | {"carry": {k: v for k, v in self.overlay if not isinstance(v, dict)}}

    def policy(self, spec: str) -> Any:
        """The sizing policy named ``spec`` with this study's parameters."""
        return make_policy(spec, self.policy_params())

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
            "overlays": list(self.overlays),
            "strategies": {s.name: dict(s.params) for s in self.strategies},
            "overlay": _plain(self.overlay_config())
            | {name: policy_params(self.policy(name)) for name in _parts(self.overlays) if name != "carry"},
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
        overlays=_overlays(data, origin),
        strategies=_strategies(data.get("strategies"), origin),
        overlay=_table(data, "overlay", origin),
        risk=_table(data, "risk", origin),
        execution=_execution(_table(data, "execution", origin), origin),
        crisis_windows=_windows_file(data, origin),
    )
    for key, build in (
        ("overlay", study.overlay_config),
        ("risk", study.risk_config),
        ("overlays", lambda: [study.policy(spec) for spec in study.overlays]),
    ):
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
    overlays: tuple[str, ...] = (),
) -> Study:
    """The study restricted or overridden by command-line options (empty = keep).

    ``strategies`` are names or ``name+OVERLAY`` specs (``sma_cross+carry``,
    ``dip_buy+vol_target*carry``); a name the study lacks is added with default
    parameters. Plain names alone keep the study's overlays; when a spec names an overlay
    only the named overlays run (and ``none`` for the plain names beside them).
    ``overlays`` replaces the study's list.
    """
    changes: dict[str, object] = {}
    if strategies:
        existing = {s.name: s for s in study.strategies}
        specs = []
        named: list[str] = []
        plain = False
        for text in strategies:
            name, plus, overlay = text.strip().partition("+")
            if not name or (plus and not overlay):
                raise StudyError(f"bad strategy spec {text!r}: use NAME or NAME+OVERLAY, e.g. sma_cross+carry")
            if overlay:
                named.append(_overlay_spec(overlay, "--strategy"))
            else:
                plain = True
            specs.append(existing.get(name) or _strategies({name: {}}, "--strategy")[0])
        changes["strategies"] = tuple(dict.fromkeys(specs))
        if not overlays and named:  # plain names beside NAME+OVERLAY specs mean "none"
            changes["overlays"] = tuple(dict.fromkeys((["none"] if plain else []) + named))
    if symbols:
        changes["symbols"] = tuple(_symbol(s, "--symbol") for s in symbols)
    if timeframes:
        changes["timeframes"] = tuple(_timeframe(t, "--timeframe") for t in timeframes)
    if overlays:
        changes["overlays"] = tuple(dict.fromkeys(_overlay_spec(o, "--overlays") for o in overlays))
    if start is not None:
        changes["start"] = parse_time(start, key="start", origin="--start")
    if end is not None:
        changes["end"] = None if end == "latest" else parse_time(end, key="end", origin="--end")
    narrowed = replace(study, **changes)
    check_window(narrowed.start, narrowed.end, origin="--start/--end")
    for spec in narrowed.overlays:
        try:
            narrowed.policy(spec)
        except (TypeError, ValueError) as exc:
            raise StudyError(f"overlay {spec!r}: {exc}") from None
    return narrowed


def _overlay_spec(text: str, origin: str) -> str:
    """A policy spec (``carry``, ``vol_target*carry``) checked against the registry."""
    try:
        return "*".join(policy_names(text))
    except ValueError as exc:
        raise StudyError(f"{origin}: {exc}") from None


def _overlays(data: Mapping[str, object], origin: str) -> tuple[str, ...]:
    """``overlays = [...]``, or the legacy ``with_overlay = [false, true]`` (false = none, true = carry)."""
    if "overlays" in data and "with_overlay" in data:
        raise StudyError(f"{origin}: give 'overlays' or the older 'with_overlay', not both", fix="keep 'overlays'")
    if "overlays" in data:
        names = _list(dict(data), "overlays", [], str, origin)
        return tuple(dict.fromkeys(_overlay_spec(name, f"{origin}: overlays") for name in names))
    modes = _list(dict(data), "with_overlay", [False, True], bool, origin)
    return tuple(dict.fromkeys("carry" if mode else "none" for mode in modes))


def _parts(specs: tuple[str, ...]) -> list[str]:
    """Every policy name used by ``specs`` (products split), in order, once."""
    return list(dict.fromkeys(name for spec in specs for name in spec.split("*")))


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
    for name, params in value.items():
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
