"""The one DM v2 layout rule: which splits a folder has and which JSON/image files pair up.

Used by ``LocalBackend.import_dataset`` / ``DataCollection`` / exports and by the converters, so
the same folder gives the same items and the same skipped files on every path. Only file names
are listed (nothing is parsed), so this is cheap even for large datasets.

Rules:

* ``<root>/json`` or ``<root>/original_files``: uncategorized; otherwise split folders
  ``train``/``valid``/``test`` (``val``/``validation`` mean ``valid``, any case). Both at once,
  two folders for one split, or a non-split folder holding a ``json/`` folder are errors.
* ``json/<stem>.json`` pairs with ``original_files/<stem>.<ext>`` (jpg, jpeg, png, bmp, webp,
  any case). A JSON without an image, an image without a JSON, a JSON whose only image has an
  unsupported type and a stem shared by several images are skipped and reported, never raised.
* Hidden files (``.DS_Store``) are never data; other stray files are ignored.
* Every listed file and folder must resolve inside the dataset root (symlinks included).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import NamedTuple

from synapse_steps.errors import DatasetError
from synapse_steps.storage.constants import (
    IMAGE_DIR,
    IMAGE_EXTENSIONS,
    JSON_DIR,
    SPLITS,
    canonical_split,
)
from synapse_steps.storage.paths import ensure_inside

LAYOUT_HINT = (
    "expected DM v2: <root>/json + <root>/original_files (uncategorized) or "
    "<root>/<split>/json + <root>/<split>/original_files with split in train/valid/test "
    "(aliases val/, validation/)"
)


class SplitPairs(NamedTuple):
    """One split's items: ``(json name, image name)`` sorted, and ``(reason, path)`` skipped."""

    pairs: list[tuple[str, str]]
    skipped: list[tuple[str, str]]  # path relative to the dataset root, posix style


def find_splits(root: Path) -> dict[str | None, Path]:
    """``{None: root}`` when uncategorized, else ``{split: folder}`` in train/valid/test order."""
    if not root.is_dir():
        raise DatasetError(
            f"DM v2 dataset folder {root} does not exist or is not a folder; {LAYOUT_HINT}."
        )
    with os.scandir(root) as entries:
        folders = {
            e.name: Path(e.path) for e in entries if e.is_dir() and not e.name.startswith(".")
        }
    splits: dict[str, Path] = {}
    for name in sorted(folders):
        split = canonical_split(name)
        if split is None:
            if name not in (JSON_DIR, IMAGE_DIR) and (folders[name] / JSON_DIR).is_dir():
                raise DatasetError(
                    f"{folders[name]} has a json/ folder but {name!r} is not a split name; "
                    f"use one of {', '.join(SPLITS)} ('val'/'validation' mean 'valid')."
                )
            continue
        if split in splits:
            raise DatasetError(
                f"DM v2 dataset {root} has two folders for the '{split}' split: "
                f"{splits[split].name}/ and {name}/ both mean split '{split}'. Merge them into one."
            )
        splits[split] = folders[name]
    flat = JSON_DIR in folders or IMAGE_DIR in folders
    if flat and splits:
        raise DatasetError(
            f"DM v2 dataset {root} mixes an uncategorized layout (json/, original_files/) with "
            f"split folders ({', '.join(s.name + '/' for s in splits.values())}). Keep one layout."
        )
    if flat:
        return {None: root}
    if not splits:
        raise DatasetError(
            f"{root} is not a DM v2 dataset. No json/ folder and no split folders in it (found "
            f"{sorted(folders) or 'no folders'}); {LAYOUT_HINT}."
        )
    return {split: splits[split] for split in SPLITS if split in splits}


def pair_split(folder: Path, root: Path, boundary: Path) -> SplitPairs:
    """Pair ``folder/json/<stem>.json`` with ``folder/original_files/<stem>.<ext>``.

    ``boundary`` is the resolved root (``paths.real_root``) every file must stay inside.
    """
    where = f"{folder.relative_to(root).as_posix()}/".removeprefix("./")
    jsons = _list(folder / JSON_DIR, boundary)
    images: dict[str, list[str]] = {}
    others: dict[str, str] = {}
    for name in _list(folder / IMAGE_DIR, boundary):
        stem, dot, extension = name.rpartition(".")
        if not dot:
            stem = name
        if dot and f".{extension.lower()}" in IMAGE_EXTENSIONS:
            images.setdefault(stem, []).append(name)
        else:
            others[stem] = name
    pairs: list[tuple[str, str]] = []
    skipped: list[tuple[str, str]] = []
    for name in sorted(jsons):
        if not name.lower().endswith(".json"):
            continue  # a stray file in json/ (notes, a thumbnail db): not an item
        stem = name[:-5]
        found = images.pop(stem, None)
        if found is None:
            if stem in others:
                skipped.append(
                    (
                        "unsupported image type",
                        f"{where}{IMAGE_DIR}/{others[stem]} (not jpg/png/bmp/webp)",
                    )
                )
            else:
                skipped.append(("json without image", f"{where}{JSON_DIR}/{name}"))
        elif len(found) > 1:
            shared = " and ".join(sorted(found))
            skipped.append(("several images share one stem", f"{where}{IMAGE_DIR}/{shared}"))
        else:
            pairs.append((name, found[0]))
    for stem in sorted(images):
        for name in images[stem]:
            skipped.append(("image without json", f"{where}{IMAGE_DIR}/{name}"))
    return SplitPairs(pairs, skipped)


def _list(folder: Path, boundary: Path) -> list[str]:
    """Visible file names in ``folder`` (none if missing); symlinks must stay inside."""
    if not folder.exists():
        return []
    ensure_inside(folder, boundary)
    names = []
    with os.scandir(folder) as entries:
        for entry in entries:
            if entry.name.startswith("."):
                continue  # hidden files (.DS_Store, editor swap files) are never data
            if entry.is_symlink():
                ensure_inside(Path(entry.path), boundary)
            if entry.is_file():
                names.append(entry.name)
    return names
