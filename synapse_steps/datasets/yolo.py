"""DM v2 -> YOLO (the layout and label rows Ultralytics reads; ``yolo_to_dm`` is the way back).

Output::

    <out>/dataset.yaml, <out>/classes.txt
    <out>/<split>/images/<stem>.<ext>, <out>/<split>/labels/<stem>.txt     (uncategorized:
    <out>/images, <out>/labels)

Boxes and polygons do not mix in one YOLO dataset (Ultralytics drops the boxes of a dataset that
also has segments), so the ``task`` option chooses: ``'detect'`` (default) writes the
``bounding_box`` annotations as ``cls cx cy w h`` rows; ``'segment'`` writes the ``polygon``
annotations as ``cls x1 y1 x2 y2 ...`` rows. Annotations of other tools are counted as skipped
("<tool> not converted to YOLO <task>"). Class ids cover both tools either way (see ``classes``),
so detect and segment exports of one dataset share ids, and COCO category ids are YOLO ids + 1.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from synapse_steps.datasets.classes import ClassMap
from synapse_steps.datasets.dm_v2 import (
    DMItem,
    count_unconverted,
    open_dm_v2,
    tool_annotations,
    where,
)
from synapse_steps.datasets.files import BackgroundWriter, copy_image, read_bytes, write_text
from synapse_steps.datasets.geometry import (
    COORDINATE_LIMIT,
    Rejected,
    box_of,
    class_name_of,
    clip_box,
    clip_polygon,
    polygon_of,
)
from synapse_steps.datasets.images import dm_image_label, size_or_skip
from synapse_steps.datasets.job import ConversionJob, Written
from synapse_steps.datasets.writer_process import WriterProcess, use_writer_process
from synapse_steps.errors import DatasetError

TASK_TOOLS = {"detect": "bounding_box", "segment": "polygon"}


def dm_to_yolo(
    job: ConversionJob,
    *,
    task: str = "detect",
    classes: Sequence[str] | None = None,
    link_images: bool = False,
    writer_process: bool | None = None,
) -> Written:
    """Convert a DM v2 dataset to YOLO.

    ``classes`` pins the class list and its id order (annotations of other classes are skipped as
    "unknown class"); by default ids follow the sorted class names. ``link_images`` hard-links
    images instead of copying them when the filesystem allows. ``writer_process`` writes the
    files from a child process instead of a thread (faster on two cores or more); by default
    (None) only for datasets of ``PROCESS_MIN_ITEMS`` items or more.
    """
    if task not in TASK_TOOLS:
        raise DatasetError(f"task must be 'detect' or 'segment', got {task!r}.")
    dataset = open_dm_v2(job.source, job.tally)
    class_map = ClassMap(classes)
    folders: dict[str | None, tuple[str, str]] = {}  # split -> (labels/, images/) with the "/"
    for split in dataset.splits:
        folder = job.staging / split if split is not None else job.staging
        (folder / "images").mkdir(parents=True, exist_ok=True)
        (folder / "labels").mkdir(parents=True, exist_ok=True)
        folders[split] = (os.path.join(folder, "labels", ""), os.path.join(folder, "images", ""))
    total = len(dataset)
    job.report_progress(0, total)
    row_writer = _detect_rows if task == "detect" else _segment_rows
    converted = {TASK_TOOLS[task]}
    target = f"YOLO {task}"
    tally = job.tally
    writer = WriterProcess if use_writer_process(writer_process, total) else BackgroundWriter
    with writer() as background:
        for done, item in enumerate(dataset, 1):
            class_map.add_catalogue(item.catalogue, item.label)
            size = size_or_skip(item.image_path, dm_image_label(item.label, item.image_name), tally)
            if size is None:
                job.report_progress(done, total)
                continue
            width, height = size
            text, count = row_writer(item, width, height, class_map, job)
            labels, images = folders[item.split]
            background.submit(
                _write_pair,
                f"{labels}{item.stem}.txt",
                text,
                item.image_path,
                images + item.image_name,
                link_images,
            )
            tally.items_written += 1
            tally.annotations_written += count
            count_unconverted(item, converted, target, tally)
            job.report_progress(done, total)
    mapping = class_map.remapping()
    if mapping is not None:
        for labels, _ in folders.values():
            _remap_label_ids(Path(labels), mapping)
    _write_config(job, dataset.splits, class_map.names)
    return Written(config="dataset.yaml", is_categorized=dataset.is_categorized)


def _write_pair(label: str, text: str, image_source: str, image_target: str, link: bool) -> None:
    write_text(label, text)
    copy_image(image_source, image_target, link)


def _detect_rows(
    item: DMItem, width: int, height: int, class_map: ClassMap, job: ConversionJob
) -> tuple[str, int]:
    """The text of the image's label file and its number of rows."""
    values: list[float] = []
    known = class_map.known
    for annotation in tool_annotations(item, "bounding_box", job.tally):
        row = _plain_box(annotation, known, width, height)
        if row is None:
            row = _checked_box(item, annotation, width, height, class_map, job)
        if row is not None:
            values.extend(row)
    count = len(values) // 5
    # One %-format per image instead of one per row: formatting dominates this converter.
    return _row_template(count) % tuple(values), count


