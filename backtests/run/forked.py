"""Forked helper processes (the sweep's heatmap, the report's PNG charts) that end when told.

A fork inherits its parent's SIGTERM handler: a parent that ignores SIGTERM or turns it into
a stop request (``paper run`` in-process, a bot embedding carryguard) would leave a child
that ``terminate()`` cannot end. ``start`` blocks SIGTERM around the fork, and the child's
``default_sigterm`` restores the default action before unblocking it, so a SIGTERM sent at
any moment ends the child (one sent to the parent meanwhile waits for its own handler).
"""

from __future__ import annotations

import signal
from multiprocessing.process import BaseProcess


def start(process: BaseProcess) -> None:
    """``process.start()`` with SIGTERM held back in both processes until each is ready."""
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})
    try:
        process.start()
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def default_sigterm() -> None:
    """First call in the child: SIGTERM ends it (a pending one now)."""
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM})
