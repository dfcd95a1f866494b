"""Look-ahead check of any strategy (and overlay): do its decisions change when the future changes?

Two cheap tests on real bars, in the spirit of ``freqtrade lookahead-analysis``:

- truncation: the decisions up to a cut bar, computed on the bars up to that cut only,
  must equal the same decisions computed on the full history;
- perturbation: the decisions up to a cut bar must not change when every bar after the
  cut is perturbed (prices x ``factor``), which also catches statistics of the whole
  series that happen to survive a plain cut.

A decision at bar t is taken at t's close, so bar t itself may be used; anything after
it may not.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from carryguard.signals.store import Store, series_id
from carryguard.strategies.base import Strategy
from carryguard.strategies.loader import checked_exposure, strategy_with
from carryguard.strategies.overlay import CarryOverlay

PRICE_COLUMNS = ("open", "high", "low", "close")
TOLERANCE = 1e-9


@dataclass(frozen=True)
class Finding:
    """The first decision that changed: at ``bar``, with bars after ``cut`` removed or perturbed."""

    kind: str  # "truncation" or "perturbation"
    cut: pd.Timestamp
    bar: pd.Timestamp
    column: str
    full: float
    changed: float

    def describe(self, label: str) -> str:
        what = "were removed" if self.kind == "truncation" else "were perturbed"
        return (
            f"look-ahead: {label}'s {self.column} at bar {self.bar} changed when the bars after {self.cut} {what}: "
            f"{self.full:.6g} (full history) vs {self.changed:.6g}"
        )


@dataclass(frozen=True)
class LookaheadReport:
    """What ``check_decisions`` looked at and the first finding, if any."""

    strategy: str
    series: str
    overlay: str
    bars: int
    cuts: int
    finding: Finding | None

    def summary(self) -> str:
        if self.finding is not None:
            return self.finding.describe(self.strategy)
        checked = "strategy" if self.overlay == "none" else f"strategy and {self.overlay} overlay"
        return (
            f"no look-ahead found at {self.cuts} cuts ({checked}; {self.series}, {self.bars:,} bars; "
            "truncation and perturbation of later bars)"
        )

    def to_dict(self) -> dict[str, object]:
        finding = None
        if self.finding is not None:
            f = self.finding
            finding = {
                "kind": f.kind,
                "cut": f.cut.isoformat(),
                "bar": f.bar.isoformat(),
                "column": f.column,
                "full": f.full,
                "changed": f.changed,
            }
        return {
            "strategy": self.strategy,
            "series": self.series,
            "overlay": self.overlay,
            "bars": self.bars,
            "cuts": self.cuts,
            "biased": finding is not None,
            "finding": finding,
        }


def decisions(
    strategy: Strategy, bars: pd.DataFrame, *, overlay: CarryOverlay | None = None, risk: pd.DataFrame | None = None
) -> pd.DataFrame:
    """The decisions to compare: the strategy's exposure, and with an overlay its
    multiplier and final exposure (``risk``: one reading per bar, as the runner reads it)."""
    exposure = checked_exposure(strategy, bars)
    if overlay is None or risk is None:
        return pd.DataFrame({"strategy_exposure": exposure})
    sized = overlay.apply(exposure, risk.iloc[: len(bars)], bars)
    return sized[["strategy_exposure", "multiplier", "vol_scale", "final_exposure"]]


def cut_positions(n_bars: int, warmup: int, cuts: int) -> list[int]:
    """Up to ``cuts`` distinct bar positions, evenly spread after the warm-up (the last
    bar is never a cut: nothing follows it)."""
    first = min(max(warmup, 1), n_bars - 2)
    return sorted({int(p) for p in np.linspace(first, n_bars - 2, cuts)}) if n_bars >= 3 else []


def check_decisions(
    strategy: Strategy,
    bars: pd.DataFrame,
    *,
    cuts: int = 50,
    overlay: CarryOverlay | None = None,
    risk: pd.DataFrame | None = None,
    factor: float = 1.5,
) -> tuple[Finding | None, int]:
    """(the first finding or None, the number of cuts checked)."""
    full = decisions(strategy, bars, overlay=overlay, risk=risk)
    positions = cut_positions(len(bars), int(strategy.warmup_bars), cuts)
    for position in positions:
        cut = bars.iloc[: position + 1]
        finding = _first_change(full, decisions(strategy, cut, overlay=overlay, risk=risk), "truncation", cut)
        if finding is not None:
            return finding, len(positions)
        perturbed = bars.copy()
        columns = [c for c in (*PRICE_COLUMNS, "volume") if c in perturbed.columns]
        perturbed.iloc[position + 1 :, [perturbed.columns.get_loc(c) for c in columns]] *= factor
        changed = decisions(strategy, perturbed, overlay=overlay, risk=risk).iloc[: position + 1]
        finding = _first_change(full, changed, "perturbation", cut)
        if finding is not None:
            return finding, len(positions)
    return None, len(positions)


def check_store(
    store: Store,
    *,
    spec: str,
    params: dict[str, object],
    overlay: str,
    source: str,
    symbol: str,
    timeframe: str,
    cuts: int,
) -> LookaheadReport:
    """``check_decisions`` on a stored series (``overlay``: "none" or "carry", the latter
    sized by the risk index read point in time at each bar's close)."""
    from carryguard.backtests.run.runner import decision_times
    from carryguard.signals.risk import RiskConfig, risk_at

    strategy = strategy_with(spec, params)
    sid = series_id(source, symbol, timeframe)
    bars = store.read(sid)
    sizer, risk = None, None
    if overlay == "carry":
        sizer = CarryOverlay()
        risk = risk_at(store, decision_times(bars, timeframe), RiskConfig())
    finding, checked = check_decisions(strategy, bars, cuts=cuts, overlay=sizer, risk=risk)
    return LookaheadReport(spec, sid, overlay, len(bars), checked, finding)


def _first_change(full: pd.DataFrame, cut: pd.DataFrame, kind: str, kept: pd.DataFrame) -> Finding | None:
    """The first bar (then column) where ``cut`` differs from ``full`` on ``cut``'s bars."""
    reference = full.iloc[: len(cut)]
    a = reference.to_numpy(dtype="float64")
    b = cut.to_numpy(dtype="float64")
    differs = ~((np.abs(a - b) <= TOLERANCE) | (np.isnan(a) & np.isnan(b)))
    if not differs.any():
        return None
    row, column = np.argwhere(differs)[0]
    return Finding(
        kind=kind,
        cut=kept.index[-1],
        bar=reference.index[row],
        column=str(reference.columns[column]),
        full=float(a[row, column]),
        changed=float(b[row, column]),
    )
