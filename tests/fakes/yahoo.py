"""A local stand-in for Yahoo Finance's chart API, serving recorded ``v8/finance/chart`` JSON.

Recorded responses (``tests/recorded/chart_*.json``, cut from ../shared/data values) are
served for ``/v8/finance/chart/<ticker>`` filtered to the requested ``period1``/``period2``
(or the last bar for ``range=1d``, which yfinance uses to learn the exchange time zone).
The cookie (``fc.yahoo.com``) and crumb endpoints answer like Yahoo's. Point yfinance at it
with ``signals.sources.yahoo.yahoo_session(server.url)``.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

from tests.fakes.http_server import LocalServer, Reply

RECORDED = Path(__file__).resolve().parents[1] / "recorded"


def recorded_chart(ticker: str) -> dict:
    """The recorded chart response of ``ticker`` (file name without ``^``)."""
    return json.loads((RECORDED / f"chart_{ticker.replace('^', '')}.json").read_text())


class YahooServer(LocalServer):
    """Chart API on 127.0.0.1 for the tickers in ``charts`` (ticker -> chart JSON)."""

    def __init__(self, charts: dict[str, dict]) -> None:
        super().__init__()
        self.charts = charts

    def chart_requests(self, ticker: str) -> list[dict[str, str]]:
        return [r.query for r in self.requests_to(f"/v8/finance/chart/{ticker}")]

    def respond(self, path: str, query: dict[str, str]) -> Reply:
        if path == "/v1/test/getcrumb":
            return Reply.text("recorded-crumb", content_type="text/plain")
        if path.startswith("/v8/finance/chart/"):
            return self._chart(path.rsplit("/", 1)[-1], query)
        if path == "/":
            return Reply(200, b"ok", "text/plain", {"Set-Cookie": "A3=d=recorded; Path=/; Domain=127.0.0.1"})
        return Reply.text("<html><body>404</body></html>", status=404, content_type="text/html")

    def _chart(self, ticker: str, query: dict[str, str]) -> Reply:
        if ticker not in self.charts:
            return Reply.json(
                {
                    "chart": {
                        "result": None,
                        "error": {"code": "Not Found", "description": "No data found, symbol may be delisted"},
                    }
                },
                status=404,
            )
        data = copy.deepcopy(self.charts[ticker])
        result = data["chart"]["result"][0]
        stamps = result["timestamp"]
        if query.get("range") == "1d":
            keep = [len(stamps) - 1]
        else:
            start = int(query.get("period1", 0))
            end = int(query.get("period2", 2**62))
            keep = [i for i, t in enumerate(stamps) if start <= t < end]
        result["timestamp"] = [stamps[i] for i in keep]
        for block in result["indicators"]["quote"] + result["indicators"].get("adjclose", []):
            for key, values in block.items():
                block[key] = [values[i] for i in keep]
        if not keep:
            del result["timestamp"]
        return Reply.json(data)
