"""Index v2: the yen leg triggers, JGB and spread legs amplify, each day ranked against
its own past.

Why each choice (fixed from the carry-trade mechanism before any crypto result was seen):

- **Trigger = the yen leg.** A carry unwind *is* funding-currency strength: positions
  short yen are closed, the yen rallies and its volatility jumps. ``yen_strength``
  (minus the z of 5- and 20-day USD/JPY returns, weight 0.6) and ``yen_vol`` (z of log
  20-day realized vol, 0.4: vol also rises when the yen *weakens* fast, so it weighs
  less than direction) form the trigger ``T``.
- **Amplifiers = the Japan-rates leg.** Rising long-end JGB yields (``jgb_momentum``)
  and a compressing US-Japan spread (``carry_spread``) shrink the carry that pays for
  the position; they make an unwind likelier and larger but are not one. Their weighted
  mean ``A`` enters as ``amplifier_gain x max(A, amplifier_floor)`` = 0.5 x max(A, -0.5):
  a supportive rates leg adds up to 1.5 (at the z cap), a contrary one subtracts at most
  0.25, so it may lower a score but cannot cancel a strong trigger (2016-02-11: falling
  JGB yields after the BoJ's negative-rate move took 0.54 off v1's composite).
- **Levels are not alarms.** v1's ``jgb_level`` (a yield's place in its 5-year range)
  sat at the top of its range every day since 2022; a state is not a shock, so v2 drops
  it. Every v2 input is a change or a volatility.
- **Point-in-time calibration.** No centre or scale fitted on the whole history: each
  day's composite is ranked among the daily (00:00 UTC) composites of the previous
  ``rank_window_days`` (3 years, at least ``rank_min_days`` readings), the rank p turned
  into a normal quantile q and mapped with fixed constants,
  ``score = 100 / (1 + exp(-(q - 1.0) / 0.5))``: q = 1 (84th percentile) reads 50, the
  stress line 60 is the 89th percentile and crisis 80 the 95th of the trailing 3 years,
  so in a stationary world about 11% of days are stress or worse. 2010 never knows 2024.
- **Optional inputs** (off by default; ``risk validate`` decided, see README): amplifiers
  ``audjpy_drawdown``, ``vix``, ``btc_funding``; and ``yen_positioning``, a *state*
  (crowded short yen), which therefore only scales a positive trigger,
  ``T x (1 + positioning_gain x clip(z, 0, 2))``: its weight is ``gain x T`` and its z is
  clipped to [0, 2] (a light position removes nothing).
"""

from __future__ import annotations

from collections.abc import Mapping
from statistics import NormalDist
from typing import Any

import numpy as np
import pandas as pd

from carryguard.signals.features import COMPONENT_INPUTS
from carryguard.signals.pit import Timed, asof
from carryguard.signals.risk_config import RiskConfig

CHUNK = 4096  # targets ranked per block (bounds memory at CHUNK x rank_window_days)


def clipped_zscores(
    native: Mapping[str, Timed],
    ages: Mapping[str, np.ndarray],
    times: pd.DatetimeIndex,
    names: list[str],
    cfg: RiskConfig,
    out: dict[str, Any],
) -> np.ndarray:
    """Each named component as of ``times``: ``<name>_value/_change/_zscore`` written to
    ``out`` (z NaN where one of its inputs is older than ``expire_days``), and the z-scores
    clipped to [floor, clip], one column per name (v1 and v2 read components alike)."""
    n = len(times)
    clipped = np.full((n, len(names)), np.nan)
    for j, name in enumerate(names):
        frame, _ = asof(native[name], times)
        expired = np.zeros(n, dtype=bool)
        for source in COMPONENT_INPUTS[name]:
            expired |= ~(ages[source] <= cfg.expire_days)
        z = frame["zscore"].to_numpy().copy()
        z[expired] = np.nan
        out[f"{name}_value"], out[f"{name}_change"], out[f"{name}_zscore"] = frame["value"], frame["change"], z
        clipped[:, j] = np.clip(z, cfg.floor, cfg.clip)
    return clipped


