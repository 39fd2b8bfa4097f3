"""Reading a DM v2 folder: which splits it has and which JSON/image files pair up.

Scanning only lists file paths; nothing is parsed, so it is cheap even for large datasets.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from synapse_steps.backends._paths import IMAGE_EXTENSIONS, SPLITS, canonical_split
from synapse_steps.errors import DatasetError

_LAYOUT_HINT = (
    "expected DM v2: <root>/json + <root>/original_files (uncategorized) or "
    "<root>/<split>/json + <root>/<split>/original_files with split in train/valid/test"
)


@dataclass(frozen=True)
class SplitFiles:
    """One split (or the whole uncategorized dataset) of a DM v2 folder."""

    pairs: tuple[tuple[Path, Path], ...]  # (json, image), sorted by stem
    unpaired: tuple[Path, ...]  # a JSON without image or an image without JSON


@dataclass(frozen=True)
class ScannedDataset:
    root: Path
    is_categorized: bool
    splits: dict[str | None, SplitFiles]  # key None when uncategorized; canonical split order

    @property
    def count(self) -> int:
        return sum(len(files.pairs) for files in self.splits.values())

    def unpaired(self) -> list[str]:
        """Unpaired files, relative to the root, for reports."""
        return [
            path.relative_to(self.root).as_posix()
            for files in self.splits.values()
            for path in files.unpaired
        ]


def _visible_files(folder: Path) -> list[Path]:
    if not folder.is_dir():
        return []
    # Hidden files (.DS_Store, editor swap files) are never data.
    return sorted(p for p in folder.iterdir() if not p.name.startswith(".") and p.is_file())


def _check_inside(path: Path, root: Path) -> None:
    if not path.resolve().is_relative_to(root):
        raise DatasetError(
            f"{path} resolves to {path.resolve()}, outside the dataset root {root}; a dataset must "
            "not link to files outside itself. Copy the file into the dataset instead."
        )


def scan_split(folder: Path, root: Path) -> SplitFiles:
    """Pair ``folder/json/<stem>.json`` with ``folder/original_files/<stem>.<image ext>``."""
    resolved_root = root.resolve()
    jsons = {p.stem: p for p in _visible_files(folder / "json") if p.suffix.lower() == ".json"}
    images: dict[str, Path] = {}
    for image in _visible_files(folder / "original_files"):
        if image.suffix.lower() not in IMAGE_EXTENSIONS:
            continue  # stray file (notes, thumbnails db...): not an item
        if image.stem in images:
            raise DatasetError(
                f"Two images share the stem {image.stem!r}: {images[image.stem].name} and "
                f"{image.name} in {folder / 'original_files'}; keep one so that "
                f"json/{image.stem}.json pairs with a single image."
            )
        images[image.stem] = image
    pairs = []
    for stem in sorted(jsons.keys() & images.keys()):
        _check_inside(jsons[stem], resolved_root)
        _check_inside(images[stem], resolved_root)
        pairs.append((jsons[stem], images[stem]))
    unpaired = [jsons[s] for s in sorted(jsons.keys() - images.keys())]
    unpaired += [images[s] for s in sorted(images.keys() - jsons.keys())]
    return SplitFiles(tuple(pairs), tuple(unpaired))


def _split_folders(root: Path) -> dict[str, Path]:
    found: dict[str, Path] = {}
    for child in sorted(p for p in root.iterdir() if p.is_dir()):
        canon = canonical_split(child.name)
        if canon is None:
            if child.name not in ("json", "original_files") and (child / "json").is_dir():
                raise DatasetError(
                    f"{child} has a json/ folder but {child.name!r} is not a split name; "
                    f"use one of {', '.join(SPLITS)} ('val'/'validation' mean 'valid')."
                )
            continue
        if canon in found:
            raise DatasetError(
                f"{found[canon].name!r} and {child.name!r} in {root} both mean split {canon!r}; "
                "merge them into one folder."
            )
        found[canon] = child
    return found


def scan_dm_v2(root: Path) -> ScannedDataset:
    """List the items of a DM v2 folder, split by split. Raises DatasetError on a bad layout."""
    if not root.is_dir():
        raise DatasetError(f"{root} is not a folder; {_LAYOUT_HINT}.")
    folders = _split_folders(root)
    has_root_json = (root / "json").is_dir()
    if folders and has_root_json:
        raise DatasetError(
            f"{root} has both a json/ folder and split folders ({', '.join(folders)}); "
            "a DM v2 dataset is either categorized or not. Move json/ into a split folder."
        )
    if not folders and not has_root_json:
        raise DatasetError(f"No json/ folder and no split folders found in {root}; {_LAYOUT_HINT}.")
    splits: dict[str | None, SplitFiles] = {}
    if has_root_json:
        splits[None] = scan_split(root, root)
    for split in SPLITS:
        if split in folders:
            files = scan_split(folders[split], root)
            if files.pairs or files.unpaired:
                splits[split] = files
    scanned = ScannedDataset(root, not has_root_json, splits)
    if scanned.count == 0:
        raise DatasetError(
            f"No paired items in {root}: every json/<stem>.json needs an image "
            f"original_files/<stem>.<ext> ({', '.join(sorted(IMAGE_EXTENSIONS))}); "
            f"unpaired files: {', '.join(scanned.unpaired()[:10]) or 'none'}."
        )
    return scanned
