"""Every verb against hostile input: a one-line error and a non-zero exit, never "internal error"."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from carryguard.backtests.cli import main
from carryguard.signals.store import Store
from tests.fakes.http_server import closed_port

STUDY = """
name = "{name}"
[data]
source = "binance"
symbols = ["BTC/USDT"]
timeframes = ["1d"]
start = "2023-01-01"
end = "latest"
[strategies]
buy_and_hold = {{}}
[execution]
cash = {cash}
"""


def hostile_cases(tmp: Path) -> list[tuple[str, list[str], int]]:
    """(label, argv after the store option, expected exit code)."""
    (tmp / "empty.sqlite").write_bytes(b"")
    (tmp / "nan.toml").write_text(STUDY.format(name="nan_cash", cash="nan"))
    (tmp / "long.toml").write_text(STUDY.format(name="x" * 300, cash="1000"))
    (tmp / "risk_inf.toml").write_text("scale = inf\n")
    (tmp / "risk_tenor.toml").write_text('momentum_tenors = ["20Y", "33Y"]\nlevel_tenors = ["7X"]\n')
    (tmp / "run").mkdir()
    (tmp / "run" / "equity.csv").write_text("time,equity\n2024-01-01,1\n2024-01-0")
    hostile = tmp / "hostile"
    hostile.mkdir()
    (hostile / "...csv").write_text("Date,Open,High,Low,Close\n2024-01-01,1,2,0.5,1\n")
    (hostile / "fred_DGS2.csv").write_text("DATE,DGS2\n2024-01-02,4.1\n2300-01-03,4.2\n")
    (hostile / "btcusdt_1h_binance.csv").write_text("99999999999999,1,2,0.5,1,0,0,0,0,0,0,0\n")
    (hostile / "mof_jgbcme_all.csv").write_text("Interest Rate\nDate,1Y,10YR\n2024/8/1,0.1,1.0\n")
    return [
        ("import hostile folder", ["data", "import", str(hostile)], 1),
        ("risk as-of 1677", ["risk", "--as-of", "1677-01-01"], 2),
        ("risk as-of 2099", ["risk", "--as-of", "2099-01-01"], 2),
        ("risk as-of 1900 (no score)", ["risk", "--as-of", "1900-01-01"], 1),
        ("risk scale inf", ["risk", "--config", str(tmp / "risk_inf.toml")], None),
        ("risk bad tenor", ["risk", "--config", str(tmp / "risk_tenor.toml")], None),
        ("backtest cash nan", ["backtest", str(tmp / "nan.toml")], None),
        ("backtest 300-char name", ["backtest", str(tmp / "long.toml")], None),
        ("sweep cash nan", ["sweep", str(tmp / "nan.toml")], None),
        ("compare damaged run", ["compare", str(tmp / "run")], None),
        ("report damaged run", ["report", str(tmp / "run")], None),
        ("paper run poll nan", ["paper", "run", "--once", "--poll", "nan"], 2),
        ("paper run cash inf", ["paper", "run", "--once", "--cash", "inf"], 2),
        ("paper run timeout 0", ["paper", "run", "--once", "--timeout", "0"], 2),
        ("paper status empty file", ["paper", "status", "--state", str(tmp / "empty.sqlite")], 1),
    ]


@pytest.mark.parametrize("index", range(15))
def test_cli_given_hostile_input_fails_with_one_line_never_internal_error(
    index: int, real_store: Store, tmp_path: Path
) -> None:
    label, argv, code = hostile_cases(tmp_path)[index]
    result = CliRunner().invoke(main, ["--data-dir", str(real_store.root), *argv], catch_exceptions=False)
    assert "internal error" not in result.output + result.stderr, label
    assert result.exit_code != 0 and (code is None or result.exit_code == code), (label, result.stderr)
    assert result.stderr.strip(), label


def test_cli_given_empty_paper_state_file_leaves_it_empty(tmp_path: Path) -> None:
    state = tmp_path / "paper.db"
    state.write_bytes(b"")
    result = CliRunner().invoke(main, ["paper", "status", "--state", str(state)])
    assert result.exit_code == 1 and "not a paper state file (empty file)" in result.stderr
    assert state.read_bytes() == b""


def test_cli_fetch_given_unreachable_exchange_names_it_never_internal_error(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("CARRYGUARD_BINANCE_URL", f"http://127.0.0.1:{closed_port()}")
    monkeypatch.setattr("carryguard.signals.fetch.RetryPolicy", lambda: None, raising=False)
    from carryguard.signals import fetch
    from carryguard.signals.sources.retry import RetryPolicy

    fast = RetryPolicy(attempts=2, backoff=0.0, timeout=2.0, deadline=5.0)
    monkeypatch.setattr(
        fetch, "plan_jobs", lambda store, plan, policy=fast, _f=fetch.plan_jobs: _f(store, plan, policy=policy)
    )
    result = CliRunner().invoke(
        main,
        ["--data-dir", str(tmp_path), "data", "fetch", "--no-macro", "--symbols", "BTC/USDT", "--timeframes", "1d"],
    )
    assert result.exit_code == 1 and "internal error" not in result.output + result.stderr
    assert "binance BTC/USDT 1d failed" in result.stderr