def legs(
    native: Mapping[str, Timed], ages: Mapping[str, np.ndarray], times: pd.DatetimeIndex, cfg: RiskConfig
) -> dict[str, Any]:
    """Trigger, amplifier, composite and per component value/change/zscore/contribution
    and weight (its share of the composite per unit clipped z) at ``times``."""
    n = len(times)
    out: dict[str, Any] = {}
    legs_sum = {}
    for leg, table in (("trigger", cfg.trigger_weights), ("amplifier", cfg.amplifier_weights)):
        names = list(table)
        w = np.array([table[c] for c in names])
        clipped = clipped_zscores(native, ages, times, names, cfg, out)
        present = np.isfinite(clipped) & (w > 0)
        total = np.where(present, w, 0.0).sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            share = np.where(present, w, 0.0) / total[:, None]
            mean = np.nansum(np.where(present, share * np.nan_to_num(clipped), 0.0), axis=1)
        if leg == "trigger":
            enough = total >= cfg.min_weight * w.sum()
            mean, factor = np.where(enough, mean, np.nan), np.ones(n)
        else:  # no amplifier input: the trigger alone
            enough = total > 0
            capped = np.maximum(mean, cfg.amplifier_floor)
            with np.errstate(invalid="ignore", divide="ignore"):
                factor = cfg.amplifier_gain * np.where(mean != 0, capped / mean, 0.0)
            mean = np.where(enough, cfg.amplifier_gain * capped, 0.0)
        legs_sum[leg] = mean
        for j, name in enumerate(names):
            weight = np.where(present[:, j], share[:, j] * factor, np.where(table[name] > 0, np.nan, 0.0))
            out[f"{name}_weight"] = weight
            out[f"{name}_contribution"] = np.where(present[:, j], weight * np.nan_to_num(clipped[:, j]), np.nan)
    if cfg.positioning_gain > 0:  # a state scales the shock, never stands in for one
        frame, _ = asof(native["yen_positioning"], times)
        z = frame["zscore"].to_numpy().copy()
        z[~(ages["positioning"] <= cfg.expire_days)] = np.nan
        name = "yen_positioning"
        out[f"{name}_value"], out[f"{name}_change"], out[f"{name}_zscore"] = frame["value"], frame["change"], z
        weight = np.where(legs_sum["trigger"] > 0, cfg.positioning_gain * legs_sum["trigger"], 0.0)
        extra = weight * np.clip(np.nan_to_num(z), 0.0, 2.0)
        out[f"{name}_weight"] = np.where(np.isfinite(z), weight, np.nan)
        out[f"{name}_contribution"] = np.where(np.isfinite(z), extra, np.nan)
        legs_sum["trigger"] = legs_sum["trigger"] + extra
    composite = legs_sum["trigger"] + legs_sum["amplifier"]
    for name in cfg.components():  # no score, no contributions
        out[f"{name}_contribution"] = np.where(np.isfinite(composite), out[f"{name}_contribution"], np.nan)
    out["trigger"], out["amplifier"], out["composite"] = legs_sum["trigger"], legs_sum["amplifier"], composite
    return out


def history_days(inputs: Mapping[str, Timed], targets: pd.DatetimeIndex) -> pd.DatetimeIndex:
    """Daily 00:00 UTC times from the first day any input was usable to the last target's
    day: the calendar each reading is ranked on (independent of which targets are asked)."""
    first = min(pd.Timestamp(t.values.index[0]) for t in inputs.values() if len(t.values)).ceil("D")
    last = targets.max().floor("D") if len(targets) else first
    return pd.date_range(first, max(first, last), freq="D", name="time")


def rank_score(
    composite: np.ndarray, targets: pd.DatetimeIndex, days: pd.DatetimeIndex, daily: np.ndarray, cfg: RiskConfig
) -> tuple[np.ndarray, np.ndarray]:
    """Each target's composite ranked among the daily composites of the trailing
    ``rank_window_days`` up to its time (the rank p counts ties as half), as
    ``(p, score)``; NaN with fewer than ``rank_min_days`` finite readings."""
    window = cfg.rank_window_days
    padded = np.concatenate([np.full(window - 1, np.nan), daily])
    views = np.lib.stride_tricks.sliding_window_view(padded, window)
    pos = np.searchsorted(days.asi8, targets.as_unit("ns").asi8, side="right") - 1
    p = np.full(len(targets), np.nan)
    for lo in range(0, len(targets), CHUNK):
        idx = pos[lo : lo + CHUNK]
        ref = np.where(idx[:, None] >= 0, views[np.maximum(idx, 0)], np.nan)
        value = composite[lo : lo + CHUNK, None]
        count = np.isfinite(ref).sum(axis=1)
        below = (ref < value).sum(axis=1) + 0.5 * (ref == value).sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            rank = np.clip(below, 0.5, count - 0.5) / count
        ok = (count >= cfg.rank_min_days) & np.isfinite(composite[lo : lo + CHUNK])
        p[lo : lo + CHUNK] = np.where(ok, rank, np.nan)
    inv = np.vectorize(NormalDist().inv_cdf, otypes=[float])
    q = np.full(len(p), np.nan)
    finite = np.isfinite(p)
    q[finite] = inv(p[finite])
    return p, 100.0 / (1.0 + np.exp(-(q - cfg.rank_center) / cfg.rank_scale))
