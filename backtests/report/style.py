"""Colours shared by the PNG charts and the interactive ones, so both read the same way."""

REGIME_COLOURS = {"calm": "#d9f0d3", "elevated": "#fff2b3", "stress": "#fdd0a2", "crisis": "#f4a6a6"}
PLAIN, CARRY, MARKET = "#1f77b4", "#ff7f0e", "#8c8c8c"  # without overlay, with it, buy & hold
OVERLAY_COLOURS = {
    "none": PLAIN,
    "carry": CARRY,
    "vol_target": "#2ca02c",
    "trend": "#9467bd",
    "yen_shock": "#d62728",
    "carry_confirmed": "#8c564b",
    "vol_target*carry": "#e377c2",
}
SPARE = ("#17becf", "#bcbd22", "#7f7f7f", "#393b79", "#637939")  # other overlays, in run order


def overlay_colour(overlay: str, overlays: list[str]) -> str:
    """The colour of an overlay's lines: fixed for the study's policies, else the next spare one."""
    if overlay in OVERLAY_COLOURS:
        return OVERLAY_COLOURS[overlay]
    others = [o for o in overlays if o not in OVERLAY_COLOURS]
    return SPARE[others.index(overlay) % len(SPARE)] if overlay in others else SPARE[0]
