"""A local stand-in for the CFTC's Socrata API (``/resource/6dca-aqww.json``).

Holds records like the real dataset's (``report_date_as_yyyy_mm_dd`` as
``2024-08-13T00:00:00.000``, numbers as strings, a contract code per record) and answers
the subset of SoQL that ``signals.sources.cftc`` sends: ``$where`` with the contract code
and an optional ``report_date >= '...'``, ``$order`` ascending by date, ``$limit`` and
``$offset``. An unsupported query gets Socrata's error object with status 400, so a test
fails when the client's query drifts. Faults are queued with ``fail_next``.
"""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

from tests.fakes.http_server import LocalServer, Reply

PATH = "/resource/6dca-aqww.json"
WHERE = re.compile(
    r"^cftc_contract_market_code='(?P<code>\d{6})'"
    r"(?: AND report_date_as_yyyy_mm_dd >= '(?P<since>\d{4}-\d{2}-\d{2})T00:00:00')?$"
)


def records_from_file(path: Path, code: str = "097741") -> list[dict[str, str]]:
    """The shared ``cftc_cot_jpy_weekly.csv`` as Socrata records of contract ``code``."""
    frame = pd.read_csv(path)
    return [
        {
            "report_date_as_yyyy_mm_dd": f"{row.report_date}T00:00:00.000",
            "cftc_contract_market_code": code,
            "noncomm_positions_long_all": str(row.spec_long),
            "noncomm_positions_short_all": str(row.spec_short),
            "open_interest_all": str(row.open_interest),
        }
        for row in frame.itertuples()
    ]


class SocrataServer(LocalServer):
    """The COT dataset on 127.0.0.1; ``records`` may mix contracts."""

    def __init__(self, records: list[dict[str, str]]) -> None:
        super().__init__()
        self.records = records

    def queries(self) -> list[dict[str, str]]:
        return [r.query for r in self.requests_to(PATH)]

    def respond(self, path: str, query: dict[str, str]) -> Reply:
        if path != PATH:
            return Reply.json({"error": True, "message": f"Not found: {path}"}, status=404)
        match = WHERE.match(query.get("$where", ""))
        if match is None or query.get("$order") != "report_date_as_yyyy_mm_dd ASC":
            return Reply.json({"error": True, "message": "query.soql.unsupported-in-fake"}, status=400)
        rows = [r for r in self.records if r["cftc_contract_market_code"] == match["code"]]
        if match["since"]:
            rows = [r for r in rows if r["report_date_as_yyyy_mm_dd"][:10] >= match["since"]]
        rows.sort(key=lambda r: r["report_date_as_yyyy_mm_dd"])
        offset, limit = int(query.get("$offset", 0)), int(query.get("$limit", 1000))
        fields = query.get("$select", "").split(",")
        return Reply.json([{f: r[f] for f in fields if f in r} for r in rows[offset : offset + limit]])
