"""Live paper trading: the backtested strategy + overlay on live exchange bars, with a
crash-safe SQLite book (``state``), the bar loop (``loop``), the decision maker
(``decide``) and optional testnet orders (``sandbox``)."""
