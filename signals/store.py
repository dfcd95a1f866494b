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
import json
import os
from collections.abc import Iterator
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from carryguard.signals.errors import DataError

if TYPE_CHECKING:  # pandas and pyarrow load when a series is read or written: the CLI opens
    import pandas as pd  # a store on every command, `--help` included, and stays fast


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
        from carryguard.signals.availability import RULES

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
    import platformdirs

    env = os.environ.get("CARRYGUARD_DATA_DIR")
    return Path(env) if env else Path(platformdirs.user_cache_dir("carryguard")) / "data"


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
        import pyarrow as pa
        import pyarrow.parquet as pq

        from carryguard.signals.series_file import META_KEY

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
        import pandas as pd
        import pyarrow as pa

        from carryguard.signals.series_file import read_frame

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
        from carryguard.signals.frames import check_bar_range, check_time, find_gaps, normalise
        from carryguard.signals.store_merge import (
            check_conflicts,
            content_hash,
            expected_step,
            merge_fields,
            series_flags,
        )

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
        import tempfile  # here: it loads shutil and the compression modules, which the CLI's --help need not

        from carryguard.signals.series_file import META_KEY, write_parquet

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
