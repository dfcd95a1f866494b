"""The Carry-Unwind Risk Index: 0-100 score and regime, point in time, explainable.

``risk_at(store, times)`` evaluates the index at any decision times (UTC): each
component (``signals.features``) is computed on its source's calendar keyed by
availability time and as-of joined onto ``times``; the component z-scores are clipped
to ``[floor, clip]`` and combined into a *composite*. Contributions are each
component's share of the composite (they add up to it).

- v2 (default, ``signals.risk_v2``): composite = yen trigger + capped JGB/spread
  amplifier; score = the composite's rank among its own trailing 3 years of daily
  readings, as a normal quantile through a fixed logistic.
- v1 (``version = 1``): composite = weighted mean of five clipped z-scores (one a
  yield level); ``score = 100 / (1 + exp(-(composite - center) / scale))`` with a
  centre and scale fitted on 2000-2026.

Stale inputs: an input whose newest usable value is older than ``stale_days`` is listed
in ``stale`` but still used; older than ``expire_days`` it is treated as missing, its
components drop out and the remaining weights are renormalized. With less than
``min_weight`` of the (trigger) weight available the score is NaN and the regime "".

Besides the components, the frame carries ``usdjpy_return_<w>d`` (USD/JPY simple
return over each of ``fx_return_windows`` observations, as a fraction, from the same
point-in-time FX input): the raw yen moves a circuit breaker can use.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from carryguard.signals.availability import fx_times
from carryguard.signals.errors import DataError
from carryguard.signals.features import COMPONENT_INPUTS, components
from carryguard.signals.frames import disjoint_bars
from carryguard.signals.json_file import finite_or_none
from carryguard.signals.pit import (
    MemoryStore,
    SeriesSource,
    Timed,
    age_days,
    as_source,
    asof,
    on_availability,
    to_targets,
)
from carryguard.signals.risk_config import COMPONENTS, DEFAULT_WEIGHTS, REGIMES, RiskConfig, regimes
from carryguard.signals.risk_v2 import clipped_zscores, history_days, legs, rank_score
from carryguard.signals.store import SeriesMeta

__all__ = ["COMPONENTS", "DEFAULT_WEIGHTS", "REGIMES", "RiskConfig", "explain", "latest_time", "risk_at"]
OPTIONAL_INPUTS = ("audjpy", "vix", "funding", "positioning")
FETCH_HINT = "run `carryguard data import DIR` or `carryguard data fetch --macro`"


def fx_price(frame: pd.DataFrame) -> pd.DataFrame:
    """A USD/JPY series as one price column: ``close`` of OHLC bars (Yahoo), else the
    first column (a fixing such as DEXJPUS)."""
    return frame[["close"]] if "close" in frame.columns else frame.iloc[:, :1]


def fx_bad_prints(frame: pd.DataFrame, cfg: RiskConfig, snapshot: bool = False) -> np.ndarray:
    """Mask of USD/JPY bars dropped as bad prints (only OHLC bars can be checked). With
    ``snapshot`` each bar is judged when its close is used: by its open..close range where
    the close is a snapshot known before the bar's high and low."""
    if not {"low", "high", "close"} <= set(frame.columns):
        return np.zeros(len(frame), dtype=bool)
    if snapshot and "open" in frame.columns:
        early = np.asarray(fx_times(frame.index, "close") < fx_times(frame.index))
        ends = frame[["open", "close"]]
        frame = frame.assign(
            low=np.where(early, ends.min(axis=1), frame["low"]), high=np.where(early, ends.max(axis=1), frame["high"])
        )
    return disjoint_bars(frame, tolerance=cfg.fx_bad_print_gap, max_run=cfg.fx_bad_print_max_run)


def load_inputs(source: SeriesSource, cfg: RiskConfig) -> dict[str, Timed]:
    """Each input keyed by availability time; a missing series is a one-line DataError."""
    timed = {}
    for name, sid in cfg.inputs().items():
        if not source.exists(sid):
            where = f" at {source.root}" if hasattr(source, "root") else ""
            raise DataError(f"series {sid} is not in the store{where}", fix=FETCH_HINT)
        frame, meta = source.read(sid), source.meta(sid)
        field = None
        if name in ("usdjpy", "audjpy"):
            field = "close" if snapshot_timing(meta, cfg) else None
            frame = fx_price(frame[~fx_bad_prints(frame, cfg, snapshot=field is not None)])
        if frame.empty and name not in OPTIONAL_INPUTS:  # an optional input may not have started yet
            raise DataError(f"series {sid} has no rows usable at these times", fix=FETCH_HINT)
        timed[name] = on_availability(frame, meta, field)
    return timed


def snapshot_timing(meta: SeriesMeta, cfg: RiskConfig) -> bool:
    """v2 reads a Yahoo FX close from its snapshot time (``fx_snapshot``: 01:00 London of
    its day since 2010-09); v1 keeps reading whole bars from their close, as it always did."""
    return cfg.version >= 2 and meta.availability == "fx_snapshot"


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
    source = as_source(store)
    inputs = prepared_inputs(source, cfg)
    return combine(prepared_components(source, inputs, cfg), inputs, targets, cfg)


