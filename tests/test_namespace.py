"""`carryguard` is the only top-level import name: foreign `signals`/`strategies`/`backtests`
packages (PyPI has the first two; traders often keep a `strategies/` folder) neither shadow
nor are shadowed by ours. Checked in fresh interpreters started outside the repository."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
FOREIGN = ("signals", "strategies", "backtests")

# Imports every carryguard module, then reports where each of ours and the foreign ones live.
IMPORT_ALL = """
import importlib, json, pkgutil, sys
names = []
for top in ("signals", "strategies", "backtests"):
    package = importlib.import_module(f"carryguard.{top}")
    names += [package.__name__] + [m.name for m in pkgutil.walk_packages(package.__path__, f"{package.__name__}.")]
for name in names:
    importlib.import_module(name)
import signals, strategies
print(json.dumps({
    "ours": {n: sys.modules[n].__file__ for n in names},
    "foreign": {"signals": signals.OWNER, "strategies": strategies.OWNER},
}))
"""


def clean_env(**extra: str) -> dict[str, str]:
    """The environment without any PYTHONPATH of the caller's."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env.update(extra)
    return env


def write_foreign_packages(root: Path) -> None:
    """``signals``, ``strategies`` and ``backtests`` packages whose modules have our module
    names but fail loudly when imported (only their ``__init__`` is harmless)."""
    for package in FOREIGN:
        folder = root / package
        folder.mkdir()
        (folder / "__init__.py").write_text(f"OWNER = 'foreign {package}'\n")
        for module in ("risk", "store", "errors", "overlay", "base", "trend", "cli", "engine", "run"):
            (folder / f"{module}.py").write_text(f"raise ImportError('foreign {package}.{module} was imported')\n")


@pytest.mark.slow
def test_carryguard_given_foreign_signals_and_strategies_first_on_sys_path_imports_only_its_own(
    tmp_path: Path,
) -> None:
    # Arrange: foreign packages in a folder that comes first on sys.path, cwd outside the repo
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    write_foreign_packages(foreign)

    # Act
    done = subprocess.run(
        [sys.executable, "-c", IMPORT_ALL],
        cwd=foreign,
        env=clean_env(PYTHONPATH=str(foreign)),
        capture_output=True,
        text=True,
        timeout=300,
    )

    # Assert: every carryguard module imported from our files; the foreign names stay foreign
    assert done.returncode == 0, done.stderr
    found = json.loads(done.stdout)
    ours = {name: Path(path).resolve() for name, path in found["ours"].items()}
    assert {"carryguard.signals.risk", "carryguard.strategies.overlay", "carryguard.backtests.cli"} <= set(ours)
    assert not [name for name, path in ours.items() if path.is_relative_to(foreign)]
    assert ours["carryguard.signals.risk"].parent.name == "signals"
    assert found["foreign"] == {"signals": "foreign signals", "strategies": "foreign strategies"}


@pytest.mark.parametrize("name", FOREIGN)
def test_import_given_bare_folder_name_outside_repo_fails(tmp_path: Path, name: str) -> None:
    # Act: a fresh interpreter in an empty folder, nothing extra on sys.path
    done = subprocess.run(
        [sys.executable, "-c", f"import {name}"],
        cwd=tmp_path,
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )

    # Assert
    assert done.returncode == 1
    assert f"ModuleNotFoundError: No module named '{name}'" in done.stderr


def test_import_given_carryguard_outside_repo_finds_the_package(tmp_path: Path) -> None:
    # Act: the positive control of the test above (same interpreter, same folder)
    done = subprocess.run(
        [sys.executable, "-c", "import carryguard.signals.store as m; print(m.__file__)"],
        cwd=tmp_path,
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )

    # Assert
    assert done.returncode == 0, done.stderr
    assert Path(done.stdout.strip()).name == "store.py"
