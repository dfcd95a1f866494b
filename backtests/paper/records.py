"""The paper book's plain values: what identifies a book, what it holds, and what one bar decides.

The decider answers a ``Decision``; the loop turns it into a ``Step`` (with a ``Fill`` when
it trades); ``state.PaperState`` writes the step in one transaction and reads a ``Book``
back. They live apart from the SQLite code so the loop, the decider, the testnet order
sink and the tests share one vocabulary without reaching into the database module.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import asdict, dataclass
from typing import Any

import pandas as pd


@dataclass(frozen=True)
class BookSpec:
    """What identifies a paper book and must not change between restarts.

    strategy: book name, e.g. ``sma_cross+carry`` (strategy plus overlay).
    config: everything that shapes decisions and fills (strategy params, execution
        costs, overlay); a restart with a different config is refused.
    """

    strategy: str
    symbol: str
    exchange: str
    timeframe: str
    cash: float
    config: dict


@dataclass(frozen=True)
class Book:
    """A book's cash and position now, and the last bar decided (None before the first)."""

    cash: float
    position: float
    bar_time: pd.Timestamp | None


@dataclass(frozen=True)
class Decision:
    """What the decider wants at one bar close.

    target: final exposure in [0, 1]; blocked: non-empty means "do not trade" with the
    reason (stale or missing macro inputs), the rest is recorded for the audit trail.
    """

    strategy_exposure: float
    target: float
    score: float = math.nan
    regime: str = ""
    multiplier: float = 1.0
    vol_scale: float = 1.0
    reason: str = ""
    blocked: str = ""

    def readings(self) -> dict[str, Any]:
        """The fields each ``Step`` records for the audit trail (all but reason and blocked)."""
        return {k: v for k, v in asdict(self).items() if k not in ("reason", "blocked")}


@dataclass(frozen=True)
class Fill:
    """A simulated fill of the order decided at ``bar_time``, at the next bar's open."""

    fill_time: pd.Timestamp
    side: str
    qty: float
    price: float
    fee: float


@dataclass(frozen=True)
class Step:
    """Everything decided at one bar close, written atomically by ``PaperState.record_step``.

    cash/position are the book AFTER the fill (unchanged without one); the equity
    snapshot marks the book held during the bar (before the fill) at ``close``.
    """

    bar_time: pd.Timestamp
    decided_at: pd.Timestamp
    action: str
    reason: str
    close: float | None = None
    strategy_exposure: float | None = None
    score: float | None = None
    regime: str | None = None
    multiplier: float | None = None
    vol_scale: float | None = None
    target: float | None = None
    mark: tuple[float, float] | None = None  # (cash, position) held during the bar
    fill: Fill | None = None
    cash: float | None = None
    position: float | None = None
    order_status: str = "filled"


def client_order_id(strategy: str, symbol: str, bar_time: pd.Timestamp) -> str:
    """Deterministic order id (Binance allows 36 chars of ``[.A-Z:/a-z0-9_-]``): the same
    book and bar always give the same id, so a re-sent order can be recognised."""
    stamp = pd.Timestamp(bar_time).tz_convert("UTC")
    digest = hashlib.sha256(f"{strategy}|{symbol}|{stamp.isoformat()}".encode()).hexdigest()[:12]
    return f"cg-{digest}-{stamp.strftime('%Y%m%d%H%M')}"
