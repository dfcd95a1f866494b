"""The cache of ``carryguard risk``'s reading (``backtests/cli/risk_cache.py``): a hit prints
exactly what a miss prints, anything the reading depends on invalidates it, a broken entry is
a miss, a hit imports no pandas, numpy, pyarrow or numba, and ``data import`` keeps the
latest reading (``risk.warm_cache``)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner, Result

from carryguard.backtests.cli import freshness as freshness_module
from carryguard.backtests.cli import main, risk_cache
from carryguard.backtests.cli import risk as risk_module
from carryguard.signals.pit import MemoryStore
from carryguard.signals.risk import RiskConfig, explain
from carryguard.signals.store import Store
from carryguard.strategies.carry_policies import multipliers_now
from tests.store_support import store_digest

CLOCK = datetime(2026, 12, 1, 6, 30, tzinfo=UTC)  # the wall clock the age of a reading is measured by
AGE_KEYS = ("age_days", "fresh", "max_age_days")


@pytest.fixture()
def real_store(real_store: Store) -> Store:
    """The private copy of the real-data store without the entries the session store got from
    other tests' ``risk`` runs (kept for another folder, they would be misses anyway)."""
    shutil.rmtree(real_store.root / ".cache", ignore_errors=True)
    return real_store


@pytest.fixture()
def computed(monkeypatch: pytest.MonkeyPatch) -> list[str | None]:
    """A fixed wall clock, and the --as-of of every reading computed (a miss) recorded in the
    list returned."""
    monkeypatch.setattr(freshness_module, "wall_clock", lambda: CLOCK)
    calls: list[str | None] = []
    original = risk_module._compute

    def spy(ctx: object, cache: object, as_of_text: str | None, **kwargs: object) -> None:
        calls.append(as_of_text)
        return original(ctx, cache, as_of_text, **kwargs)

    monkeypatch.setattr(risk_module, "_compute", spy)
    return calls


def run(root: Path, *args: str) -> Result:
    return CliRunner().invoke(main, ["--data-dir", str(root), "risk", *args])


def outcome(result: Result) -> tuple[int, str, str]:
    return result.exit_code, result.stdout, result.stderr


def entries(root: Path) -> list[Path]:
    return sorted((root / risk_cache.CACHE_DIR).glob("*.json"))


@pytest.mark.parametrize(
    "args",
    [
        ["--json"],
        [],
        ["--as-of", "2024-08-05", "--json"],
        ["--as-of", "2024-08-05"],
        ["--as-of", "2008-04-09", "--json"],
        ["--as-of", "2020-03-16T13:30", "--json", "--max-age", "100000"],
    ],
)
def test_risk_given_a_cached_reading_prints_byte_identical_output(real_store, computed, args):
    # Act: the first run computes and keeps the reading, the second is served from the entry
    miss = run(real_store.root, *args)
    hit = run(real_store.root, *args)

    # Assert
    assert miss.exit_code == 0, miss.output
    assert len(computed) == 1 and len(entries(real_store.root)) == 1
    assert outcome(hit) == outcome(miss)


def test_risk_given_a_new_wall_clock_recomputes_only_the_age(real_store, computed, monkeypatch):
    # Arrange
    first = json.loads(run(real_store.root, "--json").stdout)
    monkeypatch.setattr(freshness_module, "wall_clock", lambda: CLOCK + pd.Timedelta(days=10))

    # Act
    later = json.loads(run(real_store.root, "--json").stdout)

    # Assert: the same reading, ten days older
    assert len(computed) == 1
    assert {k: v for k, v in later.items() if k not in AGE_KEYS} == {
        k: v for k, v in first.items() if k not in AGE_KEYS
    }
    assert later["age_days"] == pytest.approx(first["age_days"] + 10)


def _touch(store: Store) -> None:
    """Another mtime, same size and inode (a second earlier: as a restore from a backup would)."""
    path = store.path("fred/DGS2")
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns - 1_000_000_000))


def _append_row(store: Store) -> None:
    frame = store.read("fred/DGS10")
    extra = frame.iloc[[-1]].copy()
    extra.index = extra.index + pd.Timedelta(days=1)
    store.write(extra, store.meta("fred/DGS10"))


def _change_value(store: Store) -> None:
    """Every US 10Y yield one point higher (same dates): the carry spread moves."""
    store.write(store.read("fred/DGS10") + 1.0, store.meta("fred/DGS10"))


def _remove_check_series(store: Store) -> None:
    store.path("fred/DEXJPUS").unlink()


@pytest.mark.parametrize("change", [_append_row, _change_value, _remove_check_series])
@pytest.mark.parametrize("args", [["--json"], []])
def test_risk_given_a_changed_series_file_recomputes(real_store, computed, change, args):
    # Arrange: a cached reading, then one series file changes
    run(real_store.root, *args)
    change(real_store)

    # Act
    after = run(real_store.root, *args)
    again = run(real_store.root, *args)

    # Assert: recomputed from the changed store (as a run without any cache), then kept again
    assert after.exit_code == 0, after.output
    assert len(computed) == 2
    for entry in entries(real_store.root):
        entry.unlink()
    assert outcome(after) == outcome(again) == outcome(run(real_store.root, *args))
    assert len(computed) == 3


