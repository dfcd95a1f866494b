"""The run-folder format, in one place: file names, columns, data fingerprints, checksums.

``write`` (the writer of backtest folders), ``folder`` (their reader) and the sweep's
``output`` all take their names from here. See README "Results layout".
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from carryguard.signals.errors import DataError

if TYPE_CHECKING:
    from carryguard.signals.store import SeriesMeta

MANIFEST = "manifest.json"
METRICS = "metrics.json"
BOOK_COLUMNS = ("strategy", "symbol", "timeframe", "overlay")
EQUITY_COLUMNS = ("equity", "cash", "position")
EXPOSURE_COLUMNS = ("strategy_exposure", "risk_score", "multiplier", "vol_scale", "final_exposure")
PRICE_COLUMNS = ("open", "high", "low", "close")
TRADE_COLUMNS = ("entry_price", "exit_price", "qty", "pnl", "return_pct", "fees")
RISK_COLUMNS = ("score", "regime")
# The tables of a backtest folder; the bulky per-bar ones are written as parquet, the
# others (and all of them on request) as CSV. Folders written before parquet hold CSVs only.
TABLES = ("equity", "exposure", "fills", "trades", "prices", "risk")
PARQUET_TABLES = ("equity", "exposure", "prices")
CHECKSUMS = "checksums"  # the manifest key: {file name: sha256 hex} of every other file
REWRITE = "rerun `carryguard backtest` to rewrite the run folder"


def table_file(root: Path, name: str) -> Path:
    """The file of table ``name`` in the folder at ``root``: ``<name>.parquet`` if there,
    else ``<name>.csv`` (folders written before parquet, or on request)."""
    parquet = root / f"{name}.parquet"
    return parquet if parquet.is_file() else root / f"{name}.csv"


def fingerprint(meta: SeriesMeta) -> dict[str, object]:
    """What a manifest records of one input series: content hash, first, last, rows, origin."""
    return {
        "content_hash": meta.content_hash,
        "first": meta.first,
        "last": meta.last,
        "rows": meta.rows,
        "origin": meta.origin,
    }


def fingerprints(metas: Mapping[str, SeriesMeta]) -> dict[str, dict[str, object]]:
    """``fingerprint`` of each series, by series id, in the given order."""
    return {sid: fingerprint(meta) for sid, meta in metas.items()}


def sha256_file(path: Path) -> str:
    """sha256 hex digest of a file's bytes."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def checksums(root: Path, names: Iterable[str]) -> dict[str, str]:
    """``{name: sha256}`` of the files ``names`` in ``root``, sorted by name."""
    return {name: sha256_file(root / name) for name in sorted(names)}


def verify_checksums(root: Path, manifest: Mapping[str, object]) -> None:
    """Raise ``DataError`` naming the first file of ``root`` whose bytes differ from the
    manifest's checksum (or that is missing). A manifest without checksums (a folder
    written before they existed) is not checked."""
    expected = manifest.get(CHECKSUMS)
    if expected is None:
        return
    if not isinstance(expected, dict):
        raise DataError(f"{root / MANIFEST}: {CHECKSUMS} is not a mapping of file to sha256", fix=REWRITE)
    for name, digest in expected.items():
        path = root / str(name)
        if not path.is_file():
            raise DataError(f"{path}: missing (listed in {MANIFEST})", fix=REWRITE)
        if sha256_file(path) != digest:
            raise DataError(
                f"{path}: damaged or changed since the run was written (sha256 differs from {MANIFEST})",
                fix=f"restore the file from a copy, or {REWRITE}",
            )
