"""What a Yahoo daily FX bar is, and when it is known: the evidence behind ``fx_snapshot``.

    python benchmarks/fx_timing.py [--data DIR]

Reads the publisher CSVs of ../shared/data directly (no store). For Yahoo ``JPY=X`` and
``AUDJPY=X`` (both exports) against the FRED H.10 noon fixings (DEXJPUS; DEXUSAL x DEXJPUS
for AUD/JPY), per year, median absolute log differences in percent:

- ``C-F(D-1)`` / ``C-F(D)``: Yahoo close of D against the noon New York fixing of the
  previous business day / of the same day: a close nearer the previous fixing was taken
  before the midpoint between them (a start-of-day snapshot), nearer the same-day fixing
  it is an end-of-day value;
- ``O-F(D-1)``: the bar's open (00:00 London of D) against the previous fixing: the
  yardstick for a start-of-day value;
- ``C=O``: share of rows with close == open; ``|C-O|``: median move between them on the
  other rows (a few minutes of FX volatility is ~0.01%);
- ``F(D) in HL``: share of days whose same-day fixing lies inside the bar's low..high
  (high/low cover day D, so they are known only at the bar's end).

Then the Bitstamp file's implied USD/JPY (BTC_JPY / BTC_USD, dated D at 00:01 UTC) against
Yahoo's close of D and of D+1: the file's FX column is Yahoo's close, not a clock of its own.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def fred(path: Path) -> pd.Series:
    frame = pd.read_csv(path, dtype=str)
    values = pd.to_numeric(frame.iloc[:, 1], errors="coerce")  # blank and "." are missing
    return pd.Series(values.to_numpy(), index=pd.to_datetime(frame.iloc[:, 0])).dropna()


def yahoo(path: Path) -> pd.DataFrame:
    frame = pd.read_csv(path, na_values=["null"])
    frame.columns = [c.lower() for c in frame.columns]
    frame = frame.set_index(pd.to_datetime(frame["date"])).dropna(subset=["close"])
    return frame[~frame.index.duplicated()][["open", "high", "low", "close"]]


def med(a: pd.Series, b: pd.Series) -> float:
    return float(np.nanmedian(np.abs(np.log(a / b)))) * 100


def by_year(bars: pd.DataFrame, fixing: pd.Series, label: str) -> pd.DataFrame:
    """One row per year of the statistics described in the module docstring."""
    calendar = pd.date_range(fixing.index[0], fixing.index[-1])
    previous = fixing.reindex(calendar).ffill().shift(1)
    rows = []
    for year, bar in bars[bars.index.isin(fixing.index)].groupby(bars.index[bars.index.isin(fixing.index)].year):
        if len(bar) < 50:
            continue
        same, prev = fixing.reindex(bar.index), previous.reindex(bar.index)
        moved = bar[bar.close != bar.open]
        rows.append(
            {
                "series": label,
                "year": year,
                "rows": len(bar),
                "C=O": (bar.close == bar.open).mean(),
                "|C-O|": med(moved.close, moved.open) if len(moved) else np.nan,
                "C-F(D-1)": med(bar.close, prev),
                "C-F(D)": med(bar.close, same),
                "O-F(D-1)": med(bar.open, prev),
                "F(D) in HL": ((bar.low <= same) & (same <= bar.high)).mean(),
            }
        )
    return pd.DataFrame(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=SHARED)
    data = parser.parse_args().data
    dexjpus = fred(data / "fred_DEXJPUS.csv")
    audjpy_fix = (fred(data / "more" / "fred_DEXUSAL.csv") * dexjpus).dropna()
    usdjpy = yahoo(data / "yahoo_USDJPY_daily.csv")
    tables = [
        by_year(usdjpy, dexjpus, "JPY=X"),
        by_year(yahoo(data / "more" / "yahoo_AUDJPY_X_2003-2021.csv"), audjpy_fix, "AUDJPY=X classic"),
        by_year(yahoo(data / "more" / "yahoo_AUDJPY_X_2019-2026.csv"), audjpy_fix, "AUDJPY=X yfinance"),
    ]
    with pd.option_context("display.width", 120, "display.max_rows", 200, "display.float_format", "{:.3f}".format):
        for table in tables:
            print(table.to_string(index=False), end="\n\n")
        for table in tables:
            for era, part in (("until 2009", table[table.year <= 2009]), ("from 2011", table[table.year >= 2011])):
                if len(part):
                    print(
                        f"{table.series.iloc[0]:18} {era}: "
                        + ", ".join(
                            f"{c} {part[c].median():.3f}"
                            for c in ("C=O", "|C-O|", "C-F(D-1)", "C-F(D)", "O-F(D-1)", "F(D) in HL")
                        )
                    )
    print()
    for label, bars in (("JPY=X", usdjpy), ("AUDJPY=X", yahoo(data / "more" / "yahoo_AUDJPY_X_2003-2021.csv"))):
        switch = bars.loc["2010-01":"2010-12"]
        monthly = (np.abs(np.log(switch.close / switch.open)) * 100).groupby(switch.index.month).median()
        print(f"{label} 2010, monthly median |C-O| %: " + ", ".join(f"{m:02d}: {v:.3f}" for m, v in monthly.items()))
    bitstamp = pd.read_csv(data / "btc_close_multiccy_daily_bitstamp.csv", parse_dates=["Date"]).set_index("Date")
    implied = (bitstamp.BTC_JPY / bitstamp.BTC_USD).sort_index()
    common = usdjpy.index.intersection(implied.index)
    next_close = usdjpy.close.shift(-1).reindex(common)
    same_day = med(implied[common], usdjpy.close[common])
    print(
        f"\nBitstamp implied USD/JPY (D, 00:01 UTC) vs Yahoo close of D: {same_day:.3f}%,"
        f" vs close of the next bar: {med(implied[common], next_close):.3f}% ({len(common)} days)"
    )


if __name__ == "__main__":
    main()
