"""Bottom-fishing baselines: buy the dip, RSI oversold, DCA ladder on drawdowns.

These are the plain "buy when it has fallen" rules the carry overlay has to beat
(``baseline = True``). Windows are in bars; each exposure at bar t uses bars up to t
only. A drawdown is measured from the rolling high of closes over ``window`` bars,
the current bar included (``signals.indicators.drawdown_from_high``).
"""

from __future__ import annotations

from dataclasses import dataclass
from numbers import Real
from typing import ClassVar

import numpy as np
import pandas as pd

from carryguard.signals.indicators import drawdown_from_high, rolling_high, rsi
from carryguard.strategies.base import (
    clip_exposure,
    close_prices,
    latch,
    register,
    require_numbers,
    require_positive_ints,
)


def _check_fraction(strategy: object, name: str) -> None:
    require_numbers(strategy, name)
    value = getattr(strategy, name)
    if not 0.0 < value < 1.0:
        raise ValueError(f"{type(strategy).__name__}.{name} must be a fraction in (0, 1), got {value!r}")


@register
@dataclass(frozen=True)
class DipBuy:
    """Buy (exposure 1) at the close of a bar that is ``drawdown`` or more below the
    rolling ``window``-bar high; exit (exposure 0) at the first later close that

    - recovers to the high that was current at entry, or
    - falls ``stop`` below the entry close (stop loss), or
    - comes ``max_hold`` bars after entry (so the position is held ``max_hold`` bars at most).

    After an exit the rule re-arms only once the drawdown is again shallower than
    ``drawdown`` (a fresh dip), so a stop-out in a falling market is not bought back
    on the very next bar.

    drawdown: entry threshold as a fraction below the high (0.20).
    window: rolling-high window in bars (90).
    stop: stop loss as a fraction below the entry close (0.15).
    max_hold: longest holding in bars (90).
    """

    name: ClassVar[str] = "dip_buy"
    baseline: ClassVar[bool] = True
    drawdown: float = 0.20
    window: int = 90
    stop: float = 0.15
    max_hold: int = 90

    def __post_init__(self) -> None:
        require_positive_ints(self, "window", "max_hold")
        _check_fraction(self, "drawdown")
        _check_fraction(self, "stop")

    @property
    def warmup_bars(self) -> int:
        """A full rolling-high window at every bar of the longest holding that can still
        be open at the first decision (``window - 1 + max_hold``)."""
        return self.window - 1 + self.max_hold

    def target_exposure(self, bars: pd.DataFrame) -> pd.Series:
        close = close_prices(bars)
        highs = rolling_high(close, self.window).to_numpy()
        prices = close.to_numpy()
        out = np.zeros(len(prices))
        holding, armed = False, True
        entry_price = recovery_price = 0.0
        held = 0
        for i, price in enumerate(prices):
            in_dip = price <= highs[i] * (1.0 - self.drawdown)
            if holding:
                held += 1
                if price >= recovery_price or price <= entry_price * (1.0 - self.stop) or held >= self.max_hold:
                    holding, armed = False, not in_dip
                    continue
                out[i] = 1.0
                continue
            armed = armed or not in_dip
            if armed and in_dip:
                holding, held = True, 0
                entry_price, recovery_price = price, highs[i]
                out[i] = 1.0
        return clip_exposure(pd.Series(out, index=bars.index), bars)


@register
@dataclass(frozen=True)
class RsiOversold:
    """Long from a close with Wilder RSI(``period``) below ``buy_below`` until a close
    with RSI above ``sell_above``; flat otherwise.

    period: RSI period in bars (14).
    buy_below: oversold entry level (30).
    sell_above: exit level (55), a partial mean reversion rather than overbought (70).
    """

    name: ClassVar[str] = "rsi_oversold"
    baseline: ClassVar[bool] = True
    period: int = 14
    buy_below: float = 30.0
    sell_above: float = 55.0

    def __post_init__(self) -> None:
        require_positive_ints(self, "period")
        require_numbers(self, "buy_below", "sell_above")
        if not 0.0 < self.buy_below < self.sell_above < 100.0:
            raise ValueError(
                f"RsiOversold needs 0 < buy_below < sell_above < 100, got {self.buy_below} and {self.sell_above}"
            )

    @property
    def warmup_bars(self) -> int:
        """Ten periods: Wilder's smoothing never forgets, but after 10 periods its seed
        weighs ((period - 1) / period) ** (10 * period) < 0.01% (3e-5 for period 14)."""
        return 10 * self.period

    def target_exposure(self, bars: pd.DataFrame) -> pd.Series:
        value = rsi(close_prices(bars), self.period)
        return clip_exposure(latch(value < self.buy_below, value > self.sell_above), bars)


@register
@dataclass(frozen=True)
class DcaDips:
    """A ladder of buys on drawdowns from the rolling ``window``-bar high: exposure
    k/len(levels) once the drawdown has reached the k-th level (default 1/3 at -10%,
    2/3 at -20%, 1 at -30%). Rungs are kept while the dip lasts (a bounce from -25% to
    -15% keeps 2/3); everything is sold at the first close whose drawdown is shallower
    than ``exit_drawdown`` (a recovery to within 5% of the high, or a new high).

    levels: drawdown fractions of the rungs, increasing ((0.10, 0.20, 0.30)).
    window: rolling-high window in bars (90).
    exit_drawdown: exit when the drawdown is shallower than this fraction (0.05);
        must be below the first level.
    """

    name: ClassVar[str] = "dca_dips"
    baseline: ClassVar[bool] = True
    levels: tuple[float, ...] = (0.10, 0.20, 0.30)
    window: int = 90
    exit_drawdown: float = 0.05

    def __post_init__(self) -> None:
        if (
            isinstance(self.levels, (str, bytes))
            or not hasattr(self.levels, "__iter__")
            or any(isinstance(level, bool) or not isinstance(level, Real) for level in self.levels)
        ):
            raise TypeError(f"DcaDips.levels must be a list of numbers, got {self.levels!r}")
        object.__setattr__(self, "levels", tuple(float(level) for level in self.levels))  # TOML gives lists
        require_positive_ints(self, "window")
        require_numbers(self, "exit_drawdown")
        levels = self.levels
        if not levels or any(not 0.0 < level < 1.0 for level in levels) or list(levels) != sorted(set(levels)):
            raise ValueError(f"DcaDips.levels must be increasing fractions in (0, 1), got {levels}")
        if not 0.0 <= self.exit_drawdown < levels[0]:
            raise ValueError(f"DcaDips.exit_drawdown must be in [0, {levels[0]}), got {self.exit_drawdown}")

    @property
    def warmup_bars(self) -> int:
        """A full rolling-high window over the last ``window`` bars, so the rungs of a
        dip that began up to a window before the first decision are already held."""
        return 2 * self.window - 1

    def target_exposure(self, bars: pd.DataFrame) -> pd.Series:
        drawdown = drawdown_from_high(close_prices(bars), self.window)
        rungs = sum((drawdown <= -level).astype("float64") for level in self.levels) / len(self.levels)
        # A dip episode starts at each bar above the exit line (where no rung is hit,
        # since exit_drawdown < levels[0]); within an episode the rungs only ratchet up.
        episode = (drawdown > -self.exit_drawdown).cumsum()
        return clip_exposure(rungs.groupby(episode).cummax(), bars)