_ROW = "%d %.6f %.6f %.6f %.6f\n"
_NUMBER = frozenset({int, float})  # not bool: True as a coordinate is a bug in the source
_LIMIT_SQUARED = COORDINATE_LIMIT * COORDINATE_LIMIT
Row = tuple[int, float, float, float, float]


@functools.cache
def _row_template(count: int) -> str:
    return _ROW * count


def _plain_box(annotation: Any, known: Mapping[str, int], width: int, height: int) -> Row | None:
    """``(class_id, cx, cy, w, h)`` of an ordinary box (known class, finite numbers, no
    attributes), else None.

    The hot loop of the fastest conversion, hence no helper calls. It never rejects anything:
    whatever is not plainly fine goes to ``_checked_box``, which decides and names the reason.
    """
    try:
        class_id = known[annotation["classification"]]
        x, y, w, h = annotation["data"]
        if (
            type(x) not in _NUMBER
            or type(y) not in _NUMBER
            or type(w) not in _NUMBER
            or type(h) not in _NUMBER
            # One test for "finite and within COORDINATE_LIMIT": NaN and inf fail it, and it is
            # as cheap as the four isfinite() calls it replaces (values it refuses go to
            # _checked_box). A huge integer overflows when added to a float: caught below.
            or not x * x + y * y + w * w + h * h < _LIMIT_SQUARED
            or annotation.get("attrs")
        ):
            return None
    except (KeyError, TypeError, ValueError, OverflowError):
        return None
    x1 = x if x > 0 else 0.0
    y1 = y if y > 0 else 0.0
    x2 = x + w if x + w < width else width
    y2 = y + h if y + h < height else height
    box_width, box_height = (x2 - x1) / width, (y2 - y1) / height
    if box_width < 5e-7 or box_height < 5e-7:  # empty, or would print as 0.000000
        return None
    return class_id, (x1 + x2) / (2 * width), (y1 + y2) / (2 * height), box_width, box_height


def _checked_box(
    item: DMItem,
    annotation: Any,
    width: int,
    height: int,
    class_map: ClassMap,
    job: ConversionJob,
) -> Row | None:
    """Validate a box fully: its row values, or None after reporting why it is skipped."""
    try:
        name = class_name_of(annotation)
        x1, y1, x2, y2 = clip_box(*box_of(annotation), width, height)
    except Rejected as rejected:
        job.tally.skip_annotation(rejected.reason, where(item, annotation))
        return None
    class_id = class_map.id_of(name)
    if class_id is None:
        job.tally.skip_annotation("unknown class", f"{where(item, annotation)}: {name!r}")
        return None
    box_width, box_height = (x2 - x1) / width, (y2 - y1) / height
    if box_width < 5e-7 or box_height < 5e-7:  # would print as 0.000000
        job.tally.skip_annotation("degenerate box", where(item, annotation))
        return None
    return class_id, (x1 + x2) / (2 * width), (y1 + y2) / (2 * height), box_width, box_height


def _segment_rows(
    item: DMItem, width: int, height: int, class_map: ClassMap, job: ConversionJob
) -> tuple[str, int]:
    rows: list[str] = []
    for annotation in tool_annotations(item, "polygon", job.tally):
        try:
            name = class_name_of(annotation)
            points = clip_polygon(polygon_of(annotation), width, height)
        except Rejected as rejected:
            job.tally.skip_annotation(rejected.reason, where(item, annotation))
            continue
        class_id = class_map.id_of(name)
        if class_id is None:
            job.tally.skip_annotation("unknown class", f"{where(item, annotation)}: {name!r}")
            continue
        coordinates = " ".join(f"{x / width:.6f} {y / height:.6f}" for x, y in points)
        rows.append(f"{class_id} {coordinates}\n")
    return "".join(rows), len(rows)


def _remap_label_ids(labels: Path, mapping: Mapping[int, int]) -> None:
    """Rewrite provisional class ids (rare: only when a later file introduced a new class)."""
    for entry in os.scandir(labels):
        # Our own files: rows end with "\n" (splitlines() would also split at other breaks).
        lines = read_bytes(entry.path).decode("utf-8").split("\n")[:-1]
        fixed = []
        for line in lines:
            class_id, _, rest = line.partition(" ")
            fixed.append(f"{mapping[int(class_id)]} {rest}\n")
        write_text(Path(entry.path), "".join(fixed))


def _write_config(job: ConversionJob, splits: Sequence[str | None], names: list[str]) -> None:
    write_text(job.staging / "classes.txt", "".join(f"{name}\n" for name in names))
    present = [split for split in splits if split is not None]
    if present:
        train = "train/images" if "train" in present else f"{present[0]}/images"
        val = "valid/images" if "valid" in present else train  # Ultralytics requires 'val'
    else:
        train = val = "images"
    config: dict[str, Any] = {"path": str(job.final), "train": train, "val": val}
    if "test" in present:
        config["test"] = "test/images"
    config["nc"] = len(names)
    config["names"] = names
    text = yaml.safe_dump(config, sort_keys=False, allow_unicode=True, default_flow_style=False)
    write_text(job.staging / "dataset.yaml", text)
