"""carryguard's overlay inside a freqtrade strategy: size stakes and veto entries by the risk history.

Standard library only, so it runs in freqtrade's own environment without carryguard or
its dependencies. Copy it beside your strategy (``carryguard strategies freqtrade DIR``
writes it as ``DIR/carryguard_overlay.py``), export the risk history with
``carryguard risk --export user_data/carryguard_risk.csv`` (refresh it daily, e.g. from
cron, after ``carryguard data fetch``), then::

    from carryguard_overlay import CarryguardOverlay

    class MyStrategy(CarryguardOverlay, IStrategy):
        carryguard_risk_file = "user_data/carryguard_risk.csv"
        carryguard_policy = "carry"             # which multiplier column of the export
        carryguard_veto_regimes = ("crisis",)   # no new entry in these regimes
        carryguard_max_age_hours = 72.0         # an older reading means no new entry
        ...

Every entry's stake is the stake freqtrade (or your own ``custom_stake_amount``) proposes
times the policy's multiplier at the candle's time, read from the last exported row at or
before that time. **Fail closed**: no reading, an empty multiplier, or a reading older
than ``carryguard_max_age_hours`` means no new entry, with a log line saying why; set
``carryguard_fail_open = True`` to trade such candles at the plain stake instead.

The export (CSV, one row per reading, oldest first): ``time`` (ISO 8601 UTC: the reading
may be used from then on), ``score`` (0-100, empty when unknown), ``regime``
(calm|elevated|stress|crisis, empty when unknown), ``version`` (index version),
``stale`` (inputs older than a week, ``;``-separated) and one column per policy with its
multiplier in [0, 1] (e.g. ``carry``).
"""

from __future__ import annotations

import bisect
import csv
import logging
import os
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class CarryguardDecision:
    """What the overlay allows at one time: ``allowed`` entries at ``multiplier`` x stake, and why."""

    allowed: bool
    multiplier: float
    reason: str


@dataclass(frozen=True)
class _Reading:
    time: datetime
    regime: str
    multipliers: dict[str, str]


class RiskHistory:
    """The exported risk history, re-read when the file changes."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._stamp: tuple[float, int] | None = None
        self._times: list[datetime] = []
        self._rows: list[_Reading] = []

    def at(self, when: datetime) -> _Reading | None:
        """The last reading at or before ``when`` (None when there is none or no file)."""
        self._refresh()
        position = bisect.bisect_right(self._times, _utc(when))
        return self._rows[position - 1] if position else None

    def _refresh(self) -> None:
        try:
            status = os.stat(self.path)
        except OSError:
            self._stamp, self._times, self._rows = None, [], []
            return
        stamp = (status.st_mtime, status.st_size)
        if stamp == self._stamp:
            return
        rows = []
        with open(self.path, newline="", encoding="utf-8") as handle:
            for record in csv.DictReader(handle):
                policies = {k: v for k, v in record.items() if k not in ("time", "score", "regime", "version", "stale")}
                rows.append(_Reading(_utc(datetime.fromisoformat(record["time"])), record["regime"], policies))
        rows.sort(key=lambda r: r.time)
        self._stamp, self._rows, self._times = stamp, rows, [r.time for r in rows]


class CarryguardOverlay:
    """Mixin for a freqtrade ``IStrategy``: list it first (``class S(CarryguardOverlay, IStrategy)``)."""

    carryguard_risk_file: str = "user_data/carryguard_risk.csv"
    carryguard_policy: str = "carry"
    carryguard_veto_regimes: tuple[str, ...] = ("crisis",)
    carryguard_max_age_hours: float = 72.0
    carryguard_fail_open: bool = False

    def carryguard_decision(self, when: datetime) -> CarryguardDecision:
        """The overlay's answer for a candle at ``when`` (see the module docstring)."""
        history = self.__dict__.get("_carryguard_history")
        if history is None or history.path != self.carryguard_risk_file:
            history = self.__dict__["_carryguard_history"] = RiskHistory(self.carryguard_risk_file)
        reading = history.at(when)
        if reading is None:
            return self._carryguard_missing(f"no carryguard risk reading at or before {when} in {history.path}")
        age = _utc(when) - reading.time
        if age > timedelta(hours=self.carryguard_max_age_hours):
            return self._carryguard_missing(
                f"carryguard risk reading of {reading.time:%Y-%m-%d %H:%M} is "
                f"{age.total_seconds() / 3600:.0f} h old "
                f"(max {self.carryguard_max_age_hours:g} h): refresh {history.path} with `carryguard risk --export`"
            )
        text = reading.multipliers.get(self.carryguard_policy)
        if text is None:
            known = ", ".join(sorted(reading.multipliers)) or "none"
            return self._carryguard_missing(f"policy {self.carryguard_policy!r} not in {history.path} (has {known})")
        if not text:
            return self._carryguard_missing(f"no {self.carryguard_policy} multiplier at {reading.time:%Y-%m-%d %H:%M}")
        multiplier = min(max(float(text), 0.0), 1.0)
        if reading.regime in self.carryguard_veto_regimes:
            return CarryguardDecision(False, 0.0, f"carryguard regime {reading.regime} vetoes new entries")
        if multiplier <= 0.0:
            return CarryguardDecision(False, 0.0, f"carryguard {self.carryguard_policy} multiplier is 0")
        return CarryguardDecision(True, multiplier, f"carryguard {self.carryguard_policy} x{multiplier:.2f}")

    def custom_stake_amount(
        self,
        pair: str,
        current_time: datetime,
        current_rate: float,
        proposed_stake: float,
        min_stake: float | None,
        max_stake: float,
        leverage: float,
        entry_tag: str | None,
        side: str,
        **kwargs: Any,
    ) -> float:
        """freqtrade's proposed stake (or the next class's) times the multiplier; 0 when vetoed."""
        stake = super().custom_stake_amount(  # type: ignore[misc]
            pair, current_time, current_rate, proposed_stake, min_stake, max_stake, leverage, entry_tag, side, **kwargs
        )
        decision = self.carryguard_decision(current_time)
        return float(stake) * decision.multiplier if decision.allowed else 0.0

    def confirm_trade_entry(
        self,
        pair: str,
        order_type: str,
        amount: float,
        rate: float,
        time_in_force: str,
        current_time: datetime,
        entry_tag: str | None,
        side: str,
        **kwargs: Any,
    ) -> bool:
        """Veto the entry (with a log line saying why) unless the overlay allows it now."""
        decision = self.carryguard_decision(current_time)
        if not decision.allowed:
            logger.info("%s: entry at %s vetoed: %s", pair, current_time, decision.reason)
            return False
        return bool(
            super().confirm_trade_entry(  # type: ignore[misc]
                pair, order_type, amount, rate, time_in_force, current_time, entry_tag, side, **kwargs
            )
        )

    def _carryguard_missing(self, why: str) -> CarryguardDecision:
        if self.carryguard_fail_open:
            logger.warning("%s; fail-open: plain stake", why)
            return CarryguardDecision(True, 1.0, f"{why}; fail-open")
        logger.warning("%s; no new entry (fail closed)", why)
        return CarryguardDecision(False, 0.0, f"{why}; fail closed")


def _utc(when: datetime) -> datetime:
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)
