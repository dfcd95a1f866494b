"""A point-in-time-safe cache of ``carryguard risk``'s reading: a bot polling ``risk --json``
while the stored data is unchanged gets its answer without importing pandas, numpy or pyarrow.

One entry per question (``--json`` or the table, the ``--as-of`` text, the config) lives in
``<store>/.cache/risk/``: beside the data it describes, gone with the store, never listed as
a series (the store holds ``*.parquet`` files only); a store this account cannot write just
means no cache. An entry is served only when everything its answer depends on is unchanged:

- every series file the reading read (the store's own ``Store.path`` of each series the
  config names), present or absent: the sha256 of its bytes (~2 ms for the ~1.5 MB the
  default index reads), so an entry is valid exactly while the data it came from is;
- the store folder (a copied store is another store);
- the ``--config`` file's content (sha256), or the built-in default;
- the code: every file of the carryguard packages (path, size, mtime; an edited editable
  install is new code), the Python version and each site-packages folder's mtime (installing
  or upgrading pandas, numpy, carryguard... changes it).

The reading's time is stored, not its age: age_days, fresh, the staleness warning and
``--require-fresh`` are computed from the wall clock when it is printed. The stored data says
when the latest reading is (``signals.risk.latest_time``): no wall clock goes into an entry.
A missing, unreadable, truncated or foreign entry is a miss, never an error. Entries are
written atomically (a temporary file renamed over the old one) and only when the series files
held the same bytes before they were read and after the reading was computed (a write in
between is a miss, not a wrong entry). ``data import`` and ``data fetch`` keep the latest
reading (``risk.warm_cache``), so the first ``risk --json`` after new data is a hit too.
``--plot`` and ``--export`` bypass the cache.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

FORMAT = 2  # of an entry file; another value is a miss (1: series stamped by inode and file times)
CACHE_DIR = Path(".cache") / "risk"  # under the store's folder
MAX_ENTRIES = 64  # more and the least recently written go
PACKAGES = ("carryguard.signals", "carryguard.strategies", "carryguard.backtests")

Stamp = list[list[str | None]]  # [relative path, sha256 of its bytes] or [relative path, None] (absent)


def code_fingerprint() -> str:
    """sha256 over the Python version, every file of the carryguard packages (relative path,
    size, mtime) and the mtime of each site-packages folder on ``sys.path``."""
    import hashlib  # here, not at the top: `carryguard --help` imports this module
    from importlib.util import find_spec

    digest = hashlib.sha256(sys.version.encode())
    for package in PACKAGES:
        spec = find_spec(package)
        for folder in (spec.submodule_search_locations or []) if spec else []:
            for path, stat in _files(Path(folder)):
                digest.update(f"{package}/{path.relative_to(folder)}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
    for folder in sorted({p for p in sys.path if p.endswith("site-packages")}):
        with contextlib.suppress(OSError):
            digest.update(f"{folder}\0{os.stat(folder).st_mtime_ns}\n".encode())
    return digest.hexdigest()


def _files(folder: Path) -> list[tuple[Path, os.stat_result]]:
    """Every file under ``folder`` (bytecode caches left out), sorted, with its stat."""
    out = []
    with os.scandir(folder) as entries:
        for entry in entries:
            if entry.is_dir(follow_symlinks=False):
                if entry.name != "__pycache__":
                    out += _files(Path(entry.path))
            elif entry.is_file():
                out.append((Path(entry.path), entry.stat()))
    return sorted(out)


def stamp(root: Path, paths: list[Path]) -> Stamp:
    """What each file holds: the sha256 of its bytes (``[name, None]`` when absent)."""
    import hashlib

    out: Stamp = []
    for path in paths:
        name = str(path.relative_to(root))
        try:
            with open(path, "rb") as handle:
                out.append([name, hashlib.file_digest(handle, "sha256").hexdigest()])
        except OSError:
            out.append([name, None])
    return out


@dataclass(frozen=True)
class Entry:
    """A cached answer: the reading's time (ISO) and what is printed for it (see ``risk_view``)."""

    as_of: str
    view: Any


@dataclass(frozen=True)
class ReadingCache:
    """The cache entry of one question about one store."""

    root: Path
    question: dict[str, str | None]  # view, --as-of text (None: the latest), config identity

    @classmethod
    def open(cls, root: Path, view: str, as_of: str | None, config: Path | None) -> ReadingCache | None:
        """The entry for this question; None when the config file cannot be read (then no cache)."""
        import hashlib

        try:
            identity = hashlib.sha256(config.read_bytes()).hexdigest() if config is not None else "default"
        except OSError:
            return None
        return cls(root.absolute(), {"view": view, "as_of": as_of, "config": identity})

    def reopen(self, config: Path | None) -> ReadingCache | None:
        """The same question asked again (after the config file was read: equal if it did not change)."""
        return ReadingCache.open(self.root, str(self.question["view"]), self.question["as_of"], config)

    @property
    def path(self) -> Path:
        import hashlib

        name = hashlib.sha256(json.dumps(self.question, sort_keys=True).encode()).hexdigest()[:32]
        return self.root / CACHE_DIR / f"{name}.json"

    def key(self, files: Stamp) -> dict[str, Any]:
        return {"format": FORMAT, "root": str(self.root), **self.question, "code": code_fingerprint(), "files": files}

    def lookup(self) -> Entry | None:
        """The stored answer when everything it depends on is unchanged, else None."""
        try:
            data = json.loads(self.path.read_bytes())
            key, files = data["key"], data["key"]["files"]
            paths = [self.root / f[0] for f in files]
            if any(Path(f[0]).is_absolute() or ".." in Path(f[0]).parts for f in files):
                return None
            view = data["view"]
            printable = isinstance(view.get("json"), dict) or isinstance(view.get("lines"), list)
            if not printable or key != self.key(stamp(self.root, paths)):
                return None
            return Entry(str(data["as_of"]), view)
        except (OSError, ValueError, TypeError, KeyError, IndexError, AttributeError):
            return None

    def save(self, files: Stamp, paths: list[Path], entry: Entry) -> None:
        """Write ``entry`` keyed on ``files`` (stamped before the series were read) when they
        still hold the same bytes; any failure to write just leaves no entry."""
        if stamp(self.root, paths) != files:
            return
        text = json.dumps({"key": self.key(files), "as_of": entry.as_of, "view": entry.view}, separators=(",", ":"))
        target = self.path
        tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o666)  # the umask decides who may read it
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(text)
            os.replace(tmp, target)
            _prune(target.parent)
        except OSError:
            with contextlib.suppress(OSError):
                tmp.unlink()


def _prune(folder: Path) -> None:
    """Keep the ``MAX_ENTRIES`` most recently written entries."""
    entries = sorted(folder.glob("*.json"), key=lambda p: p.stat().st_mtime_ns, reverse=True)
    for old in entries[MAX_ENTRIES:]:
        with contextlib.suppress(OSError):
            old.unlink()
