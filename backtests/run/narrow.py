"""A study narrowed or overridden by ``carryguard backtest``'s options (``--strategy``,
``--symbol``, ``--start``, ``--overlays`` ...): each value checked as the study file's
own, every mistake a ``StudyError`` naming the option."""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Any

from carryguard.backtests.run.study import (
    Study,
    StudyError,
    check_symbol,
    check_timeframe,
    check_window,
    overlay_spec,
    parse_strategies,
)
from carryguard.signals.timeparse import LATEST

if TYPE_CHECKING:
    import pandas as pd


def narrow(
    study: Study,
    *,
    strategies: tuple[str, ...] = (),
    symbols: tuple[str, ...] = (),
    timeframes: tuple[str, ...] = (),
    start: pd.Timestamp | None = None,
    end: pd.Timestamp | str | None = None,
    overlays: tuple[str, ...] = (),
    with_overlay: tuple[bool, ...] = (),
) -> Study:
    """The study restricted or overridden by command-line options (empty = keep).

    ``strategies`` are names or ``name+OVERLAY`` specs (``sma_cross+carry``,
    ``dip_buy+vol_target*carry``); a name the study lacks is added with default
    parameters. Plain names alone keep the study's overlays; when a spec names an overlay
    only the named overlays run (and ``none`` for the plain names beside them).
    ``overlays`` replaces the study's list; ``with_overlay`` (``--overlay/--no-overlay``)
    keeps only the sized (true) or unsized (false) books. ``start``/``end`` are parsed
    dates (``end`` may be ``"latest"``: the study's end is opened).
    """
    changes: dict[str, Any] = {}
    if strategies:
        existing = {s.name: s for s in study.strategies}
        specs = []
        named: list[str] = []
        plain = False
        for text in strategies:
            name, plus, overlay = text.strip().rpartition("+") if "+" in text else (text.strip(), "", "")
            if not name or (plus and not overlay):
                raise StudyError(f"bad strategy spec {text!r}: use NAME or NAME+OVERLAY, e.g. sma_cross+carry")
            if overlay:
                named.append(overlay_spec(overlay, "--strategy"))
            else:
                plain = True
            specs.append(existing.get(name) or parse_strategies({name: {}}, "--strategy")[0])
        changes["strategies"] = tuple(dict.fromkeys(specs))
        if not overlays and named:  # plain names beside NAME+OVERLAY specs mean "none"
            changes["overlays"] = tuple(dict.fromkeys((["none"] if plain else []) + named))
    if symbols:
        changes["symbols"] = tuple(check_symbol(s, "--symbol") for s in symbols)
    if timeframes:
        changes["timeframes"] = tuple(check_timeframe(t, "--timeframe") for t in timeframes)
    if overlays:
        changes["overlays"] = tuple(dict.fromkeys(overlay_spec(o, "--overlays") for o in overlays))
    if with_overlay:
        kept = tuple(o for o in changes.get("overlays", study.overlays) if (o != "none") in with_overlay)
        if not kept:
            wanted = "sized" if True in with_overlay else "unsized"
            raise StudyError(f"--overlay/--no-overlay: the study runs no {wanted} books", fix="drop the option")
        changes["overlays"] = kept
    if start is not None:
        changes["start"] = start
    if end is not None:
        changes["end"] = None if end == LATEST else end
    narrowed = replace(study, **changes)
    check_window(narrowed.start, narrowed.end, origin="--start/--end")
    for spec in (s for s in narrowed.overlays if s not in study.overlays):  # the study's own: checked on parsing
        try:
            narrowed.policy(spec)
        except (TypeError, ValueError) as exc:
            raise StudyError(f"overlay {spec!r}: {exc}") from None
    return narrowed
