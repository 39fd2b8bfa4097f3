"""DM v2 -> COCO instances files (what pycocotools, Detectron2 and Datumaro read).

Output::

    <out>/annotations/instances_<split>.json     split: train / valid / test; uncategorized: default
    <out>/images/<split>/<file>

Each DM ``bounding_box`` becomes an annotation with ``segmentation: []``; each ``polygon`` an
annotation with its polygon, the polygon's bounding box and area. Coordinates are copied as they
are (COCO has no rule against boxes leaving the image), so DM -> COCO -> DM is exact.

Keypoints: the keypoints sharing a ``group_id`` form one instance. It is attached, COCO style, to
the box or polygon whose annotation ``id`` equals the ``group_id``; failing that, to the smallest
box or polygon of the image containing all its points. Ungrouped keypoints of an image form one
group. A category's ``keypoints`` list holds the point names attached to it, in the catalogue's
``keypoint`` order. ``coco_to_dm`` is the way back.

The annotation index of the output is kept in memory until the end (one JSON file per split);
the input DM v2 JSONs are still read one at a time.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from synapse_steps.datasets.classes import ClassMap
from synapse_steps.datasets.dm_v2 import (
    DMItem,
    count_unconverted,
    open_dm_v2,
    tool_annotations,
    where,
)
from synapse_steps.datasets.files import BackgroundWriter, copy_image, write_bytes
from synapse_steps.datasets.geometry import (
    Rejected,
    bounds,
    box_of,
    class_name_of,
    keypoint_of,
    polygon_area,
    polygon_of,
)
from synapse_steps.datasets.images import dm_image_label, size_or_skip
from synapse_steps.datasets.job import ConversionJob, Written
from synapse_steps.datasets.strict_json import json_bytes

DEFAULT_SPLIT = "default"
CONVERTED_TOOLS = frozenset({"bounding_box", "polygon", "keypoint"})
NO_OWNER = "keypoint group without an owning box or polygon"


@dataclass
class _SplitIndex:
    images: list[dict[str, Any]] = field(default_factory=list)
    annotations: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class _Owner:
    """A written annotation that a keypoint group may attach to."""

    annotation: dict[str, Any]
    corners: tuple[float, float, float, float]
    points: dict[str, tuple[float, float, int]] | None = None


def dm_to_coco(
    job: ConversionJob, *, classes: Sequence[str] | None = None, link_images: bool = False
) -> Written:
    """Convert a DM v2 dataset to COCO instances files.

    ``classes`` pins the category list and order (other classes are skipped as "unknown class");
    by default categories follow the sorted class names, like YOLO ids.
    """
    dataset = open_dm_v2(job.source, job.tally)
    class_map = ClassMap(classes)
    point_names: dict[str, set[str]] = {}
    catalogue_points: dict[str, None] = {}  # ordered set: the catalogue's keypoint order
    owners_with_points: list[_Owner] = []
    indexes = {split or DEFAULT_SPLIT: _SplitIndex() for split in dataset.splits}
    image_dirs = {name: os.path.join(job.staging, "images", name, "") for name in indexes}
    for folder in image_dirs.values():
        os.makedirs(folder)
    total = len(dataset)
    job.report_progress(0, total)
    with BackgroundWriter() as background:
        for done, item in enumerate(dataset, 1):
            split_name = item.split or DEFAULT_SPLIT
            index = indexes[split_name]
            class_map.add_catalogue(item.catalogue, item.label)
            listed = item.catalogue.get("keypoint")
            if isinstance(listed, list):
                catalogue_points.update((name, None) for name in listed if isinstance(name, str))
            image_label = dm_image_label(item.label, item.image_name)
            size = size_or_skip(item.image_path, image_label, job.tally)
            if size is None:
                job.report_progress(done, total)
                continue
            if not _utf8(item.image_name):  # a JSON file name must be text
                job.tally.skip_item("file name is not UTF-8", image_label)
                job.report_progress(done, total)
                continue
            width, height = size
            image_id = len(index.images) + 1
            index.images.append(
                {"id": image_id, "file_name": item.image_name, "width": width, "height": height}
            )
            target = image_dirs[split_name] + item.image_name
            background.submit(copy_image, item.image_path, target, link_images)
            owners = _objects(item, image_id, index, class_map, job)
            for owner in _attach_keypoints(item, owners, job):
                names = point_names.setdefault(owner.annotation["category_id"], set())
                names.update(owner.points or ())
                owners_with_points.append(owner)
            count_unconverted(item, CONVERTED_TOOLS, "COCO", job.tally)
            job.tally.items_written += 1
            job.report_progress(done, total)
    categories = _categories(class_map.names, point_names, list(catalogue_points))
    _finish(indexes, owners_with_points, categories)
    (job.staging / "annotations").mkdir()
    for split_name, index in indexes.items():
        document = {
            "info": {"description": "Converted from DM v2 by synapse_steps", "version": "1.0"},
            "licenses": [],
            "images": index.images,
            "annotations": index.annotations,
            "categories": categories,
        }
        name = f"instances_{split_name}.json"
        data = json_bytes(document, f"annotations/{name}", separators=(",", ":"))
        write_bytes(job.staging / "annotations" / name, data)
    config_split = "train" if "train" in indexes else next(iter(indexes))
    return Written(
        config=f"annotations/instances_{config_split}.json",
        is_categorized=dataset.is_categorized,
    )


def _utf8(name: str) -> bool:
    """Can ``name`` (a file name as the OS gave it) be written as UTF-8 text?"""
    if name.isascii():
        return True
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:  # undecodable bytes in the name (os' surrogateescape)
        return False
    return True


def _objects(
    item: DMItem, image_id: int, index: _SplitIndex, class_map: ClassMap, job: ConversionJob
) -> dict[str, _Owner]:
    """Write the boxes and polygons of one image; return them by DM id for the keypoints.

    ``category_id`` holds the class *name* until ``_finish`` knows the final sorted ids.
    """
    owners: dict[str, _Owner] = {}
    want_owners = bool(item.annotations.get("keypoint"))  # only keypoints need them
    for tool in ("bounding_box", "polygon"):
        for position, annotation in enumerate(tool_annotations(item, tool, job.tally)):
            try:
                name = class_name_of(annotation)
                if tool == "bounding_box":
                    x, y, w, h = box_of(annotation)
                    bbox, corners, segmentation, area = (
                        [x, y, w, h],
                        (x, y, x + w, y + h),
                        [],
                        w * h,
                    )
                else:
                    points = polygon_of(annotation)
                    corners = x1, y1, x2, y2 = bounds(points)
                    bbox = [x1, y1, x2 - x1, y2 - y1]
                    segmentation = [[c for point in points for c in point]]
                    area = polygon_area(points)
            except Rejected as rejected:
                job.tally.skip_annotation(rejected.reason, where(item, annotation))
                continue
            if class_map.id_of(name) is None:
                job.tally.skip_annotation("unknown class", f"{where(item, annotation)}: {name!r}")
                continue
            written = {
                "id": len(index.annotations) + 1,
                "image_id": image_id,
                "category_id": name,
                "bbox": bbox,
                "area": area,
                "iscrowd": 0,
                "segmentation": segmentation,
            }
            index.annotations.append(written)
            job.tally.annotations_written += 1
            if want_owners:
                dm_id = annotation.get("id")
                key = dm_id if isinstance(dm_id, str) else f"#{tool}{position}"
                owners[key] = _Owner(written, corners)
    return owners


def _attach_keypoints(item: DMItem, owners: dict[str, _Owner], job: ConversionJob) -> list[_Owner]:
    """Group the image's keypoints and attach each group to its owner; return the owners."""
    groups: dict[str, dict[str, tuple[float, float, int]]] = {}
    for annotation in tool_annotations(item, "keypoint", job.tally):
        try:
            name = class_name_of(annotation)
            point = keypoint_of(annotation)
        except Rejected as rejected:
            job.tally.skip_annotation(rejected.reason, where(item, annotation))
            continue
        group = groups.setdefault(str(annotation.get("group_id") or ""), {})
        if name in group:
            job.tally.skip_annotation("duplicate keypoint name in a group", where(item, annotation))
            continue
        group[name] = point
    attached: list[_Owner] = []
    for group_id, points in groups.items():
        owner = owners.get(group_id) if group_id else None
        owner = owner or _smallest_container(owners.values(), points.values())
        if owner is None or owner.points is not None:
            reason = NO_OWNER if owner is None else "second keypoint group for one object"
            job.tally.skip_annotation(reason, f"{item.label}: group {group_id!r}", len(points))
            continue
        owner.points = points
        attached.append(owner)
        job.tally.annotations_written += len(points)
    return attached


