"""The Carry-Unwind Risk Index: 0-100 score and regime, point in time, explainable.

``risk_at(store, times)`` evaluates the index at any decision times (UTC): each
component (``signals.features``) is computed on its source's calendar keyed by
availability time and as-of joined onto ``times``; the component z-scores, clipped to
``[floor, clip]``, are combined as a weighted mean (the *composite*) and mapped to
0-100 with a logistic curve, ``score = 100 / (1 + exp(-(composite - center) / scale))``.
Contributions are each component's share of the composite (they add up to it).

Stale inputs: an input whose newest usable value is older than ``stale_days`` is listed
in ``stale`` but still used; older than ``expire_days`` it is treated as missing, its
components drop out and the remaining weights are renormalized. With less than
``min_weight`` of the total weight available the score is NaN and the regime "".
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from os import PathLike
from types import MappingProxyType
from typing import Any

import numpy as np
import pandas as pd

from carryguard.signals.errors import DataError
from carryguard.signals.features import COMPONENT_INPUTS, components
from carryguard.signals.frames import disjoint_bars
from carryguard.signals.json_file import finite_or_none
from carryguard.signals.pit import SeriesSource, Timed, age_days, as_source, asof, on_availability, to_targets
from carryguard.signals.toml_file import read_toml

COMPONENTS = tuple(COMPONENT_INPUTS)
REGIMES = ("calm", "elevated", "stress", "crisis")
DEFAULT_WEIGHTS = MappingProxyType(
    {"jgb_momentum": 0.25, "jgb_level": 0.15, "yen_strength": 0.25, "yen_vol": 0.15, "carry_spread": 0.20}
)
FETCH_HINT = "run `carryguard data import DIR` or `carryguard data fetch --macro`"


@dataclass(frozen=True)
class RiskConfig:
    """Every input, window, weight and threshold of the index (windows in observations
    of the source, i.e. business days)."""

    jgb_series: str = "mof/jgb"
    # Yahoo JPY=X runs to 2026-06 (DEXJPUS in the sample ends 2026-01-30, and H.10 is
    # published only weekly). A Yahoo bar whose whole range lies more than
    # fx_bad_print_gap from the last accepted close is a bad print and is dropped
    # (the 2008 one-day spikes), at most fx_bad_print_max_run bars in a row.
    fx_series: str = "yahoo/JPY=X/1d"
    fx_check_series: str = "fred/DEXJPUS"  # shown beside the reading as a cross-check ("" = none)
    fx_bad_print_gap: float = 0.045
    fx_bad_print_max_run: int = 2
    us10_series: str = "fred/DGS10"
    us2_series: str = "fred/DGS2"
    momentum_tenors: tuple[str, ...] = ("20Y", "30Y", "40Y")
    momentum_windows: tuple[int, ...] = (20, 60)
    level_tenors: tuple[str, ...] = ("20Y", "30Y", "40Y")
    level_window: int = 1250  # ~5 years: the trailing range a yield is placed in
    level_min_periods: int = 500
    level_span: float = 2.0  # range bottom -> -span, range top -> +span
    fx_return_windows: tuple[int, ...] = (5, 20)
    vol_window: int = 20
    spread_pairs: tuple[tuple[str, str], ...] = (("10Y", "us10y"), ("2Y", "us2y"))
    spread_window: int = 60
    zscore_window: int = 750  # ~3 years of history behind every z-score
    zscore_min_periods: int = 250  # ~1 year before a z-score (or a tenor) counts
    clip: float = 3.0  # z cap so one extreme input cannot dominate
    floor: float = -1.5  # calm readings lower the score, but a quiet input cannot mask an alarm
    weights: Mapping[str, float] = field(default_factory=lambda: DEFAULT_WEIGHTS)
    center: float = 0.35  # composite at which the score is 50
    scale: float = 0.45  # composite units per logistic unit
    thresholds: tuple[float, float, float] = (40.0, 60.0, 80.0)  # elevated, stress, crisis from
    stale_days: float = 7.0
    expire_days: float = 30.0
    min_weight: float = 0.5

    def __post_init__(self) -> None:
        object.__setattr__(self, "weights", MappingProxyType(dict(self.weights)))
        unknown = set(self.weights) - set(COMPONENTS)
        if unknown:
            raise ValueError(f"unknown risk components in weights: {sorted(unknown)}; known: {list(COMPONENTS)}")
        if any(w < 0 for w in self.weights.values()) or sum(self.weights.values()) <= 0:
            raise ValueError("risk weights must be >= 0 with a positive sum")
        if len(self.thresholds) != 3 or not 0 <= self.thresholds[0] <= self.thresholds[1] <= self.thresholds[2] <= 100:
            raise ValueError(f"thresholds must be 3 values rising within 0..100, got {self.thresholds}")
        if self.scale <= 0 or self.clip <= 0 or self.floor >= 0:
            raise ValueError("scale and clip must be > 0 and floor < 0")
        if min(*self.momentum_windows, *self.fx_return_windows, self.vol_window, self.spread_window) < 1:
            raise ValueError("windows must be >= 1 observation")
        if not 0 < self.zscore_min_periods <= self.zscore_window or not 0 < self.level_min_periods <= self.level_window:
            raise ValueError("min_periods must be in 1..window")
        if not 0 < self.min_weight <= 1:
            raise ValueError("min_weight must be in (0, 1]")

    @classmethod
    def from_toml(cls, path: str | PathLike) -> RiskConfig:
        """Read a TOML file: top-level keys, or a ``[risk]`` table (so a study file can
        embed it); ``[weights]`` / ``[risk.weights]`` overrides the weights it names (0
        drops a component); lists become tuples."""
        data = read_toml(path, what="risk config", error=DataError)
        return cls.from_dict(data.get("risk", data), origin=str(path))

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, origin: str = "config") -> RiskConfig:
        """A config from parsed TOML keys, each checked against its default's kind;
        ``DataError`` naming ``origin`` for an unknown key or a bad value."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise DataError(f"{origin}: unknown risk setting(s) {unknown}", fix=f"use only {sorted(known)}")
        defaults = cls()
        values = {k: _typed(k, _tuples(v), getattr(defaults, k), origin) for k, v in data.items() if k != "weights"}
        if "weights" in data:  # a partial [weights] table changes only the weights it names
            if not isinstance(data["weights"], Mapping):
                raise DataError(f"{origin}: weights must be a table of component = weight, got {data['weights']!r}")
            given = {k: _typed(f"weights.{k}", v, 0.0, origin) for k, v in data["weights"].items()}
            values["weights"] = {**DEFAULT_WEIGHTS, **given}
        try:
            return cls(**values)
        except (TypeError, ValueError) as exc:
            raise DataError(f"{origin}: {exc}") from exc

    def inputs(self) -> dict[str, str]:
        """Input name -> series id."""
        return {"jgb": self.jgb_series, "usdjpy": self.fx_series, "us10y": self.us10_series, "us2y": self.us2_series}

    def series_ids(self) -> tuple[str, ...]:
        """Every series the index reads: the inputs and the USD/JPY cross-check series
        (load all of them when handing the index an in-memory copy of the store)."""
        check = (self.fx_check_series,) if self.fx_check_series else ()
        return tuple(dict.fromkeys((*self.inputs().values(), *check)))

    def regime(self, score: float) -> str:
        """``calm|elevated|stress|crisis`` for a score ("" for NaN)."""
        return str(regimes(np.array([score], dtype="float64"), self.thresholds)[0])


