"""Shared fixtures: the real sample data beside the repository, and a store holding it."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from carryguard.signals.importer import import_directory
from carryguard.signals.store import Store

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"


def shared_data_dir() -> Path:
    """``../shared/data``; fail loudly (naming the path) when it is missing."""
    if not (SHARED_DATA / "mof_jgbcme_all.csv").is_file():
        pytest.fail(f"real sample data missing: expected publisher CSVs in {SHARED_DATA}", pytrace=False)
    return SHARED_DATA


@pytest.fixture(scope="session")
def shared_data() -> Path:
    return shared_data_dir()


@pytest.fixture(scope="session")
def real_store_dir(tmp_path_factory: pytest.TempPathFactory, shared_data: Path) -> Path:
    """A store with every file of ../shared/data imported (built once per session)."""
    root = tmp_path_factory.mktemp("real_store")
    outcomes = import_directory(Store(root), shared_data)
    errors = [o.error for o in outcomes if o.error]
    assert not errors, errors
    return root


@pytest.fixture()
def real_store(real_store_dir: Path, tmp_path: Path) -> Store:
    """A private copy of the real-data store that a test may modify."""
    target = tmp_path / "store"
    shutil.copytree(real_store_dir, target)
    return Store(target)


@pytest.fixture(scope="session")
def shared_store(real_store_dir: Path) -> Store:
    """The real-data store, read only (do not write to it)."""
    return Store(real_store_dir)


@pytest.fixture(autouse=True)
def _piped_width(monkeypatch: pytest.MonkeyPatch) -> None:
    """CLI output in tests is piped (200 columns), whatever $COLUMNS the runner exports (xdist workers
    export 80); tests of table fitting set COLUMNS themselves."""
    monkeypatch.delenv("COLUMNS", raising=False)
