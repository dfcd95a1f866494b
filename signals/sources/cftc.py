"""CFTC Commitments of Traders (legacy, futures only) through the public Socrata API.

Dataset ``6dca-aqww`` at ``publicreporting.cftc.gov``, filtered on the contract market
code (``097741``: CME Japanese yen), as JSON pages of ``PAGE`` rows ordered by report
date. The series ``cftc/<CCY>`` holds ``spec_long, spec_short, open_interest`` (the
non-commercial long/short positions and the open interest) and ``net`` computed here;
its rule ``cot_release`` gives the publication time (``signals.availability``). A stored
series continues from its last report date. ``$CARRYGUARD_CFTC_URL`` (or ``base_url``)
replaces the host, e.g. ``http://127.0.0.1:8080``.
"""

from __future__ import annotations

import json
import os
import urllib.parse
from collections.abc import Callable

import numpy as np
import pandas as pd

from carryguard.signals.errors import DataError, SourceError
from carryguard.signals.sources.carry_formats import COT_CONTRACTS, cot_frame, cot_meta
from carryguard.signals.sources.http import get_text
from carryguard.signals.sources.update import UpdateResult, resume_start, store_update
from carryguard.signals.store import Store

DEFAULT_CFTC_URL = "https://publicreporting.cftc.gov"
DATASET = "6dca-aqww"  # Legacy COT, futures only
DATE_FIELD = "report_date_as_yyyy_mm_dd"
FIELDS = (DATE_FIELD, "noncomm_positions_long_all", "noncomm_positions_short_all", "open_interest_all")
PAGE = 5000


def cftc_url(code: str, *, since: pd.Timestamp | None, offset: int, base_url: str | None = None) -> str:
    """One page of the Socrata query for contract ``code`` from report date ``since`` on."""
    base = (base_url or os.environ.get("CARRYGUARD_CFTC_URL") or DEFAULT_CFTC_URL).rstrip("/")
    where = f"cftc_contract_market_code='{code}'"
    if since is not None:
        where += f" AND {DATE_FIELD} >= '{since:%Y-%m-%dT00:00:00}'"
    query = {
        "$select": ",".join(FIELDS),
        "$where": where,
        "$order": f"{DATE_FIELD} ASC",
        "$limit": str(PAGE),
        "$offset": str(offset),
    }
    return f"{base}/resource/{DATASET}.json?{urllib.parse.urlencode(query)}"


def parse_page(text: str, url: str) -> list[dict]:
    """A Socrata JSON page: a list of records holding every field of ``FIELDS``."""
    try:
        records = json.loads(text)
    except json.JSONDecodeError as exc:
        raise SourceError(f"{url}: not JSON ({exc.msg} at char {exc.pos})", fix="try again later") from exc
    if isinstance(records, dict):  # Socrata's error object: {"error": true, "message": ...}
        raise SourceError(f"{url}: {records.get('message', records)}", fix="check the dataset id and the query")
    if not isinstance(records, list):
        raise SourceError(f"{url}: expected a JSON list of records", fix="check the URL")
    for number, record in enumerate(records):
        missing = [f for f in FIELDS if not isinstance(record, dict) or record.get(f) in (None, "")]
        if missing:
            raise DataError(f"{url}: record {number} lacks {', '.join(missing)}", fix="report the CFTC response")
    return records


def records_frame(records: list[dict], url: str) -> pd.DataFrame:
    """Socrata records -> the ``cftc/<CCY>`` frame (report dates at 00:00 UTC)."""
    dates = pd.to_datetime([r[DATE_FIELD][:10] for r in records], format="%Y-%m-%d", errors="coerce", utc=True)
    if dates.isna().any():
        raise DataError(f"{url}: unreadable {DATE_FIELD} {records[int(np.argmax(dates.isna()))][DATE_FIELD]!r}")
    try:
        values = np.array([[float(r[f]) for f in FIELDS[1:]] for r in records], dtype="float64").reshape(-1, 3)
    except ValueError as exc:
        raise DataError(f"{url}: non-numeric position ({exc})", fix="report the CFTC response") from exc
    index = pd.DatetimeIndex(dates, name="time").as_unit("ns")
    return cot_frame(index, values[:, 0], values[:, 1], values[:, 2])


def download_cot(
    code: str = "097741",
    *,
    since: pd.Timestamp | None = None,
    base_url: str | None = None,
    get: Callable[[str], str] = get_text,
) -> pd.DataFrame:
    """Every weekly report of contract ``code`` from ``since`` (all history when None)."""
    records: list[dict] = []
    while True:
        url = cftc_url(code, since=since, offset=len(records), base_url=base_url)
        page = parse_page(get(url), url)
        records += page
        if len(page) < PAGE:
            break
    frame = records_frame(records, url)
    return frame[~frame.index.duplicated(keep="last")]


def update_cot(
    store: Store,
    code: str = "097741",
    *,
    base_url: str | None = None,
    get: Callable[[str], str] = get_text,
) -> UpdateResult:
    """Fetch new reports of ``code`` into ``cftc/<CCY>`` (one write, from the last stored report)."""
    if code not in COT_CONTRACTS:
        raise ValueError(f"unknown CFTC contract market code {code!r}; known: {', '.join(COT_CONTRACTS)}")
    meta = cot_meta(COT_CONTRACTS[code], cftc_url(code, since=None, offset=0, base_url=base_url).split("?")[0])
    since = resume_start(store, meta.id, None)
    frame = download_cot(code, since=since, base_url=base_url, get=get)
    return store_update(store, frame, meta)
