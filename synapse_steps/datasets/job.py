"""What every converter receives and returns (the registry in ``convert`` depends on it)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from synapse_steps.datasets.report import Tally

ProgressCallback = Callable[[int, int], object]


@dataclass(frozen=True)
class ConversionJob:
    """A converter reads ``source`` and writes into ``staging``.

    ``final`` is where ``staging`` is moved once the converter returns; use it for paths that are
    written *into* files (YOLO's absolute ``path``), never to write to. ``progress`` is called as
    ``progress(done, total)`` once per item.
    """

    source: Path
    staging: Path
    final: Path
    tally: Tally
    progress: ProgressCallback | None = None

    def report_progress(self, done: int, total: int) -> None:
        if self.progress is not None:
            self.progress(done, total)


@dataclass(frozen=True)
class Written:
    """What a converter produced: its config file (relative to the output) and the layout."""

    config: str
    is_categorized: bool