def prepared_inputs(source: SeriesSource, cfg: RiskConfig) -> dict[str, Timed]:
    """``load_inputs``, computed once per config for a ``MemoryStore`` (``risk --json``
    reads the index several times from the same inputs)."""
    if isinstance(source, MemoryStore):
        return dict(source.derived("risk inputs", cfg, lambda: load_inputs(source, cfg)))
    return load_inputs(source, cfg)


def prepared_components(source: SeriesSource, inputs: Mapping[str, Timed], cfg: RiskConfig) -> dict[str, Timed]:
    """Every component on its own calendar (``features.components``) from ``inputs``, once
    per config for a ``MemoryStore``: they depend on the stored series, not on the times asked."""

    def build() -> dict[str, Timed]:
        us = {"us10y": inputs["us10y"], "us2y": inputs["us2y"]}
        extra = {name: inputs[name] for name in OPTIONAL_INPUTS if name in inputs}
        return components(inputs["jgb"], inputs["usdjpy"], us, cfg, extra)

    if isinstance(source, MemoryStore):
        return dict(source.derived("risk components", cfg, build))
    return build()


def combine(
    native: Mapping[str, Timed], inputs: Mapping[str, Timed], targets: pd.DatetimeIndex, cfg: RiskConfig
) -> pd.DataFrame:
    """As-of join the components onto ``targets`` and combine them into the score
    (v1 or v2 by ``cfg.version``)."""
    out: dict[str, Any] = {}
    ages = {}
    for name, timed in inputs.items():
        _, date = asof(timed, targets)
        out[f"{name}_date"] = date
        ages[name] = age_days(targets, date).to_numpy()
        out[f"{name}_age_days"] = ages[name]
    if cfg.version == 1:
        head, parts = _combine_v1(native, ages, targets, cfg)
    else:
        head, parts = _combine_v2(native, inputs, ages, targets, cfg)
    out.update(parts)
    price = inputs["usdjpy"].values.iloc[:, 0]
    for w in cfg.fx_return_windows:
        moved = Timed(pd.DataFrame({"r": np.exp(np.log(price).diff(w)) - 1.0}), inputs["usdjpy"].data_date)
        out[f"usdjpy_return_{w}d"] = asof(moved, targets)[0]["r"].to_numpy()
    stale = np.full(len(targets), "", dtype=object)
    for name in inputs:
        old = ~(ages[name] <= cfg.stale_days)
        stale[old] = np.where(stale[old] == "", name, stale[old] + "," + name)
    out["stale"] = stale
    head["regime"] = regimes(head["score"], cfg.thresholds)
    frame = pd.DataFrame(head, index=targets)[["score", "regime", *(k for k in head if k not in ("score", "regime"))]]
    return pd.concat([frame, pd.DataFrame(out, index=targets)[output_columns(inputs, cfg)]], axis=1)


def _combine_v1(
    native: Mapping[str, Timed], ages: Mapping[str, np.ndarray], targets: pd.DatetimeIndex, cfg: RiskConfig
) -> tuple[dict[str, Any], dict[str, Any]]:
    """v1: weighted mean of the clipped z-scores through a fixed logistic."""
    out: dict[str, Any] = {}
    weights = np.array([cfg.weights.get(c, 0.0) for c in COMPONENTS])
    clipped = clipped_zscores(native, ages, targets, list(COMPONENTS), cfg, out)
    present = np.isfinite(clipped) & (weights > 0)
    weight_sum = np.where(present, weights, 0.0).sum(axis=1)
    enough = weight_sum >= cfg.min_weight * weights.sum()
    with np.errstate(invalid="ignore", divide="ignore"):
        shares = np.where(present, weights * np.nan_to_num(clipped), np.nan) / weight_sum[:, None]
        composite = np.where(enough, np.nansum(np.where(present, shares, 0.0), axis=1), np.nan)
        score = 100.0 / (1.0 + np.exp(-(composite - cfg.center) / cfg.scale))
        for j, name in enumerate(COMPONENTS):
            out[f"{name}_contribution"] = np.where(enough, shares[:, j], np.nan)
            out[f"{name}_weight"] = np.where(
                present[:, j], weights[j] / weight_sum, np.where(weights[j] > 0, np.nan, 0.0)
            )
    return {"score": score, "composite": composite}, out


