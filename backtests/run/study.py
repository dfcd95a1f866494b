"""Studies: one TOML dialect for everything that runs strategies (backtest, sweep, paper).

A study file reads (every key but ``[strategies]`` optional; defaults shown)::

    name = "carry_unwind"           # letters, digits, _ and -; used in the run id (default: the file's name)
    description = ""
    overlays = ["none", "carry"]    # sizing policies (strategies.policies), each its own book;
                                    # products like "vol_target*carry"; the older
                                    # with_overlay = [false, true] means ["none", "carry"]
    crisis_windows = "windows.toml" # optional: extra named episodes, beside the study

    [data]
    source = "binance"              # store source of the bars
    symbols = ["BTC/USDT", "ETH/USDT"]
    timeframes = ["1d"]             # 1d and 4h are stored for BTC/USDT
    start = "2018-01-01"            # first bar, YYYY-MM-DD[THH:MM] UTC (default: first stored bar)
    end = "latest"                  # last bar (inclusive) or "latest"

    [strategies]                    # name = { parameters } (empty: the defaults)
    buy_and_hold = {}
    sma_cross = { fast = 20, slow = 100 }

    [overlay]      # the carry map's strategies.overlay.OverlayConfig fields, and
    [overlay.vol_target]  # one sub-table of parameters per other policy (vol_target,
                          # trend, yen_shock, carry_confirmed)
    [risk]         # signals.risk.RiskConfig fields ([risk.weights] changes only the weights it names)
    [execution]    # backtests.engine.execution.ExecutionConfig: cash, commission, slippage_bps, rebalance_band

A *sweep study* is the same file plus ``[params]`` (and optionally ``[sweep]`` and
``[walkforward]``): see ``backtests.sweep.study``. ``load_study`` reads either kind and
returns the base study (a sweep study's ``[params]`` are not backtested), so ``carryguard
backtest`` and ``paper run --study`` accept both. Files in the old layout (top-level
``symbols``, ``[sweep] symbol = ...``) get one line saying where the key now lives.

Every table is validated by ``signals.config.parse_config``; every problem raises
``StudyError`` (a usage error) naming the file, the table and the key.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from datetime import date, datetime
from importlib.resources import files
from pathlib import Path
from typing import Any

import pandas as pd

import carryguard.strategies  # noqa: F401  (registers every strategy)
from carryguard.backtests.engine.execution import ExecutionConfig
from carryguard.signals.availability import timeframe_delta
from carryguard.signals.config import parse_config, plain_config, unknown_keys
from carryguard.signals.errors import CarryguardError, ConfigError
from carryguard.signals.risk import RiskConfig
from carryguard.signals.timeparse import parse_date
from carryguard.signals.toml_file import read_toml
from carryguard.strategies.base import Strategy
from carryguard.strategies.loader import absolute_spec, is_baseline, make_strategy, strategy_class, strategy_with
from carryguard.strategies.overlay import OverlayConfig
from carryguard.strategies.policies import make_policy, policy_params, spec_of

DEFAULT_STUDY = Path(str(files("carryguard.backtests") / "studies" / "carry_unwind.toml"))
TABLES = ("data", "strategies", "overlay", "risk", "execution")
SWEEP_TABLES = ("params", "sweep", "walkforward")  # a sweep study's additions
NAME_PATTERN = re.compile(r"^[A-Za-z0-9_-]{1,100}$")  # <= 100: the run folder's name must fit a file name
# Keys of the old layouts -> where they live now (one-line migration hints).
MOVED = {
    "source": "[data] source",
    "symbols": "[data] symbols",
    "timeframes": "[data] timeframes",
    "start": "[data] start",
    "end": "[data] end",
    "overlay_params": "[params.overlay]",
}


class StudyError(ConfigError):
    """A study file or override that cannot be run as written."""


@dataclass(frozen=True)
class Header:
    """A study's top-level keys.

    name: letters, digits, _ and -; names the run folder (default: the file's name).
    description: free text, copied into the manifest.
    overlays: sizing policies, each its own book (["none", "carry"]); "a*b" multiplies two.
    with_overlay: the older spelling: [false, true] means ["none", "carry"].
    crisis_windows: a TOML file of extra [[window]] episodes for compare/report, beside the study.
    """

    name: str = ""
    description: str = ""
    overlays: tuple[str, ...] = ()
    with_overlay: tuple[bool, ...] = ()
    crisis_windows: str = ""


@dataclass(frozen=True)
class DataSettings:
    """The ``[data]`` table: which bars a study runs on.

    source: store source of the bars ("binance").
    symbols: markets as BASE/QUOTE (["BTC/USDT", "ETH/USDT"]).
    timeframes: bar lengths, e.g. "1d" or "4h" (["1d"]).
    start: first bar, YYYY-MM-DD[THH:MM] UTC (default: the first stored bar).
    end: last bar (inclusive), YYYY-MM-DD[THH:MM] UTC or "latest" (the default).
    """

    source: str = "binance"
    symbols: tuple[str, ...] = ("BTC/USDT", "ETH/USDT")
    timeframes: tuple[str, ...] = ("1d",)
    start: str | datetime | date | None = None
    end: str | datetime | date = "latest"


@dataclass(frozen=True)
class StrategySpec:
    """One strategy of a study: its registered name and parameters (sorted pairs)."""

    name: str
    params: tuple[tuple[str, object], ...] = ()

    @property
    def baseline(self) -> bool:
        return is_baseline(strategy_class(self.name))

    def build(self) -> Strategy:
        return strategy_with(self.name, dict(self.params))


@dataclass(frozen=True)
class Study:
    """A resolved study. ``start``/``end`` are UTC timestamps or None (first/latest bar);
    ``overlay``, ``risk`` and ``execution`` are the typed configs every engine, the
    sweep and the paper trader use."""

    name: str
    strategies: tuple[StrategySpec, ...]
    description: str = ""
    source: str = DataSettings.source
    symbols: tuple[str, ...] = DataSettings.symbols
    timeframes: tuple[str, ...] = DataSettings.timeframes
    start: pd.Timestamp | None = None
    end: pd.Timestamp | None = None
    overlays: tuple[str, ...] = ("none", "carry")
    overlay: OverlayConfig = field(default_factory=OverlayConfig)
    # [overlay.<policy>] sub-tables: parameters of the other policies, by name
    policy_tables: tuple[tuple[str, tuple[tuple[str, object], ...]], ...] = ()
    risk: RiskConfig = field(default_factory=RiskConfig)
    execution: ExecutionConfig = field(default_factory=ExecutionConfig)
    # extra named episodes for compare/report: (name, start, end) read from the study's
    # crisis_windows file and copied into the manifest, so a report needs only the run folder
    crisis_windows: tuple[tuple[str, str, str], ...] = ()

    @property
    def with_overlay(self) -> tuple[bool, ...]:
        """Whether each overlay sizes the strategy (``none`` does not)."""
        return tuple(dict.fromkeys(spec != "none" for spec in self.overlays))

    def risk_config(self) -> RiskConfig:
        return self.risk

    def policy_params(self) -> dict[str, dict[str, object]]:
        """Parameter tables per policy name: ``carry`` from the top of ``[overlay]``, the
        others from its sub-tables (``[overlay.vol_target]`` ...), as plain values."""
        return {name: dict(values) for name, values in self.policy_tables} | {"carry": plain_config(self.overlay)}

    def policies(self, specs: tuple[str, ...] = ()) -> dict[str, Any]:
        """The sizing policy of each spec (default: every listed overlay) with this study's
        parameters; the carry map is taken as parsed (no round trip through a table)."""
        params = {name: dict(values) for name, values in self.policy_tables} | {"carry": self.overlay}
        return {spec: make_policy(spec, params) for spec in specs or self.overlays}

    def policy(self, spec: str) -> Any:
        """The sizing policy named ``spec`` with this study's parameters."""
        return self.policies((spec,))[spec]

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
            "overlay": plain_config(self.overlay)
            | {name: policy_params(self.policy(name)) for name in _parts(self.overlays) if name != "carry"},
            "risk": plain_config(self.risk),
            "execution": asdict(self.execution),
            "crisis_windows": [{"name": n, "start": s, "end": e} for n, s, e in self.crisis_windows],
        }


