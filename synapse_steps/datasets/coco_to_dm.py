"""COCO -> DM v2: bring a COCO instances dataset (e.g. a public one) into the local backend.

The inverse of ``coco``: polygon segmentations become DM polygons (one per part), annotations
without one become boxes, ``keypoints`` become DM keypoints grouped under the owning annotation's
id. Crowd regions (``iscrowd: 1``, usually RLE masks) are skipped and reported. A COCO file is
one JSON document, so the input index is loaded whole; the output is written image by image.

Nothing is dropped silently: of two images sharing an id the second is skipped ("duplicate image
id"), and annotations whose ``image_id`` names no image, or whose image was skipped, are counted.
Ids must be integers or strings; other values are reported (images, annotations) or refused
(categories, which every annotation depends on).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from synapse_steps.datasets.classes import valid_class_name
from synapse_steps.datasets.coco import DEFAULT_SPLIT
from synapse_steps.datasets.dm_v2 import (
    AnnotationIds,
    DMv2Writer,
    canonical_split,
    dm_annotation,
    dm_document,
)
from synapse_steps.datasets.files import read_bytes
from synapse_steps.datasets.geometry import Rejected, box_of, keypoint_of, polygon_of
from synapse_steps.datasets.images import size_or_skip
from synapse_steps.datasets.job import ConversionJob, Written
from synapse_steps.datasets.paths import real_root, safe_join
from synapse_steps.errors import DatasetError


def coco_to_dm(job: ConversionJob, *, link_images: bool = False) -> Written:
    """Convert COCO instances files to DM v2.

    ``job.source`` is a folder with ``annotations/*.json`` (split from the file name:
    ``instances_train.json`` -> train, ``instances_val2017.json`` -> valid, ``default`` ->
    uncategorized) or one annotation file. Images are looked up in ``images/<split>/``,
    ``<split>/``, ``images/`` then the root. Polygon segmentations become DM polygons (one per
    part).
    """
    root, files = _annotation_files(job.source)
    boundary = real_root(root)
    loaded = [(split, raw, path, _load_coco(path)) for split, raw, path in files]
    categorized = any(split is not None for split, *_ in loaded)
    if categorized and any(split is None for split, *_ in loaded):
        raise DatasetError(
            f"{root} has both a 'default' (uncategorized) annotation file and split files; "
            "convert them separately."
        )
    writer = DMv2Writer(job.staging, categorized=categorized, link_images=link_images)
    total = sum(len(coco["images"]) for *_, coco in loaded)
    job.report_progress(0, total)
    done = 0
    for split, raw, path, coco in loaded:
        writer.start_split(split)
        image_dir = _image_folder(root, raw)
        categories = _category_table(coco, path)
        catalogue = _catalogue(coco, categories)
        where = path.relative_to(root) if path.is_relative_to(root) else path
        by_image = _annotations_by_image(coco, where, job)
        stems: set[str] = set()
        seen_ids: set[int | str] = set()
        for position, image in enumerate(coco["images"]):
            done += 1
            image_id, image_path = _image_entry(image, image_dir, boundary, path)
            annotations = by_image.pop(image_id, []) if image_id is not None else []
            label = f"{where}: {image.get('file_name')}" if isinstance(image, dict) else ""
            reason = _skip_reason(image_id, image_path, seen_ids, stems)
            if image_id is not None:
                seen_ids.add(image_id)
            if reason is not None:
                detail = f"{where}: images[{position}]" if image_path is None else label
                if reason in ("invalid image id", "duplicate image id"):
                    detail = f"{where}: image id {image.get('id')!r} ({image.get('file_name')})"
                job.tally.skip_item(reason, detail)
            elif image_path is not None and size_or_skip(image_path, label, job.tally):
                stems.add(image_path.stem)
                document = _dm_from_coco(annotations, categories, catalogue, where, job)
                writer.write(split, image_path, document)
                job.tally.items_written += 1
                annotations = []
            if annotations:  # the image was skipped: say what went with it
                job.tally.skip_annotation("annotation of a skipped image", label, len(annotations))
            job.report_progress(done, total)
        for image_id, annotations in by_image.items():
            for annotation in annotations:
                job.tally.skip_annotation(
                    "annotation of an unknown image id",
                    f"{where}: annotation {annotation.get('id')} (image_id {image_id!r})",
                )
    return Written(config=".", is_categorized=categorized)


def _id(value: Any) -> int | str | None:
    """A COCO id usable as a key: an int (not bool) or a string; None for anything else."""
    return value if type(value) is int or type(value) is str else None


def _annotations_by_image(
    coco: Mapping[str, Any], where: Path, job: ConversionJob
) -> dict[int | str, list[dict[str, Any]]]:
    """The annotations grouped by ``image_id``; entries that are not objects, or whose
    ``image_id`` cannot be an id, are reported here."""
    by_image: dict[int | str, list[dict[str, Any]]] = {}
    for position, annotation in enumerate(coco["annotations"]):
        if not isinstance(annotation, dict):
            job.tally.skip_annotation("malformed annotation", f"{where}: annotations[{position}]")
            continue
        image_id = _id(annotation.get("image_id"))
        if image_id is None:
            job.tally.skip_annotation(
                "annotation of an unknown image id",
                f"{where}: annotation {annotation.get('id')} "
                f"(image_id {annotation.get('image_id')!r})",
            )
            continue
        by_image.setdefault(image_id, []).append(annotation)
    return by_image


def _image_entry(
    image: Any, image_dir: Path, boundary: Path, path: Path
) -> tuple[int | str | None, Path | None]:
    """``(id, image file)`` of an ``images`` entry; None for what it lacks or has malformed."""
    if not isinstance(image, dict):
        return None, None
    image_id = _id(image.get("id"))
    file_name = image.get("file_name")
    if not isinstance(file_name, str) or not file_name or "\x00" in file_name:
        return image_id, None
    try:
        os.fsencode(file_name)
    except UnicodeEncodeError:  # a lone surrogate from a JSON escape: no file has this name
        return image_id, None
    return image_id, safe_join(image_dir, file_name, root=boundary, named_by=path)


def _skip_reason(
    image_id: int | str | None, image_path: Path | None, seen_ids: set[int | str], stems: set[str]
) -> str | None:
    """Why an ``images`` entry cannot become a DM data unit (None: it can).

    Of two images with one id only the first is kept: an annotation names its image by id, so
    the second one's annotations cannot be told apart from the first one's.
    """
    if image_path is None:
        return "malformed image entry"
    if image_id is None:
        return "invalid image id"
    if image_id in seen_ids:
        return "duplicate image id"
    if not image_path.is_file():
        return "image file missing"
    if image_path.stem in stems:
        return "duplicate image stem"
    return None


def _annotation_files(source: Path) -> tuple[Path, list[tuple[str | None, str, Path]]]:
    """``(root, [(split or None, raw split name, file)])`` for a COCO folder or file."""
    if source.is_file():
        root = source.parent.parent if source.parent.name == "annotations" else source.parent
        paths = [source]
    else:
        root = source
        paths = sorted((source / "annotations").glob("*.json"))
        if not paths:
            raise DatasetError(
                f"No COCO annotation files in {source / 'annotations'}: expected "
                "instances_<split>.json files. Pass the folder that holds annotations/ and "
                "images/, or one annotation file."
            )
    files = []
    for path in paths:
        raw = path.stem.removeprefix("instances_")
        split = canonical_split(re.sub(r"\d{4}$", "", raw))
        if split is None and raw != DEFAULT_SPLIT and len(paths) > 1:
            raise DatasetError(
                f"{path}: cannot tell which split '{raw}' is; name the files "
                "instances_train.json, instances_valid.json (or val), instances_test.json, or "
                "instances_default.json for an uncategorized dataset."
            )
        files.append((split, raw, path))
    return root, files


def _load_coco(path: Path) -> dict[str, Any]:
    try:
        # JSON is UTF-8 (RFC 8259); "-sig" also accepts the BOM some Windows tools write.
        coco = json.loads(read_bytes(path).decode("utf-8-sig"))
    except json.JSONDecodeError as error:
        raise DatasetError(
            f"{path} is not valid JSON: {error.msg} at line {error.lineno} column {error.colno} "
            f"(character {error.pos})."
        ) from None
    except UnicodeDecodeError as error:
        raise DatasetError(
            f"{path} is not UTF-8 encoded ({error.reason} at byte {error.start}); "
            "re-save it as UTF-8 JSON."
        ) from None
    except RecursionError:
        raise DatasetError(
            f"{path} is nested too deeply to read (thousands of levels of [ or {{); a COCO file "
            "is a few levels deep."
        ) from None
    except ValueError as error:  # e.g. an integer of more than 4300 digits
        raise DatasetError(f"{path} cannot be read: {error}.") from None
    if not isinstance(coco, dict) or not all(
        isinstance(coco.get(key), list) for key in ("images", "annotations", "categories")
    ):
        raise DatasetError(
            f"{path} is not a COCO instances file: it needs 'images', 'annotations' and "
            "'categories' lists."
        )
    return coco


def _image_folder(root: Path, raw_split: str) -> Path:
    for candidate in (root / "images" / raw_split, root / raw_split, root / "images"):
        if candidate.is_dir():
            return candidate
    return root


@dataclass(frozen=True)
class _Category:
    name: str
    keypoints: tuple[str, ...]


def _category_table(coco: Mapping[str, Any], path: Path) -> dict[int | str, _Category]:
    table: dict[int | str, _Category] = {}
    for category in coco["categories"]:
        name = category.get("name") if isinstance(category, dict) else None
        if not valid_class_name(name):
            raise DatasetError(
                f"{path}: category {category!r} has no valid 'name' (a non-empty string without "
                "line breaks or lone surrogates)."
            )
        category_id = _id(category.get("id"))
        if category_id is None or category_id in table:
            raise DatasetError(
                f"{path}: category {category!r} needs an 'id' (an integer) that no other "
                "category has."
            )
        points = category.get("keypoints") or []
        if not isinstance(points, list) or not all(valid_class_name(p) for p in points):
            raise DatasetError(
                f"{path}: category {name!r} has 'keypoints' {points!r}; it must be a list of "
                "point names (non-empty strings without line breaks or lone surrogates)."
            )
        table[category_id] = _Category(str(name), tuple(points))
    return table


def _catalogue(
    coco: Mapping[str, Any], categories: Mapping[int | str, _Category]
) -> dict[str, list[str]]:
    """The DM catalogue: every category as a box class, polygon classes, keypoint names."""
    polygon_ids = {
        _id(a.get("category_id"))
        for a in coco["annotations"]
        if isinstance(a, dict) and isinstance(a.get("segmentation"), list) and a["segmentation"]
    }
    return {
        "bounding_box": sorted({c.name for c in categories.values()}),
        "polygon": sorted(
            {categories[i].name for i in polygon_ids if i is not None and i in categories}
        ),
        "keypoint": list(dict.fromkeys(p for c in categories.values() for p in c.keypoints)),
    }


def _dm_from_coco(
    annotations: list[Any],
    categories: Mapping[int | str, _Category],
    catalogue: dict[str, list[str]],
    where: Path,
    job: ConversionJob,
) -> dict[str, Any]:
    ids = AnnotationIds()
    tools: dict[str, list[dict[str, Any]]] = {"bounding_box": [], "polygon": [], "keypoint": []}
    for annotation in annotations:
        label = f"{where}: annotation {annotation.get('id')}"
        category_id = _id(annotation.get("category_id"))
        category = categories.get(category_id) if category_id is not None else None
        if category is None:
            job.tally.skip_annotation("unknown category id", label)
            continue
        if annotation.get("iscrowd"):
            job.tally.skip_annotation("crowd region (iscrowd=1)", label)
            continue
        try:
            owner_id, written = _coco_shapes(annotation, category.name, ids, tools)
        except Rejected as rejected:
            job.tally.skip_annotation(rejected.reason, label)
            continue
        job.tally.annotations_written += written
        keypoints = annotation.get("keypoints")
        if keypoints:
            job.tally.annotations_written += _coco_keypoints(
                keypoints, category, owner_id, ids, tools["keypoint"], label, job
            )
    return dm_document(catalogue, tools)


def _coco_shapes(
    annotation: Mapping[str, Any],
    name: str,
    ids: AnnotationIds,
    tools: dict[str, list[dict[str, Any]]],
) -> tuple[str, int]:
    """Write the annotation's polygons (or its box); return the first DM id and the count."""
    segmentation = annotation.get("segmentation")
    if isinstance(segmentation, list) and segmentation:
        parts = []
        for part in segmentation:
            if not isinstance(part, list) or len(part) < 6 or len(part) % 2:
                raise Rejected("malformed segmentation")
            points = [[part[i], part[i + 1]] for i in range(0, len(part), 2)]
            polygon_of({"data": points})  # validates: numbers, finite, non-zero area
            parts.append(points)
        first = ""
        for points in parts:
            dm_id = ids.new("polygon")
            first = first or dm_id
            tools["polygon"].append(dm_annotation(dm_id, name, points))
        return first, len(parts)
    box = annotation.get("bbox")
    box_of({"data": box})  # validates
    dm_id = ids.new("bounding_box")
    tools["bounding_box"].append(dm_annotation(dm_id, name, list(box)))  # type: ignore[arg-type]
    return dm_id, 1


def _coco_keypoints(
    keypoints: Any,
    category: _Category,
    owner_id: str,
    ids: AnnotationIds,
    out: list[dict[str, Any]],
    label: str,
    job: ConversionJob,
) -> int:
    if not isinstance(keypoints, list) or len(keypoints) % 3:
        job.tally.skip_annotation("malformed keypoints", label)
        return 0
    written = 0
    for index in range(0, len(keypoints), 3):
        x, y, v = keypoints[index : index + 3]
        if v == 0 and x == 0 and y == 0:
            continue  # COCO's "not labelled" placeholder
        position = index // 3
        name = category.keypoints[position] if position < len(category.keypoints) else None
        try:
            x, y, v = keypoint_of({"data": [x, y], "visibility": v})
        except Rejected as rejected:
            job.tally.skip_annotation(rejected.reason, label)
            continue
        out.append(
            dm_annotation(
                ids.new("keypoint"),
                name or f"point_{position}",
                [x, y],
                visibility=v,
                group_id=owner_id,
            )
        )
        written += 1
    return written