def _combine_v2(
    native: Mapping[str, Timed],
    inputs: Mapping[str, Timed],
    ages: Mapping[str, np.ndarray],
    targets: pd.DatetimeIndex,
    cfg: RiskConfig,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """v2: trigger + capped amplifier, ranked among the trailing daily composites."""
    days = history_days(inputs, targets)
    day_ages = {name: age_days(days, asof(timed, days)[1]).to_numpy() for name, timed in inputs.items()}
    daily = legs(native, day_ages, days, cfg)["composite"]
    out = legs(native, ages, targets, cfg)
    composite = out.pop("composite")
    rank, score = rank_score(composite, targets, days, daily, cfg)
    head = {"score": score, "composite": composite, "trigger": out.pop("trigger")}
    head.update(amplifier=out.pop("amplifier"), rank=rank)
    return head, out


def output_columns(inputs: Mapping[str, Any], cfg: RiskConfig) -> list[str]:
    """Columns after score/regime/composite (and v2's trigger/amplifier/rank): per
    component value, change, zscore, contribution, weight; per input date and age; the
    USD/JPY returns; then ``stale``."""
    names = cfg.components()
    parts = [f"{c}_{part}" for c in names for part in ("value", "change", "zscore", "contribution", "weight")]
    moves = [f"usdjpy_return_{w}d" for w in cfg.fx_return_windows]
    return parts + [f"{i}_{part}" for i in inputs for part in ("date", "age_days")] + moves + ["stale"]


def latest_time(store: SeriesSource | Mapping[str, pd.DataFrame], config: RiskConfig | None = None) -> pd.Timestamp:
    """The newest time at which every input has published its latest stored value (the
    default ``as of`` of ``carryguard risk``)."""
    inputs = prepared_inputs(as_source(store), config or RiskConfig())
    return min(t.values.index[-1] for t in inputs.values() if len(t.values))


@dataclass(frozen=True)
class ComponentReading:
    """One component at one time: raw value and change (units in ``features.labels``),
    z-score (clipped z is what counts), contribution to the composite, and the data
    date behind it (the oldest of its inputs' newest dates); ``weight`` is its share of
    the composite per unit of clipped z in this reading (configured weights rescaled over
    the components present: 0 when switched off, NaN when its inputs are missing)."""

    name: str
    value: float
    change: float
    zscore: float
    contribution: float
    data_date: pd.Timestamp | None
    weight: float = float("nan")


@dataclass(frozen=True)
class RiskReading:
    """The index at one time, explained."""

    as_of: pd.Timestamp
    version: int
    score: float
    regime: str
    composite: float
    components: tuple[ComponentReading, ...]
    input_dates: Mapping[str, pd.Timestamp | None]  # series id -> data date of its newest usable value
    stale: tuple[str, ...]  # series ids older than ``stale_days``
    rank: float = float("nan")  # v2: the composite's rank among its trailing daily readings

    def to_json(self) -> dict[str, Any]:
        """``{"as_of", "version", "score", "regime", "components": [...], "stale": [...]}``; NaN -> null."""
        return {
            "as_of": self.as_of.isoformat(),
            "version": self.version,
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
    for name in cfg.components():
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
                float(row[f"{name}_weight"]),
            )
        )
    inputs = cfg.inputs()
    input_dates = {sid: (None if pd.isna(row[f"{name}_date"]) else row[f"{name}_date"]) for name, sid in inputs.items()}
    stale = tuple(inputs[name] for name in row["stale"].split(",") if name)
    rank = float(row["rank"]) if "rank" in row.index else float("nan")
    return RiskReading(
        at,
        cfg.version,
        float(row["score"]),
        row["regime"],
        float(row["composite"]),
        tuple(parts),
        input_dates,
        stale,
        rank,
    )


def explain(store: SeriesSource | Mapping[str, pd.DataFrame], at: Any, config: RiskConfig | None = None) -> RiskReading:
    """The reading at one time ``at`` (UTC), with every component and input date."""
    cfg = config or RiskConfig()
    target = to_targets(at)
    if len(target) != 1:
        raise ValueError("explain takes a single time")
    return reading_from_row(risk_at(store, target, cfg).iloc[0], target[0], cfg)


def fx_cross_check(store: SeriesSource, cfg: RiskConfig, as_of: pd.Timestamp) -> str:
    """One line comparing USD/JPY from the configured series with the cross-check series
    on the newest day both have as of the reading, and saying whether the newest
    configured bar was dropped as a bad print ("" when there is nothing to compare)."""
    if not cfg.fx_check_series or cfg.fx_check_series == cfg.fx_series or not store.exists(cfg.fx_check_series):
        return ""
    values = []
    for sid in (cfg.fx_series, cfg.fx_check_series):
        got, date = asof(on_availability(fx_price(store.read(sid)), store.meta(sid)), pd.DatetimeIndex([as_of]))
        values.append((sid, got.iloc[0, 0], date.iloc[0]))
    (a, x, dx), (b, y, dy) = values
    if pd.isna(x):
        return ""
    fx = store.read(a)
    dropped = ""
    if fx_bad_prints(fx, cfg)[fx.index.get_indexer([dx])[0]]:
        dropped = (
            f"; {a} {x:.3f} ({dx:%Y-%m-%d}) dropped as a bad print "
            "(its whole bar lies away from the last accepted close)"
        )
    same_day = fx_price(fx).iloc[:, 0].get(dy) if pd.notna(y) else None
    if same_day is None or pd.isna(same_day):
        return f"cross-check USD/JPY: no {b} fixing published for a day {a} has{dropped}"
    return (
        f"cross-check USD/JPY on {dy:%Y-%m-%d} (newest {b} published by then): {a} {same_day:.3f} vs "
        f"{b} {y:.3f}, difference {100 * (same_day / y - 1):+.2f}%{dropped}"
    )
