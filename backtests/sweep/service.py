"""``run_sweep_study``: a sweep study from file to run folder (the ``sweep`` command's work).

``plan_sweep`` reads the study and builds its combos (every problem a ``StudyError``,
found before any work); ``run_sweep_study`` loads the bars (warm-up included) and the
risk index, runs the sweep and the optional walk-forward, the reference books
(``sweep.reference``), and writes the run folder.
The CLI only parses options, calls these two and prints.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from carryguard.backtests.run.layout import fingerprints
from carryguard.backtests.run.study import StudyError
from carryguard.backtests.sweep.chunk import SweepData, combos_warmup, load_history, load_risk, validate_combos
from carryguard.backtests.sweep.evaluate import SweepResult, sweep_result
from carryguard.backtests.sweep.executors import Evaluation, Progress, evaluate_groups
from carryguard.backtests.sweep.heatmap import HeatmapProcess, heatmap_axes, heatmap_spec
from carryguard.backtests.sweep.output import new_run_dir, write_sweep
from carryguard.backtests.sweep.reference import (
    ReferenceBook,
    default_book,
    default_combo,
    in_sample_book,
    reference_books,
)
from carryguard.backtests.sweep.study import SweepStudy, WalkForwardConfig, combos, load_sweep_study
from carryguard.backtests.sweep.walkforward import WalkForwardResult, plan_walk, walk_result
from carryguard.signals.errors import CarryguardError
from carryguard.signals.store import Store, series_id

# (task name, total) -> a callable advancing that task by n combos
Tracker = Callable[[str, int], Progress]


@dataclass(frozen=True)
class SweepPlan:
    """A validated sweep study and the combos it evaluates."""

    study: SweepStudy
    combos: list[dict[str, Any]]
    origin: str  # the study file, for messages
    warmup: int  # the most warm-up bars a combo wants (``validate_combos``)


@dataclass(frozen=True)
class SweepOutcome:
    """What a sweep produced: the ranked result, the walk-forward (if run), the reference
    books, the run folder and its summary document (``summary.json``, also ``--json``'s output)."""

    result: SweepResult
    walkforward: WalkForwardResult | None
    references: list[ReferenceBook]
    run_dir: Path
    summary: dict[str, Any]
    series: str


def plan_sweep(path: Path) -> SweepPlan:
    """Read a sweep study and build its combos; ``StudyError`` naming the file otherwise."""
    study = load_sweep_study(path)
    try:
        todo = combos(study)
        warmup = validate_combos(study.strategy, todo, overlay=study.overlay)
    except ValueError as error:
        raise StudyError(f"{path}: {error}") from None
    return SweepPlan(study, todo, str(path), warmup)


def run_sweep_study(
    plan: SweepPlan,
    store: Store,
    *,
    results_dir: Path,
    executor: str = "local",
    workers: int | None = None,
    scheduler: str | None = None,
    walk: bool | None = None,
    track: Tracker | None = None,
    drawer: HeatmapProcess | None = None,
) -> SweepOutcome:
    """Run ``plan`` on ``store``'s bars and write ``results_dir/<run-id>/``.

    walk: also run walk-forward (None: when the study has ``[walkforward]``).
    track: progress display, called once per phase ("sweep NAME", "walk-forward").
    drawer: a heatmap process started earlier (the caller ends it); default: a grid's
        heatmap is drawn in a process forked now, importing matplotlib while one core idles here.
    Raises ``CarryguardError`` for missing data or windows too short for a fold.
    """
    study, todo = plan.study, plan.combos
    own = drawer is None and study.search == "grid"
    with HeatmapProcess() if own else nullcontext(drawer if study.search == "grid" else None) as drawer:
        default = default_combo(study)  # a reference book: warmed up like the combos
        history = load_history(store, study, warmup=max(plan.warmup, combos_warmup(study, [default])))
        bars, first = history.bars, history.first
        run_walk = walk if walk is not None else study.walkforward is not None
        walk_config = (study.walkforward or WalkForwardConfig()) if run_walk else None
        plan_wf = None
        if walk_config is not None:
            try:
                plan_wf = plan_walk(bars.index, first, walk_config, metric=walk_config.metric or study.metric)
            except ValueError as error:
                raise CarryguardError(
                    f"{plan.origin}: walk-forward: {error}", fix="shorten [walkforward] train/test"
                ) from None
        risk_config = study.risk_config()
        risk = load_risk(store, bars, study.timeframe, risk_config) if study.overlay else None
        data = SweepData.build(bars, strategy=study.strategy, execution=study.execution, risk=risk, first=first)
        # One pass on one set of workers: the sweep's window, then the walk-forward's (combos already validated)
        groups = [[(first, len(bars))], *([plan_wf.windows] if plan_wf is not None else [])]
        names = [f"sweep {study.name}", "walk-forward"][: len(groups)]
        progress = [_tracker(track, name, len(todo)) for name in names]
        early = _Early(study, data, todo, drawer, executor)
        done = evaluate_groups(
            data,
            todo,
            groups,
            returns_only=[False, *([plan_wf.returns_only] if plan_wf is not None else [])],
            executor=executor,
            workers=workers,
            scheduler=scheduler,
            progress=progress,
            meanwhile=early.default_book,
            on_group=early.group_done,
        )
        result = early.result  # ranked as soon as the sweep's window came back
        wf = walk_result(study, data, todo, plan_wf, done.stats[1]) if plan_wf is not None else None
        references = reference_books(
            result, bars=bars, risk=risk, first=first, walkforward=wf, in_sample=early.in_sample, default=early.default
        )
        created = datetime.now(UTC)
        run_dir = new_run_dir(results_dir, study.name, created_at=created)
        sid = series_id(study.source, study.symbol, study.timeframe)
        inputs = [sid, *(risk_config.inputs().values() if study.overlay else ())]
        prints = fingerprints({name: store.meta(name) for name in inputs})
        png = drawer.png if drawer is not None and early.drawn else None
        doc = write_sweep(
            result, run_dir, data=prints, walkforward=wf, references=references, created_at=created, heatmap_png=png
        )
        return SweepOutcome(result, wf, references, run_dir, doc, sid)


class _Early:
    """Work of this process while the workers compute: the default book (needs no result) at
    once; when the sweep's window is in (group 0), its ranked result, the heatmap sent to be
    drawn and the in-sample best book, while the walk-forward's windows still run."""

    def __init__(
        self,
        study: SweepStudy,
        data: SweepData,
        todo: list[dict[str, Any]],
        drawer: HeatmapProcess | None,
        executor: str,
    ) -> None:
        self.study, self.data, self.todo, self.drawer, self.executor = study, data, todo, drawer, executor
        self.default: ReferenceBook | None = None
        self.in_sample: ReferenceBook | None = None
        self._result: SweepResult | None = None
        self.drawn = False

    @property
    def result(self) -> SweepResult:
        assert self._result is not None, "the sweep's window has not come back"
        return self._result

    def default_book(self) -> None:
        self.default = default_book(self.data, self.study, list(dict.fromkeys(k for c in self.todo for k in c)))

    def group_done(self, group: int, done: Evaluation) -> None:
        if group != 0:
            return
        self._result = result = sweep_result(self.study, self.data, self.todo, done, executor=self.executor)
        axes = heatmap_axes(result) if self.drawer is not None else None
        if self.drawer is not None and axes is not None:
            self.drawer.draw(heatmap_spec(result, axes))
            self.drawn = True
        self.in_sample = in_sample_book(self.data, result)


def _tracker(track: Tracker | None, name: str, total: int) -> Progress | None:
    return None if track is None else track(name, total)
