"""The installed script (``cli.script``): its exit (``cli.leave``: the command's exit code and
all its output, atexit callbacks run, a running thread waited for, the interpreter's
teardown skipped) and its garbage collector's thresholds."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from carryguard.backtests.cli import SCRIPT_GC_THRESHOLDS

PROBE = """
import atexit, sys, threading, time
from carryguard.backtests.cli import leave

class Teardown:
    def __del__(self):
        print("teardown ran", flush=True)

kept = Teardown()  # freed only by the interpreter's teardown
atexit.register(lambda: print("atexit ran"))
{setup}
sys.stdout.write("buffered, not flushed")
{exit}
"""


def probe(*, setup: str = "", exit: str = "leave(3)") -> subprocess.CompletedProcess[str]:
    code = PROBE.format(setup=setup, exit=exit)
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)


def test_leave_given_buffered_output_and_atexit_callbacks_flushes_and_runs_them_and_skips_teardown():
    # Act
    quick, usual = probe(), probe(exit="sys.exit(3)")

    # Assert: the same code and output as sys.exit, but for the teardown (the control shows it runs there)
    assert quick.returncode == usual.returncode == 3
    assert "buffered, not flushed" in quick.stdout and "atexit ran" in quick.stdout
    assert "teardown ran" not in quick.stdout
    assert "teardown ran" in usual.stdout


def test_leave_given_a_running_non_daemon_thread_waits_for_it():
    # Arrange
    thread = "threading.Thread(target=lambda: (time.sleep(0.3), print('thread done', flush=True))).start()"

    # Act
    done = probe(setup=thread)

    # Assert
    assert done.returncode == 3
    assert "thread done" in done.stdout


@pytest.mark.parametrize(
    ("exit", "code", "stderr"), [("leave(None)", 0, ""), ("leave('stopped: why')", 1, "stopped: why")]
)
def test_leave_given_none_or_a_message_exits_as_sys_exit_does(exit, code, stderr):
    # Act
    done = probe(exit=exit)

    # Assert
    assert done.returncode == code
    assert done.stderr.strip() == stderr


def test_script_given_a_command_exits_with_its_code_and_all_its_output(tmp_path: Path, shared_data: Path):
    # Arrange
    command = [sys.executable, "-m", "carryguard.backtests.cli", "--data-dir", str(tmp_path)]

    # Act
    imported = subprocess.run(
        [*command, "data", "import", str(shared_data / "fred_DGS10.csv"), "--json"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    mistyped = subprocess.run([*command, "data", "lst"], capture_output=True, text=True, timeout=300)

    # Assert
    assert imported.returncode == 0, imported.stderr
    assert [row["series"] for row in json.loads(imported.stdout)] == ["fred/DGS10"]
    assert (tmp_path / "fred" / "DGS10.parquet").is_file()
    assert mistyped.returncode == 2
    assert mistyped.stderr.strip().splitlines() == [
        "error: no such command 'lst'; did you mean 'list'? (see `python -m carryguard.backtests.cli data --help`)"
    ]


def test_script_given_a_command_runs_it_with_the_script_gc_thresholds():
    # Arrange: what the collector is set to when the process ends
    code = (
        "import atexit, gc, sys\n"
        "from carryguard.backtests.cli import script\n"
        "atexit.register(lambda: print(list(gc.get_threshold())))\n"
        "sys.argv = ['carryguard', '--version']\n"
        "script()\n"
    )

    # Act
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)

    # Assert
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.splitlines()[-1]) == list(SCRIPT_GC_THRESHOLDS) != [700, 10, 10]