def test_risk_given_a_touched_series_file_with_the_same_bytes_serves_the_entry(real_store, computed):
    # Arrange: another mtime, same bytes (as a restore from a backup would leave it)
    first = run(real_store.root, "--json")
    _touch(real_store)

    # Act
    again = run(real_store.root, "--json")

    # Assert: the entry is keyed on what the file holds, so it still answers
    assert len(computed) == 1
    assert outcome(again) == outcome(first)


def test_risk_given_a_changed_value_does_not_serve_the_old_reading(real_store, computed):
    # Arrange
    before = run(real_store.root, "--json").stdout

    # Act
    _change_value(real_store)
    after = run(real_store.root, "--json").stdout

    # Assert: the test of recomputing above would pass with an unchanged answer too: this one moves
    carry = [
        [c["value"] for c in json.loads(text)["components"] if c["name"] == "carry_spread"] for text in (before, after)
    ]
    assert carry[1][0] > carry[0][0]


def test_risk_given_a_changed_config_file_recomputes(real_store, computed, tmp_path):
    # Arrange
    config = tmp_path / "risk.toml"
    config.write_text("stale_days = 5\n")
    first = run(real_store.root, "--json", "--config", str(config))
    run(real_store.root, "--json", "--config", str(config))
    config.write_text("stale_days = 5\nfx_check_series = ''\n")

    # Act
    changed = run(real_store.root, "--json", "--config", str(config))
    default = run(real_store.root, "--json")

    # Assert: one computation per config content (the default is a config of its own)
    assert first.exit_code == changed.exit_code == default.exit_code == 0
    assert len(computed) == 3


def test_risk_given_changed_code_recomputes(real_store, computed, monkeypatch):
    # Arrange
    run(real_store.root, "--json")
    monkeypatch.setattr(risk_cache, "code_fingerprint", lambda: "another version of carryguard")

    # Act
    run(real_store.root, "--json")
    run(real_store.root, "--json")

    # Assert
    assert len(computed) == 2


