"""Engines that run one book (``backtrader``, the reference; ``fast``, numba) on the shared
execution semantics, plus the book and its metrics. Only names live here, so the CLI can
read them without importing an engine.

The default is ``fast``: a study's books in about a second once imported, with the same
fills as backtrader (parity tests; ``carryguard backtest --verify N`` re-checks N books of a
run); ``--engine backtrader`` runs the reference engine itself.
"""

ENGINE_NAMES = ("backtrader", "fast")
DEFAULT_ENGINE = "fast"
