"""``carryguard data import DIR``: store every publisher CSV of a folder as a series.

Each file is all-or-nothing: it is parsed completely and ``Store.write`` validates the
series before anything is written, so a rejected file leaves the store as it was.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path

from carryguard.signals.errors import DataError
from carryguard.signals.sources.carry_formats import detect_more, more_layout, yahoo_fx_timed
from carryguard.signals.sources.file_names import name_tokens
from carryguard.signals.sources.formats import Parsed, detect_and_parse, header_cells, layout, ohlcv_parsed
from carryguard.signals.sources.ohlcv_csv import read_fast
from carryguard.signals.sources.overlap import snapshot_notes
from carryguard.signals.store import SeriesMeta, Store

HEAD_BYTES = 65536  # enough for a header line and the first row


@dataclass(frozen=True)
class FileOutcome:
    """What happened to one file: stored series, a rejection reason, or skipped."""

    path: Path
    stored: tuple[SeriesMeta, ...] = ()
    error: str = ""
    skipped: str = ""
    notes: tuple[str, ...] = field(default_factory=tuple)
    exception: DataError | None = field(default=None, compare=False, repr=False)  # behind ``error``, for --debug


def cannot_read(path: Path, exc: OSError) -> DataError:
    """An unreadable file, named with the reason."""
    reason = exc.strerror or type(exc).__name__
    return DataError(f"{path}: cannot read the file ({reason})", fix="check its permissions (chmod a+r)")


def read_text(path: Path) -> str:
    """The file's text: UTF-8 (BOM or not), else cp932 (MOF's Japanese files)."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise cannot_read(path, exc) from exc
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        try:
            return data.decode("cp932")
        except UnicodeDecodeError as exc:
            raise DataError(f"{path}: not a text file", fix="export it as UTF-8 CSV") from exc


def plain_ohlcv(path: Path) -> bool:
    """Whether the file's first lines send it to ``formats.parse_ohlcv`` as it is (no Yahoo
    ticker rows or column, no carry-trade format): then it can be read from disk by pyarrow."""
    try:
        with path.open("rb") as handle:
            head = handle.read(HEAD_BYTES).decode("utf-8-sig", errors="replace")
    except OSError as exc:
        raise cannot_read(path, exc) from exc
    first, second = header_cells(head)
    return more_layout(first, name_tokens(str(path))) in (None, "yahoo") and layout(first, second) == "ohlcv"


def parse_file(path: Path) -> Parsed | None:
    """Parse one file (None: no known format); the carry-trade inputs' formats first. A
    clean OHLCV export is read straight from disk (``ohlcv_csv.read_fast``): a 2M-row file
    never becomes one Python string."""
    name = str(path)
    fast = read_fast(path) if plain_ohlcv(path) else None
    if fast is not None:
        parsed: Parsed | None = ohlcv_parsed(fast.frame, fast.time_cells, fast.header, name, None)
    else:
        text = read_text(path)
        parsed = detect_more(text, name) or detect_and_parse(text, name)
    return yahoo_fx_timed(parsed) if parsed is not None else None


def import_file(
    store: Store, path: Path, *, now: datetime | None = None, allow_fewer_fields: bool = False
) -> FileOutcome:
    """Parse, validate and store one file; a ``DataError`` becomes the outcome's ``error``.

    Any other failure becomes an error naming the file too (an unexpected one says so):
    one bad file never stops the others of a folder."""
    fetched_at = (now or datetime.now(UTC)).isoformat(timespec="seconds")
    try:
        parsed = parse_file(path)
        if parsed is None:
            return FileOutcome(
                path, skipped="no known publisher format (MOF, FRED, Yahoo, Binance, CFTC, OHLCV, close table)"
            )
        meta = replace(parsed.meta, fetched_at=fetched_at)
        stored = store.write(parsed.frame, meta, allow_fewer_fields=allow_fewer_fields)
        return FileOutcome(path, stored=(stored,), notes=parsed.notes + snapshot_notes(stored))
    except DataError as exc:
        return FileOutcome(path, error=str(exc), exception=exc)
    except Exception as exc:  # a parser bug must not hide the other files' results
        detail = (str(exc).strip().splitlines() or [""])[0][:200]
        error = DataError(
            f"{path}: unexpected {type(exc).__name__} while reading it ({detail})",
            fix="check the file; if it looks right, report this with --debug output",
        )
        error.__cause__ = exc
        return FileOutcome(path, error=str(error), exception=error)


def import_directory(store: Store, folder: Path, *, allow_fewer_fields: bool = False) -> list[FileOutcome]:
    """Import every ``*.csv`` of ``folder`` and its subfolders (sorted by path); every file is tried."""
    if not folder.is_dir():
        raise DataError(f"{folder}: no such folder", fix="pass a folder of publisher CSV files")
    files = sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() == ".csv")
    if not files:
        raise DataError(f"{folder}: no .csv files", fix="pass the folder that holds the publisher CSV files")
    return [import_file(store, path, allow_fewer_fields=allow_fewer_fields) for path in files]
