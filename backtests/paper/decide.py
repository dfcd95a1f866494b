"""What the paper loop trades toward: strategy exposure, sized by the carry overlay.

``resolve_book`` turns a study (``paper run --study``) and the command-line overrides into
one ``PaperBook``: the strategy with its parameters, the overlay and risk settings and
the execution costs, exactly as ``carryguard backtest`` of that study would use them;
``PaperBook.config()`` is the full resolved configuration the state file records.

``OverlayDecider`` runs the registered strategy on the closed bars up to t and, with the
overlay on, sizes its exposure at t's close by the risk index read point in time from the
store (``signals.risk.risk_at``) — the same objects a backtest uses, so paper and backtest
decide alike. Missing or stale macro inputs block the trade with a reason.

The overlay's hysteresis remembers the risk path, which a backtest starts at its first
bar. The decider therefore feeds the overlay readings at every bar close of the last
``risk_warmup`` (90 days, whatever ``--history`` is) and checks that the memory has
settled: the sticky score at t is the same whether the path entered that window with
the lowest or the highest memory possible, so it equals a backtest's that started
earlier. If not, the window is stretched (up to 16x), and the reason says when it still
has not settled.

``RiskFeed`` holds risk readings for bar-close times and re-reads the store when a refresh
is due (``refresh_every`` of exchange time, the loop's clock, not the bar's: a book
catching up on several closed bars re-reads and refetches once, not once per bar),
optionally after running a refresher that fetches new macro data. A reading at t only
uses data usable at t, whenever it is computed, so computing the closes up to the next
refresh in one call is exact.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from carryguard.backtests.engine.execution import ExecutionConfig
from carryguard.backtests.paper.loop import Decision
from carryguard.backtests.run.study import Study, StudyError
from carryguard.signals.config import plain_config
from carryguard.signals.pit import SeriesSource
from carryguard.signals.risk import risk_at
from carryguard.signals.risk_config import RiskConfig
from carryguard.strategies.base import Strategy, book_label
from carryguard.strategies.base import params as strategy_params
from carryguard.strategies.carry_policies import CarryPolicy, yen_moves
from carryguard.strategies.loader import checked_exposure, strategy_label, strategy_with
from carryguard.strategies.overlay import CarryOverlay, OverlayConfig, sticky_scores
from carryguard.strategies.policies import Policy, PolicyInputs, Product, make_policy, spec_of

# Without a study: the book `carryguard paper run` trades by default.
DEFAULT_STRATEGY, DEFAULT_SYMBOL, DEFAULT_TIMEFRAME = "sma_cross", "BTC/USDT", "1h"


@dataclass(frozen=True)
class PaperBook:
    """A paper book's resolved settings: ``sizing`` is the built sizing policy (``none``,
    ``carry``, ``vol_target*carry`` ...); ``overlay`` (the carry map) and ``policy_params``
    (the other policies' tables) are the study's settings as given, recorded in the state
    file; ``history_needed``: the closed bars each decision needs so it equals a
    backtest's (the strategy's warm-up and, with a vol target, the carry map's vol window,
    plus the bar itself)."""

    strategy: Strategy
    symbol: str
    timeframe: str
    sizing: Policy
    history_needed: int
    risk: RiskConfig
    execution: ExecutionConfig
    overlay: OverlayConfig
    policy_params: tuple[tuple[str, tuple[tuple[str, object], ...]], ...] = ()

    @property
    def policy(self) -> str:
        """The sizing policy's spec: ``none``, ``carry``, ``vol_target*carry`` ..."""
        return spec_of(self.sizing)

    @property
    def name(self) -> str:
        """The book's name in the state file: ``sma_cross``, ``sma_cross+carry``, ``sma_cross+vol_target``."""
        return book_label(strategy_label(type(self.strategy)), self.policy)

    def config(self) -> dict[str, object]:
        """Everything that shapes decisions and fills, flat (``overlay.stress_at``,
        ``risk.zscore_window``, ...), for the state file's restart check."""
        return {
            "params": strategy_params(self.strategy),
            "commission": self.execution.commission,
            "slippage_bps": self.execution.slippage_bps,
            "band": self.execution.rebalance_band,
            "overlay": self.policy,
            **({f"overlay.{k}": v for k, v in plain_config(self.overlay).items()} if self.policy != "none" else {}),
            **{f"overlay.{name}.{k}": v for name, values in self.policy_params for k, v in values},
            **({f"risk.{k}": v for k, v in plain_config(self.risk).items()} if self.policy != "none" else {}),
        }


