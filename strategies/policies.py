"""Overlays as named, composable sizing policies: ``none``, ``vol_target``, ``trend``,
``carry``, ``yen_shock``, ``carry_confirmed`` and products such as ``vol_target*carry``.

A policy is a frozen dataclass with documented parameters. ``path(inputs)`` maps the bars
and the risk readings at each bar's close to a multiplier in [0, 1] and a reason per bar;
the final exposure is ``clip(strategy_exposure x multiplier, 0, 1)``. A policy's path never
depends on the strategy, so a study computes it once per symbol and timeframe, and both
engines, sweeps and paper trading take the same final exposure.

Point in time: the value at bar t uses only the bars up to t and the risk row of t (read
at t's close); appending later bars or rows never changes it (truncation tests).

Missing data: where a policy lacks its risk data (no score, no USD/JPY move) a backtest
runs the strategy unsized (multiplier 1, "no risk reading"), as the carry overlay always
has, so early years without macro data are not counted as cuts; with ``live=True``
(paper trading, bots) the same bar is sized to 0 ("fail closed"). Policies that read only
the bars (``vol_target``, ``trend``) give 1 during their warm-up in both cases.

The carry-based policies live in ``strategies.carry_policies``; this module holds the
contract, the controls, products and the registry (``make_policy``).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields
from numbers import Real
from typing import Any, ClassVar, Protocol

import numpy as np
import pandas as pd

from carryguard.signals.config import closest
from carryguard.signals.indicators import realized_volatility
from carryguard.strategies.base import periods_per_year_of

CONTROLS = ("none", "vol_target", "trend")  # the overlays a user would pick instead of carry
PRODUCT = "*"


@dataclass(frozen=True)
class PolicyInputs:
    """What a policy may read at each bar.

    bars: OHLCV indexed by bar open time (warm-up bars first); the decision of row i is
        taken at row i's close.
    risk: one row per bar (same order, indexed by decision time) with the columns the
        policy needs (``score``; ``usdjpy_ret5``/``usdjpy_ret20`` for ``yen_shock``), or None.
    live: fail closed (multiplier 0) where risk data is missing (paper trading, bots).
    """

    bars: pd.DataFrame
    risk: pd.DataFrame | None = None
    live: bool = False

    @property
    def step(self) -> pd.Timedelta:
        """Bar spacing (median); one bar alone counts as daily."""
        index = self.bars.index
        return pd.Timedelta(pd.Series(index).diff().median()) if len(index) > 1 else pd.Timedelta(days=1)

    def close(self) -> pd.Series:
        return self.bars["close"].astype("float64")

    def column(self, name: str) -> np.ndarray:
        """A risk column as float64 (all NaN when there is no risk frame or no such column)."""
        if self.risk is None or name not in self.risk.columns:
            return np.full(len(self.bars), np.nan)
        if len(self.risk) != len(self.bars):
            raise ValueError(f"risk has {len(self.risk)} rows for {len(self.bars)} bars: one row per bar needed")
        return self.risk[name].to_numpy(dtype="float64")

    def missing(self) -> float:
        """The multiplier of a bar without risk data: 1 in a backtest, 0 live (fail closed)."""
        return 0.0 if self.live else 1.0


@dataclass(frozen=True)
class PolicyPath:
    """Per bar: ``multiplier`` in [0, 1], ``reason`` (text); ``regime`` when the policy
    reads the carry regime (else None: the risk frame's regime is shown); ``vol_scale``
    when the multiplier is a risk multiplier times a vol scale (the carry overlay with its
    own ``vol_target``): ``multiplier / vol_scale`` is then the risk part, and engines size
    ``exposure x risk x vol_scale`` in that order, as the overlay always has."""

    multiplier: np.ndarray
    reason: np.ndarray
    regime: np.ndarray | None = None
    vol_scale: np.ndarray | None = None
    risk_part: np.ndarray | None = None


class Policy(Protocol):
    """What the runner, sweeps and paper trading rely on."""

    name: ClassVar[str]
    needs_risk: ClassVar[bool]  # reads the risk frame (fails closed live without it)

    def warmup_bars(self, step: pd.Timedelta) -> int: ...

    def path(self, inputs: PolicyInputs) -> PolicyPath: ...


def day_bars(days: float, step: pd.Timedelta) -> int:
    """Bars spanning ``days`` at a bar spacing of ``step`` (at least 2)."""
    return max(2, round(days * pd.Timedelta(days=1) / step))


def check_numbers(policy: object, *names: str) -> None:
    """TypeError unless each named field is a real number (not a bool)."""
    for name in names:
        value = getattr(policy, name)
        if isinstance(value, bool) or not isinstance(value, Real):
            raise TypeError(f"{type(policy).__name__}.{name} must be a number, got {value!r}")


@dataclass(frozen=True)
class NoOverlay:
    """``none``: the strategy unsized (multiplier 1)."""

    name: ClassVar[str] = "none"
    needs_risk: ClassVar[bool] = False

    def warmup_bars(self, step: pd.Timedelta) -> int:
        return 0

    def path(self, inputs: PolicyInputs) -> PolicyPath:
        n = len(inputs.bars)
        return PolicyPath(np.ones(n), np.full(n, "no overlay", dtype=object))


@dataclass(frozen=True)
class VolTarget:
    """``vol_target``: multiplier ``min(cap, target / realized vol)``.

    target: annualized volatility aimed at (0.6: crypto's long-run level, so the book is
        cut only when its own volatility runs above it).
    days: trailing window of log returns for the realized volatility (30 days).
    cap: largest multiplier (1: spot long only, never levered). Warm-up: ``cap``.
    """

    name: ClassVar[str] = "vol_target"
    needs_risk: ClassVar[bool] = False
    target: float = 0.6
    days: float = 30.0
    cap: float = 1.0

    def __post_init__(self) -> None:
        check_numbers(self, "target", "days", "cap")
        if not self.target > 0 or not self.days >= 2 or not 0 < self.cap <= 1:
            raise ValueError(f"vol_target needs target > 0, days >= 2, 0 < cap <= 1; got {self}")

    def warmup_bars(self, step: pd.Timedelta) -> int:
        return day_bars(self.days, step)

    def scale(self, inputs: PolicyInputs) -> np.ndarray:
        """``min(cap, target / vol)`` per bar, ``cap`` until the volatility is known."""
        per_year = periods_per_year_of(inputs.bars.index)
        vol = realized_volatility(inputs.close(), day_bars(self.days, inputs.step), periods_per_year=per_year)
        with np.errstate(divide="ignore"):
            scale = np.minimum(self.target / vol.to_numpy(), self.cap)
        return np.where(np.isnan(scale), self.cap, scale)

    def path(self, inputs: PolicyInputs) -> PolicyPath:
        scale = self.scale(inputs)
        reason = np.array([f"vol target {self.target:.0%}: x{m:.2f}" for m in scale.tolist()], dtype=object)
        return PolicyPath(scale, reason)


@dataclass(frozen=True)
class Trend:
    """``trend``: flat below the N-day simple moving average of the close.

    days: moving-average length (200 days, the classic long-term trend filter).
    below: multiplier below the average (0: flat). Warm-up (average unknown): 1.
    """

    name: ClassVar[str] = "trend"
    needs_risk: ClassVar[bool] = False
    days: float = 200.0
    below: float = 0.0

    def __post_init__(self) -> None:
        check_numbers(self, "days", "below")
        if not self.days >= 2 or not 0 <= self.below <= 1:
            raise ValueError(f"trend needs days >= 2 and 0 <= below <= 1; got {self}")

    def warmup_bars(self, step: pd.Timedelta) -> int:
        return day_bars(self.days, step)

    def weak(self, inputs: PolicyInputs) -> np.ndarray:
        """True where the close is below its moving average (False in the warm-up)."""
        close = inputs.close()
        average = close.rolling(day_bars(self.days, inputs.step)).mean()
        return (close < average).to_numpy()

    def path(self, inputs: PolicyInputs) -> PolicyPath:
        weak = self.weak(inputs)
        label = f"{self.days:g}-day average"
        reason = np.where(weak, f"close below its {label}: x{self.below:g}", f"close not below its {label}: x1")
        return PolicyPath(np.where(weak, self.below, 1.0), reason.astype(object))


@dataclass(frozen=True)
class Product:
    """``a*b``: the product of the parts' multipliers; reasons joined with "; "."""

    parts: tuple[Any, ...] = field(default=())
    name: ClassVar[str] = PRODUCT

    @property
    def needs_risk(self) -> bool:
        return any(part.needs_risk for part in self.parts)

    @property
    def spec(self) -> str:
        return PRODUCT.join(part.name for part in self.parts)

    def warmup_bars(self, step: pd.Timedelta) -> int:
        return max(part.warmup_bars(step) for part in self.parts)

    def path(self, inputs: PolicyInputs) -> PolicyPath:
        paths = [part.path(inputs) for part in self.parts]
        multiplier = paths[0].multiplier
        reason = paths[0].reason
        for other in paths[1:]:
            multiplier = multiplier * other.multiplier
            reason = reason + "; " + other.reason
        regime = next((p.regime for p in paths if p.regime is not None), None)
        return PolicyPath(multiplier, reason, regime)


def registry() -> dict[str, type]:
    """Policy name -> class (the carry-based ones imported here to avoid a cycle)."""
    from carryguard.strategies.carry_policies import CarryConfirmed, CarryPolicy, YenShock

    return {cls.name: cls for cls in (NoOverlay, VolTarget, Trend, CarryPolicy, YenShock, CarryConfirmed)}


def _nearest(name: str, valid: Iterable[str]) -> str:
    """``"did you mean 'carry'? "`` for the closest valid name, else ``""``."""
    near = closest(name, sorted(valid))
    return f"did you mean {near!r}? " if near else ""


def make_policy(spec: str, params: Mapping[str, Any] | None = None) -> Any:
    """The policy named ``spec`` (a name or a product ``a*b``), each part built from
    ``params[name]`` (a table of its fields; missing: the defaults). ``carry`` and
    ``carry_confirmed`` both read the carry map from ``params["carry"]``, which may be an
    ``OverlayConfig`` as parsed (taken as it is).

    Raises ValueError/TypeError for an unknown or repeated name (the message lists the known
    ones), an unknown field or a bad value."""
    params = params or {}
    known = registry()
    names = [part.strip() for part in spec.split(PRODUCT)]
    if len(set(names)) != len(names):
        raise ValueError(f"overlay {spec!r} repeats a policy")
    parts = []
    for name in names:
        if name not in known:
            where = f" in {spec!r}" if name != spec.strip() else ""
            raise ValueError(
                f"unknown overlay {name!r}{where}; {_nearest(name, known)}known: {', '.join(known)} (or a product a*b)"
            )
        cls = known[name]
        given = params.get(name, {})
        if not isinstance(given, Mapping):  # a parsed config (the carry map): no round trip
            parts.append(cls(given))
            continue
        values = dict(given)
        if name == "carry_confirmed":
            values.setdefault("carry", params.get("carry", {}))
        allowed = {f.name for f in fields(cls)}
        unknown = [] if name == "carry" else sorted(set(values) - allowed)  # carry: OverlayConfig.from_dict checks
        if unknown:
            raise ValueError(
                f"overlay {name!r} has no parameter {unknown[0]!r}; {_nearest(unknown[0], allowed)}"
                f"parameters: {', '.join(sorted(allowed))}"
            )
        parts.append(cls.build(values) if values and hasattr(cls, "build") else cls(**values))
    return parts[0] if len(parts) == 1 else Product(tuple(parts))


def spec_of(policy: Any) -> str:
    """The name a policy is listed under (``vol_target*carry`` for a product)."""
    return policy.spec if isinstance(policy, Product) else policy.name


def is_carry_based(spec: str) -> bool:
    """True when any part of ``spec`` reads the carry/yen risk data (not a control)."""
    return any(name not in CONTROLS for name in spec.split(PRODUCT))


def policy_params(policy: Any) -> dict[str, object]:
    """A policy's parameters as plain values (products: per part), for manifests."""
    if isinstance(policy, Product):
        return {part.name: policy_params(part) for part in policy.parts}
    out: dict[str, object] = {}
    for f in fields(policy):
        value = getattr(policy, f.name)
        out[f.name] = (
            {g.name: getattr(value, g.name) for g in fields(value)} if hasattr(value, "__dataclass_fields__") else value
        )
    return out


def finite_or(values: np.ndarray, fallback: float) -> np.ndarray:
    """``values`` with NaN replaced by ``fallback``."""
    return np.where(np.isnan(values), fallback, values)


def fmt_pct(value: float) -> str:
    return "n/a" if math.isnan(value) else f"{value:+.1%}"
