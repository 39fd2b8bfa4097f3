"""YOLO -> DM v2: read what Ultralytics reads.

``dataset.yaml`` (or ``data.yaml``) gives the class names (a list, or a mapping id -> name) and
the image folders of ``train`` / ``val`` / ``test``; each image's label file sits where
Ultralytics looks for it (the last ``images`` path component replaced by ``labels``). Rows of 5
numbers become boxes, rows of 2k+1 numbers (k >= 3) polygons; an image without a label file has
no objects. Image sizes come from the image headers.

Damaged input (``docs/datasets.md``, "Hostile or damaged input"): rows partly outside the image are
clipped to it, as DM v2 -> YOLO clips; rows with nothing inside, malformed rows and images whose
header cannot be read are skipped and reported. Label files are split at "\n" only.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

from synapse_steps.datasets.classes import valid_class_name
from synapse_steps.datasets.dm_v2 import (
    AnnotationIds,
    DMv2Writer,
    canonical_split,
    dm_annotation,
    dm_document,
)
from synapse_steps.datasets.files import read_bytes
from synapse_steps.datasets.geometry import (
    COORDINATE_LIMIT,
    Rejected,
    clip_box,
    clip_polygon,
    polygon_of,
)
from synapse_steps.datasets.images import size_or_skip
from synapse_steps.datasets.job import ConversionJob, Written
from synapse_steps.datasets.paths import ensure_inside, is_image_name, real_root, safe_join
from synapse_steps.errors import DatasetError

YAML_NAMES = ("dataset.yaml", "data.yaml")


def yolo_to_dm(job: ConversionJob, *, link_images: bool = False) -> Written:
    """Convert a YOLO dataset (``dataset.yaml`` + images/labels folders) to DM v2.

    ``job.source`` is the dataset folder or its YAML file. Rows of 5 numbers become boxes, rows of
    2k+1 numbers (k >= 3) polygons; an image without a label file has no objects.
    """
    config_path = _find_config(job.source)
    names = _read_names(config_path)
    root, splits = _read_splits(config_path)
    boundary = real_root(root)
    listings = {split: _list_images(folder, boundary) for split, folder in splits.items()}
    writer = DMv2Writer(job.staging, categorized=None not in splits, link_images=link_images)
    total = sum(len(names_) for names_ in listings.values())
    job.report_progress(0, total)
    done = 0
    for split, image_names in listings.items():
        writer.start_split(split)
        images = splits[split]
        labels = _labels_folder(images)
        stems = set()
        for image_name in image_names:
            image_path = images / image_name
            stem = os.path.splitext(image_name)[0]
            stems.add(stem)
            label_path = labels / f"{stem}.txt"
            done += 1
            # Every image is checked, with or without a label file: an empty or corrupt image
            # is reported and left out, never copied as if it were a negative example.
            size = size_or_skip(image_path, str(image_path.relative_to(root)), job.tally)
            if size is None:
                job.report_progress(done, total)
                continue
            document = _dm_from_label(label_path, size, names, root, boundary, job)
            writer.write(split, image_path, document)
            job.tally.items_written += 1
            job.report_progress(done, total)
        _report_orphan_labels(labels, stems, root, job)
    return Written(config=".", is_categorized=None not in splits)


def _find_config(source: Path) -> Path:
    if source.is_file():
        return source
    for name in YAML_NAMES:
        if (source / name).is_file():
            return source / name
    candidates = sorted(source.glob("*.yaml")) if source.is_dir() else []
    if len(candidates) == 1:
        return candidates[0]
    raise DatasetError(
        f"No YOLO dataset config found in {source}: expected dataset.yaml or data.yaml "
        f"(found {[c.name for c in candidates] or 'no .yaml files'}). Pass the YAML file itself."
    )


def _load_config(config_path: Path) -> dict[str, Any]:
    try:
        config = yaml.safe_load(read_bytes(config_path))
    except yaml.YAMLError as error:  # non-UTF-8 text included (yaml.reader.ReaderError)
        raise DatasetError(f"{config_path} is not valid YAML: {error}") from None
    except RecursionError:
        raise DatasetError(
            f"{config_path} is nested too deeply to read; a dataset.yaml is a flat mapping."
        ) from None
    if not isinstance(config, dict):
        raise DatasetError(f"{config_path} must be a YAML mapping with 'names' and 'train'.")
    return config


def _read_names(config_path: Path) -> list[str]:
    """Class names in id order from ``names`` (a list, or a dict id -> name)."""
    config = _load_config(config_path)
    names = config.get("names")
    if isinstance(names, dict):
        by_id = {_class_id(key): value for key, value in names.items()}
        if None in by_id or sorted(by_id) != list(range(len(names))):  # type: ignore[type-var]
            raise DatasetError(
                f"{config_path}: 'names' as a mapping needs the ids 0..{len(names) - 1}, "
                f"got keys {list(names)}."
            )
        names = [by_id[index] for index in range(len(by_id))]
    if not isinstance(names, list) or not all(valid_class_name(n) for n in names):
        raise DatasetError(
            f"{config_path}: 'names' must be a list of class names or a mapping id -> name, "
            "each a non-empty string without line breaks or lone surrogates, got "
            f"{names!r}."
        )
    if len(set(names)) != len(names):
        raise DatasetError(f"{config_path}: 'names' lists a class twice: {names!r}.")
    declared = config.get("nc")
    if declared is not None and (type(declared) is not int or declared != len(names)):
        raise DatasetError(f"{config_path}: nc is {declared} but 'names' lists {len(names)}.")
    return names


def _class_id(key: Any) -> int | None:
    """A ``names`` mapping key as a class id: an integer or a string of ASCII digits (not 1.5,
    ``true`` or ``.inf``, which ``int()`` would quietly turn into 1, 1 or an OverflowError)."""
    if type(key) is int:
        return key
    if isinstance(key, str) and key.isascii() and key.isdigit():
        return int(key)
    return None


def _usable_path_text(text: str) -> bool:
    """Can ``text`` name a file? Not with a NUL byte, nor with a lone surrogate (from a YAML
    escape like "\\uD800") that the file system encoding cannot represent."""
    if "\x00" in text:
        return False
    try:
        os.fsencode(text)
    except UnicodeEncodeError:
        return False
    return True


def _read_splits(config_path: Path) -> tuple[Path, dict[str | None, Path]]:
    """The dataset root and its image folders by DM split (``{None: ...}`` when uncategorized).

    The root is the YAML's own folder when the split folders are there (the dataset may have
    been moved since ``path`` was written), else ``path``.
    """
    config = _load_config(config_path)
    here = config_path.parent
    roots = [here]
    if isinstance(config.get("path"), str):
        roots.append(here / config["path"])
    entries: list[tuple[str, str]] = []
    for key in ("train", "val", "test"):
        value = config.get(key)
        if value is not None and not isinstance(value, str | list):
            raise DatasetError(
                f"{config_path}: '{key}' must name an image folder (or list several), "
                f"got {value!r}."
            )
        for relative in [value] if isinstance(value, str) else value or []:
            if (
                not isinstance(relative, str)
                or relative.endswith(".txt")
                or not _usable_path_text(relative)
            ):
                raise DatasetError(
                    f"{config_path}: '{key}' must name image folders; got {relative!r} (image "
                    "list .txt files are not supported)."
                )
            entries.append((key, relative))
    if not entries:
        raise DatasetError(f"{config_path} names no 'train' / 'val' / 'test' image folders.")
    root = next((r for r in roots if (r / entries[0][1]).is_dir()), here)
    boundary = real_root(root)
    folders: dict[Path, str] = {}
    for key, relative in entries:
        folder = safe_join(root, relative, root=boundary, named_by=config_path)
        if not folder.is_dir():
            raise DatasetError(f"{config_path}: {key} folder {folder} does not exist.")
        folders.setdefault(folder, key)
    return root, _split_names(folders, root, config_path)


def _split_names(folders: dict[Path, str], root: Path, config_path: Path) -> dict[str | None, Path]:
    if len(folders) == 1 and next(iter(folders)) == root / "images":
        return {None: root / "images"}
    keyed = {"train": "train", "val": "valid", "test": "test"}
    splits: dict[str | None, Path] = {}
    for folder, key in folders.items():
        from_folder = canonical_split(folder.parent.name) if folder.name == "images" else None
        split = from_folder or keyed[key]
        if split in splits:
            raise DatasetError(
                f"{config_path}: folders {splits[split]} and {folder} both map to the "
                f"'{split}' split."
            )
        splits[split] = folder
    return {s: splits[s] for s in ("train", "valid", "test") if s in splits}


def _labels_folder(images: Path) -> Path:
    """Ultralytics' rule: the last ``images`` component of the path becomes ``labels``."""
    parts = list(images.parts)
    for index in range(len(parts) - 1, -1, -1):
        if parts[index] == "images":
            parts[index] = "labels"
            return Path(*parts)
    return images  # labels next to the images


