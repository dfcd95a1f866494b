"""The local store: one parquet file per series, metadata embedded in the file.

Layout: ``<data_dir>/<series id>.parquet`` where a series id reads
``<source>/<symbol>/<timeframe>`` (``binance/BTC-USDT/1d``) or ``<publisher>/<name>``
(``mof/jgb``, ``fred/DEXJPUS``). Metadata lives in the parquet schema, so data and
metadata are replaced together by one atomic rename: a crash or a rejected write leaves
the previous version intact. Writes of one series are serialised by an OS lock on a
file beside it (``.<name>.parquet.lock``; the kernel releases it when the holder dies,
even by kill -9) and merge against the series as it is on disk under that lock.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import json
import os
import tempfile
from collections.abc import Iterator
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd
import platformdirs
import pyarrow as pa
import pyarrow.parquet as pq

from carryguard.signals.availability import RULES, timeframe_delta
from carryguard.signals.errors import DataError
from carryguard.signals.frames import check_bar_range, check_time, find_gaps, fx_spikes, normalise
from carryguard.signals.series_file import META_KEY, read_frame, write_parquet


def series_id(source: str, symbol: str, timeframe: str | None = None) -> str:
    """``('binance', 'BTC/USDT', '1d')`` -> ``'binance/BTC-USDT/1d'``."""
    parts = [source, symbol.replace("/", "-")] + ([timeframe] if timeframe else [])
    return "/".join(parts)


@dataclass(frozen=True)
class SeriesMeta:
    """What is known about a stored series besides its values."""

    id: str
    kind: str  # ohlcv | macro | prices (see signals.frames.KINDS)
    source: str  # where it came from: ccxt, yfinance, mof, fred (downloads); binance, yahoo, bitstamp, file (imports)
    publisher: str  # who publishes the numbers: Binance, Ministry of Finance Japan, ...
    symbol: str
    fields: tuple[str, ...]
    units: str
    frequency: str  # 1d, 4h, business-daily, monthly
    availability: str  # a rule of signals.availability
    timeframe: str | None = None  # bar length for OHLCV series
    first: str = ""
    last: str = ""
    rows: int = 0
    gaps: tuple[dict, ...] = ()  # set by Store.write from the stored series
    flags: tuple[dict, ...] = ()  # quality flags; for FX bars set by Store.write (see series_flags)
    fetched_at: str = ""
    content_hash: str = ""
    origin: str = ""  # file name or URL the data came from

    def __post_init__(self) -> None:
        if self.availability not in RULES:
            raise ValueError(f"availability must be one of {RULES}, got {self.availability!r}")

    def to_json(self) -> str:
        """The metadata as the JSON text stored in the parquet schema (sorted keys)."""
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> SeriesMeta:
        """Metadata from ``to_json`` text (lists back to tuples)."""
        data = json.loads(text)
        data["fields"] = tuple(data["fields"])
        data["gaps"] = tuple(data.get("gaps", ()))
        data["flags"] = tuple(data.get("flags", ()))
        meta = cls(**data)
        yahoo_fx = meta.source in ("yahoo", "yfinance") and meta.symbol.endswith("=X") and meta.timeframe == "1d"
        if yahoo_fx and meta.availability != "fx_snapshot":  # stored before the FX timing was established
            raise ValueError("Yahoo daily FX bars now follow rule fx_snapshot; this file predates it: re-import it")
        return meta


def default_data_dir() -> Path:
    """``$CARRYGUARD_DATA_DIR`` or the per-user cache directory."""
    env = os.environ.get("CARRYGUARD_DATA_DIR")
    return Path(env) if env else Path(platformdirs.user_cache_dir("carryguard")) / "data"


HASH_ROWS = 65536  # rows hashed at a time: a large series is never copied whole


def content_hash(frame: pd.DataFrame) -> str:
    """sha256 of the index and values (row by row): equal data gives equal hashes,
    whatever the file."""
    digest = hashlib.sha256()
    digest.update(",".join(frame.columns).encode())
    digest.update(np.ascontiguousarray(frame.index.asi8).data)
    for start in range(0, len(frame), HASH_ROWS):
        digest.update(np.ascontiguousarray(frame.iloc[start : start + HASH_ROWS].to_numpy(dtype="float64")).data)
    return digest.hexdigest()


def expected_step(meta: SeriesMeta) -> pd.Timedelta | None:
    """The bar spacing gaps are measured against (None for business-day/monthly data)."""
    return timeframe_delta(meta.timeframe) if meta.timeframe else None


SNAPSHOT_FLAG = "close_equals_open"
SNAPSHOT_SHARE = 0.5  # "most rows" of a calendar year
SNAPSHOT_MIN_ROWS = 50


def snapshot_flags(frame: pd.DataFrame, meta: SeriesMeta) -> tuple[dict, ...]:
    """Daily OHLCV bars whose close equals their open on most rows of a calendar year (at
    least ``SNAPSHOT_MIN_ROWS`` rows): the "close" is a snapshot, not a close (Yahoo FX
    2022-2025). One flag per such year, stamped with its first row."""
    if meta.kind != "ohlcv" or meta.timeframe != "1d" or frame.empty:
        return ()
    same = (frame["close"] == frame["open"]).groupby(frame.index.year)
    flags = []
    for year, rows in same:
        if len(rows) >= SNAPSHOT_MIN_ROWS and rows.mean() > SNAPSHOT_SHARE:
            text = f"close equals open on {rows.mean():.0%} of {year}'s {len(rows)} rows: a snapshot, not a close"
            flags.append({"time": rows.index[0].isoformat(), "flag": text, "kind": SNAPSHOT_FLAG})
    return tuple(flags)


def series_flags(frame: pd.DataFrame, meta: SeriesMeta) -> tuple[dict, ...]:
    """Quality flags of a whole stored series: for FX bars (``JPY=X``) the one-day spikes
    that revert (Yahoo quirk), found over the merged series so a spike on the seam of an
    update is seen; other series keep the flags they came with."""
    snapshots = snapshot_flags(frame, meta)
    if meta.kind != "ohlcv" or not meta.symbol.endswith("=X"):
        return tuple(f for f in meta.flags if f.get("kind") != SNAPSHOT_FLAG) + snapshots
    spikes = tuple({"time": ts.isoformat(), "flag": "one-day spike that reverts"} for ts in fx_spikes(frame["close"]))
    return spikes + snapshots


def unreadable(path: Path, exc: BaseException) -> DataError:
    """A damaged series file (truncated copy, foreign file): name it and the way out. A
    file this account may not read is not damaged: say so instead."""
    if isinstance(exc, PermissionError) or not os.access(path, os.R_OK):
        return DataError(
            f"{path}: permission denied (the file belongs to another account or is not readable)",
            fix="ask its owner to make it readable (chmod a+r), or use your own --data-dir",
        )
    detail = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    return DataError(f"{path}: damaged series file ({detail})", fix="delete it and import or fetch the series again")


def unwritable(path: Path, exc: OSError) -> DataError:
    """A store this account cannot write (read-only folder or disk, full disk)."""
    reason = exc.strerror or str(exc) or type(exc).__name__
    return DataError(
        f"{path}: cannot write to the store ({reason})",
        fix="make the folder writable or pass another --data-dir (or $CARRYGUARD_DATA_DIR)",
    )


def file_mode() -> int:
    """The mode a newly created file gets from the process umask (0644 under umask 022):
    ``mkstemp`` would create 0600 files other accounts sharing a store cannot read."""
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


def positions(index: pd.DatetimeIndex, within: pd.DatetimeIndex) -> tuple[np.ndarray, np.ndarray]:
    """Which rows of ``index`` are in ``within`` (a mask) and where (their positions in
    ``within``); both sorted and unique, matched by binary search, not a hash table."""
    keys, sorted_keys = index.asi8, within.asi8
    where = np.searchsorted(sorted_keys, keys)
    found = where < len(sorted_keys)
    found[found] = sorted_keys[where[found]] == keys[found]
    return found, where[found]


def merge_fields(old: pd.DataFrame, new: pd.DataFrame, meta: SeriesMeta, *, allow_fewer_fields: bool) -> pd.DataFrame:
    """``new`` merged into ``old`` (new rows win; both sorted, unique). A field the stored
    series has and ``new`` lacks (a renamed or dropped MOF tenor) is an error unless
    ``allow_fewer_fields``; then those cells of the new rows are empty. New fields are
    added after the stored ones."""
    name = meta.origin or meta.id
    lacking = [c for c in old.columns if c not in new.columns]
    if lacking and (meta.kind == "ohlcv" or not allow_fewer_fields):
        raise DataError(
            f"{name}: lacks field(s) {lacking} that stored series {meta.id} has (fields {list(old.columns)})",
            fix="check the file (a renamed column?), or pass --allow-fewer-fields to keep them empty from here on",
        )
    columns = list(old.columns) + [c for c in new.columns if c not in old.columns]
    replaced, _ = positions(old.index, new.index)
    if replaced.all() and columns == list(new.columns):  # every stored row comes again
        return new
    kept = old[~replaced]
    return pd.concat([kept.reindex(columns=columns), new.reindex(columns=columns)]).sort_index()


SAME_PRICE_RTOL = 1e-5
PRICES = ["open", "high", "low", "close"]


def check_conflicts(old: pd.DataFrame, new: pd.DataFrame, meta: SeriesMeta) -> None:
    """A stored bar that ``new`` repeats with other OHLC is a conflict, except the stored last
    bar (it may have been stored while still open; the new one replaces it). Prices within
    ``SAME_PRICE_RTOL`` of each other are the same price (two exports of one ticker round
    differently: Yahoo's float32 dumps against its 6-decimal CSVs). Compared a column at a
    time (a 2M-row re-import holds no 2M x 4 copies)."""
    if meta.kind != "ohlcv" or old.empty:
        return
    repeated, at = positions(new.index, old.index[:-1])
    if not at.size:
        return
    differ = np.zeros(at.size, dtype=bool)
    for column in PRICES:
        stored, given = old[column].to_numpy()[at], new[column].to_numpy()[repeated]
        differ |= ~np.isclose(stored, given, rtol=SAME_PRICE_RTOL, atol=0.0)
    if differ.any():
        i = int(differ.argmax())
        row, stored_row = int(np.flatnonzero(repeated)[i]), int(at[i])
        raise DataError(
            f"{meta.origin or meta.id}: bar {new.index[row].isoformat()} differs from the one stored in {meta.id} "
            f"(close {new['close'].iloc[row]:g} vs {old['close'].iloc[stored_row]:g}; {int(differ.sum())} bar(s) "
            "differ)",
            fix=f"check the file; to replace the stored bars delete {meta.id} from the store first",
        )


class Store:
    """Read and write series under one data directory."""

    def __init__(self, data_dir: str | os.PathLike | None = None) -> None:
        self.root = Path(data_dir) if data_dir is not None else default_data_dir()

    def path(self, sid: str) -> Path:
        """The file of series ``sid``; ``ValueError`` for an id that would leave the root."""
        if not sid or ".." in sid.split("/") or sid.startswith("/"):
            raise ValueError(f"bad series id {sid!r}")
        return self.root / f"{sid}.parquet"

    def exists(self, sid: str) -> bool:
        """Whether series ``sid`` is stored."""
        return self.path(sid).is_file()

    def ids(self) -> list[str]:
        """Every stored series id, sorted."""
        if not self.root.is_dir():
            return []
        return sorted(str(p.relative_to(self.root).with_suffix("")) for p in self.root.rglob("*.parquet"))

    def meta(self, sid: str) -> SeriesMeta:
        """The stored metadata of ``sid`` (reads only the parquet footer); ``DataError`` when
        the series is missing or its file damaged or foreign."""
        path = self._existing(sid)
        try:
            raw = pq.read_schema(path).metadata or {}
        except (pa.ArrowException, OSError) as exc:
            raise unreadable(path, exc) from exc
        if META_KEY not in raw:
            raise DataError(f"{path}: not a carryguard series file", fix="delete it and import the data again")
        try:
            return SeriesMeta.from_json(raw[META_KEY].decode())
        except (ValueError, TypeError, KeyError) as exc:  # written by an older or newer carryguard
            raise DataError(
                f"{path}: metadata this version cannot read ({exc})",
                fix=f"delete the file, then import or fetch series {sid} again",
            ) from exc

    def list(self) -> list[SeriesMeta]:
        """The metadata of every stored series, sorted by id."""
        return [self.meta(sid) for sid in self.ids()]

    def read(self, sid: str, *, start: pd.Timestamp | None = None, end: pd.Timestamp | None = None) -> pd.DataFrame:
        """The stored frame, optionally cut to ``[start, end]`` (inclusive)."""
        path = self._existing(sid)
        try:
            frame = read_frame(path)
        except (pa.ArrowException, OSError) as exc:
            raise unreadable(path, exc) from exc
        frame.index = (
            pd.DatetimeIndex(frame.index).tz_convert("UTC") if frame.index.tz else frame.index.tz_localize("UTC")
        )
        frame.index.name = "time"
        return frame.loc[start:end] if (start is not None or end is not None) else frame

    def write(
        self,
        frame: pd.DataFrame,
        meta: SeriesMeta,
        *,
        now: pd.Timestamp | None = None,
        allow_fewer_fields: bool = False,
    ) -> SeriesMeta:
        """Validate ``frame`` and merge it into the stored series (its rows replace
        overlapping stored ones; a new series is created).

        Checked besides the frame contract (``frames.normalise``): no row after ``now``
        (default: the clock) plus one bar, bars on their timeframe's grid and spaced as the
        series (``frames.check_time``), stored bars repeated with other OHLC (a conflict,
        except the stored last bar), fields the stored series has and ``frame`` lacks
        (unless ``allow_fewer_fields``). The merge runs under the series' lock against the
        file as it is on disk then. Returns the metadata as stored (first/last/rows/gaps/
        flags/hash filled in). Nothing on disk changes unless every check passes.
        """
        name = meta.origin or meta.id
        frame = normalise(frame, kind=meta.kind, name=name)
        check_time(frame, name=name, sid=meta.id, timeframe=meta.timeframe, now=now)
        if meta.kind == "ohlcv" and not meta.symbol.endswith("=X"):
            check_bar_range(frame, name)
        with self.lock(meta.id):
            if self.exists(meta.id):
                old = self.read(meta.id)
                check_conflicts(old, frame, meta)
                frame = merge_fields(old, frame, meta, allow_fewer_fields=allow_fewer_fields)
            step = expected_step(meta)
            weekdays = meta.frequency.endswith("(weekdays)")
            gaps = (
                tuple(g.as_dict() for g in find_gaps(frame.index, step, weekdays_only=weekdays))
                if step is not None
                else ()
            )
            stored = replace(
                meta,
                fields=tuple(frame.columns),
                first=frame.index[0].isoformat(),
                last=frame.index[-1].isoformat(),
                rows=len(frame),
                gaps=gaps,
                flags=series_flags(frame, meta),
                content_hash=content_hash(frame),
            )
            self._atomic_write(frame, stored)
        return stored

    @contextlib.contextmanager
    def lock(self, sid: str) -> Iterator[None]:
        """Hold the exclusive OS lock of series ``sid`` (blocks while another process writes it)."""
        path = self.path(sid)
        lock_path = path.with_name(f".{path.name}.lock")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, file_mode())
        except OSError as exc:
            raise unwritable(path.parent if exc.errno != errno.ENOENT else self.root, exc) from exc
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # closing releases the lock (the kernel does the same for a killed process)

    def _existing(self, sid: str) -> Path:
        path = self.path(sid)
        if not path.is_file():
            raise DataError(
                f"series {sid} is not in the store at {self.root}",
                fix="run `carryguard data import DIR` or `carryguard data fetch`",
            )
        return path

    def _atomic_write(self, frame: pd.DataFrame, meta: SeriesMeta) -> None:
        path = self.path(meta.id)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        except OSError as exc:
            raise unwritable(path.parent, exc) from exc
        os.close(fd)
        try:
            os.chmod(tmp, file_mode())
            write_parquet(frame, {META_KEY: meta.to_json().encode()}, tmp)
            with open(tmp, "rb") as handle:
                os.fsync(handle.fileno())
            os.replace(tmp, path)
        except OSError as exc:
            raise unwritable(path.parent, exc) from exc
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