def _tuples(value: Any) -> Any:
    """TOML lists (nested too) as tuples, the kind the frozen config holds."""
    return tuple(_tuples(v) for v in value) if isinstance(value, list) else value


def _typed(key: str, value: Any, default: Any, origin: str) -> Any:
    """``value`` checked against the kind of its default (ints are accepted as floats)."""
    number = isinstance(value, (int, float)) and not isinstance(value, bool)
    if isinstance(default, float) and number:
        return float(value)
    if isinstance(default, tuple):
        ok = isinstance(value, tuple) and all(
            isinstance(v, type(d)) or (isinstance(d, float) and isinstance(v, int))
            for v, d in zip(value, default * len(value), strict=False)
        )
    else:
        ok = isinstance(value, type(default)) and not isinstance(value, bool)
    if not ok:
        raise DataError(
            f"{origin}: {key} = {value!r} is not like its default {default!r}",
            fix="use the same kind of value (number, text or list)",
        )
    return value


def fx_price(frame: pd.DataFrame) -> pd.DataFrame:
    """A USD/JPY series as one price column: ``close`` of OHLC bars (Yahoo), else the
    first column (a fixing such as DEXJPUS)."""
    return frame[["close"]] if "close" in frame.columns else frame.iloc[:, :1]


def fx_bad_prints(frame: pd.DataFrame, cfg: RiskConfig) -> np.ndarray:
    """Mask of USD/JPY bars dropped as bad prints (only OHLC bars can be checked)."""
    if not {"low", "high", "close"} <= set(frame.columns):
        return np.zeros(len(frame), dtype=bool)
    return disjoint_bars(frame, tolerance=cfg.fx_bad_print_gap, max_run=cfg.fx_bad_print_max_run)


