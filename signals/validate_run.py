"""``risk validate`` on a store: the alarms (index v1, index v2, plain rules), the
events (yen-carry unwinds, BTC and ETH drawdowns) and their event study.

Every alarm is a daily reading at 00:00 UTC of day D from data published by then:
the indices through ``risk_at``; the plain rules through the same availability rules
(``signals.pit``), so a daily crypto bar counts from its close (00:00 UTC of the next
day) and USD/JPY from its source's rule.

Plain rules (what a user would do without the index):
- ``usdjpy20<-3%``: USD/JPY (the index's FX input) down more than 3% over 20 observations;
- ``btc<sma200``: BTC's last close below its 200-day simple moving average;
- ``btcvol>q80``: BTC's 30-day realized volatility in the top quintile of its own
  trailing 3 years (1095 observations, at least 365), i.e. ranked point in time.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from typing import Any

import numpy as np
import pandas as pd

from carryguard.signals.errors import DataError
from carryguard.signals.pit import SeriesSource, Timed, asof, on_availability
from carryguard.signals.risk import FETCH_HINT, fx_bad_prints, fx_price, load_inputs, risk_at
from carryguard.signals.risk_config import RiskConfig
from carryguard.signals.validate import EventRule, drawdown_breaches, episodes, fx_breaches, study

CRYPTO = {"BTC": ("yahoo/BTC-USD/1d", "binance/BTC-USDT/1d"), "ETH": ("yahoo/ETH-USD/1d", "binance/ETH-USDT/1d")}
VOL_WINDOW, VOL_HISTORY, VOL_MIN, VOL_QUANTILE = 30, 1095, 365, 0.8


@dataclass(frozen=True)
class EventSet:
    """One kind of event: its name, how it is defined, the series and the episode starts."""

    name: str
    definition: str
    series: str
    starts: pd.DatetimeIndex
    first: pd.Timestamp  # the days the series can show an event (its coverage within the period)
    last: pd.Timestamp


@dataclass(frozen=True)
class Validation:
    """The study: per event set, per alarm, every figure with its p-value."""

    start: pd.Timestamp
    end: pd.Timestamp
    rule: EventRule
    events: tuple[EventSet, ...]
    results: dict[str, dict[str, dict[str, Any]]]  # event set -> alarm -> figure -> {value, p}
    scores: pd.DataFrame  # v1 and v2 daily scores (for the plot)

    def to_json(self) -> dict[str, Any]:
        return {
            "start": self.start.strftime("%Y-%m-%d"),
            "end": self.end.strftime("%Y-%m-%d"),
            "rule": asdict(self.rule),
            "events": [
                {
                    "name": e.name,
                    "definition": e.definition,
                    "series": e.series,
                    "start": e.first.strftime("%Y-%m-%d"),
                    "end": e.last.strftime("%Y-%m-%d"),
                    "episodes": [d.strftime("%Y-%m-%d") for d in e.starts],
                    "alarms": self.results[e.name],
                }
                for e in self.events
            ],
        }


def crypto_series(source: SeriesSource, symbol: str) -> str | None:
    """The first stored daily series of ``symbol`` (Yahoo runs longer than Binance)."""
    return next((sid for sid in CRYPTO[symbol] if source.exists(sid)), None)


def _daily(timed: Timed, days: pd.DatetimeIndex) -> np.ndarray:
    """A point-in-time boolean (1.0/0.0/NaN column) as of each day; NaN -> off."""
    return np.nan_to_num(asof(timed, days)[0].iloc[:, 0].to_numpy(), nan=0.0) > 0.5


def trailing_rank(values: np.ndarray, window: int, min_periods: int) -> np.ndarray:
    """Share of the trailing ``window`` observations (current included) at or below each
    value; NaN with fewer than ``min_periods`` finite ones."""
    padded = np.concatenate([np.full(window - 1, np.nan), values])
    views = np.lib.stride_tricks.sliding_window_view(padded, window)
    count = np.isfinite(views).sum(axis=1)
    with np.errstate(invalid="ignore"):
        rank = (views <= values[:, None]).sum(axis=1) / count
    return np.where((count >= min_periods) & np.isfinite(values), rank, np.nan)


def plain_rules(source: SeriesSource, cfg: RiskConfig, days: pd.DatetimeIndex) -> dict[str, np.ndarray]:
    """The plain rules as daily alarms (BTC rules only when a BTC series is stored)."""
    fx = load_inputs(source, cfg)["usdjpy"]
    price = fx.values.iloc[:, 0]
    moved = (price / price.shift(20) - 1.0 < -0.03).where(price.shift(20).notna()).astype(float)
    alarms = {"usdjpy20<-3%": _daily(Timed(moved.to_frame(), fx.data_date), days)}
    sid = crypto_series(source, "BTC")
    if sid is None:
        return alarms
    bars = source.read(sid)[["close"]]
    timed = on_availability(bars, source.meta(sid))
    close = timed.values["close"]
    sma = close.rolling(200, min_periods=200).mean()
    below = (close < sma).where(sma.notna()).astype(float)
    vol = np.log(close).diff().rolling(VOL_WINDOW, min_periods=VOL_WINDOW).std().to_numpy()
    high = (trailing_rank(vol, VOL_HISTORY, VOL_MIN) >= VOL_QUANTILE).astype(float)
    high[~np.isfinite(trailing_rank(vol, VOL_HISTORY, VOL_MIN))] = np.nan
    alarms["btc<sma200"] = _daily(Timed(below.to_frame(), timed.data_date), days)
    alarms["btcvol>q80"] = _daily(Timed(pd.DataFrame({"v": high}, index=close.index), timed.data_date), days)
    return alarms


def event_sets(source: SeriesSource, cfg: RiskConfig, rule: EventRule, days: pd.DatetimeIndex) -> list[EventSet]:
    """Yen-carry unwinds on the index's FX series (bad prints dropped) and drawdowns of
    each stored crypto symbol, as episode starts inside ``days`` and inside the days the
    series covers (from its first full window to its last row)."""
    frame = source.read(cfg.fx_series)
    price = fx_price(frame[~fx_bad_prints(frame, cfg)]).iloc[:, 0]
    found = [("yen", f"USD/JPY <= -{rule.fx_drop:.0%} over {rule.fx_window} obs", cfg.fx_series, price)]
    for symbol in CRYPTO:
        sid = crypto_series(source, symbol)
        if sid:
            definition = f"{symbol} close <= -{rule.crypto_drop:.0%} below its {rule.crypto_window}-obs high"
            found.append((symbol, definition, sid, source.read(sid)["close"]))
    sets = []
    for name, definition, sid, values in found:
        window = rule.fx_window if name == "yen" else rule.crypto_window
        breaches = fx_breaches(values, rule) if name == "yen" else drawdown_breaches(values, rule)
        first = max(days[0], values.index[min(window, len(values) - 1)].normalize())
        last = min(days[-1], values.index[-1].normalize())
        starts = episodes(breaches, rule.gap_days)
        if last - first >= pd.Timedelta(days=2 * 365 + 30):
            sets.append(EventSet(name, definition, sid, starts[(starts >= first) & (starts <= last)], first, last))
    return sets


def validate(
    source: SeriesSource,
    cfg: RiskConfig,
    rule: EventRule,
    start: pd.Timestamp,
    end: pd.Timestamp,
    thresholds: Sequence[float],
) -> Validation:
    """The event study of v1 and v2 (at each threshold) and the plain rules over the
    days ``start``..``end`` (00:00 UTC)."""
    days = pd.date_range(start.normalize(), end.normalize(), freq="D", name="time")
    if len(days) < 2 * 365 + 30:
        raise DataError(
            f"validation period {start:%Y-%m-%d}..{end:%Y-%m-%d} is {len(days)} days",
            fix="use at least 2 years and a month (each null shift is >= 365 days)",
        )
    if not source.exists(cfg.fx_series):
        raise DataError(f"series {cfg.fx_series} is not in the store", fix=FETCH_HINT)
    scores = pd.DataFrame({f"v{v}": risk_at(source, days, replace(cfg, version=v))["score"] for v in (1, 2)})
    alarms: dict[str, np.ndarray] = {}
    for version in scores:
        for t in thresholds:
            alarms[f"{version}>={t:g}"] = (scores[version] >= t).to_numpy()
    alarms.update(plain_rules(source, cfg, days))
    sets = event_sets(source, cfg, rule, days)
    results = {}
    for events in sets:
        span = (days >= events.first) & (days <= events.last)
        positions = ((events.starts - events.first) / pd.Timedelta(days=1)).to_numpy().astype(int)
        results[events.name] = {name: study(alarm[span], positions, rule) for name, alarm in alarms.items()}
    return Validation(days[0], days[-1], rule, tuple(sets), results, scores)
