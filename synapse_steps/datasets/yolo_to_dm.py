"""YOLO -> DM v2: read what Ultralytics reads.

``dataset.yaml`` (or ``data.yaml``) gives the class names (a list, or a mapping id -> name) and
the image folders of ``train`` / ``val`` / ``test``; each image's label file sits where
Ultralytics looks for it (the last ``images`` path component replaced by ``labels``). Rows of 5
numbers become boxes, rows of 2k+1 numbers (k >= 3) polygons; an image without a label file has
no objects. Image sizes come from the image headers.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

from synapse_steps.datasets.dm_v2 import (
    AnnotationIds,
    DMv2Writer,
    canonical_split,
    dm_annotation,
    dm_document,
)
from synapse_steps.datasets.files import read_bytes
from synapse_steps.datasets.geometry import Rejected
from synapse_steps.datasets.images import image_size
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
            document = _dm_from_label(label_path, image_path, names, root, boundary, job)
            writer.write(split, image_path, document)
            job.tally.items_written += 1
            done += 1
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
    except yaml.YAMLError as error:
        raise DatasetError(f"{config_path} is not valid YAML: {error}") from None
    if not isinstance(config, dict):
        raise DatasetError(f"{config_path} must be a YAML mapping with 'names' and 'train'.")
    return config


def _read_names(config_path: Path) -> list[str]:
    """Class names in id order from ``names`` (a list, or a dict id -> name)."""
    config = _load_config(config_path)
    names = config.get("names")
    if isinstance(names, dict):
        try:
            by_id = {int(key): value for key, value in names.items()}
        except (TypeError, ValueError):
            by_id = {}
        if sorted(by_id) != list(range(len(names))):
            raise DatasetError(
                f"{config_path}: 'names' as a mapping needs the ids 0..{len(names) - 1}, "
                f"got keys {list(names)}."
            )
        names = [by_id[index] for index in range(len(by_id))]
    if not isinstance(names, list) or not all(isinstance(n, str) and n for n in names):
        raise DatasetError(
            f"{config_path}: 'names' must be a list of class names or a mapping id -> name, "
            f"got {names!r}."
        )
    declared = config.get("nc")
    if declared is not None and declared != len(names):
        raise DatasetError(f"{config_path}: nc is {declared} but 'names' lists {len(names)}.")
    return names


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
        for relative in [value] if isinstance(value, str) else value or []:
            if not isinstance(relative, str) or relative.endswith(".txt"):
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
    image_path: Path,
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
        width, height = image_size(image_path)
        ids = AnnotationIds()
        for number, row in _label_rows(label_path):
            try:
                class_id, values = _parse_row(row, len(names))
            except Rejected as rejected:
                job.tally.skip_annotation(rejected.reason, f"{where}:{number}")
                continue
            name = names[class_id]
            if len(values) == 4:
                cx, cy, w, h = values
                if w <= 0 or h <= 0:
                    job.tally.skip_annotation("degenerate box", f"{where}:{number}")
                    continue
                box = [(cx - w / 2) * width, (cy - h / 2) * height, w * width, h * height]
                boxes.append(dm_annotation(ids.new("bounding_box"), name, box))
            else:
                points = [
                    [values[i] * width, values[i + 1] * height] for i in range(0, len(values), 2)
                ]
                polygons.append(dm_annotation(ids.new("polygon"), name, points))
        job.tally.annotations_written += len(boxes) + len(polygons)
    catalogue = {"bounding_box": names, "polygon": names if polygons else []}
    return dm_document(catalogue, {"bounding_box": boxes, "polygon": polygons})


def _label_rows(label_path: Path) -> Iterator[tuple[int, str]]:
    for number, line in enumerate(read_bytes(label_path).decode("utf-8").splitlines(), 1):
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
    if not all(math.isfinite(value) for value in values):
        raise Rejected("non-finite coordinates")
    return class_id, values


def _report_orphan_labels(labels: Path, stems: set[str], root: Path, job: ConversionJob) -> None:
    if not labels.is_dir():
        return
    with os.scandir(labels) as entries:
        for entry in sorted(entries, key=lambda e: e.name):
            stem, extension = os.path.splitext(entry.name)
            if extension == ".txt" and stem not in stems:
                job.tally.skip_item("label without image", Path(entry.path).relative_to(root))