def load_inputs(source: SeriesSource, cfg: RiskConfig) -> dict[str, Timed]:
    """Each input keyed by availability time; a missing series is a one-line DataError."""
    timed = {}
    for name, sid in cfg.inputs().items():
        if not source.exists(sid):
            where = f" at {source.root}" if hasattr(source, "root") else ""
            raise DataError(f"series {sid} is not in the store{where}", fix=FETCH_HINT)
        frame = source.read(sid)
        if name == "usdjpy":
            frame = fx_price(frame[~fx_bad_prints(frame, cfg)])
        if frame.empty:
            raise DataError(f"series {sid} has no rows usable at these times", fix=FETCH_HINT)
        timed[name] = on_availability(frame, source.meta(sid))
    return timed


def risk_at(
    store: SeriesSource | Mapping[str, pd.DataFrame], times: Any, config: RiskConfig | None = None
) -> pd.DataFrame:
    """The index at each decision time (UTC), using only data usable at that time.

    Returns a frame indexed by ``times`` (named ``time``) with columns ``score`` (0-100,
    NaN when not computable), ``regime`` (calm|elevated|stress|crisis, "" when NaN),
    ``composite``, per component ``<name>_value``, ``<name>_change``, ``<name>_zscore``,
    ``<name>_contribution``; per input ``<input>_date`` (data date of the newest usable
    value) and ``<input>_age_days``; and ``stale`` (comma-separated stale inputs).
    ``store`` is a ``Store``, a ``MemoryStore`` or a mapping of series id -> frame.
    """
    cfg = config or RiskConfig()
    if not isinstance(cfg, RiskConfig):
        raise TypeError(f"config must be a RiskConfig, got {type(cfg).__name__}")
    targets = to_targets(times)
    inputs = load_inputs(as_source(store), cfg)
    us = {"us10y": inputs["us10y"], "us2y": inputs["us2y"]}
    native = components(inputs["jgb"], inputs["usdjpy"], us, cfg)
    return combine(native, inputs, targets, cfg)


def combine(
    native: Mapping[str, Timed], inputs: Mapping[str, Timed], targets: pd.DatetimeIndex, cfg: RiskConfig
) -> pd.DataFrame:
    """As-of join the components onto ``targets`` and combine them into the score."""
    out: dict[str, Any] = {}
    ages = {}
    for name, timed in inputs.items():
        _, date = asof(timed, targets)
        out[f"{name}_date"] = date
        ages[name] = age_days(targets, date)
        out[f"{name}_age_days"] = ages[name]
    n = len(targets)
    weights = np.array([cfg.weights.get(c, 0.0) for c in COMPONENTS])
    clipped = np.full((n, len(COMPONENTS)), np.nan)
    for j, name in enumerate(COMPONENTS):
        frame, _ = asof(native[name], targets)
        expired = np.zeros(n, dtype=bool)
        for source in COMPONENT_INPUTS[name]:
            expired |= ~(ages[source].to_numpy() <= cfg.expire_days)
        z = frame["zscore"].to_numpy().copy()
        z[expired] = np.nan
        out[f"{name}_value"], out[f"{name}_change"], out[f"{name}_zscore"] = frame["value"], frame["change"], z
        clipped[:, j] = np.clip(z, cfg.floor, cfg.clip)
    present = np.isfinite(clipped) & (weights > 0)
    weight_sum = np.where(present, weights, 0.0).sum(axis=1)
    enough = weight_sum >= cfg.min_weight * weights.sum()
    with np.errstate(invalid="ignore", divide="ignore"):
        shares = np.where(present, weights * np.nan_to_num(clipped), np.nan) / weight_sum[:, None]
        composite = np.where(enough, np.nansum(np.where(present, shares, 0.0), axis=1), np.nan)
        score = 100.0 / (1.0 + np.exp(-(composite - cfg.center) / cfg.scale))
    for j, name in enumerate(COMPONENTS):
        out[f"{name}_contribution"] = np.where(enough, shares[:, j], np.nan)
    stale = np.full(n, "", dtype=object)
    for name in inputs:
        old = ~(ages[name].to_numpy() <= cfg.stale_days)
        stale[old] = np.where(stale[old] == "", name, stale[old] + "," + name)
    out["stale"] = stale
    frame = pd.DataFrame(
        {"score": score, "regime": regimes(score, cfg.thresholds), "composite": composite}, index=targets
    )
    return pd.concat([frame, pd.DataFrame(out, index=targets)[output_columns(inputs)]], axis=1)


