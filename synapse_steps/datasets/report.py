"""What a conversion wrote and what it left out, and why.

Converters never drop data silently: every skipped item or annotation is counted under a short
reason and the first few offenders are named, so a user can open the file and fix it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# Enough examples to find the pattern without turning a 100k-problem report into 100k lines.
EXAMPLES_PER_REASON = 5


class Tally:
    """Mutable counters a converter fills while it runs; frozen into a ``ConversionResult``."""

    def __init__(self) -> None:
        self.items_written = 0
        self.items_skipped = 0
        self.annotations_written = 0
        self.annotations_skipped = 0
        self.reasons: dict[str, int] = {}
        self.examples: dict[str, list[str]] = {}

    def skip_item(self, reason: str, where: str | Path) -> None:
        self.items_skipped += 1
        self._note(reason, where, 1)

    def skip_annotation(self, reason: str, where: str | Path, count: int = 1) -> None:
        self.annotations_skipped += count
        self._note(reason, where, count)

    def _note(self, reason: str, where: str | Path, count: int) -> None:
        self.reasons[reason] = self.reasons.get(reason, 0) + count
        examples = self.examples.setdefault(reason, [])
        if len(examples) < EXAMPLES_PER_REASON:
            examples.append(str(where))


@dataclass(frozen=True)
class ConversionResult:
    """The outcome of ``convert``.

    ``path`` is the output folder; ``config_path`` the file a trainer is pointed at (YOLO:
    ``dataset.yaml``; COCO: the train or default annotation file; DM v2: the root folder).
    ``skipped_reasons`` maps a reason to how many items/annotations it skipped and
    ``skipped_examples`` names up to five files (with detail) per reason.
    """

    path: Path
    config_path: Path
    format: str
    is_categorized: bool
    items_written: int
    items_skipped: int
    annotations_written: int
    annotations_skipped: int
    skipped_reasons: Mapping[str, int] = field(default_factory=dict)
    skipped_examples: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    @classmethod
    def from_tally(
        cls, tally: Tally, *, path: Path, config_path: Path, format: str, is_categorized: bool
    ) -> ConversionResult:
        return cls(
            path=path,
            config_path=config_path,
            format=format,
            is_categorized=is_categorized,
            items_written=tally.items_written,
            items_skipped=tally.items_skipped,
            annotations_written=tally.annotations_written,
            annotations_skipped=tally.annotations_skipped,
            skipped_reasons=dict(sorted(tally.reasons.items())),
            skipped_examples={
                reason: tuple(tally.examples[reason]) for reason in sorted(tally.examples)
            },
        )

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-serialisable data (paths as strings)."""
        return {
            "path": str(self.path),
            "config_path": str(self.config_path),
            "format": self.format,
            "is_categorized": self.is_categorized,
            "items_written": self.items_written,
            "items_skipped": self.items_skipped,
            "annotations_written": self.annotations_written,
            "annotations_skipped": self.annotations_skipped,
            "skipped_reasons": dict(self.skipped_reasons),
            "skipped_examples": {k: list(v) for k, v in self.skipped_examples.items()},
        }
