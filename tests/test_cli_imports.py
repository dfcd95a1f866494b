"""`carryguard --help` loads no heavy library: the CLI package and every verb module import
only click, rich and small modules of ours; each command imports what it needs when run."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

HEAVY = ("pandas", "numpy", "numba", "matplotlib", "dask", "distributed", "ccxt", "backtrader", "pyarrow", "scipy")

LOADED_AFTER = """
import json, sys
{statement}
print(json.dumps(sorted({{name.split(".")[0] for name in sys.modules}})))
"""


def top_level_modules_after(statement: str, cwd: Path) -> set[str]:
    """The top-level module names a fresh interpreter holds after running ``statement``."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    done = subprocess.run(
        [sys.executable, "-c", LOADED_AFTER.format(statement=statement)],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return set(json.loads(done.stdout.splitlines()[-1]))  # the last line: after any help text


def test_cli_import_given_fresh_interpreter_loads_no_heavy_library(tmp_path: Path) -> None:
    # Act
    loaded = top_level_modules_after("import carryguard.backtests.cli", tmp_path)

    # Assert: the verbs are registered (so their modules were imported), nothing heavy came along
    assert {"click", "carryguard"} <= loaded
    assert sorted(loaded & set(HEAVY)) == []


@pytest.mark.parametrize("verb", [[], ["data"], ["risk"], ["signals"], ["backtest"], ["sweep"], ["compare"], ["paper"]])
def test_cli_help_given_any_verb_loads_no_heavy_library(tmp_path: Path, verb: list[str]) -> None:
    # Act: run `carryguard VERB --help` in-process and look at sys.modules afterwards
    statement = (
        "from carryguard.backtests.cli import main\n"
        f"try:\n    main({[*verb, '--help']!r})\nexcept SystemExit as exit:\n    assert exit.code == 0, exit.code"
    )
    loaded = top_level_modules_after(statement, tmp_path)

    # Assert
    assert sorted(loaded & set(HEAVY)) == []


def test_cli_risk_given_json_imports_pandas_when_it_runs(tmp_path: Path) -> None:
    # Act: the positive control: running a verb does load what it needs (no store: exit 1)
    statement = (
        "from carryguard.backtests.cli import main\n"
        f"try:\n    main(['--data-dir', {str(tmp_path / 'empty')!r}, 'risk', '--json'])\n"
        "except SystemExit as exit:\n    assert exit.code == 1, exit.code"
    )
    loaded = top_level_modules_after(statement, tmp_path)

    # Assert
    assert "pandas" in loaded
