"""MOF JGB yields: the historical ``jgbcme_all.csv`` plus the current month's ``jgbcme.csv``.

MOF publishes the history up to the end of last month in one file and the current
month in another with the same layout; both are parsed by ``formats.parse_mof`` and
merged (the current-month file wins where dates overlap) into the series ``mof/jgb``.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import replace

import pandas as pd

from carryguard.signals.errors import DataError, SourceError
from carryguard.signals.sources.formats import Parsed, parse_mof
from carryguard.signals.sources.http import get_text
from carryguard.signals.sources.update import UpdateResult, store_update
from carryguard.signals.store import Store

DEFAULT_MOF_URL = "https://www.mof.go.jp/english/policy/jgbs/reference/interest_rate"
HISTORY_PATH = "historical/jgbcme_all.csv"
CURRENT_PATH = "jgbcme.csv"


def mof_base_url(base_url: str | None = None) -> str:
    """``base_url``, else ``$CARRYGUARD_MOF_URL``, else MOF's own site (no trailing slash)."""
    return (base_url or os.environ.get("CARRYGUARD_MOF_URL") or DEFAULT_MOF_URL).rstrip("/")


def merge_mof(history: pd.DataFrame, current: pd.DataFrame) -> pd.DataFrame:
    """History rows not in ``current``, then ``current`` (newer publication wins)."""
    current = current.reindex(columns=history.columns)
    merged = pd.concat([history[~history.index.isin(current.index)], current]).sort_index()
    return merged.dropna(how="all")


def download_mof(*, base_url: str | None = None, get: Callable[[str], str] = get_text) -> Parsed:
    """Download, parse and merge both MOF files; nothing is stored here.

    Raises ``SourceError`` when a file cannot be downloaded and ``DataError`` when one
    does not parse (the message names the URL).
    """
    base = mof_base_url(base_url)
    history_url, current_url = f"{base}/{HISTORY_PATH}", f"{base}/{CURRENT_PATH}"
    history = _parse(get(history_url), history_url)
    current = _parse(get(current_url), current_url)
    extra = [c for c in current.frame.columns if c not in history.frame.columns]
    if extra:
        raise DataError(f"{current_url}: tenors {extra} are not in {history_url}", fix="report the MOF layout change")
    frame = merge_mof(history.frame, current.frame)
    return Parsed(frame, replace(history.meta, origin=f"{history_url} + {current_url}"))


def _parse(text: str, url: str) -> Parsed:
    """One downloaded MOF file parsed; an empty body is a ``SourceError`` (not a bad file)."""
    if not text.strip():
        raise SourceError(f"{url}: empty response", fix="try again later")
    return parse_mof(text, url)


def update_mof(store: Store, *, base_url: str | None = None, get: Callable[[str], str] = get_text) -> UpdateResult:
    """Download both MOF files and merge them into ``mof/jgb`` with one write."""
    parsed = download_mof(base_url=base_url, get=get)
    return store_update(store, parsed.frame, parsed.meta)