def resolve_book(
    study: Study | None,
    *,
    origin: str = "--study",
    strategy: str | None = None,
    params: Mapping[str, object] | None = None,
    symbol: str | None = None,
    timeframe: str | None = None,
    overlay: str | None = None,
    execution: Mapping[str, float | None] | None = None,
) -> PaperBook:
    """The book ``paper run`` trades: the study's strategy (its parameters), overlay, risk
    and execution settings, each overridden by the flags given (None = not given).
    Without a study, the defaults above and the config dataclasses' defaults.
    ``StudyError`` when the study leaves a choice open (several strategies, symbols or
    timeframes and no flag to pick one) or an override is invalid."""
    base: dict[str, object] = {}
    if study is not None:
        names = [s.name for s in study.strategies]
        strategy = strategy or _only(names, "strategies", "--strategy", origin)
        if strategy not in names:
            raise StudyError(f"--strategy {strategy}: {origin} has no such strategy (it lists {', '.join(names)})")
        base = dict(next(s for s in study.strategies if s.name == strategy).params)
        symbol = symbol or _only(study.symbols, "symbols", "--symbol", origin)
        timeframe = timeframe or _only(study.timeframes, "timeframes", "--timeframe", origin)
        sized = [o for o in study.overlays if o != "none"] or ["none"]
        overlay = overlay or _only(sized, "overlays", "--overlay", origin)
    try:
        built = strategy_with(strategy or DEFAULT_STRATEGY, {**base, **(params or {})})
        costs = replace(
            study.execution if study is not None else ExecutionConfig(),
            **{k: v for k, v in (execution or {}).items() if v is not None},
        )
    except (TypeError, ValueError) as exc:
        raise StudyError(str(exc)) from None
    try:
        sizing = study.policy(overlay or "carry") if study is not None else make_policy(overlay or "carry")
    except (TypeError, ValueError) as exc:
        raise StudyError(f"--overlay: {exc}") from None
    parts = sizing.parts if isinstance(sizing, Product) else (sizing,)
    carry = next((p.config for p in parts if isinstance(p, CarryPolicy)), None)
    vol = carry.vol_window if carry is not None and carry.vol_target is not None else 0
    return PaperBook(
        strategy=built,
        symbol=symbol or DEFAULT_SYMBOL,
        timeframe=timeframe or DEFAULT_TIMEFRAME,
        sizing=sizing,
        history_needed=max(built.warmup_bars, vol) + 1,
        risk=study.risk if study is not None else RiskConfig(),
        execution=costs,
        overlay=study.overlay if study is not None else carry if carry is not None else OverlayConfig(),
        policy_params=study.policy_tables if study is not None else (),
    )


def _only(values: tuple[str, ...] | list[str], key: str, flag: str, origin: str) -> str:
    if len(values) != 1:
        raise StudyError(f"{origin} lists {key} {', '.join(values)}: pick one with {flag}")
    return values[0]


@dataclass(frozen=True)
class MacroLimits:
    """Freshness rules for the macro inputs.

    max_age_days: the newest usable value of every risk input (JGB, USD/JPY, US yields)
        must be at most this old at the decision (10 days: the Japanese New Year closure
        leaves the JGB input about 9 days old; Golden Week about 6).
    refresh_every: how often (exchange time) the store is re-read (1 hour).
    """

    max_age_days: float = 10.0
    refresh_every: pd.Timedelta = pd.Timedelta(hours=1)

    def __post_init__(self) -> None:
        if not self.max_age_days > 0:
            raise ValueError(f"max_age_days must be > 0, got {self.max_age_days}")
        if self.refresh_every <= pd.Timedelta(0):
            raise ValueError(f"refresh_every must be positive, got {self.refresh_every}")