def load_study(path: str | Path | None = None) -> Study:
    """Read and validate a study file (``None``: the default study shipped with carryguard).
    A sweep study gives its base study (everything but ``[params]``/``[sweep]``/``[walkforward]``)."""
    path = Path(path) if path is not None else DEFAULT_STUDY
    return parse_study(read_study(path), origin=str(path))


def read_study(path: Path) -> dict[str, Any]:
    """The parsed TOML document of a study file (``StudyError`` when unreadable); ``name``
    defaults to the file's name without ``.toml``."""
    return {"name": path.stem, **read_toml(path, what="study", error=StudyError)}


def sweep_key(document: Mapping[str, Any]) -> str | None:
    """The table that makes ``document`` a sweep study (``[params]``, ...), else None."""
    return next((key for key in SWEEP_TABLES if key in document), None)


def parse_study(data: Mapping[str, Any], *, origin: str = "<study>") -> Study:
    """Validate a study document (as parsed from TOML); sweep tables are left to the sweep."""
    _check_layout(data, origin)
    top = {k: v for k, v in data.items() if k not in TABLES + SWEEP_TABLES}
    unknown_keys(top, [f.name for f in fields(Header)] + list(TABLES + SWEEP_TABLES), origin=origin, error=StudyError)
    header = parse_config(Header, top, origin=origin, error=StudyError)
    if not NAME_PATTERN.match(header.name):
        raise StudyError(
            f"{origin}: 'name' must be 1-100 letters, digits, _ or -, got {header.name[:40]!r}"
            + ("..." if len(header.name) > 40 else "")
        )
    tables = _tables(data, origin)
    settings = parse_config(DataSettings, tables["data"], origin=f"{origin}: [data]", error=StudyError)
    start = _date(settings.start, f"{origin}: [data] start")
    end = _date(settings.end, f"{origin}: [data] end")
    check_window(start, end, origin=origin)
    for key in ("symbols", "timeframes"):
        if not getattr(settings, key):
            raise StudyError(f"{origin}: [data] {key} must be a non-empty list")
    overlay_table = tables["overlay"]
    study = Study(
        name=header.name,
        description=header.description,
        source=settings.source,
        symbols=tuple(check_symbol(s, f"{origin}: [data]") for s in settings.symbols),
        timeframes=tuple(check_timeframe(t, f"{origin}: [data]") for t in settings.timeframes),
        start=start,
        end=end,
        overlays=_overlays(header, origin),
        strategies=parse_strategies(data.get("strategies"), origin),
        overlay=parse_config(
            OverlayConfig,
            {k: v for k, v in overlay_table.items() if not isinstance(v, Mapping)},
            origin=f"{origin}: [overlay]",
            error=StudyError,
        ),
        policy_tables=tuple(
            (k, tuple(sorted(v.items()))) for k, v in sorted(overlay_table.items()) if isinstance(v, Mapping)
        ),
        risk=_risk(tables["risk"], origin),
        execution=parse_config(ExecutionConfig, tables["execution"], origin=f"{origin}: [execution]", error=StudyError),
        crisis_windows=_windows_file(header.crisis_windows, origin),
    )
    # Each overlay is checked by building it, and so is a table of an overlay not run: a typo is never ignored.
    for spec, where in [(spec, f"[overlay] {spec}") for spec in study.overlays] + [
        (name, f"[overlay.{name}]") for name, _ in study.policy_tables
    ]:
        try:
            study.policies((spec,))
        except (CarryguardError, TypeError, ValueError) as exc:
            raise StudyError(f"{origin}: {where}: {exc}") from None
    return study