def _list_images(folder: Path, boundary: Path) -> list[str]:
    names = []
    with os.scandir(folder) as entries:
        for entry in entries:
            if entry.is_symlink():
                ensure_inside(Path(entry.path), boundary)
            if entry.is_file() and is_image_name(entry.name):
                names.append(entry.name)
    return sorted(names)


def _dm_from_label(
    label_path: Path,
    size: tuple[int, int],
    names: list[str],
    root: Path,
    boundary: Path,
    job: ConversionJob,
) -> dict[str, Any]:
    boxes: list[dict[str, Any]] = []
    polygons: list[dict[str, Any]] = []
    where = label_path.relative_to(root)
    if label_path.is_file():
        ensure_inside(label_path, boundary)
        width, height = size
        ids = AnnotationIds()
        for number, row in _label_rows(label_path, where):
            try:
                class_id, values = _parse_row(row, len(names))
                if len(values) == 4:
                    boxes.append(
                        dm_annotation(
                            ids.new("bounding_box"), names[class_id], _box(values, width, height)
                        )
                    )
                else:
                    points = _polygon(values, width, height)
                    polygons.append(dm_annotation(ids.new("polygon"), names[class_id], points))
            except Rejected as rejected:
                job.tally.skip_annotation(rejected.reason, f"{where}:{number}")
        job.tally.annotations_written += len(boxes) + len(polygons)
    catalogue = {"bounding_box": names, "polygon": names if polygons else []}
    return dm_document(catalogue, {"bounding_box": boxes, "polygon": polygons})


