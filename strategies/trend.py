"""Investment and trend-following strategies: DCA, moving-average cross, Donchian
breakout, time-series momentum.

All windows are in bars (days on daily bars, 4 hours on 4h bars). Each exposure at bar t
uses bars up to t only; the engine trades it at the next bar's open.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import pandas as pd

from carryguard.signals.errors import DataError
from carryguard.signals.indicators import donchian, realized_volatility, sma
from carryguard.strategies.base import (
    clip_exposure,
    close_prices,
    latch,
    periods_per_year_of,
    register,
    require_numbers,
    require_positive_ints,
)


@register
@dataclass(frozen=True)
class Dca:
    """Dollar-cost averaging expressed as a target exposure.

    Buying a fixed cash amount every ``period`` bars with a budget of ``steps`` amounts
    maps to an exposure that steps up by 1/``steps`` every ``period`` bars, starting at
    the first bar: ``min(1, (i // period + 1) / steps)`` at bar i, fully invested after
    ``steps`` buys. (The exposure is a share of equity, so between steps it is held
    constant rather than drifting with the price as a literal cash DCA would.)

    period: bars between buys (30 ~ monthly on daily bars).
    steps: number of equal buys until fully invested (12).
    """

    name: ClassVar[str] = "dca"
    baseline: ClassVar[bool] = False
    warmup_bars: ClassVar[int] = 0  # the buys start at the study's first bar by definition
    period: int = 30
    steps: int = 12

    def __post_init__(self) -> None:
        require_positive_ints(self, "period", "steps")

    def target_exposure(self, bars: pd.DataFrame) -> pd.Series:
        close_prices(bars)  # only checks the bars: the schedule needs no prices
        position = np.arange(len(bars))
        return clip_exposure(pd.Series((position // self.period + 1) / self.steps, index=bars.index), bars)


@register
@dataclass(frozen=True)
class SmaCross:
    """Long (exposure 1) while the fast SMA of closes is above the slow SMA, else flat.

    fast: fast SMA window in bars (20).
    slow: slow SMA window in bars (100); flat until it exists.
    """

    name: ClassVar[str] = "sma_cross"
    baseline: ClassVar[bool] = False
    fast: int = 20
    slow: int = 100

    def __post_init__(self) -> None:
        require_positive_ints(self, "fast", "slow")
        if self.fast >= self.slow:
            raise ValueError(f"SmaCross.fast ({self.fast}) must be < slow ({self.slow})")

    @property
    def warmup_bars(self) -> int:
        """The slow SMA's earlier bars: it exists from the first decision on."""
        return self.slow - 1

    def target_exposure(self, bars: pd.DataFrame) -> pd.Series:
        close = close_prices(bars)
        return clip_exposure((sma(close, self.fast) > sma(close, self.slow)).astype("float64"), bars)


@register
@dataclass(frozen=True)
class Breakout:
    """Donchian breakout: go long when the close breaks above the highest high of the
    prior ``entry`` bars; exit when it breaks below the lowest low of the prior ``exit``
    bars (Turtle system-1 defaults).

    entry: breakout window in bars (20).
    exit: exit window in bars (10).
    """

    name: ClassVar[str] = "breakout"
    baseline: ClassVar[bool] = False
    entry: int = 20
    exit: int = 10

    def __post_init__(self) -> None:
        require_positive_ints(self, "entry", "exit")

    @property
    def warmup_bars(self) -> int:
        """Both channels' prior bars (whether a position is held also depends on older
        breakouts; from this warm-up on, the state follows the bars seen)."""
        return max(self.entry, self.exit)

    def target_exposure(self, bars: pd.DataFrame) -> pd.Series:
        close = close_prices(bars)
        for column in ("high", "low"):
            if column not in bars.columns:
                raise DataError(
                    f"bars have no {column!r} column (columns: {list(bars.columns)})", fix="pass OHLCV bars"
                )
        prior_high = donchian(bars["high"], bars["low"], self.entry)["upper"].shift(1)
        prior_low = donchian(bars["high"], bars["low"], self.exit)["lower"].shift(1)
        # close > prior high and close < prior low cannot both hold when prior_low <= prior_high;
        # if the exit window is longer than the entry window they may, and the exit wins.
        leave = close < prior_low
        return clip_exposure(latch((close > prior_high) & ~leave, leave), bars)


@register
@dataclass(frozen=True)
class Tsmom:
    """Time-series momentum: long while the return over the last ``lookback`` bars is
    positive, flat otherwise.

    lookback: momentum window in bars (90).
    vol_target: optional annualized volatility target (e.g. 0.6); when set the exposure
        is scaled by min(1, vol_target / realized vol) and is 0 until the vol is known.
        None (default) = no scaling.
    vol_window: realized-volatility window in bars (30).
    periods_per_year: bars per year for annualizing; None = inferred from the bar
        spacing (365 for daily, 2190 for 4h).
    """

    name: ClassVar[str] = "tsmom"
    baseline: ClassVar[bool] = False
    lookback: int = 90
    vol_target: float | None = None
    vol_window: int = 30
    periods_per_year: float | None = None

    def __post_init__(self) -> None:
        require_positive_ints(self, "lookback", "vol_window")
        if self.vol_target is not None:
            require_numbers(self, "vol_target")
        if self.periods_per_year is not None:
            require_numbers(self, "periods_per_year")
            if not self.periods_per_year > 0:
                raise ValueError(f"Tsmom.periods_per_year must be > 0 or None, got {self.periods_per_year}")
        if self.vol_target is not None and not self.vol_target > 0:
            raise ValueError(f"Tsmom.vol_target must be > 0 or None, got {self.vol_target}")

    @property
    def warmup_bars(self) -> int:
        """The lookback's earlier bars (and the vol window's returns when vol targeting)."""
        return max(self.lookback, self.vol_window if self.vol_target is not None else 0)

    def target_exposure(self, bars: pd.DataFrame) -> pd.Series:
        close = close_prices(bars)
        exposure = (close / close.shift(self.lookback) - 1.0 > 0.0).astype("float64")
        if self.vol_target is not None:
            per_year = periods_per_year_of(bars.index, self.periods_per_year)
            vol = realized_volatility(close, self.vol_window, periods_per_year=per_year)
            exposure = exposure * (self.vol_target / vol).clip(upper=1.0)
        return clip_exposure(exposure, bars)
