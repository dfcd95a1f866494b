"""The components of the Carry-Unwind Risk Index, each a trailing statistic.

Every component is computed on its source's own calendar, keyed by availability time
(``signals.pit.Timed``), so the value at a row depends only on rows usable at or before
it. Each returns columns ``value`` (the raw level shown to people), ``change`` (the
move behind it) and ``zscore`` (signed so that positive = more carry-unwind risk).
Windows count observations of the source (business days), not calendar days.

- ``jgb_momentum``: 20Y/30Y/40Y yield change over ~20 and ~60 days, z-scored per tenor.
- ``jgb_level``: long-end yield's position in its trailing multi-year range.
- ``yen_strength``: USD/JPY log return over ~5 and ~20 days, z-scored, sign flipped
  (falling USD/JPY = yen appreciation = risk up).
- ``yen_vol``: realized USD/JPY volatility (log) vs its trailing history.
- ``carry_spread``: US minus Japan yield (10Y, 2Y); its ~60-day compression z-scored.
- ``audjpy_drawdown`` (optional): AUD/JPY below its ~20-day high, z-scored.
- ``vix`` (optional): log VIX vs its trailing history.
- ``btc_funding`` (optional): mean BTC perpetual funding over ~7 days, z-scored.
- ``yen_positioning`` (optional scaler): CFTC net speculative yen / open interest, minus z.

Tenors join a component only once their z-score has ``zscore_min_periods`` of history,
so the 30Y (from 1999) and 40Y (from 2007) enter gradually and the component averages
over whatever tenors count at each time.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from carryguard.signals.errors import DataError
from carryguard.signals.pit import Timed, asof, union_calendar

if TYPE_CHECKING:
    from carryguard.signals.risk_config import RiskConfig

COLUMNS = ("value", "change", "zscore")


def rolling_z(x: pd.DataFrame | pd.Series, window: int, min_periods: int) -> pd.DataFrame | pd.Series:
    """(x - trailing mean) / trailing std over the last ``window`` observations
    (current one included); NaN until ``min_periods`` observations or when std is 0."""
    roll = x.rolling(window, min_periods=min_periods)
    std = roll.std()
    return (x - roll.mean()) / std.where(std > 1e-12)


def _component(index: pd.Index, data_date: pd.DatetimeIndex, value: Any, change: Any, zscore: Any) -> Timed:
    """A component's ``value, change, zscore`` frame on its availability calendar."""
    frame = pd.DataFrame(
        {
            "value": np.asarray(value, dtype="float64"),
            "change": np.asarray(change, dtype="float64"),
            "zscore": np.asarray(zscore, dtype="float64"),
        },
        index=index,
    )
    return Timed(frame, data_date)


def _over_counted(per_tenor: pd.DataFrame, counted: pd.DataFrame) -> pd.Series:
    """Row mean of ``per_tenor`` over the tenors whose z-score counts."""
    return per_tenor.where(counted.to_numpy()).mean(axis=1)


def _tenors(jgb: Timed, wanted: tuple[str, ...]) -> pd.DataFrame:
    """The ``wanted`` JGB tenors the series has (``DataError`` when it has none)."""
    present = [t for t in wanted if t in jgb.values.columns]
    if not present:
        raise DataError(
            f"none of the tenors {list(wanted)} is in the JGB series (columns {list(jgb.values.columns)})",
            fix="name stored tenors in the risk config (e.g. 20Y, 30Y, 40Y)",
        )
    return jgb.values[present]


def jgb_momentum(jgb: Timed, cfg: RiskConfig) -> Timed:
    """Mean over tenors and windows of the z-scored yield change (pp); value = mean
    yield (%), change = mean change over the first window (pp)."""
    yields = _tenors(jgb, cfg.momentum_tenors)
    changes = [yields.diff(w) for w in cfg.momentum_windows]
    zs = [rolling_z(c, cfg.zscore_window, cfg.zscore_min_periods) for c in changes]
    z_tenor = sum(zs) / len(zs)  # NaN unless every window counts
    counted = z_tenor.notna()
    return _component(
        yields.index,
        jgb.data_date,
        _over_counted(yields, counted),
        _over_counted(changes[0], counted),
        z_tenor.mean(axis=1),
    )


