"""Live paper trading: the backtested strategy + overlay on live exchange bars, with a
crash-safe SQLite book (``state``) of plain values (``records``), the bar loop (``loop``)
reading the exchange through ``feed``, the decision maker (``decide``) and optional
testnet orders (``sandbox``)."""
