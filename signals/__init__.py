"""Observe: data sources, the local store, indicators, macro features and the risk index."""
