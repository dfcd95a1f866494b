"""The carry-unwind overlay: size any strategy's exposure by the risk index.

``final_exposure(t) = strategy_exposure(t) x risk_multiplier(t) x vol_scale(t)``

- ``risk_multiplier`` maps the risk score (0-100) to [0, 1], either by regime (step
  map: calm 1.0, elevated 0.75, stress 0.25, crisis 0.0) or linearly (continuous map:
  1 at score 40 down to 0 at score 80).
- Hysteresis: risk is taken on at once but released slowly. The overlay works on a
  "sticky" score ``s*_t = max(s_t, min(s*_{t-1}, s_t + hysteresis))``: when the score
  rises ``s*`` follows it; when it falls ``s*`` stays put until the score is
  ``hysteresis`` points below it. So a regime is entered when the score reaches its
  threshold and left only when the score drops ``hysteresis`` points below the
  threshold, and a score wobbling around 60 does not flap the exposure. Both maps read
  ``s*``; the reported ``regime`` is the regime of ``s*``.
- A NaN score (no risk reading yet, e.g. before the macro data start) gives multiplier
  1 (the strategy runs unsized) with reason "no risk reading", and resets the
  hysteresis memory.
- ``vol_scale`` (off by default) targets an annualized volatility:
  ``min(vol_cap, vol_target / realized_vol_t)`` from the trailing ``vol_window``
  closes up to t; ``vol_cap`` <= 1 keeps spot exposure long-only and unlevered. Until
  the volatility is known (warm-up) the scale is ``vol_cap``.
- ``OverlayConfig.warmup_bars``: bars before a backtest's start that the overlay reads so
  the hysteresis path (``HYSTERESIS_WARMUP`` bars) and the vol window are settled at the
  first decision.

The overlay only consumes a risk frame with a ``score`` column (``regime`` is
recomputed with the overlay's own thresholds and hysteresis), e.g. the output of
``signals.risk.risk_at``; it does not know how the score is made.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, fields
from numbers import Real
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from carryguard.signals.config import parse_config
from carryguard.signals.errors import CarryguardError
from carryguard.signals.indicators import realized_volatility
from carryguard.signals.risk import REGIMES
from carryguard.signals.toml_file import read_toml
from carryguard.strategies.base import periods_per_year_of

MODES = ("step", "continuous")
# bars of score history that settle the hysteresis before a first decision (90 days of 4h
# bars, as long as the paper loop reads)
HYSTERESIS_WARMUP = 540
COLUMNS = ("strategy_exposure", "risk_score", "regime", "multiplier", "vol_scale", "final_exposure")


@dataclass(frozen=True)
class OverlayConfig:
    """How the overlay sizes exposure (every field has a default).

    mode: "step" (multiplier by regime) or "continuous" (linear in the score).
    elevated_at, stress_at, crisis_at: score thresholds of the regimes
        (40, 60, 80, as in the risk index: calm < 40 <= elevated < 60 <= stress < 80 <= crisis).
    calm, elevated, stress, crisis: step-map multipliers (1.0, 0.75, 0.25, 0.0), non-increasing.
    full_at, zero_at: continuous map, multiplier 1 at score <= full_at (40) falling
        linearly to 0 at score >= zero_at (80).
    hysteresis: score points a reading must fall below a threshold before the overlay
        releases risk (5).
    vol_target: annualized volatility target (e.g. 0.6 = 60% for crypto); None (default) = off.
    vol_window: bars of log returns for the realized volatility (30).
    vol_cap: largest vol scale (1.0, spot long only: never lever up), in (0, 1].
    periods_per_year: bars per year for annualizing; None = from the bar spacing
        (365 for daily, 6 * 365 for 4h bars).
    """

    mode: str = "step"
    elevated_at: float = 40.0
    stress_at: float = 60.0
    crisis_at: float = 80.0
    calm: float = 1.0
    elevated: float = 0.75
    stress: float = 0.25
    crisis: float = 0.0
    full_at: float = 40.0
    zero_at: float = 80.0
    hysteresis: float = 5.0
    vol_target: float | None = None
    vol_window: int = 30
    vol_cap: float = 1.0
    periods_per_year: float | None = None

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if (
                f.name not in ("mode", "vol_window")
                and value is not None
                and (isinstance(value, bool) or not isinstance(value, Real))
            ):
                raise TypeError(f"overlay {f.name} must be a number, got {value!r}")
        if self.mode not in MODES:
            raise ValueError(f"overlay mode must be one of {', '.join(MODES)}, got {self.mode!r}")
        if not 0.0 < self.elevated_at < self.stress_at < self.crisis_at <= 100.0:
            raise ValueError(
                "overlay thresholds need 0 < elevated_at < stress_at < crisis_at <= 100, "
                f"got {self.elevated_at}, {self.stress_at}, {self.crisis_at}"
            )
        steps = self.step_multipliers
        if any(not 0.0 <= m <= 1.0 for m in steps) or list(steps) != sorted(steps, reverse=True):
            raise ValueError(
                f"overlay step multipliers (calm, elevated, stress, crisis) must be in [0, 1] "
                f"and non-increasing, got {steps}"
            )
        if not 0.0 <= self.full_at < self.zero_at <= 100.0:
            raise ValueError(f"overlay needs 0 <= full_at < zero_at <= 100, got {self.full_at}, {self.zero_at}")
        if not 0.0 <= self.hysteresis < 100.0:
            raise ValueError(f"overlay hysteresis must be in [0, 100) score points, got {self.hysteresis}")
        if self.vol_target is not None and not self.vol_target > 0.0:
            raise ValueError(f"overlay vol_target must be > 0 or None, got {self.vol_target}")
        if isinstance(self.vol_window, bool) or not isinstance(self.vol_window, int) or self.vol_window < 2:
            raise ValueError(f"overlay vol_window must be an int >= 2, got {self.vol_window!r}")
        if not 0.0 < self.vol_cap <= 1.0:
            raise ValueError(f"overlay vol_cap must be in (0, 1] (spot long only), got {self.vol_cap}")
        if self.periods_per_year is not None and not self.periods_per_year > 0:
            raise ValueError(f"overlay periods_per_year must be > 0 or None, got {self.periods_per_year}")

    @property
    def step_multipliers(self) -> tuple[float, float, float, float]:
        """Multipliers of calm, elevated, stress, crisis."""
        return (self.calm, self.elevated, self.stress, self.crisis)

    @property
    def thresholds(self) -> tuple[float, float, float]:
        """Scores at which elevated, stress and crisis begin."""
        return (self.elevated_at, self.stress_at, self.crisis_at)

    @property
    def warmup_bars(self) -> int:
        """Bars of history wanted before the first decision: ``HYSTERESIS_WARMUP`` for
        the hysteresis memory, the vol window's returns when targeting volatility."""
        hysteresis = HYSTERESIS_WARMUP if self.hysteresis > 0 else 0
        return max(hysteresis, self.vol_window if self.vol_target is not None else 0)

    @classmethod
    def from_dict(cls, values: Mapping[str, Any], *, origin: str = "[overlay]") -> OverlayConfig:
        """Build from a mapping of field names, validated by ``signals.config.parse_config``
        (``ConfigError`` naming ``origin`` and every bad key)."""
        return parse_config(cls, values, origin=origin)

    @classmethod
    def from_toml(cls, path: str | Path) -> OverlayConfig:
        """Read the ``[overlay]`` table of a TOML file (or the whole file if it has none).

        Any problem (missing file, bad TOML, bad value) raises ``CarryguardError`` naming the file.
        """
        path = Path(path)
        document = read_toml(path, what="overlay config")
        table = document.get("overlay", document)
        if not isinstance(table, dict):
            raise CarryguardError(f"{path}: 'overlay' must be a table", fix="write it as [overlay]")
        return cls.from_dict(table, origin=f"{path} [overlay]")


