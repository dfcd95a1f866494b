"""Run and judge: engines, metrics, reports, comparison, sweeps, paper trading, CLI."""
