"""FRED series through the public CSV download (``fredgraph.csv?id=<ID>``, no API key).

Any series id works (DEXJPUS, DGS10, DGS2, IRSTCI01JPM156N, ...); the text is parsed by
``formats.parse_fred`` (headers ``DATE,<ID>``, ``observation_date,<ID>``, ``date,value``;
``.`` and blank as missing) and becomes the series ``fred/<ID>``.
"""

from __future__ import annotations

import os
import re
import urllib.parse
from collections.abc import Callable
from dataclasses import replace

from carryguard.signals.errors import DataError, SourceError
from carryguard.signals.sources.formats import Parsed, parse_fred
from carryguard.signals.sources.http import get_text
from carryguard.signals.sources.update import UpdateResult, store_update
from carryguard.signals.store import Store

DEFAULT_FRED_URL = "https://fred.stlouisfed.org/graph/fredgraph.csv"
FRED_SERIES = re.compile(r"^[A-Z0-9][A-Z0-9_]{1,39}$")


def fred_url(series: str, base_url: str | None = None) -> str:
    """The CSV download URL of ``series`` (base: argument, ``$CARRYGUARD_FRED_URL`` or FRED)."""
    base = base_url or os.environ.get("CARRYGUARD_FRED_URL") or DEFAULT_FRED_URL
    return f"{base}?{urllib.parse.urlencode({'id': series})}"


def download_fred(series: str, *, base_url: str | None = None, get: Callable[[str], str] = get_text) -> Parsed:
    """Download and parse one FRED series; nothing is stored here.

    ``ValueError`` for a malformed id; ``SourceError`` when the download fails;
    ``DataError`` when the CSV does not parse or holds another series.
    """
    if not FRED_SERIES.match(series):
        raise ValueError(f"FRED series id must be upper-case letters/digits like DGS10, got {series!r}")
    url = fred_url(series, base_url)
    text = get(url)
    if not text.strip():
        raise SourceError(f"{url}: empty response", fix="check the series id")
    parsed = parse_fred(text, url, fred_id=series)
    if parsed.meta.id != f"fred/{series}":
        raise DataError(f"{url}: holds series {parsed.meta.symbol}, not {series}", fix="check the FRED URL")
    if parsed.frame.empty:
        raise DataError(f"{url}: no observations for {series}", fix="check the series id on fred.stlouisfed.org")
    return replace(parsed, meta=replace(parsed.meta, origin=url))


def update_fred(
    store: Store, series: str, *, base_url: str | None = None, get: Callable[[str], str] = get_text
) -> UpdateResult:
    """Download ``series`` and merge it into ``fred/<series>`` with one write."""
    parsed = download_fred(series, base_url=base_url, get=get)
    return store_update(store, parsed.frame, parsed.meta)