def _box(values: list[float], width: int, height: int) -> list[float]:
    """DM ``[x, y, w, h]`` in pixels of a ``cx cy w h`` row, clipped to the image.

    The rule of DM v2 -> YOLO, applied the other way: a box partly outside the image is clipped
    to it; one with nothing inside is reported, not written.
    """
    cx, cy, w, h = values
    if w <= 0 or h <= 0:
        raise Rejected("degenerate box")
    try:
        x1, y1, x2, y2 = clip_box(
            (cx - w / 2) * width, (cy - h / 2) * height, w * width, h * height, width, height
        )
    except Rejected:
        raise Rejected("box outside the image") from None
    return [x1, y1, x2 - x1, y2 - y1]


def _polygon(values: list[float], width: int, height: int) -> list[list[float]]:
    """DM polygon points in pixels of a ``x1 y1 x2 y2 ...`` row, cut at the image edges."""
    points = polygon_of(
        {"data": [[values[i] * width, values[i + 1] * height] for i in range(0, len(values), 2)]}
    )
    try:
        clipped = clip_polygon(points, width, height)
    except Rejected:
        raise Rejected("polygon outside the image") from None
    return [[x, y] for x, y in clipped]


def _label_rows(label_path: Path, where: Path) -> Iterator[tuple[int, str]]:
    """Numbered non-blank rows. Rows end at "\n" ("\r\n" too) only: ``str.splitlines`` would
    also split at NEL, U+2028 and other breaks that no YOLO reader treats as line ends."""
    try:
        text = read_bytes(label_path).decode("utf-8")
    except UnicodeDecodeError as error:
        raise DatasetError(
            f"{where} is not UTF-8 ({error.reason} at byte {error.start}): a YOLO label file is "
            "plain text rows of numbers. Fix or remove the file."
        ) from None
    for number, line in enumerate(text.split("\n"), 1):
        if line.strip():
            yield number, line


def _parse_row(row: str, class_count: int) -> tuple[int, list[float]]:
    tokens = row.split()
    count = len(tokens) - 1
    if count != 4 and (count < 6 or count % 2):
        raise Rejected("malformed label row")
    try:
        class_id = int(tokens[0])
        values = [float(token) for token in tokens[1:]]
    except ValueError:
        raise Rejected("malformed label row") from None
    if not 0 <= class_id < class_count:
        raise Rejected("unknown class id")
    for value in values:
        # Normalised values: anything beyond the coordinate limit is no position in an image.
        if not -COORDINATE_LIMIT <= value <= COORDINATE_LIMIT:
            reason = (
                "non-finite coordinates" if not math.isfinite(value) else "coordinate out of range"
            )
            raise Rejected(reason)
    return class_id, values


def _report_orphan_labels(labels: Path, stems: set[str], root: Path, job: ConversionJob) -> None:
    if not labels.is_dir():
        return
    with os.scandir(labels) as entries:
        for entry in sorted(entries, key=lambda e: e.name):
            stem, extension = os.path.splitext(entry.name)
            if extension == ".txt" and stem not in stems:
                job.tally.skip_item("label without image", Path(entry.path).relative_to(root))