def overlay_spec(text: str, origin: str) -> str:
    """A policy spec (``carry``, ``vol_target*carry``) checked against the registry."""
    try:
        return spec_of(make_policy(text))
    except ValueError as exc:
        raise StudyError(f"{origin}: {exc}") from None


def _overlays(header: Header, origin: str) -> tuple[str, ...]:
    """``overlays = [...]``, or the older ``with_overlay = [false, true]`` (false = none, true = carry)."""
    if header.overlays and header.with_overlay:
        raise StudyError(f"{origin}: give 'overlays' or the older 'with_overlay', not both", fix="keep 'overlays'")
    if header.overlays:
        return tuple(dict.fromkeys(overlay_spec(name, f"{origin}: overlays") for name in header.overlays))
    if header.with_overlay:
        return tuple(dict.fromkeys("carry" if mode else "none" for mode in header.with_overlay))
    return Study.overlays


def _parts(specs: tuple[str, ...]) -> list[str]:
    """Every policy name used by ``specs`` (products split), in order, once."""
    return list(dict.fromkeys(name for spec in specs for name in spec.split("*")))


def _check_layout(data: Mapping[str, Any], origin: str) -> None:
    """One line for a file in an old layout: where its first moved key lives now."""
    for key, home in MOVED.items():
        if key in data:
            raise StudyError(f"{origin}: key {key!r} now lives in {home}", fix="see the study layout in the README")
    old_sweep = data.get("sweep")
    if isinstance(old_sweep, Mapping):
        from carryguard.backtests.sweep.study import SWEEP_MOVED

        for key, home in SWEEP_MOVED.items():
            if key in old_sweep:
                raise StudyError(
                    f"{origin}: [sweep] {key} now lives in {home}", fix="see the study layout in the README"
                )


