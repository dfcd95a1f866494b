"""A small, deterministic run folder in the documented "Results layout", for compare/report tests.

Prices follow a seeded random walk; two strategies (one a baseline), each with and
without a toy overlay (multiplier by regime); equity compounds the previous close's
exposure. The numbers do not matter, only that the files look like `carryguard backtest`'s.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

MULTIPLIER = {"calm": 1.0, "elevated": 0.75, "stress": 0.5, "crisis": 0.25}
STRATEGIES = (("sma_cross", False), ("dip_buy", True))


def regime_of(score: float) -> str:
    return "calm" if score < 40 else "elevated" if score < 60 else "stress" if score < 80 else "crisis"


def synthetic_prices(index: pd.DatetimeIndex, seed: int) -> pd.Series:
    rng = np.random.default_rng(seed)
    steps = rng.normal(0.0003, 0.035, len(index))
    return pd.Series(20_000.0 * np.exp(np.cumsum(steps)), index=index)


def synthetic_risk(index: pd.DatetimeIndex) -> pd.DataFrame:
    t = np.arange(len(index))
    score = 50 + 45 * np.sin(2 * np.pi * t / 120.0)
    return pd.DataFrame({"score": score, "regime": [regime_of(s) for s in score]}, index=index)


def strategy_exposure(name: str, close: pd.Series) -> pd.Series:
    if name == "sma_cross":
        return (close > close.rolling(20, min_periods=1).mean()).astype(float)
    drawdown = close / close.rolling(60, min_periods=1).max() - 1
    return (drawdown < -0.10).astype(float)


def simulate(close: pd.Series, exposure: pd.Series, cash0: float = 10_000.0) -> pd.DataFrame:
    """Equity compounding the exposure held from the previous close."""
    returns = close.pct_change().fillna(0.0)
    held = exposure.shift(1).fillna(0.0)
    equity = cash0 * (1 + held * returns).cumprod()
    cash = equity * (1 - exposure)
    return pd.DataFrame({"equity": equity, "cash": cash, "position": equity * exposure / close})


def metrics_of(equity: pd.Series, exposure: pd.Series, close: pd.Series) -> dict[str, object]:
    returns = equity.pct_change().dropna()
    years = (equity.index[-1] - equity.index[0]).days / 365
    total = equity.iloc[-1] / equity.iloc[0]
    drawdown = equity / equity.cummax() - 1
    sharpe = float(returns.mean() / returns.std() * np.sqrt(365)) if returns.std() > 0 else float("nan")
    return {
        "Start": equity.index[0].isoformat(),
        "End": equity.index[-1].isoformat(),
        "Duration": f"{(equity.index[-1] - equity.index[0]).days} days",
        "Exposure Time [%]": round(float((exposure > 0).mean() * 100), 6),
        "Equity Final [$]": round(float(equity.iloc[-1]), 6),
        "Return [%]": round(float((total - 1) * 100), 6),
        "Buy & Hold Return [%]": round(float((close.iloc[-1] / close.iloc[0] - 1) * 100), 6),
        "CAGR [%]": round(float((total ** (1 / years) - 1) * 100), 6),
        "Volatility (Ann.) [%]": round(float(returns.std() * np.sqrt(365) * 100), 6),
        "Sharpe Ratio": round(sharpe, 6),
        "Sortino Ratio": None,
        "Calmar Ratio": None,
        "Max. Drawdown [%]": round(float(drawdown.min() * 100), 6),
        "Max. Drawdown Duration": "0 days",
        "# Trades": int((exposure.diff() > 0).sum()),
        "Win Rate [%]": None,
        "Profit Factor": None,
        "Expectancy [%]": None,
        "Turnover": None,
        "Fees [$]": 0.0,
    }


def write_run(
    root: Path,
    *,
    start: str = "2022-01-01",
    days: int = 455,
    seed: int = 7,
    name: str = "synthetic",
    symbols: tuple[str, ...] = ("BTC/USDT",),
    overlays: tuple[bool, ...] = (False, True),
) -> Path:
    """Write a run folder under ``root`` and return its path."""
    index = pd.date_range(start, periods=days, freq="D", tz="UTC", name="time")
    run_id = f"{index[0]:%Y%m%d}-000000-{name}"
    folder = root / run_id
    folder.mkdir(parents=True)
    risk = synthetic_risk(index)
    multiplier = risk["regime"].map(MULTIPLIER)
    results, equity_rows, exposure_rows, price_rows, trade_rows = [], [], [], [], []
    for s, symbol in enumerate(symbols):
        close = synthetic_prices(index, seed + s)
        price_rows.append(
            pd.DataFrame(
                {
                    "time": index,
                    "symbol": symbol,
                    "timeframe": "1d",
                    "open": close.shift(1).bfill(),
                    "high": close * 1.01,
                    "low": close * 0.99,
                    "close": close,
                }
            )
        )
        for strategy, baseline in STRATEGIES:
            raw = strategy_exposure(strategy, close)
            for overlay in overlays:
                final = raw * multiplier if overlay else raw
                book = simulate(close, final)
                policy = "carry" if overlay else "none"
                keys = {"strategy": strategy, "symbol": symbol, "timeframe": "1d", "overlay": policy}
                results.append({**keys, "baseline": baseline, "metrics": metrics_of(book["equity"], final, close)})
                equity_rows.append(book.reset_index().assign(**keys))
                exposure_rows.append(
                    pd.DataFrame(
                        {
                            "time": index,
                            **keys,
                            "strategy_exposure": raw.to_numpy(),
                            "risk_score": risk["score"].to_numpy() if overlay else np.nan,
                            "regime": risk["regime"].to_numpy() if overlay else "",
                            "multiplier": multiplier.to_numpy() if overlay else 1.0,
                            "vol_scale": 1.0,
                            "final_exposure": final.to_numpy(),
                        }
                    )
                )
                trade_rows.append(
                    {
                        **keys,
                        "entry_time": index[1].isoformat(),
                        "exit_time": "",
                        "entry_price": close.iloc[1],
                        "exit_price": close.iloc[-1],
                        "qty": 0.1,
                        "pnl": 1.0,
                        "return_pct": 0.5,
                        "fees": 0.1,
                        "is_open": True,
                    }
                )
    manifest = {
        "run_id": run_id,
        "created_at": "2026-01-01T00:00:00+00:00",
        "study": {"name": name, "symbols": list(symbols), "timeframe": "1d", "start": start},
        "engine": "synthetic",
        "data": {
            "binance/BTC-USDT/1d": {
                "content_hash": "abc123",
                "first": index[0].isoformat(),
                "last": index[-1].isoformat(),
                "rows": days,
                "origin": "synthetic",
            }
        },
        "versions": {"carryguard": "0.1.0"},
        "seed": seed,
    }
    (folder / "manifest.json").write_text(json.dumps(manifest, indent=2))
    (folder / "metrics.json").write_text(json.dumps({"results": results}, indent=2))
    book_cols = ["time", "strategy", "symbol", "timeframe", "overlay"]
    pd.concat(equity_rows)[[*book_cols, "equity", "cash", "position"]].to_csv(folder / "equity.csv", index=False)
    pd.concat(exposure_rows).to_csv(folder / "exposure.csv", index=False)
    pd.concat(price_rows).to_csv(folder / "prices.csv", index=False)
    pd.DataFrame(trade_rows).to_csv(folder / "trades.csv", index=False)
    pd.DataFrame(columns=[*book_cols, "side", "qty", "price", "fee"]).to_csv(folder / "fills.csv", index=False)
    risk.reset_index().to_csv(folder / "risk.csv", index=False)
    return folder