def jgb_level(jgb: Timed, cfg: RiskConfig) -> Timed:
    """Position of each long-end yield in its trailing ``level_window`` range, mapped
    linearly to [-level_span, +level_span] (bottom of range .. top of range); value =
    mean yield (%), change = mean change over the last momentum window (pp)."""
    yields = _tenors(jgb, cfg.level_tenors)
    roll = yields.rolling(cfg.level_window, min_periods=cfg.level_min_periods)
    low, high = roll.min(), roll.max()
    span = (high - low).where(high - low > 1e-12)
    position = (yields - low) / span
    z_tenor = cfg.level_span * (2.0 * position - 1.0)
    counted = z_tenor.notna()
    change = yields.diff(cfg.momentum_windows[-1])
    return _component(
        yields.index,
        jgb.data_date,
        _over_counted(yields, counted),
        _over_counted(change, counted),
        z_tenor.mean(axis=1),
    )


def yen_strength(fx: Timed, cfg: RiskConfig) -> Timed:
    """Minus the mean z-score of USD/JPY log returns over ``fx_return_windows``;
    value = USD/JPY, change = return over the last window (%)."""
    log_price = np.log(fx.values.iloc[:, 0])
    returns = [log_price.diff(w) for w in cfg.fx_return_windows]
    zs = [rolling_z(r, cfg.zscore_window, cfg.zscore_min_periods) for r in returns]
    z = -(sum(zs) / len(zs))
    return _component(fx.values.index, fx.data_date, fx.values.iloc[:, 0], 100.0 * np.expm1(returns[-1]), z)


def yen_vol(fx: Timed, cfg: RiskConfig) -> Timed:
    """z-score of log realized volatility (daily log returns over ``vol_window``,
    annualized with 252) vs its trailing history; value = vol (%), change = vol change
    over ``vol_window`` (pp)."""
    returns = np.log(fx.values.iloc[:, 0]).diff()
    vol = returns.rolling(cfg.vol_window, min_periods=cfg.vol_window).std() * np.sqrt(252.0) * 100.0
    log_vol = np.log(vol.where(vol > 0))
    z = rolling_z(log_vol, cfg.zscore_window, cfg.zscore_min_periods)
    return _component(fx.values.index, fx.data_date, vol, vol.diff(cfg.vol_window), z)


def carry_spread(jgb: Timed, us: dict[str, Timed], cfg: RiskConfig) -> Timed:
    """US minus Japan yield per tenor pair on the union of the inputs' availability
    times; z = minus the mean z-score of the spread change over ``spread_window``
    (compression = risk up). value = first pair's spread (pp), change = its change;
    data date = the oldest of the inputs' data dates behind each row."""
    calendar = union_calendar(jgb, *us.values())
    japan, japan_date = asof(jgb, calendar)
    spreads, zs, dates = [], [], [japan_date]
    for jp_tenor, us_key in cfg.spread_pairs:
        us_yield, us_date = asof(us[us_key], calendar)
        spread = us_yield.iloc[:, 0] - japan[jp_tenor]
        spreads.append(spread)
        dates.append(us_date)
        zs.append(-rolling_z(spread.diff(cfg.spread_window), cfg.zscore_window, cfg.zscore_min_periods))
    z = pd.concat(zs, axis=1).mean(axis=1)
    data_date = pd.DatetimeIndex(pd.concat(dates, axis=1).min(axis=1, skipna=False))
    return _component(calendar, data_date, spreads[0], spreads[0].diff(cfg.spread_window), z)


def audjpy_drawdown(cross: Timed, cfg: RiskConfig) -> Timed:
    """AUD/JPY (the classic carry cross) below its highest close of the last
    ``audjpy_window`` observations, z-scored (deeper = risk up); value = AUD/JPY,
    change = the drawdown (%)."""
    price = cross.values.iloc[:, 0]
    drawdown = price / price.rolling(cfg.audjpy_window, min_periods=cfg.audjpy_window).max() - 1.0
    z = -rolling_z(drawdown, cfg.zscore_window, cfg.zscore_min_periods)
    return _component(cross.values.index, cross.data_date, price, 100.0 * drawdown, z)


def vix(level: Timed, cfg: RiskConfig) -> Timed:
    """z-score of log VIX vs its trailing history (global risk-off confirmation); value =
    VIX (points), change = its change over ``vol_window`` observations."""
    value = level.values.iloc[:, 0]
    z = rolling_z(np.log(value.where(value > 0)), cfg.zscore_window, cfg.zscore_min_periods)
    return _component(level.values.index, level.data_date, value, value.diff(cfg.vol_window), z)