def _date(value: object, what: str) -> pd.Timestamp | None:
    try:
        return parse_date(value, what=what, allow_latest=True)
    except ConfigError as exc:
        raise StudyError(str(exc)) from None


def _risk(table: Mapping[str, Any], origin: str) -> RiskConfig:
    try:
        return RiskConfig.from_dict(table, origin=f"{origin}: [risk]")
    except CarryguardError as exc:
        raise StudyError(str(exc)) from None


def _windows_file(name: str, origin: str) -> tuple[tuple[str, str, str], ...]:
    """``crisis_windows = "FILE"`` (resolved beside the study file): its validated windows."""
    from carryguard.backtests.report.crisis import load_windows

    if not name:
        return ()
    path = Path(name)
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


def check_window(start: pd.Timestamp | None, end: pd.Timestamp | None, *, origin: str) -> None:
    """``StudyError`` unless ``start`` is before ``end`` (either may be open: None)."""
    if start is not None and end is not None and start >= end:
        raise StudyError(f"{origin}: start {start.date()} is not before end {end.date()}")


def parse_strategies(value: object, origin: str) -> tuple[StrategySpec, ...]:
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


def _tables(data: Mapping[str, Any], origin: str) -> dict[str, dict[str, Any]]:
    """The settings tables (``[data]``, ``[overlay]``, ``[risk]``, ``[execution]``), each
    checked to be a table (absent: empty)."""
    out = {}
    for key in ("data", "overlay", "risk", "execution"):
        value = data.get(key, {})
        if not isinstance(value, dict):
            raise StudyError(f"{origin}: {key!r} must be a table, got {value!r}", fix=f"write it as [{key}]")
        out[key] = value
    return out


def check_symbol(value: str, origin: str) -> str:
    if not re.match(r"^[A-Z0-9]+/[A-Z0-9]+$", value):
        raise StudyError(f"{origin}: bad symbol {value!r}", fix="use BASE/QUOTE, e.g. BTC/USDT")
    return value


def check_timeframe(value: str, origin: str) -> str:
    try:
        timeframe_delta(value)
    except ValueError as exc:
        raise StudyError(f"{origin}: {exc}") from None
    return value
