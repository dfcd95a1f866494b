"""A local Bybit v5 spot REST emulator (the second exchange ccxt's real client is tested on).

Serves ``/v5/market/instruments-info`` (spot), ``/v5/market/time`` and
``/v5/market/kline`` from bar frames, with Bybit's envelope (``retCode``/``result``),
newest-first kline lists and ``start``/``end``/``limit`` paging (the newest ``limit``
bars of the window). Clock and faults work as in ``BinanceEmulator``.
"""

from __future__ import annotations

from tests.fakes.binance import INTERVAL_MS, BinanceEmulator, millis, num, select_bars
from tests.fakes.http_server import Reply

INTERVALS = {"1": "1m", "5": "5m", "15": "15m", "60": "1h", "240": "4h", "D": "1d", "W": "1w"}


class BybitEmulator(BinanceEmulator):
    """Bybit spot public REST on 127.0.0.1; ``klines`` maps (``BTCUSDT``, ``1d``) to bars."""

    max_limit = 1000
    default_limit = 200

    def respond(self, path: str, query: dict[str, str]) -> Reply:
        now_ms = millis(self.now)
        if path == "/v5/market/time":
            return self._ok({"timeSecond": str(now_ms // 1000), "timeNano": str(now_ms * 1_000_000)}, now_ms)
        if path == "/v5/market/instruments-info":
            if query.get("category") != "spot":
                return self._ok({"category": query.get("category", ""), "list": []}, now_ms)
            return self._ok({"category": "spot", "list": [self._instrument(s) for s in self.symbols]}, now_ms)
        if path == "/v5/market/kline":
            return self._kline(query, now_ms)
        return Reply.json({"retCode": 10404, "retMsg": f"unknown path {path}", "result": {}}, status=404)

    def kline_requests(self) -> list[dict[str, str]]:
        return [r.query for r in self.requests_to("/v5/market/kline")]

    def _kline(self, query: dict[str, str], now_ms: int) -> Reply:
        symbol, interval = query.get("symbol", ""), INTERVALS.get(query.get("interval", ""))
        if symbol not in self.symbols:
            return self._error(10001, "Not supported symbols", now_ms)
        if interval is None:
            return self._error(10001, "Invalid period!", now_ms)
        limit = int(query.get("limit", self.default_limit))
        if not 1 <= limit <= self.max_limit:
            return self._error(10001, "Invalid limit", now_ms)
        frame = self.klines.get((symbol, interval))
        start = int(query["start"]) if "start" in query else None
        end = int(query["end"]) if "end" in query else None
        step = INTERVAL_MS[interval]
        rows = (
            []
            if frame is None
            else select_bars(frame, step, now_ms=now_ms, start=start, end=end, limit=limit, newest_first=True)
        )
        listing = [[str(t), num(o), num(h), num(lo), num(c), num(v), num(v * c)] for t, o, h, lo, c, v, _ in rows]
        return self._ok({"symbol": symbol, "category": "spot", "list": listing}, now_ms)

    @staticmethod
    def _ok(result: dict[str, object], now_ms: int) -> Reply:
        return Reply.json({"retCode": 0, "retMsg": "OK", "result": result, "retExtInfo": {}, "time": now_ms})

    @staticmethod
    def _error(code: int, message: str, now_ms: int) -> Reply:
        return Reply.json({"retCode": code, "retMsg": message, "result": {}, "retExtInfo": {}, "time": now_ms})

    @staticmethod
    def _instrument(symbol: str) -> dict[str, object]:
        base, quote = symbol[:-4], symbol[-4:]
        return {
            "symbol": symbol,
            "baseCoin": base,
            "quoteCoin": quote,
            "innovation": "0",
            "status": "Trading",
            "marginTrading": "none",
            "stTag": "0",
            "lotSizeFilter": {
                "basePrecision": "0.000001",
                "quotePrecision": "0.00000001",
                "minOrderQty": "0.000048",
                "maxOrderQty": "71.73956243",
                "minOrderAmt": "1",
                "maxOrderAmt": "2000000",
            },
            "priceFilter": {"tickSize": "0.01"},
            "riskParameters": {"limitParameter": "0.05", "marketParameter": "0.05"},
        }
