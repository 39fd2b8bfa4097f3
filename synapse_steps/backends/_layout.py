"""A DM v2 folder as the store sees it (the rule itself is ``storage.layout``)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from synapse_steps.errors import DatasetError
from synapse_steps.storage.constants import IMAGE_DIR, IMAGE_EXTENSIONS, JSON_DIR
from synapse_steps.storage.layout import find_splits, pair_split
from synapse_steps.storage.paths import real_root


@dataclass(frozen=True)
class SplitFiles:
    """One split (or the whole uncategorized dataset) of a DM v2 folder."""

    pairs: tuple[tuple[Path, Path], ...]  # (json, image), sorted by stem
    skipped: tuple[str, ...]  # "<reason>: <path relative to the root>"


@dataclass(frozen=True)
class ScannedDataset:
    root: Path
    is_categorized: bool
    splits: dict[str | None, SplitFiles]  # key None when uncategorized; canonical split order

    @property
    def count(self) -> int:
        return sum(len(files.pairs) for files in self.splits.values())

    def unpaired(self) -> list[str]:
        """What was not stored, as ``"<reason>: <path>"`` (the converters' report format)."""
        return [entry for files in self.splits.values() for entry in files.skipped]


def scan_split(folder: Path, root: Path) -> SplitFiles:
    """Pair ``folder/json/<stem>.json`` with ``folder/original_files/<stem>.<image ext>``."""
    found = pair_split(folder, root, real_root(root))
    json_dir, image_dir = folder / JSON_DIR, folder / IMAGE_DIR
    pairs = tuple((json_dir / j, image_dir / i) for j, i in found.pairs)
    return SplitFiles(pairs, tuple(f"{reason}: {path}" for reason, path in found.skipped))


def scan_dm_v2(root: Path) -> ScannedDataset:
    """List the items of a DM v2 folder, split by split. Raises DatasetError on a bad layout."""
    folders = find_splits(root)
    splits: dict[str | None, SplitFiles] = {}
    for split, folder in folders.items():
        files = scan_split(folder, root)
        if split is None or files.pairs or files.skipped:
            splits[split] = files
    scanned = ScannedDataset(root, None not in folders, splits)
    if scanned.count == 0:
        raise DatasetError(
            f"No paired items in {root}: every json/<stem>.json needs an image "
            f"original_files/<stem>.<ext> ({', '.join(sorted(IMAGE_EXTENSIONS))}); "
            f"skipped: {', '.join(scanned.unpaired()[:10]) or 'nothing'}."
        )
    return scanned
