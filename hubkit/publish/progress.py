"""Progress for ``hubkit publish``: one bar per stage on a terminal, silence otherwise; stage timings always.

Bars go to stderr (stdout stays free for ``--json``). Timings are wall-clock seconds per stage and end up
only in the JSON report, never in anything committed.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from hubkit.secrets import redact

# Hashing happens inside conversion (sha256 while writing) and the upload: it has no bar of its own.
STAGES = ("convert", "upload", "verify")


class Progress:
    """Stage timings plus optional rich progress bars.

    Args:
        show: draw bars and messages on stderr (the CLI passes ``stderr.isatty() and not --json``).
        totals: number of steps per stage (revisions to convert, upload …), fixed once planning is done.

    Example:
        >>> progress = Progress(show=False)
        >>> with progress.timed("plan"):
        ...     pass
        >>> "plan" in progress.durations
        True
    """

    def __init__(self, *, show: bool = False) -> None:
        self.durations: dict[str, float] = {}
        self._lock = threading.Lock()
        self._bars: Any = None
        self._tasks: dict[str, Any] = {}
        self._console: Any = None
        if show:
            from rich.console import Console

            self._console = Console(stderr=True)

    # --- timings -----------------------------------------------------------------------------------
    @contextmanager
    def timed(self, stage: str) -> Iterator[None]:
        """Add the time spent inside the block to ``durations[stage]`` (thread-safe; stages may overlap)."""
        start = time.perf_counter()
        try:
            yield
        finally:
            with self._lock:
                self.durations[stage] = self.durations.get(stage, 0.0) + time.perf_counter() - start

    # --- messages ----------------------------------------------------------------------------------
    def say(self, message: str) -> None:
        """One line for the user on stderr (only when showing)."""
        if self._console is not None:
            self._console.print(redact(message), highlight=False, markup=False)

    # --- bars --------------------------------------------------------------------------------------
    def start(self, totals: dict[str, int]) -> None:
        """Show one bar per stage with a non-zero total."""
        if self._console is None or not any(totals.values()):
            return
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        self._bars = Progress(
            TextColumn("{task.description:>8}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=self._console,
            transient=False,
        )
        for stage in STAGES:
            if totals.get(stage):
                self._tasks[stage] = self._bars.add_task(stage, total=totals[stage])
        self._bars.start()

    def advance(self, stage: str, steps: int = 1) -> None:
        """Move ``stage``'s bar by ``steps``."""
        if self._bars is not None and stage in self._tasks:
            self._bars.advance(self._tasks[stage], steps)

    def stop(self) -> None:
        if self._bars is not None:
            self._bars.stop()
            self._bars = None


def wants_bars(json_output: bool) -> bool:
    """Draw bars only for a person at a terminal, never with ``--json``."""
    return not json_output and sys.stderr.isatty()