def regimes(score: np.ndarray, thresholds: tuple[float, float, float]) -> np.ndarray:
    """Regime name per score ("" for NaN): a score equal to a threshold is in the higher regime."""
    names = np.array(REGIMES, dtype=object)[np.searchsorted(np.asarray(thresholds), np.nan_to_num(score), side="right")]
    return np.where(np.isfinite(score), names, "")


def output_columns(inputs: Mapping[str, Any]) -> list[str]:
    """Columns after score/regime/composite: per component value, change, zscore,
    contribution; per input date and age; then ``stale``."""
    parts = [f"{c}_{part}" for c in COMPONENTS for part in ("value", "change", "zscore", "contribution")]
    return parts + [f"{i}_{part}" for i in inputs for part in ("date", "age_days")] + ["stale"]


def latest_time(store: SeriesSource | Mapping[str, pd.DataFrame], config: RiskConfig | None = None) -> pd.Timestamp:
    """The newest time at which every input has published its latest stored value (the
    default ``as of`` of ``carryguard risk``)."""
    inputs = load_inputs(as_source(store), config or RiskConfig())
    return min(t.values.index[-1] for t in inputs.values())


@dataclass(frozen=True)
class ComponentReading:
    """One component at one time: raw value and change (units in ``features.labels``),
    z-score (clipped z is what counts), contribution to the composite, and the data
    date behind it (the oldest of its inputs' newest dates)."""

    name: str
    value: float
    change: float
    zscore: float
    contribution: float
    data_date: pd.Timestamp | None


@dataclass(frozen=True)
class RiskReading:
    """The index at one time, explained."""

    as_of: pd.Timestamp
    score: float
    regime: str
    composite: float
    components: tuple[ComponentReading, ...]
    input_dates: Mapping[str, pd.Timestamp | None]  # series id -> data date of its newest usable value
    stale: tuple[str, ...]  # series ids older than ``stale_days``

    def to_json(self) -> dict[str, Any]:
        """``{"as_of", "score", "regime", "components": [...], "stale": [...]}``; NaN -> null."""
        return {
            "as_of": self.as_of.isoformat(),
            "score": finite_or_none(self.score),
            "regime": self.regime,
            "components": [
                {
                    "name": c.name,
                    "value": finite_or_none(c.value),
                    "zscore": finite_or_none(c.zscore),
                    "contribution": finite_or_none(c.contribution),
                    "data_date": _day(c.data_date),
                }
                for c in self.components
            ],
            "stale": list(self.stale),
        }


def _day(ts: pd.Timestamp | None) -> str | None:
    return None if ts is None or pd.isna(ts) else ts.strftime("%Y-%m-%d")


def reading_from_row(row: pd.Series, at: pd.Timestamp, cfg: RiskConfig) -> RiskReading:
    """A ``RiskReading`` from one row of ``risk_at``'s output."""
    parts = []
    for name in COMPONENTS:
        dates = [row[f"{i}_date"] for i in COMPONENT_INPUTS[name]]
        date = None if any(pd.isna(d) for d in dates) else min(dates)
        parts.append(
            ComponentReading(
                name,
                float(row[f"{name}_value"]),
                float(row[f"{name}_change"]),
                float(row[f"{name}_zscore"]),
                float(row[f"{name}_contribution"]),
                date,
            )
        )
    inputs = cfg.inputs()
    input_dates = {sid: (None if pd.isna(row[f"{name}_date"]) else row[f"{name}_date"]) for name, sid in inputs.items()}
    stale = tuple(inputs[name] for name in row["stale"].split(",") if name)
    return RiskReading(
        at, float(row["score"]), row["regime"], float(row["composite"]), tuple(parts), input_dates, stale
    )


def explain(store: SeriesSource | Mapping[str, pd.DataFrame], at: Any, config: RiskConfig | None = None) -> RiskReading:
    """The reading at one time ``at`` (UTC), with every component and input date."""
    cfg = config or RiskConfig()
    target = to_targets(at)
    if len(target) != 1:
        raise ValueError("explain takes a single time")
    return reading_from_row(risk_at(store, target, cfg).iloc[0], target[0], cfg)