@dataclass(frozen=True)
class SizedExposure:
    """One sizing decision and why: ``exposure`` is the final (sized) exposure."""

    exposure: float
    score: float
    regime: str
    multiplier: float
    vol_scale: float
    reason: str


def sticky_scores(scores: np.ndarray, hysteresis: float) -> np.ndarray:
    """The hysteresis score path ``s*_t = max(s_t, min(s*_{t-1}, s_t + hysteresis))``;
    NaN where the score is NaN, and a NaN restarts the path. (A recursion, so a loop; on
    Python floats, about five times faster than on numpy scalars, same doubles.)"""
    out = []
    previous = math.nan
    for score in np.asarray(scores, dtype="float64").tolist():
        if math.isnan(score):
            previous = math.nan
        else:
            previous = score if math.isnan(previous) else max(score, min(previous, score + hysteresis))
        out.append(previous)
    return np.array(out, dtype="float64")


class CarryOverlay:
    """Sizes strategy exposures by the carry-unwind risk score (see module docstring)."""

    def __init__(self, config: OverlayConfig | None = None) -> None:
        self.config = config or OverlayConfig()

    def apply(self, exposure: pd.Series, risk: pd.DataFrame, bars: pd.DataFrame) -> pd.DataFrame:
        """Size a whole exposure series (vectorized, for backtests).

        exposure: strategy exposure in [0, 1] on the bars' index.
        risk: one row per bar with a ``score`` column, indexed by the bars' open times
            or their close times (the decision times, as ``risk_at`` returns them).
        bars: the OHLCV bars (closes feed the vol scale).
        Returns a frame on the bars' index with columns ``COLUMNS``.
        """
        strategy = _check_exposure(exposure, bars.index)
        scores = _aligned_scores(risk, bars.index)
        sticky = sticky_scores(scores, self.config.hysteresis)
        multiplier = self.multipliers(sticky)
        vol_scale = self.vol_scale(bars)
        return pd.DataFrame(
            {
                "strategy_exposure": strategy,
                "risk_score": scores,
                "regime": self.regimes(sticky),
                "multiplier": multiplier,
                "vol_scale": vol_scale,
                "final_exposure": np.clip(strategy * multiplier * vol_scale, 0.0, 1.0),
            },
            index=bars.index,
        )

    def size(
        self, exposure: float, *, at: pd.Timestamp | str, risk: pd.DataFrame, bars: pd.DataFrame | None = None
    ) -> SizedExposure:
        """Size one exposure decided at time ``at`` (paper trading, other bots).

        risk: risk history with a ``score`` column indexed by reading time; rows after
            ``at`` are ignored, earlier rows are needed for the hysteresis path.
        bars: OHLCV bars indexed by open time, needed only with a vol target; only bars
            closed by ``at`` (open + bar spacing <= at) are used.
        """
        if not 0.0 <= exposure <= 1.0:
            raise ValueError(f"exposure must be in [0, 1], got {exposure}")
        when = _utc(at)
        if "score" not in risk.columns:
            raise ValueError(f"risk needs a 'score' column, has {list(risk.columns)}")
        history = risk.loc[risk.index <= when, "score"].to_numpy(dtype="float64")
        sticky = sticky_scores(history, self.config.hysteresis)[-1:] if len(history) else np.array([np.nan])
        score = float(history[-1]) if len(history) else math.nan
        multiplier = float(self.multipliers(sticky)[0])
        regime = str(self.regimes(sticky)[0])
        vol_scale, vol_note = 1.0, ""
        if self.config.vol_target is not None:
            if bars is None:
                raise ValueError("this overlay targets volatility: pass the bars to size()")
            closed = bars.iloc[: int(np.searchsorted(bars.index + _bar_step(bars.index), when, side="right"))]
            per_year = periods_per_year_of(bars.index, self.config.periods_per_year)
            vol_scale = float(self.vol_scale(closed, per_year=per_year)[-1]) if len(closed) else self.config.vol_cap
            vol_note = f"; vol scale {vol_scale:.2f} (target {self.config.vol_target:.0%}, cap {self.config.vol_cap:g})"
        final = min(max(exposure * multiplier * vol_scale, 0.0), 1.0)
        if math.isnan(sticky[0]):
            risk_note = "no risk reading -> multiplier 1"
        else:
            held = "" if sticky[0] == score else f", held at {sticky[0]:.1f} by hysteresis"
            risk_note = f"score {score:.1f}{held} -> {regime} -> multiplier {multiplier:.2f} ({self.config.mode} map)"
        reason = f"{risk_note}{vol_note}; exposure {exposure:.2f} -> {final:.2f}"
        return SizedExposure(final, score, regime, multiplier, vol_scale, reason)

    def score_sizing(self, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(regime, multiplier) per score of a reading history, hysteresis included: what
        the overlay would apply at each reading (NaN scores: regime "", multiplier 1)."""
        sticky = sticky_scores(scores, self.config.hysteresis)
        return self.regimes(sticky), self.multipliers(sticky)

    def _regime_index(self, sticky: np.ndarray) -> np.ndarray:
        """Position of each score's regime in ``REGIMES`` (NaN reads as calm; callers mask it)."""
        return np.searchsorted(np.array(self.config.thresholds), np.nan_to_num(sticky), side="right")

    def regimes(self, sticky: np.ndarray) -> np.ndarray:
        """Regime of each sticky score ("" for NaN)."""
        return np.where(np.isnan(sticky), "", np.array(REGIMES, dtype=object)[self._regime_index(sticky)])

    def multipliers(self, sticky: np.ndarray) -> np.ndarray:
        """Risk multiplier of each sticky score (1 for NaN: no reading)."""
        config = self.config
        if config.mode == "step":
            values = np.array(config.step_multipliers)[self._regime_index(sticky)]
        else:
            values = np.clip((config.zero_at - sticky) / (config.zero_at - config.full_at), 0.0, 1.0)
        return np.where(np.isnan(sticky), 1.0, values)

    def vol_scale(self, bars: pd.DataFrame, *, per_year: float | None = None) -> np.ndarray:
        """Vol scale per bar (1 without a vol target, ``vol_cap`` in the warm-up)."""
        config = self.config
        if config.vol_target is None:
            return np.ones(len(bars))
        if "close" not in bars.columns:
            raise ValueError(f"vol targeting needs the bars' 'close' column, bars have {list(bars.columns)}")
        per_year = per_year or periods_per_year_of(bars.index, config.periods_per_year)
        vol = realized_volatility(bars["close"].astype("float64"), config.vol_window, periods_per_year=per_year)
        with np.errstate(divide="ignore"):
            scale = np.minimum(config.vol_target / vol.to_numpy(), config.vol_cap)
        return np.where(np.isnan(scale), config.vol_cap, scale)


def _utc(at: pd.Timestamp | str) -> pd.Timestamp:
    when = pd.Timestamp(at)
    return when.tz_localize("UTC") if when.tzinfo is None else when.tz_convert("UTC")


def _bar_step(index: pd.DatetimeIndex) -> pd.Timedelta:
    """The bar spacing (median step); one bar alone is taken as daily."""
    return pd.Series(index).diff().median() if len(index) > 1 else pd.Timedelta(days=1)


def _check_exposure(exposure: pd.Series, index: pd.DatetimeIndex) -> np.ndarray:
    if not exposure.index.equals(index):
        raise ValueError("exposure must be on the bars' index")
    values = exposure.to_numpy(dtype="float64")
    if np.isnan(values).any() or (values < 0.0).any() or (values > 1.0).any():
        raise ValueError("strategy exposure must be in [0, 1] without NaN")
    return values


def _aligned_scores(risk: pd.DataFrame, index: pd.DatetimeIndex) -> np.ndarray:
    """Scores one per bar: ``risk`` must be indexed by the bars' open times or by their
    close times (a constant offset), so row i is the reading at bar i's decision."""
    if "score" not in risk.columns:
        raise ValueError(f"risk needs a 'score' column, has {list(risk.columns)}")
    offsets = (risk.index - index).unique() if len(risk) == len(index) else None
    if offsets is None or len(offsets) > 1 or (len(offsets) and not pd.Timedelta(0) <= offsets[0] <= _bar_step(index)):
        raise ValueError(
            "risk must have one row per bar, indexed by the bars' open or close times "
            f"({len(risk)} risk rows for {len(index)} bars)"
        )
    scores = risk["score"].to_numpy(dtype="float64")
    if ((scores < 0.0) | (scores > 100.0)).any():
        raise ValueError("risk scores must be in [0, 100] (or NaN)")
    return scores