class RiskFeed:
    """Risk readings at bar-close times, from a store re-read when a refresh is due."""

    def __init__(
        self,
        store: SeriesSource | Mapping[str, pd.DataFrame],
        *,
        step: pd.Timedelta,
        limits: MacroLimits = MacroLimits(),
        config: RiskConfig | None = None,
        refresher: Callable[[], None] | None = None,
    ) -> None:
        self.store, self.step, self.limits, self.config, self.refresher = store, step, limits, config, refresher
        self._readings: pd.DataFrame | None = None
        self._refreshed_at: pd.Timestamp | None = None

    def readings(self, times: pd.DatetimeIndex, *, now: pd.Timestamp) -> pd.DataFrame:
        """Rows of ``risk_at`` for ``times`` (all <= ``now``)."""
        due = self._refreshed_at is None or now - self._refreshed_at >= self.limits.refresh_every
        cached = self._readings
        if due or cached is None or not times.isin(cached.index).all():
            if due and self.refresher is not None:
                self.refresher()
            ahead = pd.date_range(times[-1], now + self.limits.refresh_every + self.step, freq=self.step)
            every = times.union(ahead)
            cached = risk_at(self.store, every, self.config).join(yen_moves(self.store, every, self.config))
            self._readings = cached
            if due:
                self._refreshed_at = now
        return cached.loc[times]


def macro_block(row: pd.Series, limit_days: float) -> str:
    """Why the reading ``row`` must not be traded on ("" when it is fresh)."""
    if not math.isfinite(row["score"]):
        return "no risk reading (macro inputs missing or expired)"
    ages = {name[: -len("_age_days")]: row[name] for name in row.index if name.endswith("_age_days")}
    stale = {name: age for name, age in ages.items() if not age <= limit_days}
    if stale:
        name, age = max(stale.items(), key=lambda item: item[1])
        return f"stale macro input {name}: newest value {age:.1f} days old > limit {limit_days:g} days"
    return ""


class PolicyDecider:
    """Strategy exposure at t sized by any sizing policy of ``strategies.policies``
    (``vol_target``, ``yen_shock``, ``vol_target*carry`` ...), live: where the policy lacks
    its risk data the multiplier is 0 (fail closed), and stale macro inputs block the trade.
    The policy's path runs over the closed bars given (``--history``) and the risk readings
    at their closes; the decision log names the policy and its reason."""

    def __init__(self, strategy: Strategy, *, step: pd.Timedelta, policy: object, feed: RiskFeed | None = None) -> None:
        if getattr(policy, "needs_risk", False) and feed is None:
            raise ValueError(f"overlay {spec_of(policy)} reads the risk index: it needs a RiskFeed")
        self.strategy, self.step, self.policy, self.feed = strategy, step, policy, feed

    def decide(self, bars: pd.DataFrame, at: pd.Timestamp, *, now: pd.Timestamp | None = None) -> Decision:
        """The decision at ``at`` (the close of ``bars``' last row)."""
        exposure = float(self.strategy.target_exposure(bars).iloc[-1])
        risk, row, blocked = None, None, ""
        if self.feed is not None:
            closes = pd.DatetimeIndex(bars.index) + self.step
            risk = self.feed.readings(closes, now=max(now, at) if now is not None else at)
            row = risk.iloc[-1]
            blocked = macro_block(row, self.feed.limits.max_age_days)
        path = self.policy.path(PolicyInputs(bars, risk, live=True))  # type: ignore[attr-defined]
        multiplier = float(path.multiplier[-1])
        target = min(max(exposure * multiplier, 0.0), 1.0)
        return Decision(
            strategy_exposure=exposure,
            target=target,
            score=float(row["score"]) if row is not None else math.nan,
            regime=str(path.regime[-1]) if path.regime is not None else (str(row["regime"]) if row is not None else ""),
            multiplier=multiplier,
            reason=f"{self.strategy.name} +{spec_of(self.policy)}: {path.reason[-1]}; "
            f"exposure {exposure:.2f} -> {target:.2f}",
            blocked=blocked,
        )


