"""The strategy contract and the registry of strategies by name.

A strategy is a frozen dataclass whose fields are its parameters (with documented
defaults). ``target_exposure(bars)`` maps OHLCV bars to the exposure wanted at each bar's
close, a float in [0, 1] (long-only spot), using only bars up to that one: the value at
bar t must not change when later bars are appended (truncation test). ``warmup_bars``
says how many bars before the first decision the strategy needs so its indicators are
fully formed there (a backtest reads them from the history before its start). The same
object runs in the backtrader engine, the fast engine and paper trading.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from numbers import Real
from typing import ClassVar, Protocol, TypeVar, runtime_checkable

import numpy as np
import pandas as pd

from carryguard.signals.errors import DataError
from carryguard.signals.indicators import periods_per_year

OVERLAY_SUFFIX = "carry"  # "sma_cross+carry" = sma_cross sized by the carry-unwind overlay


def book_label(strategy: str, overlay: str | bool) -> str:
    """A book's strategy as users write it: ``sma_cross`` (no overlay: ``none``/False),
    ``sma_cross+carry`` (True, the carry overlay) or ``sma_cross+vol_target*carry``."""
    if overlay is True:
        overlay = OVERLAY_SUFFIX
    return strategy if overlay in (False, "none", "") else f"{strategy}+{overlay}"


@runtime_checkable
class Strategy(Protocol):
    """What engines, the runner and paper trading rely on (see the module docstring)."""

    name: ClassVar[str]
    baseline: ClassVar[bool]  # a plain bottom-fishing baseline (buy the dip, RSI, DCA on dips)

    @property
    def warmup_bars(self) -> int: ...  # bars of history wanted before the first decision

    def target_exposure(self, bars: pd.DataFrame) -> pd.Series: ...


REGISTRY: dict[str, type] = {}
S = TypeVar("S", bound=Strategy)


def register(cls: type[S]) -> type[S]:
    """Class decorator: make a strategy available by its ``name``."""
    if cls.name in REGISTRY:
        raise ValueError(f"strategy {cls.name!r} registered twice")
    REGISTRY[cls.name] = cls
    return cls


def parse_strategy_spec(spec: str) -> tuple[str, bool]:
    """``"sma_cross+carry"`` -> ``("sma_cross", True)``; ``"sma_cross"`` -> ``("sma_cross", False)``."""
    name, plus, suffix = spec.strip().rpartition("+") if "+" in spec else (spec.strip(), "", "")
    if not name or (plus and suffix != OVERLAY_SUFFIX):
        raise ValueError(
            f"bad strategy spec {spec!r}: use NAME or NAME+{OVERLAY_SUFFIX}, e.g. sma_cross+{OVERLAY_SUFFIX}"
        )
    return name, bool(plus)


def params(strategy: Strategy) -> dict[str, object]:
    """A strategy's parameters by name (for manifests and reports)."""
    return asdict(strategy)  # type: ignore[call-overload]


def require_positive_ints(strategy: object, *names: str) -> None:
    """Raise TypeError/ValueError unless each named parameter is an int >= 1."""
    for field_name in names:
        value = getattr(strategy, field_name)
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError(f"{type(strategy).__name__}.{field_name} must be an int, got {value!r}")
        if value < 1:
            raise ValueError(f"{type(strategy).__name__}.{field_name} must be >= 1, got {value}")


def require_numbers(strategy: object, *names: str) -> None:
    """Raise TypeError unless each named parameter is a real number (not a bool or a string)."""
    for field_name in names:
        value = getattr(strategy, field_name)
        if isinstance(value, bool) or not isinstance(value, Real):
            raise TypeError(f"{type(strategy).__name__}.{field_name} must be a number, got {value!r}")


def close_prices(bars: pd.DataFrame) -> pd.Series:
    """The bars' ``close`` column as float64; ``DataError`` if it is missing or has gaps (NaN)."""
    if "close" not in bars.columns:
        raise DataError(f"bars have no 'close' column (columns: {list(bars.columns)})", fix="pass OHLCV bars")
    close = bars["close"].astype("float64")
    if close.isna().any():
        raise DataError(f"bars: missing close at {close.index[close.isna().argmax()]}", fix="fill or drop that bar")
    return close


def periods_per_year_of(index: pd.DatetimeIndex, given: float | None = None) -> float:
    """Bars per year for annualizing: ``given`` if set, else from the bar spacing (365
    daily, 2190 for 4h); one bar alone counts as daily (it has no volatility yet anyway)."""
    if given is not None:
        return given
    return periods_per_year(index) if len(index) > 1 else 365.0


def latch(enter: pd.Series, leave: pd.Series) -> pd.Series:
    """1.0 from a bar where ``enter`` holds until a bar where ``leave`` holds (then 0.0);
    ``leave`` wins on a bar where both hold."""
    state = np.where(leave, 0.0, np.where(enter, 1.0, np.nan))
    return pd.Series(state, index=enter.index).ffill().fillna(0.0)


def clip_exposure(values: pd.Series, bars: pd.DataFrame) -> pd.Series:
    """Exposure as float64 in [0, 1] on the bars' index, NaN (warm-up) as 0."""
    out = pd.Series(values, index=bars.index, dtype="float64").fillna(0.0).clip(0.0, 1.0)
    out.name = "exposure"
    return out


@register
@dataclass(frozen=True)
class BuyAndHold:
    """Fully invested from the first bar: the benchmark every strategy must beat."""

    name: ClassVar[str] = "buy_and_hold"
    baseline: ClassVar[bool] = False
    warmup_bars: ClassVar[int] = 0  # invested from the study's first bar by definition

    def target_exposure(self, bars: pd.DataFrame) -> pd.Series:
        return clip_exposure(pd.Series(1.0, index=bars.index), bars)
