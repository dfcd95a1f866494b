"""The strategy contract and the registry of strategies by name.

A strategy is a frozen dataclass whose fields are its parameters (with documented
defaults). ``target_exposure(bars)`` maps OHLCV bars to the exposure wanted at each bar's
close, a float in [0, 1] (long-only spot), using only bars up to that one: the value at
bar t must not change when later bars are appended (truncation test). The same object
runs in the backtrader engine, the fast engine and paper trading.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import ClassVar, Protocol, runtime_checkable

import pandas as pd


@runtime_checkable
class Strategy(Protocol):
    name: ClassVar[str]
    baseline: ClassVar[bool]  # a plain bottom-fishing baseline (buy the dip, RSI, DCA on dips)

    def target_exposure(self, bars: pd.DataFrame) -> pd.Series: ...


REGISTRY: dict[str, type] = {}


def register(cls: type) -> type:
    """Class decorator: make a strategy available by its ``name``."""
    if cls.name in REGISTRY:
        raise ValueError(f"strategy {cls.name!r} registered twice")
    REGISTRY[cls.name] = cls
    return cls


def make_strategy(name: str, **params: object) -> Strategy:
    """Build a registered strategy; unknown names or parameters raise ``ValueError``."""
    if name not in REGISTRY:
        raise ValueError(f"unknown strategy {name!r}; known: {', '.join(sorted(REGISTRY))}")
    cls = REGISTRY[name]
    known = {f.name for f in fields(cls)}
    unknown = sorted(set(params) - known)
    if unknown:
        raise ValueError(f"strategy {name!r} has no parameter {unknown[0]!r}; parameters: {', '.join(sorted(known))}")
    return cls(**params)


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

    def target_exposure(self, bars: pd.DataFrame) -> pd.Series:
        return clip_exposure(pd.Series(1.0, index=bars.index), bars)
