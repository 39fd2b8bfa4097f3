"""DataCollection: the items of a stored dataset, as a lazy sequence of data units."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any, overload

from synapse_steps.backends._layout import scan_split


@dataclass(frozen=True)
class DataUnit:
    """One item: a DM v2 JSON and its image. ``annotations`` parses the JSON on first access."""

    split: str | None  # None for an uncategorized dataset
    stem: str
    json_path: Path
    image_path: Path

    @cached_property
    def annotations(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(self.json_path.read_text(encoding="utf-8"))
        return data

    def as_dict(self) -> dict[str, Any]:
        """Paths as strings, without parsing the JSON."""
        return {
            "split": self.split,
            "stem": self.stem,
            "json": str(self.json_path),
            "image": str(self.image_path),
        }


class DataCollection(Sequence[DataUnit]):
    """The data units of one stored dataset (optionally some splits of it).

    Construction lists file paths only; annotations are read when a unit's ``annotations`` is
    first used.
    """

    def __init__(self, dataset_id: int, path: Path, splits: Sequence[str | None]) -> None:
        self.dataset_id = dataset_id
        self.path = path
        self._units: list[tuple[str | None, Path, Path]] = []
        self.splits: dict[str | None, int] = {}
        for split in splits:
            folder = path if split is None else path / split
            pairs = scan_split(folder, path).pairs
            self.splits[split] = len(pairs)
            self._units.extend((split, json_path, image) for json_path, image in pairs)

    def __len__(self) -> int:
        return len(self._units)

    @overload
    def __getitem__(self, index: int) -> DataUnit: ...

    @overload
    def __getitem__(self, index: slice) -> list[DataUnit]: ...

    def __getitem__(self, index: int | slice) -> DataUnit | list[DataUnit]:
        if isinstance(index, slice):
            return [self._unit(entry) for entry in self._units[index]]
        return self._unit(self._units[index])

    def __iter__(self) -> Iterator[DataUnit]:
        return (self._unit(entry) for entry in self._units)

    @staticmethod
    def _unit(entry: tuple[str | None, Path, Path]) -> DataUnit:
        split, json_path, image = entry
        return DataUnit(split, json_path.stem, json_path, image)

    def __repr__(self) -> str:
        parts = ", ".join(f"{k}={v}" for k, v in self.splits.items() if k is not None)
        detail = f", {parts}" if parts else ""
        return f"DataCollection(dataset={self.dataset_id}, items={len(self)}{detail})"
