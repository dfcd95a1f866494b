"""The carry-based sizing policies: ``carry``, ``yen_shock`` and ``carry_confirmed``.

- ``carry``: the carry-unwind overlay of ``strategies.overlay`` (index score -> regime ->
  multiplier, with hysteresis), for whichever index version fills the ``score`` column.
- ``yen_shock``: a circuit breaker on the yen leg alone: cut when USD/JPY has fallen by
  more than a threshold over 5 or 20 trading days (the yen strengthening fast), re-enter
  as soon as the move fades (optionally after a hold) or after a fixed number of days.
- ``carry_confirmed``: the carry cut only on bars where crypto is weak by its own measure
  (close below its trend or its volatility in the top of its trailing range).

Every path reads the risk row at each bar's close and bars up to it (point in time; see
``strategies.policies`` for the missing-data convention). ``yen_moves`` adds the USD/JPY
moves ``yen_shock`` reads to any decision times, from the store, point in time.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from carryguard.signals.indicators import realized_volatility
from carryguard.signals.pit import SeriesSource, Timed, age_days, as_source, asof, on_availability, to_targets
from carryguard.signals.risk import RiskConfig, fx_bad_prints, fx_price
from carryguard.strategies.base import periods_per_year_of
from carryguard.strategies.overlay import CarryOverlay, OverlayConfig, sticky_scores
from carryguard.strategies.policies import PolicyInputs, PolicyPath, Trend, check_numbers, day_bars

YEN_WINDOWS = (5, 20)  # USD/JPY return windows in observations (trading days) of the FX series
YEN_COLUMNS = tuple(f"usdjpy_ret{w}" for w in YEN_WINDOWS)
REENTRY = ("fade", "days")


@dataclass(frozen=True)
class CarryPolicy:
    """``carry``: the carry-unwind overlay's risk multiplier (times its vol scale when the
    overlay config sets ``vol_target``); ``config``: the ``OverlayConfig`` (step map calm 1,
    elevated 0.75, stress 0.25, crisis 0; 5 points of hysteresis)."""

    name: ClassVar[str] = "carry"
    needs_risk: ClassVar[bool] = True
    config: OverlayConfig = OverlayConfig()  # frozen: one default instance serves every policy

    @classmethod
    def build(cls, values: Mapping[str, Any]) -> CarryPolicy:
        return cls(OverlayConfig.from_dict(dict(values)))

    def warmup_bars(self, step: pd.Timedelta) -> int:
        return self.config.warmup_bars

    def path(self, inputs: PolicyInputs) -> PolicyPath:
        overlay = CarryOverlay(self.config)
        scores = inputs.column("score")
        if ((scores < 0.0) | (scores > 100.0)).any():
            raise ValueError("risk scores must be in [0, 100] (or NaN)")
        sticky = sticky_scores(scores, self.config.hysteresis)
        missing = np.isnan(sticky)
        risk = overlay.multipliers(sticky)
        scale = overlay.vol_scale(inputs.bars) if self.config.vol_target is not None else None
        multiplier = risk if scale is None else risk * scale
        multiplier = np.where(missing, inputs.missing(), multiplier)
        regime = overlay.regimes(sticky)
        reason = np.array(
            [
                f"no risk reading: x{inputs.missing():g}" if miss else f"carry score {s:.1f} ({r}): x{m:.2f}"
                for miss, s, r, m in zip(
                    missing.tolist(), sticky.tolist(), regime.tolist(), multiplier.tolist(), strict=True
                )
            ],
            dtype=object,
        )
        if scale is None:
            return PolicyPath(multiplier, reason, regime)
        return PolicyPath(multiplier, reason, regime, vol_scale=scale, risk_part=np.where(missing, multiplier, risk))


@dataclass(frozen=True)
class YenShock:
    """``yen_shock``: a circuit breaker on USD/JPY's own moves.

    move_5d, move_20d: the breaker fires at a bar whose USD/JPY return over 5 (20) trading
        days is at or below this (-2%, -3%: a fast yen rally; -3% in 20 days is the plain
        rule of the audit, fixed before any backtest).
    reentry: "fade" = full again on the first bar the breaker no longer fires, after
        ``hold_days`` more days; "days" = full again ``hold_days`` after it fired, even if
        the move is still beyond a threshold (re-armed once the move is back inside).
    hold_days: days of the hold (0 with "fade": re-enter as soon as the shock fades).
    cut_to: the multiplier while cut (0: flat).
    """

    name: ClassVar[str] = "yen_shock"
    needs_risk: ClassVar[bool] = True
    move_5d: float = -0.02
    move_20d: float = -0.03
    reentry: str = "fade"
    hold_days: float = 0.0
    cut_to: float = 0.0

    def __post_init__(self) -> None:
        check_numbers(self, "move_5d", "move_20d", "hold_days", "cut_to")
        if self.reentry not in REENTRY:
            raise ValueError(f"yen_shock reentry must be one of {', '.join(REENTRY)}, got {self.reentry!r}")
        if not (self.move_5d < 0 and self.move_20d < 0 and self.hold_days >= 0 and 0 <= self.cut_to < 1):
            raise ValueError(f"yen_shock needs move_5d, move_20d < 0, hold_days >= 0, 0 <= cut_to < 1; got {self}")
        if self.reentry == "days" and not self.hold_days > 0:
            raise ValueError("yen_shock reentry = 'days' needs hold_days > 0")

    def warmup_bars(self, step: pd.Timedelta) -> int:
        return day_bars(self.hold_days, step) if self.hold_days else 0

    def path(self, inputs: PolicyInputs) -> PolicyPath:
        ret5, ret20 = (inputs.column(c) for c in YEN_COLUMNS)
        known = ~(np.isnan(ret5) & np.isnan(ret20))
        fires = (ret5 <= self.move_5d) | (ret20 <= self.move_20d)
        times = inputs.bars.index + inputs.step
        hold = pd.Timedelta(days=self.hold_days)
        multiplier = np.ones(len(times))
        reason = np.empty(len(times), dtype=object)
        since: pd.Timestamp | None = None  # when the current cut began ("days") or last fired ("fade")
        armed = True
        for i, when in enumerate(times):
            moves = f"USD/JPY 5d {_pct(ret5[i])}, 20d {_pct(ret20[i])}"
            if not known[i]:
                multiplier[i], reason[i] = inputs.missing(), f"no USD/JPY reading: x{inputs.missing():g}"
                continue
            if self.reentry == "fade":
                if fires[i]:
                    since = when
                    multiplier[i], reason[i] = self.cut_to, f"yen shock ({moves}): x{self.cut_to:g}"
                elif since is not None and when < since + hold:
                    multiplier[i], reason[i] = (
                        self.cut_to,
                        f"holding after the yen shock of {since.date()}: x{self.cut_to:g}",
                    )
                else:
                    reason[i] = f"no yen shock ({moves}): x1"
                continue
            if since is not None and when < since + hold:
                multiplier[i], reason[i] = self.cut_to, f"cut since the yen shock of {since.date()}: x{self.cut_to:g}"
            elif fires[i] and armed:
                since, armed = when, False
                multiplier[i], reason[i] = self.cut_to, f"yen shock ({moves}): x{self.cut_to:g}"
            else:
                armed = armed or not fires[i]
                reason[i] = (
                    f"re-entered after {self.hold_days:g} days ({moves}): x1"
                    if fires[i]
                    else f"no yen shock ({moves}): x1"
                )
        return PolicyPath(multiplier, reason)


@dataclass(frozen=True)
class CarryConfirmed:
    """``carry_confirmed``: the ``carry`` multiplier only where crypto is weak on its own,
    else 1.

    carry: the carry map (the study's carry table).
    trend_days: weak when the close is below its ``trend_days`` moving average (100).
    vol_days, vol_lookback_days, vol_quantile: or when the ``vol_days`` realized volatility
        is above its ``vol_quantile`` (0.8) over the trailing ``vol_lookback_days`` (365).
    """

    name: ClassVar[str] = "carry_confirmed"
    needs_risk: ClassVar[bool] = True
    carry: OverlayConfig = OverlayConfig()
    trend_days: float = 100.0
    vol_days: float = 30.0
    vol_lookback_days: float = 365.0
    vol_quantile: float = 0.8

    @classmethod
    def build(cls, values: Mapping[str, Any]) -> CarryConfirmed:
        values = dict(values)
        carry = values.pop("carry", {})
        return cls(carry=carry if isinstance(carry, OverlayConfig) else OverlayConfig.from_dict(dict(carry)), **values)

    def __post_init__(self) -> None:
        check_numbers(self, "trend_days", "vol_days", "vol_lookback_days", "vol_quantile")
        if not (
            self.trend_days >= 2 and self.vol_days >= 2 and self.vol_lookback_days >= 2 and 0 < self.vol_quantile < 1
        ):
            raise ValueError(f"carry_confirmed needs days >= 2 and 0 < vol_quantile < 1; got {self}")

    def warmup_bars(self, step: pd.Timedelta) -> int:
        own = max(day_bars(self.trend_days, step), day_bars(self.vol_days + self.vol_lookback_days, step))
        return max(self.carry.warmup_bars, own)

    def weak(self, inputs: PolicyInputs) -> np.ndarray:
        """True where the close is below its trend or the volatility is in the top of its range."""
        below = Trend(days=self.trend_days).weak(inputs)
        per_year = periods_per_year_of(inputs.bars.index)
        vol = realized_volatility(inputs.close(), day_bars(self.vol_days, inputs.step), periods_per_year=per_year)
        lookback = day_bars(self.vol_lookback_days, inputs.step)
        ceiling = vol.rolling(lookback, min_periods=lookback // 2).quantile(self.vol_quantile)
        spiking = (vol > ceiling).to_numpy()
        return below | spiking

    def path(self, inputs: PolicyInputs) -> PolicyPath:
        carry = CarryPolicy(self.carry).path(inputs)
        weak = self.weak(inputs)
        missing = np.isnan(inputs.column("score"))
        multiplier = np.where(missing, inputs.missing(), np.where(weak, carry.multiplier, 1.0))
        reason = np.where(
            missing | weak,
            carry.reason,
            np.array([f"crypto not weak ({r}): x1" for r in carry.reason.tolist()], dtype=object),
        )
        return PolicyPath(multiplier, reason.astype(object), carry.regime)


def yen_moves(
    store: SeriesSource | Mapping[str, pd.DataFrame], times: Any, config: RiskConfig | None = None
) -> pd.DataFrame:
    """USD/JPY returns over ``YEN_WINDOWS`` observations (fractions), as known at each
    decision time: the risk config's FX series (bad prints dropped as the index does),
    keyed by its availability rule; NaN before enough history or when the newest value is
    older than ``expire_days``."""
    cfg = config or RiskConfig()
    targets = to_targets(times)
    source = as_source(store)
    frame = source.read(cfg.fx_series)
    frame = fx_price(frame[~fx_bad_prints(frame, cfg)])
    timed = on_availability(frame, source.meta(cfg.fx_series))
    price = timed.values.iloc[:, 0].astype("float64")
    moves = pd.DataFrame({c: price / price.shift(w) - 1.0 for c, w in zip(YEN_COLUMNS, YEN_WINDOWS, strict=True)})
    values, dates = asof(Timed(moves, timed.data_date), targets)
    stale = ~(age_days(targets, dates).to_numpy() <= cfg.expire_days)
    values.loc[stale] = np.nan
    return values


def _pct(value: float) -> str:
    return "n/a" if np.isnan(value) else f"{value:+.1%}"


RISK_ONLY = ("carry", "yen_shock")  # policies that read only the risk data (no market bars)


def multipliers_now(
    store: SeriesSource | Mapping[str, pd.DataFrame], at: pd.Timestamp, config: RiskConfig | None = None
) -> dict[str, dict[str, object]]:
    """What each default policy reading only risk data (``RISK_ONLY``) would apply at ``at``,
    live (fail closed): ``{name: {"multiplier", "reason"}}``. The path runs over daily
    readings of the ``HYSTERESIS_WARMUP`` days up to ``at`` so carry's hysteresis is settled.
    Policies that read a market's bars (vol_target, trend, carry_confirmed) need a symbol:
    see ``paper run``."""
    from carryguard.signals.risk import risk_at
    from carryguard.strategies.overlay import HYSTERESIS_WARMUP
    from carryguard.strategies.policies import make_policy

    times = pd.date_range(end=at, periods=HYSTERESIS_WARMUP, freq="1D", name="time")
    risk = risk_at(store, times, config).join(yen_moves(store, times, config))
    bars = pd.DataFrame({"close": np.nan}, index=times - pd.Timedelta(days=1))  # decision times = the readings'
    out = {}
    for name in RISK_ONLY:
        path = make_policy(name).path(PolicyInputs(bars, risk, live=True))
        out[name] = {"multiplier": float(path.multiplier[-1]), "reason": str(path.reason[-1])}
    return out
