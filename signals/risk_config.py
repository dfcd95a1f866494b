"""``RiskConfig``: every input, window, weight and threshold of the risk index.

Its own module so ``signals.features`` (which reads the windows) and ``signals.risk``
(which combines the components) both import it without importing each other.
``version`` picks the index: 2 (default, ``signals.risk_v2``) or 1 (the original
logistic of a weighted z-score mean, kept byte-reproducible).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from os import PathLike
from types import MappingProxyType
from typing import Any

import numpy as np

from carryguard.signals.config import closest, parse_config
from carryguard.signals.errors import DataError
from carryguard.signals.toml_file import read_toml

COMPONENTS = ("jgb_momentum", "jgb_level", "yen_strength", "yen_vol", "carry_spread")
REGIMES = ("calm", "elevated", "stress", "crisis")
VERSIONS = (1, 2)
DEFAULT_WEIGHTS = MappingProxyType(
    {"jgb_momentum": 0.25, "jgb_level": 0.15, "yen_strength": 0.25, "yen_vol": 0.15, "carry_spread": 0.20}
)
# v2: the yen leg triggers; JGB long-end momentum and spread compression amplify.
TRIGGER_WEIGHTS = MappingProxyType({"yen_strength": 0.6, "yen_vol": 0.4})
AMPLIFIER_WEIGHTS = MappingProxyType({"jgb_momentum": 0.5, "carry_spread": 0.5})
# Optional v2 amplifiers (name one in [amplifier_weights] to use it; its series must be stored).
OPTIONAL_AMPLIFIERS = {"audjpy_drawdown": "audjpy", "vix": "vix", "btc_funding": "funding"}  # component -> input
TABLES = {"weights": DEFAULT_WEIGHTS, "trigger_weights": TRIGGER_WEIGHTS, "amplifier_weights": AMPLIFIER_WEIGHTS}


@dataclass(frozen=True)
class RiskConfig:
    """Every input, window, weight and threshold of the index (windows in observations
    of the source, i.e. business days; v2's rank window in calendar days)."""

    version: int = 2
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
    audjpy_series: str = "yahoo/AUDJPY=X/1d"  # optional v2 amplifier audjpy_drawdown
    audjpy_window: int = 20  # drawdown below the highest close of this many observations
    vix_series: str = "fred/VIXCLS"  # optional v2 amplifier vix (log level z-scored)
    funding_series: str = "binance/BTC-USDT/funding"  # optional v2 amplifier btc_funding
    funding_mean_obs: int = 21  # 7 days of 8-hourly funding rates, averaged
    funding_zscore_window: int = 2190  # ~2 years of 8h observations
    funding_zscore_min_periods: int = 1095
    # Optional v2 scaler: crowded short yen (CFTC non-commercial net / open interest, low =
    # crowded) scales a positive trigger by 1 + positioning_gain x clip(z, 0, 2); 0 = off.
    positioning_series: str = "cftc/JPY"
    positioning_gain: float = 0.0
    positioning_window: int = 156  # weekly reports: 3 years
    positioning_min_periods: int = 52
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
    floor: float = -1.5  # calm readings lower the score
    weights: Mapping[str, float] = field(default_factory=lambda: DEFAULT_WEIGHTS)  # v1
    center: float = 0.35  # v1: composite at which the score is 50
    scale: float = 0.45  # v1: composite units per logistic unit
    # v2: composite = trigger + amplifier_gain * max(amplifier, amplifier_floor)
    trigger_weights: Mapping[str, float] = field(default_factory=lambda: TRIGGER_WEIGHTS)
    amplifier_weights: Mapping[str, float] = field(default_factory=lambda: AMPLIFIER_WEIGHTS)
    amplifier_gain: float = 0.5  # an amplifier at +1 z adds half a trigger z
    amplifier_floor: float = -0.5  # contrary amplifiers subtract at most gain x 0.5 = 0.25
    # v2 score: the composite's rank among its own trailing daily readings (calendar days)
    # as a normal quantile q, then 100 / (1 + exp(-(q - rank_center) / rank_scale)).
    rank_window_days: int = 1095  # ~3 years
    rank_min_days: int = 365
    rank_center: float = 1.0  # q = 1 (84th percentile) -> 50
    rank_scale: float = 0.5  # q = 1.2 (89th) -> 60 stress, q = 1.69 (95th) -> 80 crisis
    thresholds: tuple[float, float, float] = (40.0, 60.0, 80.0)  # elevated, stress, crisis from
    stale_days: float = 7.0
    expire_days: float = 30.0
    min_weight: float = 0.5

    def __post_init__(self) -> None:
        for name, default in TABLES.items():
            table = MappingProxyType(dict(getattr(self, name)))
            object.__setattr__(self, name, table)
            known = list(COMPONENTS if name == "weights" else default)
            known += list(OPTIONAL_AMPLIFIERS) if name == "amplifier_weights" else []
            unknown = set(table) - set(known)
            if unknown:
                first = sorted(unknown)[0]
                hint = f"did you mean {near!r}? " if (near := closest(first, known)) else ""
                raise ValueError(f"unknown risk components in {name}: {sorted(unknown)}; {hint}known: {known}")
            if any(w < 0 for w in table.values()) or sum(table.values()) <= 0:
                raise ValueError(f"risk {name} must be >= 0 with a positive sum")
        if self.version not in VERSIONS:
            raise ValueError(f"version must be one of {list(VERSIONS)}, got {self.version}")
        if len(self.thresholds) != 3 or not 0 <= self.thresholds[0] <= self.thresholds[1] <= self.thresholds[2] <= 100:
            raise ValueError(f"thresholds must be 3 values rising within 0..100, got {self.thresholds}")
        if min(self.scale, self.clip, self.rank_scale) <= 0 or self.amplifier_gain < 0 or self.floor >= 0:
            raise ValueError("scale, rank_scale and clip must be > 0, amplifier_gain >= 0 and floor < 0")
        if self.amplifier_floor > 0 or self.positioning_gain < 0:
            raise ValueError("amplifier_floor must be <= 0 and positioning_gain >= 0")
        if not 0 < self.positioning_min_periods <= self.positioning_window or not (
            0 < self.funding_zscore_min_periods <= self.funding_zscore_window and self.funding_mean_obs >= 1
        ):
            raise ValueError("positioning/funding min_periods must be in 1..window")
        if (
            min(
                *self.momentum_windows, *self.fx_return_windows, self.vol_window, self.spread_window, self.audjpy_window
            )
            < 1
        ):
            raise ValueError("windows must be >= 1 observation")
        if not 0 < self.zscore_min_periods <= self.zscore_window or not 0 < self.level_min_periods <= self.level_window:
            raise ValueError("min_periods must be in 1..window")
        if not 0 < self.rank_min_days <= self.rank_window_days:
            raise ValueError("rank_min_days must be in 1..rank_window_days")
        if not 0 < self.min_weight <= 1:
            raise ValueError("min_weight must be in (0, 1]")

    @classmethod
    def from_toml(cls, path: str | PathLike) -> RiskConfig:
        """Read a TOML file: top-level keys, or a ``[risk]`` table (so a study file can
        embed it); ``[weights]``, ``[trigger_weights]``, ``[amplifier_weights]`` (or under
        ``[risk.*]``) override the weights they name (0 drops a component); lists become tuples."""
        data = read_toml(path, what="risk config", error=DataError)
        return cls.from_dict(data.get("risk", data), origin=str(path))

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, origin: str = "config") -> RiskConfig:
        """A config from parsed TOML keys, validated by ``signals.config.parse_config``;
        ``DataError`` naming ``origin`` and every unknown key or bad value. A partial
        weights table changes only the weights it names."""
        values = dict(data)
        for name, default in TABLES.items():
            if isinstance(values.get(name), Mapping):
                values[name] = {**default, **values[name]}
        return parse_config(cls, values, origin=origin, error=DataError)

    def inputs(self) -> dict[str, str]:
        """Input name -> series id (the optional amplifiers' inputs only when weighted)."""
        out = {"jgb": self.jgb_series, "usdjpy": self.fx_series, "us10y": self.us10_series, "us2y": self.us2_series}
        extra = {"audjpy": self.audjpy_series, "vix": self.vix_series, "funding": self.funding_series}
        for component, name in OPTIONAL_AMPLIFIERS.items():
            if self.version == 2 and self.amplifier_weights.get(component, 0.0) > 0:
                out[name] = extra[name]
        if self.version == 2 and self.positioning_gain > 0:
            out["positioning"] = self.positioning_series
        return out

    def series_ids(self) -> tuple[str, ...]:
        """Every series the index reads: the inputs and the USD/JPY cross-check series
        (load all of them when handing the index an in-memory copy of the store)."""
        check = (self.fx_check_series,) if self.fx_check_series else ()
        return tuple(dict.fromkeys((*self.inputs().values(), *check)))

    def components(self) -> tuple[str, ...]:
        """The components of this version, in display order."""
        if self.version == 1:
            return COMPONENTS
        scaler = ("yen_positioning",) if self.positioning_gain > 0 else ()
        return (*self.trigger_weights, *scaler, *self.amplifier_weights)

    def regime(self, score: float) -> str:
        """``calm|elevated|stress|crisis`` for a score ("" for NaN)."""
        return str(regimes(np.array([score], dtype="float64"), self.thresholds)[0])


def regimes(score: np.ndarray, thresholds: tuple[float, float, float]) -> np.ndarray:
    """Regime name per score ("" for NaN): a score equal to a threshold is in the higher regime."""
    names = np.array(REGIMES, dtype=object)[np.searchsorted(np.asarray(thresholds), np.nan_to_num(score), side="right")]
    return np.where(np.isfinite(score), names, "")
