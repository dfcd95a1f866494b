"""Decide: strategies, bottom-fishing baselines and the carry-unwind overlay."""
