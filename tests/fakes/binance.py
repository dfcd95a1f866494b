"""A local Binance spot REST emulator for ccxt's real client (and the paper trader).

Serves ``/api/v3/exchangeInfo``, ``/api/v3/time`` and ``/api/v3/klines`` on 127.0.0.1
from DataFrames of real bars (index: UTC bar open times; columns open, high, low, close,
volume). Like the real exchange it answers only up to its clock ``now``: the bar open at
``now`` is returned still forming (close moved part of the way, volume pro rata), later
bars do not exist yet. ``now`` is settable (``set_now``) or driven by a ``clock``
callable, so a test can run an accelerated clock. Faults (429, 5xx, timeouts, malformed
bodies) are queued with ``fail_next``.

Point ccxt at it with ``exchange.urls['api'][name] = emulator.url + '/api/v3'`` for the
``public`` entry (``signals.sources.ccxt_source.make_exchange(..., api_url=emulator.url)``
does that for every entry).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pandas as pd

from tests.fakes.http_server import LocalServer, Reply

INTERVAL_MS = {
    "1m": 60_000,
    "3m": 180_000,
    "5m": 300_000,
    "15m": 900_000,
    "30m": 1_800_000,
    "1h": 3_600_000,
    "2h": 7_200_000,
    "4h": 14_400_000,
    "6h": 21_600_000,
    "8h": 28_800_000,
    "12h": 43_200_000,
    "1d": 86_400_000,
    "3d": 259_200_000,
    "1w": 604_800_000,
}


def read_bars(path: str | Path) -> pd.DataFrame:
    """A ``timestamp,open,high,low,close,volume`` file (Binance export) as a bar frame."""
    raw = pd.read_csv(path)
    index = pd.DatetimeIndex(pd.to_datetime(raw["timestamp"], utc=True), name="time").as_unit("ms")
    return pd.DataFrame(
        raw[["open", "high", "low", "close", "volume"]].to_numpy(float),
        index=index,
        columns=["open", "high", "low", "close", "volume"],
    )


def num(value: float) -> str:
    """A price as the exchange sends it: a decimal string."""
    return repr(float(value))


def millis(ts: pd.Timestamp) -> int:
    return int(pd.Timestamp(ts).value // 1_000_000)


def select_bars(
    frame: pd.DataFrame,
    interval_ms: int,
    *,
    now_ms: int,
    start: int | None,
    end: int | None,
    limit: int,
    newest_first: bool = False,
) -> list[tuple[int, float, float, float, float, float, bool]]:
    """Bars opened in ``[start, end]`` and by ``now`` (Binance paging: the first ``limit``
    from ``start``, else the last ``limit``). Each row: open ms, o, h, l, c, v, is_open;
    the bar open at ``now`` is made partial."""
    opens = frame.index.as_unit("ms").asi8
    mask = opens <= now_ms
    if start is not None:
        mask &= opens >= start
    if end is not None:
        mask &= opens <= end
    rows = frame[mask]
    rows = rows.iloc[:limit] if start is not None and not newest_first else rows.iloc[-limit:]
    out = []
    for ts, (o, h, lo, c, v) in zip(rows.index.as_unit("ms").asi8, rows.to_numpy(), strict=False):
        is_open = ts + interval_ms > now_ms
        if is_open:
            done = (now_ms - ts) / interval_ms
            c = o + (c - o) * done
            h, lo, v = max(o, c), min(o, c), v * done
        out.append((int(ts), o, h, lo, c, v, is_open))
    return out[::-1] if newest_first else out


def clock_or_info(prefix: str, path: str, now_ms: int, symbols: list[dict[str, object]], **info: object) -> Reply:
    """Binance's ``<prefix>/time`` and ``<prefix>/exchangeInfo`` answers (spot ``/api/v3`` and
    USD-M ``/fapi/v1`` share them; ``info`` adds keys of one API), else unknown endpoint."""
    if path == f"{prefix}/time":
        return Reply.json({"serverTime": now_ms})
    if path == f"{prefix}/exchangeInfo":
        frame = {"timezone": "UTC", "serverTime": now_ms, "rateLimits": [], "exchangeFilters": []}
        return Reply.json({**frame, **info, "symbols": symbols})
    return Reply.json({"code": -1, "msg": f"unknown endpoint {path}"}, status=404)


class BinanceEmulator(LocalServer):
    """Binance spot public REST on 127.0.0.1; ``klines`` maps (``BTCUSDT``, ``1d``) to bars."""

    max_limit = 1000
    default_limit = 500

    def __init__(
        self,
        klines: dict[tuple[str, str], pd.DataFrame],
        *,
        now: pd.Timestamp | None = None,
        clock: Callable[[], pd.Timestamp] | None = None,
        symbols: tuple[str, ...] = ("BTCUSDT", "ETHUSDT"),
    ) -> None:
        super().__init__()
        self.klines = klines
        self.symbols = tuple(dict.fromkeys([*symbols, *(s for s, _ in klines)]))
        self._now = pd.Timestamp(now) if now is not None else None
        self.clock = clock

    @property
    def now(self) -> pd.Timestamp:
        """Server time: the clock's reading, the set time, else just after the last bar."""
        if self.clock is not None:
            return pd.Timestamp(self.clock())
        if self._now is not None:
            return self._now
        return max(f.index[-1] + pd.Timedelta(milliseconds=INTERVAL_MS[tf]) for (_, tf), f in self.klines.items())

    def set_now(self, now: pd.Timestamp) -> None:
        self._now = pd.Timestamp(now)

    def kline_requests(self) -> list[dict[str, str]]:
        return [r.query for r in self.requests_to("/api/v3/klines")]

    def respond(self, path: str, query: dict[str, str]) -> Reply:
        now_ms = millis(self.now)
        if path == "/api/v3/ping":
            return Reply.json({})
        if path == "/api/v3/klines":
            return self._klines(query, now_ms)
        return clock_or_info("/api/v3", path, now_ms, [self._symbol_info(s) for s in self.symbols])

    def _klines(self, query: dict[str, str], now_ms: int) -> Reply:
        symbol, interval = query.get("symbol", ""), query.get("interval", "")
        if symbol not in self.symbols:
            return Reply.json({"code": -1121, "msg": "Invalid symbol."}, status=400)
        if interval not in INTERVAL_MS:
            return Reply.json({"code": -1120, "msg": "Invalid interval."}, status=400)
        limit = int(query.get("limit", self.default_limit))
        if not 1 <= limit <= self.max_limit:
            return Reply.json({"code": -1130, "msg": "Invalid limit."}, status=400)
        frame = self.klines.get((symbol, interval))
        if frame is None:
            return Reply.json([])
        start = int(query["startTime"]) if "startTime" in query else None
        end = int(query["endTime"]) if "endTime" in query else None
        step = INTERVAL_MS[interval]
        rows = select_bars(frame, step, now_ms=now_ms, start=start, end=end, limit=limit)
        return Reply.json(
            [
                [
                    t,
                    num(o),
                    num(h),
                    num(lo),
                    num(c),
                    num(v),
                    t + step - 1,
                    num(v * c),
                    100,
                    num(v / 2),
                    num(v * c / 2),
                    "0",
                ]
                for t, o, h, lo, c, v, _ in rows
            ]
        )

    @staticmethod
    def _symbol_info(symbol: str) -> dict[str, object]:
        quote = next(q for q in ("USDT", "BTC", "USD") if symbol.endswith(q))
        return {
            "symbol": symbol,
            "status": "TRADING",
            "baseAsset": symbol[: -len(quote)],
            "baseAssetPrecision": 8,
            "quoteAsset": quote,
            "quotePrecision": 8,
            "quoteAssetPrecision": 8,
            "baseCommissionPrecision": 8,
            "quoteCommissionPrecision": 8,
            "orderTypes": ["LIMIT", "MARKET"],
            "icebergAllowed": True,
            "ocoAllowed": True,
            "isSpotTradingAllowed": True,
            "isMarginTradingAllowed": False,
            "permissions": ["SPOT"],
            "permissionSets": [["SPOT"]],
            "filters": [
                {
                    "filterType": "PRICE_FILTER",
                    "minPrice": "0.01000000",
                    "maxPrice": "1000000.00000000",
                    "tickSize": "0.01000000",
                },
                {"filterType": "LOT_SIZE", "minQty": "0.00001000", "maxQty": "9000.00000000", "stepSize": "0.00001000"},
            ],
        }