def btc_funding(funding: Timed, cfg: RiskConfig) -> Timed:
    """Crypto leverage: the mean BTC perpetual funding rate of the last ``funding_mean_obs``
    settlements, z-scored over ``funding_zscore_window`` settlements (high = crowded longs);
    value = that mean (% per 8h), change = its change over as many settlements."""
    mean = funding.values["funding_rate"].rolling(cfg.funding_mean_obs, min_periods=cfg.funding_mean_obs).mean()
    z = rolling_z(mean, cfg.funding_zscore_window, cfg.funding_zscore_min_periods)
    return _component(funding.values.index, funding.data_date, 100.0 * mean, 100.0 * mean.diff(cfg.funding_mean_obs), z)


def yen_positioning(cot: Timed, cfg: RiskConfig) -> Timed:
    """Crowded short yen (the fuel of an unwind): minus the z-score of CFTC non-commercial
    net yen positions as a share of open interest over ``positioning_window`` weekly
    reports; value = that share (%), change = its change over 4 reports (pp)."""
    share = 100.0 * cot.values["net"] / cot.values["open_interest"]
    z = -rolling_z(share, cfg.positioning_window, cfg.positioning_min_periods)
    return _component(cot.values.index, cot.data_date, share, share.diff(4), z)


def components(
    jgb: Timed, fx: Timed, us: dict[str, Timed], cfg: RiskConfig, extra: dict[str, Timed] | None = None
) -> dict[str, Timed]:
    """Every component on its own calendar, in the order of ``COMPONENT_INPUTS``; the
    optional ones (``audjpy_drawdown``, ``vix``) when their input is in ``extra``."""
    out = {
        "jgb_momentum": jgb_momentum(jgb, cfg),
        "jgb_level": jgb_level(jgb, cfg),
        "yen_strength": yen_strength(fx, cfg),
        "yen_vol": yen_vol(fx, cfg),
        "carry_spread": carry_spread(jgb, us, cfg),
    }
    extra = extra or {}
    if "audjpy" in extra:
        out["audjpy_drawdown"] = audjpy_drawdown(extra["audjpy"], cfg)
    if "vix" in extra:
        out["vix"] = vix(extra["vix"], cfg)
    if "funding" in extra:
        out["btc_funding"] = btc_funding(extra["funding"], cfg)
    if "positioning" in extra:
        out["yen_positioning"] = yen_positioning(extra["positioning"], cfg)
    return out


COMPONENT_INPUTS: dict[str, tuple[str, ...]] = {
    "jgb_momentum": ("jgb",),
    "jgb_level": ("jgb",),
    "yen_strength": ("usdjpy",),
    "yen_vol": ("usdjpy",),
    "carry_spread": ("jgb", "us10y", "us2y"),
    "audjpy_drawdown": ("audjpy",),
    "vix": ("vix",),
    "btc_funding": ("funding",),
    "yen_positioning": ("positioning",),
}


@dataclass(frozen=True)
class Label:
    """How a component's ``value`` and ``change`` read to a person: the value's unit
    (saying what it is), the change's unit and the window it spans (observations,
    i.e. business days of the source)."""

    unit: str
    change_unit: str
    change_window: int


def labels(cfg: RiskConfig) -> dict[str, Label]:
    """Per component, the units and change window of its value and change under ``cfg``."""
    return {
        "jgb_momentum": Label("% yield", "pp", cfg.momentum_windows[0]),
        "jgb_level": Label("% yield", "pp", cfg.momentum_windows[-1]),
        "yen_strength": Label("JPY/USD", "%", cfg.fx_return_windows[-1]),
        "yen_vol": Label("% ann. vol", "pp", cfg.vol_window),
        "carry_spread": Label("pp spread", "pp", cfg.spread_window),
        "audjpy_drawdown": Label("JPY/AUD", "%", cfg.audjpy_window),
        "vix": Label("VIX points", "pts", cfg.vol_window),
        "btc_funding": Label("% per 8h", "pp", cfg.funding_mean_obs),
        "yen_positioning": Label("% of OI net", "pp", 4),
    }
