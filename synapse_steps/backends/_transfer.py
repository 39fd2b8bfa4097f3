"""Copying datasets and model files into and out of the store."""

from __future__ import annotations

import hashlib
import importlib
import os
import shutil
from collections.abc import Callable
from pathlib import Path

from synapse_steps.backends._layout import ScannedDataset, scan_dm_v2, scan_split
from synapse_steps.errors import BackendError

Transfer = Callable[[Path, Path], object]


def copy_file(source: Path, target: Path) -> None:
    # Looked up on the module at call time so tests can interrupt a copy half-way.
    shutil.copy2(source, target)


def move_file(source: Path, target: Path) -> None:
    os.replace(source, target)


def materialize(scanned: ScannedDataset, dest: Path, transfer: Transfer) -> dict[str, int]:
    """Write the paired items of ``scanned`` as a clean DM v2 tree at ``dest``.

    Returns ``{split: count}`` (empty for an uncategorized dataset). Unpaired files are not
    written; the caller reports them.
    """
    counts: dict[str, int] = {}
    for split, files in scanned.splits.items():
        if not files.pairs:
            continue
        base = dest if split is None else dest / split
        (base / "json").mkdir(parents=True)
        (base / "original_files").mkdir()
        for json_path, image in files.pairs:
            transfer(json_path, base / "json" / json_path.name)
            transfer(image, base / "original_files" / image.name)
        if split is not None:
            counts[split] = len(files.pairs)
    # A copy that silently produced fewer items would only be noticed much later: check now.
    written = scan_dm_v2(dest).count
    if written != scanned.count:
        raise BackendError(
            f"Copied {written} of {scanned.count} items from {scanned.root} to {dest}; "
            "the source changed during the copy or the disk is full. Retry the import."
        )
    return counts


def copy_splits(
    source: Path,
    dest: Path,
    splits: list[str | None],
    progress: Callable[[int, int], None] | None = None,
) -> dict[str | None, int]:
    """Copy the paired items of some splits of a stored dataset (``None``: uncategorized).

    ``progress(done, total)`` is called after each item, over all splits together.
    """
    scanned = [
        (split, scan_split(source if split is None else source / split, source).pairs)
        for split in splits
    ]
    total = sum(len(pairs) for _, pairs in scanned)
    done = 0
    counts: dict[str | None, int] = {}
    for split, pairs in scanned:
        base = dest if split is None else dest / split
        (base / "json").mkdir(parents=True)
        (base / "original_files").mkdir()
        for json_path, image in pairs:
            copy_file(json_path, base / "json" / json_path.name)
            copy_file(image, base / "original_files" / image.name)
            done += 1
            if progress is not None:
                progress(done, total)
        counts[split] = len(pairs)
    return counts


def convert_to_dm_v2(source: Path, source_format: str, output_dir: Path) -> tuple[Path, list[str]]:
    """Convert YOLO/COCO to DM v2 at ``output_dir``; return its root and what the converter skipped.

    Skipped entries read ``"<reason>: <example>"`` (the converter names up to five per reason).
    """
    try:
        # Imported lazily: the converters pull in more (yaml, image headers) than DM v2 needs.
        importlib.import_module("synapse_steps.datasets")
        from synapse_steps.datasets.convert import run_conversion
    except ImportError as exc:
        raise BackendError(
            f"Importing a {source_format!r} dataset needs synapse_steps.datasets.convert, which "
            f"could not be loaded ({exc}). Convert it to DM v2 first and import with "
            "format='dm_v2'."
        ) from exc
    result = run_conversion(
        source, source_format, "dm_v2", output_dir, None, False, {}, allow_store=True
    )
    skipped = [
        f"{reason}: {example}"
        for reason, examples in result.skipped_examples.items()
        for example in examples
    ]
    return Path(result.path), skipped


def copy_hashing(source: Path, target: Path) -> tuple[int, str]:
    """Copy one file, returning its size and sha256 computed from the bytes written."""
    digest = hashlib.sha256()
    size = 0
    with source.open("rb") as reader, target.open("wb") as writer:
        while chunk := reader.read(1 << 20):
            digest.update(chunk)
            writer.write(chunk)
            size += len(chunk)
    shutil.copystat(source, target)
    return size, digest.hexdigest()