def _smallest_container(owners: Any, points: Any) -> _Owner | None:
    points = list(points)
    best: _Owner | None = None
    best_area = float("inf")
    for owner in owners:
        x1, y1, x2, y2 = owner.corners
        area = (x2 - x1) * (y2 - y1)
        if area < best_area and all(x1 <= x <= x2 and y1 <= y <= y2 for x, y, _ in points):
            best, best_area = owner, area
    return best


def _categories(
    names: list[str], point_names: Mapping[str, set[str]], catalogue_order: list[str]
) -> list[dict[str, Any]]:
    """COCO categories; keypoint names keep the catalogue's order (it often means something,
    e.g. COCO's nose, left_eye, ...), names missing from the catalogue follow, sorted."""
    rank = {name: position for position, name in enumerate(catalogue_order)}
    categories: list[dict[str, Any]] = []
    for index, name in enumerate(names, 1):
        category: dict[str, Any] = {"id": index, "name": name, "supercategory": ""}
        if name in point_names:
            category["keypoints"] = sorted(
                point_names[name], key=lambda point: (rank.get(point, len(rank)), point)
            )
            category["skeleton"] = []
        categories.append(category)
    return categories


def _finish(
    indexes: Mapping[str, _SplitIndex], owners: list[_Owner], categories: list[dict[str, Any]]
) -> None:
    """Replace class names by category ids; lay keypoints out in their category's order."""
    ids = {category["name"]: category["id"] for category in categories}
    point_order = {c["name"]: c.get("keypoints", []) for c in categories}
    for owner in owners:
        order = point_order[owner.annotation["category_id"]]
        flat: list[float] = []
        visible = 0
        for name in order:
            x, y, v = (owner.points or {}).get(name, (0.0, 0.0, 0))
            flat.extend((x, y, v))
            visible += v > 0
        owner.annotation["keypoints"] = flat
        owner.annotation["num_keypoints"] = visible
    for index in indexes.values():
        for annotation in index.annotations:
            annotation["category_id"] = ids[annotation["category_id"]]
