"""A large DM v2 -> YOLO / COCO conversion split across Ray workers, same output as one process.

``convert_sharded(source, "dm_v2", "yolo", out, executor=RayExecutor())``:

1. The source is listed and paired once, as the converter does (orphans are counted here), and
   its items are split, in the converter's order, into contiguous shards. Each shard is a small
   DM v2 folder of hard links (copies across filesystems) with the source's layout.
2. Each shard is converted by the public ``convert`` on a worker; their progress adds up to one
   bar (``progress(done, total)``).
3. The shard outputs are merged into one staging folder next to ``out`` and moved into place:
   class ids follow the sorted union of the shards' class names (the single-process rule), label
   rows are renumbered when a shard's ids differ, ``dataset.yaml`` / ``classes.txt`` are the
   single-process ones; COCO image and annotation ids are renumbered in the single-process
   order. The temporary folder (ours, next to ``out``) is removed at the end, also on error.

The workers must see the same filesystem as the driver (one machine, or a shared volume).
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from synapse_steps.datasets import ConversionResult, DatasetError, Tally, convert, open_dm_v2
from synapse_steps.datasets.coco import DEFAULT_SPLIT
from synapse_steps.datasets.job import ConversionJob
from synapse_steps.datasets.output import staged_output
from synapse_steps.datasets.yolo import _write_config
from synapse_steps.storage.publish import make_staging

ProgressCallback = Callable[[int, int], object]


def convert_sharded(
    source_path: str | os.PathLike[str],
    source_format: str,
    target_format: str,
    output_dir: str | os.PathLike[str],
    *,
    executor: Any,
    shards: int | None = None,
    progress: ProgressCallback | None = None,
    overwrite: bool = False,
    **options: Any,
) -> ConversionResult:
    """Like ``datasets.convert`` for DM v2 -> YOLO / COCO, with the items split across workers.

    ``shards`` defaults to the executor's parallelism. Options as for ``convert`` (``task``,
    ``classes``, ``link_images``).
    """
    target = target_format.lower()
    if source_format.lower().replace(" ", "_") not in ("dm_v2", "dmv2") or target not in (
        "yolo",
        "coco",
    ):
        raise DatasetError(
            f"convert_sharded converts DM v2 to YOLO or COCO, got {source_format!r} -> "
            f"{target_format!r}; use synapse_steps.datasets.convert for other pairs."
        )
    source = Path(source_path)
    output = Path(os.path.abspath(output_dir))
    listing = Tally()
    dataset = open_dm_v2(source, listing)
    items = [(item.json_path, item.image_path) for item in dataset]
    count = max(1, min(shards or executor.parallelism(), len(items) or 1))
    output.parent.mkdir(parents=True, exist_ok=True)
    # Ours (owner-marked): removed below, whatever happens; swept by a later run if we are killed.
    work = make_staging(output.parent, output.name, "shards")
    try:
        folders = _make_shards(source, items, count, work)
        shard_outputs, results = _run_shards(
            executor, folders, target, options, len(items), progress
        )
        with staged_output(output, source=source, overwrite=overwrite) as staging:
            job = ConversionJob(source=source, staging=staging, final=output, tally=listing)
            if target == "yolo":
                _merge_yolo(job, dataset.splits, shard_outputs, options.get("classes"))
                config = output / "dataset.yaml"
            else:
                names = [split or DEFAULT_SPLIT for split in dataset.splits]
                _merge_coco(staging, names, shard_outputs, options.get("classes"))
                first = "train" if "train" in names else names[0]
                config = output / "annotations" / f"instances_{first}.json"
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return _combined(listing, results, output, config, target, dataset.is_categorized)


# -- shards -----------------------------------------------------------------------------------


def _make_shards(source: Path, items: list[tuple[str, str]], count: int, work: Path) -> list[Path]:
    """Contiguous runs of the converter's item order, each a DM v2 folder of links."""
    folders = []
    size = -(-len(items) // count) if items else 0
    for index in range(count):
        folder = work / f"source-{index}"
        folder.mkdir()
        for json_path, image_path in items[index * size : (index + 1) * size]:
            for path in (json_path, image_path):
                relative = Path(path).relative_to(source)
                _link(Path(path), folder / relative)
        folders.append(folder)
    return folders


def _link(source: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(source, target)
    except OSError:  # another filesystem, or links not allowed
        shutil.copyfile(source, target)


def _convert_shard(
    index: int, folder: str, target: str, options: dict[str, Any], board: Any
) -> tuple[str, dict[str, Any]]:
    """Runs on a worker: convert one shard, reporting progress to the board now and then."""
    last = [0.0]

    def report(done: int, total: int) -> None:
        now = time.monotonic()
        if done == total or now - last[0] >= 0.1:
            last[0] = now
            board.report.remote(index, done)

    out = str(Path(folder).with_name(f"out-{index}"))
    result = convert(folder, "dm_v2", target, out, progress=report, **options)
    return out, result.to_dict()


class _Board:
    """A tiny actor adding up the shards' progress for the driver's one bar."""

    def __init__(self, shards: int) -> None:
        self.done = [0] * shards

    def report(self, shard: int, done: int) -> None:
        self.done[shard] = done

    def total(self) -> int:
        return sum(self.done)


def _run_shards(
    executor: Any,
    folders: list[Path],
    target: str,
    options: dict[str, Any],
    total: int,
    progress: ProgressCallback | None,
) -> tuple[list[Path], list[dict[str, Any]]]:
    executor._connect()
    executor.release_workers()  # idle run workers would hold the CPUs the shards need
    ray = executor._ray
    board = ray.remote(num_cpus=0)(_Board).remote(len(folders))
    task = ray.remote(num_cpus=executor.cpus_per_run)(_convert_shard)
    refs = [task.remote(i, str(f), target, options, board) for i, f in enumerate(folders)]
    if progress is not None:
        progress(0, total)
    pending = list(refs)
    try:
        while pending:
            _, pending = ray.wait(pending, num_returns=len(pending), timeout=0.1)
            if progress is not None:
                progress(min(ray.get(board.total.remote()), total), total)
        done = ray.get(refs)
    except BaseException:
        for ref in refs:
            ray.cancel(ref, force=True)
        raise
    finally:
        ray.kill(board)
    if progress is not None:
        progress(total, total)
    return [Path(out) for out, _ in done], [result for _, result in done]


# -- merging ----------------------------------------------------------------------------------


def _merge_yolo(
    job: ConversionJob,
    splits: Sequence[str | None],
    outputs: list[Path],
    fixed: Sequence[str] | None,
) -> None:
    shard_names = [(out / "classes.txt").read_text("utf-8").splitlines() for out in outputs]
    names = list(fixed) if fixed is not None else sorted({n for ns in shard_names for n in ns})
    final = {name: index for index, name in enumerate(names)}
    for out, own in zip(outputs, shard_names, strict=True):
        mapping = {i: final[name] for i, name in enumerate(own)}
        renumber = any(i != j for i, j in mapping.items())
        for split in splits:
            relative = Path(split) if split is not None else Path()
            for kind in ("images", "labels"):
                into = job.staging / relative / kind
                into.mkdir(parents=True, exist_ok=True)
                folder = out / relative / kind
                if not folder.is_dir():
                    continue
                for entry in os.scandir(folder):
                    if kind == "labels" and renumber:
                        _renumber(Path(entry.path), mapping)
                    os.replace(entry.path, into / entry.name)
    _write_config(job, splits, names)


def _renumber(label: Path, mapping: Mapping[int, int]) -> None:
    rows = []
    for line in label.read_bytes().decode("utf-8").splitlines():
        class_id, _, rest = line.partition(" ")
        rows.append(f"{mapping[int(class_id)]} {rest}\n")
    label.write_bytes("".join(rows).encode("utf-8"))


def _merge_coco(
    staging: Path, splits: list[str], outputs: list[Path], fixed: Sequence[str] | None
) -> None:
    documents = []
    for out in outputs:
        documents.append(
            {
                split: json.loads((out / "annotations" / f"instances_{split}.json").read_bytes())
                for split in splits
                if (out / "annotations" / f"instances_{split}.json").exists()
            }
        )
    categories = _merged_categories([d for docs in documents for d in docs.values()], fixed)
    ids = {category["name"]: category["id"] for category in categories}
    points = {c["name"]: c.get("keypoints") for c in categories}
    (staging / "annotations").mkdir()
    for split in splits:
        images: list[dict[str, Any]] = []
        annotations: list[dict[str, Any]] = []
        info: Any = {"description": "Converted from DM v2 by synapse_steps", "version": "1.0"}
        for out, docs in zip(outputs, documents, strict=True):
            document = docs.get(split)
            if document is None:
                continue
            info = document["info"]
            own = {c["id"]: c for c in document["categories"]}
            image_ids: dict[int, int] = {}
            for image in document["images"]:
                image_ids[image["id"]] = len(images) + 1
                images.append({**image, "id": image_ids[image["id"]]})
            for annotation in document["annotations"]:
                category = own[annotation["category_id"]]
                moved = {
                    **annotation,
                    "id": len(annotations) + 1,
                    "image_id": image_ids[annotation["image_id"]],
                    "category_id": ids[category["name"]],
                }
                if "keypoints" in annotation:
                    moved["keypoints"] = _relayout(
                        annotation["keypoints"], category["keypoints"], points[category["name"]]
                    )
                annotations.append(moved)
            folder = out / "images" / split
            into = staging / "images" / split
            into.mkdir(parents=True, exist_ok=True)
            if folder.is_dir():
                for entry in os.scandir(folder):
                    os.replace(entry.path, into / entry.name)
        (staging / "images" / split).mkdir(parents=True, exist_ok=True)
        document = {
            "info": info,
            "licenses": [],
            "images": images,
            "annotations": annotations,
            "categories": categories,
        }
        text = json.dumps(document, ensure_ascii=False, separators=(",", ":"))
        (staging / "annotations" / f"instances_{split}.json").write_text(text, "utf-8")


def _merged_categories(
    documents: list[dict[str, Any]], fixed: Sequence[str] | None
) -> list[dict[str, Any]]:
    """Sorted class names, or the fixed ones (ids from 1); keypoint names in the order the
    shards met them."""
    names: set[str] = set()
    points: dict[str, dict[str, None]] = {}
    for document in documents:
        for found in document["categories"]:
            names.add(found["name"])
            if "keypoints" in found:
                order = points.setdefault(found["name"], {})
                order.update((point, None) for point in found["keypoints"])
    categories = []
    for index, name in enumerate(list(fixed) if fixed is not None else sorted(names), 1):
        category: dict[str, Any] = {"id": index, "name": name, "supercategory": ""}
        if name in points:
            category["keypoints"] = list(points[name])
            category["skeleton"] = []
        categories.append(category)
    return categories


def _relayout(flat: list[float], own: list[str], merged: list[str] | None) -> list[float]:
    """A shard's ``[x, y, v] * k`` in its category's point order, laid out in the merged order."""
    by_name = {name: flat[3 * i : 3 * i + 3] for i, name in enumerate(own)}
    out: list[float] = []
    for name in merged or own:
        out.extend(by_name.get(name, [0.0, 0.0, 0]))
    return out


def _combined(
    listing: Tally,
    results: list[dict[str, Any]],
    output: Path,
    config: Path,
    target: str,
    categorized: bool,
) -> ConversionResult:
    """One result: the listing's orphans, then every shard's counts and examples, summed."""
    tally = listing
    for result in results:
        tally.items_written += result["items_written"]
        tally.items_skipped += result["items_skipped"]
        tally.annotations_written += result["annotations_written"]
        tally.annotations_skipped += result["annotations_skipped"]
        for reason, count in result["skipped_reasons"].items():
            tally.reasons[reason] = tally.reasons.get(reason, 0) + count
        for reason, examples in result["skipped_examples"].items():
            kept = tally.examples.setdefault(reason, [])
            kept.extend(examples[: max(0, 5 - len(kept))])
    return ConversionResult.from_tally(
        tally, path=output, config_path=config, format=target, is_categorized=categorized
    )
