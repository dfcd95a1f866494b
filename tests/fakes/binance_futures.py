"""A local Binance USD-M futures REST emulator for ccxt's real ``binanceusdm`` client.

Serves ``/fapi/v1/exchangeInfo``, ``/fapi/v1/time`` and ``/fapi/v1/fundingRate`` on
127.0.0.1 from a Series of funding rates (index: UTC funding times, possibly a few ms
late as Binance stamps them). Like the exchange it answers only up to its clock ``now``
and at most ``limit`` (<= 1000) rows from ``startTime``; faults are queued with
``fail_next``. Point ccxt at it with ``make_exchange('binanceusdm', api_url=emulator.url)``.
"""

from __future__ import annotations

import pandas as pd

from tests.fakes.binance import clock_or_info, millis
from tests.fakes.http_server import LocalServer, Reply


class BinanceFuturesEmulator(LocalServer):
    """Binance USD-M public REST: perpetual markets and their funding history."""

    max_limit = 1000
    default_limit = 100

    def __init__(self, funding: dict[str, pd.Series], *, now: pd.Timestamp) -> None:
        super().__init__()
        self.funding = funding
        self.now = pd.Timestamp(now)

    def funding_requests(self) -> list[dict[str, str]]:
        return [r.query for r in self.requests_to("/fapi/v1/fundingRate")]

    def respond(self, path: str, query: dict[str, str]) -> Reply:
        now_ms = millis(self.now)
        if path == "/fapi/v1/fundingRate":
            return self._funding(query, now_ms)
        return clock_or_info("/fapi/v1", path, now_ms, [self._symbol_info(s) for s in self.funding], assets=[])

    def _funding(self, query: dict[str, str], now_ms: int) -> Reply:
        symbol = query.get("symbol", "")
        if symbol not in self.funding:
            return Reply.json({"code": -1121, "msg": "Invalid symbol."}, status=400)
        limit = int(query.get("limit", self.default_limit))
        if not 1 <= limit <= self.max_limit:
            return Reply.json({"code": -1130, "msg": "Invalid limit."}, status=400)
        rates = self.funding[symbol]
        times = rates.index.as_unit("ms").asi8
        mask = times <= now_ms
        if "startTime" in query:
            mask &= times >= int(query["startTime"])
        if "endTime" in query:
            mask &= times <= int(query["endTime"])
        rows = rates[mask]
        rows = rows.iloc[:limit] if "startTime" in query else rows.iloc[-limit:]
        return Reply.json(
            [
                {"symbol": symbol, "fundingTime": int(t), "fundingRate": f"{r:.8f}", "markPrice": "50000.00000000"}
                for t, r in zip(rows.index.as_unit("ms").asi8, rows.to_numpy(), strict=True)
            ]
        )

    @staticmethod
    def _symbol_info(symbol: str) -> dict[str, object]:
        return {
            "symbol": symbol,
            "pair": symbol,
            "contractType": "PERPETUAL",
            "deliveryDate": 4133404800000,
            "onboardDate": 1569398400000,
            "status": "TRADING",
            "maintMarginPercent": "2.5000",
            "requiredMarginPercent": "5.0000",
            "baseAsset": symbol[:-4],
            "quoteAsset": "USDT",
            "marginAsset": "USDT",
            "pricePrecision": 2,
            "quantityPrecision": 3,
            "baseAssetPrecision": 8,
            "quotePrecision": 8,
            "underlyingType": "COIN",
            "underlyingSubType": [],
            "triggerProtect": "0.0500",
            "liquidationFee": "0.012500",
            "marketTakeBound": "0.05",
            "filters": [
                {"filterType": "PRICE_FILTER", "minPrice": "0.10", "maxPrice": "4529764", "tickSize": "0.10"},
                {"filterType": "LOT_SIZE", "minQty": "0.001", "maxQty": "1000", "stepSize": "0.001"},
            ],
            "orderTypes": ["LIMIT", "MARKET"],
            "timeInForce": ["GTC"],
        }