def test_code_fingerprint_given_an_edited_source_file_changes(tmp_path, monkeypatch):
    # Arrange: a package standing in for carryguard's
    package = tmp_path / "cg_fingerprint_probe"
    package.mkdir()
    source = package / "__init__.py"
    source.write_text("X = 1\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(risk_cache, "PACKAGES", ("cg_fingerprint_probe",))
    before = risk_cache.code_fingerprint()

    # Act
    source.write_text("X = 2\n")
    os.utime(source, ns=(source.stat().st_atime_ns, source.stat().st_mtime_ns + 1_000_000_000))

    # Assert
    assert risk_cache.code_fingerprint() != before
    (package / "__pycache__").mkdir()
    (package / "__pycache__" / "probe.pyc").write_bytes(b"bytecode")
    assert risk_cache.code_fingerprint() == risk_cache.code_fingerprint()


def _foreign_view(text: bytes) -> bytes:
    """The entry's key intact, what it prints replaced by something that is no view."""
    return json.dumps({**json.loads(text), "view": {"lines": 5}}).encode()


@pytest.mark.parametrize(
    "damage",
    [
        lambda _: b"",
        lambda text: text[: len(text) // 2],  # truncated
        lambda _: b"\xff\xfe not json",
        lambda _: b'{"key": [], "view": 3}',
        lambda text: text.replace(b'"files":[[', b'"files":[[0,'),
        _foreign_view,
    ],
)
def test_risk_given_a_damaged_entry_computes_and_rewrites_it(real_store, computed, damage):
    # Arrange
    good = run(real_store.root, "--json")
    (entry,) = entries(real_store.root)
    entry.write_bytes(damage(entry.read_bytes()))

    # Act
    again = run(real_store.root, "--json")
    third = run(real_store.root, "--json")

    # Assert: computed once more, same output, then a hit again
    assert outcome(again) == outcome(third) == outcome(good)
    assert len(computed) == 2


def test_risk_given_as_of_latest_after_a_cached_latest_reading_is_still_a_usage_error(real_store, computed):
    # Arrange
    run(real_store.root, "--json")

    # Act
    result = run(real_store.root, "--as-of", "latest", "--json")

    # Assert
    assert result.exit_code == 2 and "--as-of" in result.stderr


def test_risk_given_an_unwritable_cache_folder_computes_every_time(real_store, computed):
    # Arrange: a file where the cache folder would go (chmod does not stop root)
    (real_store.root / ".cache").write_text("not a folder")

    # Act
    first, second = run(real_store.root, "--json"), run(real_store.root, "--json")

    # Assert
    assert first.exit_code == 0, first.output
    assert outcome(first) == outcome(second) and len(computed) == 2


def test_risk_given_a_cached_reading_leaves_the_stored_series_as_they_were(real_store, computed):
    # Arrange
    series, ids = store_digest(real_store.root, "*.parquet"), real_store.ids()

    # Act
    run(real_store.root, "--json")
    run(real_store.root, "--json")

    # Assert
    assert store_digest(real_store.root, "*.parquet") == series and real_store.ids() == ids


def test_risk_given_plot_or_export_bypasses_the_cache(real_store, computed, tmp_path):
    # Act
    run(real_store.root, "--json", "--export", str(tmp_path / "risk.csv"))
    run(real_store.root, "--json", "--export", str(tmp_path / "risk.csv"))

    # Assert
    assert len(computed) == 2 and entries(real_store.root) == []


def test_reading_cache_given_a_file_changed_while_computing_keeps_no_entry(real_store):
    # Arrange
    cache = risk_cache.ReadingCache.open(real_store.root, "json", None, None)
    assert cache is not None
    paths = [real_store.path(sid).absolute() for sid in RiskConfig().series_ids()]
    files = risk_cache.stamp(cache.root, paths)
    _change_value(real_store)

    # Act
    cache.save(files, paths, risk_cache.Entry("2026-06-26T00:00:00+00:00", {"json": {}}))

    # Assert
    assert entries(real_store.root) == []


@pytest.mark.parametrize("as_of", ["2008-04-09", "2020-03-16T13:30", "2024-08-05"])
def test_risk_given_a_cached_as_of_equals_the_reading_of_a_store_truncated_there(real_store, computed, as_of):
    # Arrange
    cfg, at = RiskConfig(), pd.Timestamp(as_of, tz="UTC")
    run(real_store.root, "--as-of", as_of, "--json")

    # Act
    served = json.loads(run(real_store.root, "--as-of", as_of, "--json").stdout)
    truncated = MemoryStore.load(real_store, cfg.series_ids()).cut(at)

    # Assert: what the cache serves for D is what the data known at D gives
    assert len(computed) == 1
    expected = {**explain(truncated, at, cfg).to_json(), "overlays": multipliers_now(truncated, at, cfg)}
    assert {k: v for k, v in served.items() if k not in AGE_KEYS} == json.loads(json.dumps(expected))


HIT_PROBE = """
import json, sys
from carryguard.backtests.cli import main
try:
    main({argv!r})
except SystemExit as exit:
    assert exit.code == 0, exit.code
print(json.dumps(sorted({{name.split(".")[0] for name in sys.modules}})), file=sys.stderr)
"""
HEAVY = {"pandas", "numpy", "pyarrow", "numba", "scipy", "matplotlib"}


@pytest.mark.parametrize("args", [["risk", "--json"], ["risk", "--as-of", "2024-08-05"]])
def test_risk_given_a_cache_hit_imports_no_heavy_library(real_store, tmp_path, args):
    # Arrange
    argv = ["--data-dir", str(real_store.root), *args, "--max-age", "100000"]
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}

    def probe() -> tuple[str, set[str]]:
        done = subprocess.run(
            [sys.executable, "-c", HIT_PROBE.format(argv=argv)],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert done.returncode == 0, done.stderr
        return done.stdout, set(json.loads(done.stderr.splitlines()[-1]))

    # Act
    miss_out, miss_modules = probe()
    hit_out, hit_modules = probe()

    # Assert: the miss needed pandas (the positive control); the hit printed the same without it
    assert "pandas" in miss_modules
    assert sorted(hit_modules & HEAVY) == []
    if "--json" in args:
        miss_out, hit_out = (
            json.dumps({k: v for k, v in json.loads(o).items() if k != "age_days"}) for o in (miss_out, hit_out)
        )
    assert hit_out == miss_out


def test_warm_cache_given_new_data_keeps_what_risk_would_compute(real_store, computed):
    # Arrange: what `risk` computes without any entry
    expected = {args: outcome(run(real_store.root, *args)) for args in (("--json",), ())}
    shutil.rmtree(real_store.root / ".cache")

    # Act
    risk_module.warm_cache(real_store)
    served = {args: outcome(run(real_store.root, *args)) for args in expected}

    # Assert: both views kept, each served as computed
    assert len(computed) == 2 and len(entries(real_store.root)) == 2
    assert served == expected


def test_warm_cache_given_a_missing_index_input_keeps_nothing(real_store, computed):
    # Arrange
    real_store.path("mof/jgb").unlink()

    # Act
    risk_module.warm_cache(real_store)

    # Assert
    assert entries(real_store.root) == []


def test_data_import_given_a_series_file_keeps_the_latest_reading(real_store, computed, shared_data):
    # Act
    imported = CliRunner().invoke(
        main, ["--data-dir", str(real_store.root), "data", "import", str(shared_data / "fred_DGS10.csv")]
    )
    served = run(real_store.root, "--json")

    # Assert: the first `risk --json` after the import is a hit
    assert imported.exit_code == 0, imported.output
    assert served.exit_code == 0 and computed == []
    assert len(entries(real_store.root)) == 2
