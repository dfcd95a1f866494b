"""Decide: strategies, bottom-fishing baselines and the carry-unwind overlay.

Importing the package registers every strategy (``strategies.base.REGISTRY``).
"""

from carryguard.strategies import bottom, trend  # noqa: F401  (registration side effect)
