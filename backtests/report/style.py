"""Colours shared by the PNG charts and the interactive ones, so both read the same way."""

REGIME_COLOURS = {"calm": "#d9f0d3", "elevated": "#fff2b3", "stress": "#fdd0a2", "crisis": "#f4a6a6"}
PLAIN, CARRY, MARKET = "#1f77b4", "#ff7f0e", "#8c8c8c"  # without overlay, with it, buy & hold
