"""`carryguard report` on a sweep folder: merged identical combos, a panel per parameter pair, the folds."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd
from click.testing import CliRunner

from carryguard.backtests.cli import main


def write_sweep(folder: Path) -> Path:
    """A sweep folder over three parameters where ``h`` never binds (its combos are one book:
    ``book`` names the row of the first)."""
    folder.mkdir(parents=True)
    rows = []
    for fast in (5, 10):
        for slow in (30, 60):
            for h in (0.0, 5.0):
                sharpe = fast / 10 + slow / 100
                rows.append(
                    {
                        "fast": fast,
                        "slow": slow,
                        "overlay.h": h,
                        "Start": "2020-01-01",
                        "Sharpe Ratio": sharpe,
                        "Return [%]": sharpe * 100,
                        "Max. Drawdown [%]": -30.0,
                        "# Trades": 10,
                        "book": len(rows) - (h == 5.0),
                    }
                )
    pd.DataFrame(rows).to_parquet(folder / "sweep.parquet")
    best = {"params": {"fast": 10, "slow": 60, "overlay.h": 0.0}, "metrics": {"Sharpe Ratio": 1.6}}
    summary = {
        "study": "toy",
        "strategy": "sma_cross",
        "overlay": True,
        "series": "binance/BTC-USDT/1d",
        "bars": 100,
        "metric": "Sharpe Ratio",
        "best": best,
        "top": [],
        "reference_books": [
            {"name": name, "params": params, "start": "2021-01-01", "end": "2021-01-03", "Return [%]": 1.0}
            | {"Sharpe Ratio": 0.5, "Max. Drawdown [%]": -2.0}
            for name, params in (("out-of-sample", None), ("in-sample best", best["params"]), ("default", {"fast": 20}))
        ],
    }
    (folder / "summary.json").write_text(json.dumps(summary))
    fold = {
        "train_start": "2020-01-01",
        "train_end": "2020-12-31",
        "params": best["params"],
        "train_metric": 1.0,
        "test_metric": 0.5,
    }
    walk = {
        "mode": "anchored",
        "train": "366D",
        "test": "100D",
        "step": "100D",
        "metric": "Sharpe Ratio",
        "in_sample": {"mean_train_metric": 1.0, "hindsight_best": best},
        "out_of_sample": {"Sharpe Ratio": 0.4},
        "folds": [
            {**fold, "test_start": "2021-01-01", "test_end": "2021-04-10"},
            {**fold, "test_start": "2021-04-11", "test_end": "2021-04-20"},
        ],
    }
    (folder / "walkforward.json").write_text(json.dumps(walk))
    index = pd.date_range("2021-01-01", periods=3, tz="UTC", name="time")
    equity = {"out-of-sample": [None, 10_100.0, 9_900.0], "in-sample best": [1e4, 1.1e4, 1.2e4], "default": [1e4] * 3}
    pd.DataFrame(equity, index=index).to_csv(folder / "equity.csv")
    return folder


def test_cli_report_given_sweep_folder_merges_identical_combos_and_draws_every_pair(tmp_path: Path) -> None:
    # Arrange
    folder = write_sweep(tmp_path / "sweep")

    # Act
    result = CliRunner().invoke(main, ["report", str(folder), "--json"])

    # Assert: 8 combos are 4 distinct books; 3 parameters give 3 pairwise panels; the 10-day last fold
    # (a folder written before short folds were folded in) is marked short
    assert result.exit_code == 0, result.output
    html = (folder / "report.html").read_text(encoding="utf-8")
    page = re.sub(r"<script>/\*\*.*?</script>", "", html, count=1, flags=re.S)
    assert page.count("(2 combos, one book)") == 4
    assert "fast=10, slow=60, overlay.h=0; fast=10, slow=60, overlay.h=5" in page
    assert sorted(re.findall(r'Plotly\.newPlot\("(pair-[\w-]+)"', page)) == [
        "pair-fast-overlay_h",
        "pair-fast-slow",
        "pair-slow-overlay_h",
    ]
    assert "10 (short)" in page and 'Plotly.newPlot("equity-chart"' in page
    ids = re.findall(r' id="([^"]+)"', page)
    assert len(ids) == len(set(ids))  # each chart draws into its own element
    names = re.findall(
        r'Plotly\.newPlot\("equity-chart".*?"name":"([^"]+)".*?"name":"([^"]+)".*?"name":"([^"]+)"', page
    )
    assert [name.split(" (")[0] for name in names[0]] == ["out-of-sample", "in-sample best", "default, untuned"]
    assert json.loads(result.output)["report"] == str(folder / "report.html")