def hysteresis_range(scores: np.ndarray, hysteresis: float) -> tuple[float, float]:
    """The overlay's sticky score at the end of ``scores`` when the path enters with the
    lowest and with the highest memory it can carry (``s_0`` and ``s_0 + hysteresis``).
    Every earlier history gives a value in between, so equal ends mean the memory has
    settled: any backtest that started before ``scores`` reaches the same value."""
    low = sticky_scores(scores, hysteresis)[-1]
    high = sticky_scores(np.concatenate([scores[:1] + hysteresis, scores]), hysteresis)[-1]
    return float(low), float(high)


class OverlayDecider:
    """Strategy exposure at t, optionally sized by the carry overlay at t's close.

    risk_warmup: how far back the overlay's hysteresis path starts (90 days of bar
        closes, stretched up to 16x until it has settled; see the module docstring).
    """

    def __init__(
        self,
        strategy: Strategy,
        *,
        step: pd.Timedelta,
        config: OverlayConfig | None = None,
        feed: RiskFeed | None = None,
        risk_warmup: pd.Timedelta = pd.Timedelta(days=90),
    ) -> None:
        if config is not None and feed is None:
            raise ValueError("the overlay needs a RiskFeed")
        if risk_warmup <= pd.Timedelta(0):
            raise ValueError(f"risk_warmup must be positive, got {risk_warmup}")
        self.strategy, self.step, self.feed = strategy, step, feed
        self.overlay = CarryOverlay(config) if config is not None else None
        self.risk_warmup = risk_warmup

    def decide(self, bars: pd.DataFrame, at: pd.Timestamp, *, now: pd.Timestamp | None = None) -> Decision:
        """The decision at ``at`` (the close of ``bars``' last row); ``now`` (the exchange
        clock, default ``at``) only paces the risk feed's store re-reads."""
        exposure = float(checked_exposure(self.strategy, bars).iloc[-1])
        if self.overlay is None:
            return Decision(
                strategy_exposure=exposure,
                target=exposure,
                reason=f"{self.strategy.name} exposure {exposure:.2f}, no overlay",
            )
        assert self.feed is not None  # __init__ refuses an overlay without a feed
        risk, note = self._settled_risk(bars, at, max(now, at) if now is not None else at)
        sized = self.overlay.size(exposure, at=at, risk=risk, bars=bars)
        return Decision(
            strategy_exposure=exposure,
            target=sized.exposure,
            score=sized.score,
            regime=sized.regime,
            multiplier=sized.multiplier,
            vol_scale=sized.vol_scale,
            reason=f"{self.strategy.name}: {sized.reason}{note}",
            blocked=macro_block(risk.iloc[-1], self.feed.limits.max_age_days),
        )

    def _settled_risk(self, bars: pd.DataFrame, at: pd.Timestamp, now: pd.Timestamp) -> tuple[pd.DataFrame, str]:
        """Readings at the bar closes of the warm-up window (the bars' own closes included),
        and a note when the hysteresis memory has not settled even over 16 windows."""
        overlay, feed = self.overlay, self.feed
        assert overlay is not None and feed is not None  # only called when sizing by the overlay
        warmup = self.risk_warmup
        for _ in range(3):
            grid = pd.date_range(end=at, periods=max(math.ceil(warmup / self.step), 1), freq=self.step)
            risk = feed.readings(grid.union(bars.index + self.step), now=now)
            low, high = hysteresis_range(risk["score"].to_numpy(dtype="float64"), overlay.config.hysteresis)
            if low == high or (math.isnan(low) and math.isnan(high)):
                return risk, ""
            warmup *= 4
        days = (at - risk.index[0]) / pd.Timedelta(days=1)
        return risk, f"; hysteresis memory not settled over {days:.0f} days (sticky score {low:.1f} to {high:.1f})"
