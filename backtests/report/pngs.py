"""The report's PNG charts, drawn by two processes: a forked child starts on them at once
while this process computes the rest of the report, and this one joins in when it is done.

Each chart is claimed once through a shared counter, so the two processes never draw the
same chart and each draws whole charts (the PNG bytes do not depend on which one drew it).
matplotlib is imported before the fork, so both processes have it loaded once. The child
is a plain forked process: it inherits the loaded run instead of receiving a pickled copy.
"""

from __future__ import annotations

import multiprocessing
from multiprocessing.sharedctypes import Synchronized
from pathlib import Path
from types import TracebackType

from carryguard.backtests.report.charts import chart_jobs
from carryguard.backtests.run import forked
from carryguard.backtests.run.folder import RunFolder


class PngDrawing:
    """``with PngDrawing(run) as drawing: ...; paths = drawing.finish()``: the child draws from
    the ``with`` on; ``finish`` draws whatever is left here, waits for the child and gives the
    PNG paths in chart order. Leaving the block without ``finish`` (an error) stops the child."""

    def __init__(self, run: RunFolder) -> None:
        self._run = run
        self._jobs = chart_jobs(run)
        context = multiprocessing.get_context("fork")
        self._claimed: Synchronized[int] = context.Value("i", 0)
        self._receive, self._send = context.Pipe(duplex=False)
        self._child = context.Process(target=self._draw_in_child, name="report PNG charts", daemon=True)

    def __enter__(self) -> PngDrawing:
        forked.start(self._child)
        self._send.close()  # the child holds the sending end: recv() sees EOF if it dies
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        if self._child.is_alive():
            self._child.terminate()
        self._child.join()
        self._receive.close()

    def finish(self) -> list[Path]:
        """Draw the charts the child has not claimed, then wait for it; the PNG paths in chart order."""
        self._draw_claimed()
        try:
            status, value = self._receive.recv()
        except EOFError:
            self._child.join()
            raise RuntimeError(f"the PNG chart process died (exit code {self._child.exitcode})") from None
        if status == "error":
            raise value
        return [self._run.path / f"{job.slug}.png" for job in self._jobs]

    def _draw_claimed(self) -> None:
        """Claim the next undrawn chart, draw and write it; until none is left."""
        while (index := self._claim()) < len(self._jobs):
            chart = self._jobs[index].draw(self._run)
            (self._run.path / f"{chart.slug}.png").write_bytes(chart.png())

    def _claim(self) -> int:
        with self._claimed.get_lock():
            index = self._claimed.value
            self._claimed.value = index + 1
        return index

    def _draw_in_child(self) -> None:
        forked.default_sigterm()  # terminate() ends it whatever the parent installed
        self._receive.close()
        try:
            self._draw_claimed()
        except BaseException as exc:  # handed to the parent, which raises it
            self._send.send(("error", _picklable(exc)))
        else:
            self._send.send(("ok", None))
        finally:
            self._send.close()


def _picklable(exc: BaseException) -> BaseException:
    """``exc`` if it survives pickling (to cross to the parent), else a RuntimeError with its text."""
    import pickle

    try:
        pickle.loads(pickle.dumps(exc))
    except Exception:  # any pickling failure: send the text instead
        return RuntimeError(f"{type(exc).__name__}: {exc}")
    return exc
