"""Progress bars for long steps (rich, on stderr), or silence when quiet or not interactive."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

stderr_console = Console(stderr=True)


class ProgressReporter:
    """A thin handle the extraction loop advances; `enabled=False` makes every call a no-op."""

    def __init__(self, enabled: bool = True) -> None:
        self.enabled = enabled
        self._progress: Progress | None = None

    @contextlib.contextmanager
    def session(self) -> Iterator[ProgressReporter]:
        if not self.enabled:
            yield self
            return
        self._progress = Progress(
            TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
            TextColumn("{task.fields[rate]}"), TimeElapsedColumn(), TimeRemainingColumn(),
            console=stderr_console, transient=False,
        )
        with self._progress:
            yield self
        self._progress = None

    def task(self, description: str, total: int | None) -> int | None:
        if self._progress is None:
            return None
        return self._progress.add_task(description, total=total, rate="")

    def advance(self, task: int | None, n: int, rate: str = "") -> None:
        if self._progress is not None and task is not None:
            self._progress.update(task, advance=n, rate=rate)

    def finish(self, task: int | None, note: str = "") -> None:
        if self._progress is not None and task is not None:
            total = self._progress.tasks[task].total
            self._progress.update(task, completed=total, rate=note)

    def log(self, message: str) -> None:
        if self.enabled:
            stderr_console.print(message, highlight=False)


NO_PROGRESS = ProgressReporter(enabled=False)
