"""Dataset conversion throughput and peak memory: synapse_steps vs globox vs supervision.

    python benchmarks/convert_throughput.py --images 5000 --boxes 10

Builds synthetic DM v2 datasets (``make_detection_dataset``; only ``--distinct`` images are drawn
and repeated, which changes nothing for a converter), converts them with our DM v2 -> YOLO and
DM v2 -> COCO, and converts the equivalent COCO (our own COCO output) to YOLO labels with globox
and supervision. Every measurement runs in a fresh subprocess, so each peak memory figure is its
own: ``rss`` is the peak RSS growth over the process after its imports (VmHWM reset), ``heap`` the
tracemalloc peak of a separate, untimed run. Contenders are interleaved and the best of
``--repeat`` runs is kept (the median is printed too).

What each contender does (they do not do the same work, and the table says so):

* ours: reads every DM JSON and every image header, writes labels + dataset.yaml + classes.txt,
  and copies (``copy``) or hard-links (``link``) every image into the output.
* globox: parses one COCO file per split and writes label files; never touches images.
* supervision: parses the COCO file, then ``as_yolo`` *decodes every image* to learn its size
  (``DetectionDataset`` iterates images) and writes label files.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path
from typing import Any

SPLITS = ("train", "valid", "test")


# --------------------------------------------------------------------------- workers


def _ours(target: str, link: bool) -> Any:
    def run(source: Path, coco: Path, out: Path) -> int:
        from synapse_steps.datasets import convert

        result = convert(source, "dm_v2", target, out, link_images=link)
        return result.annotations_written

    return run


def _globox(source: Path, coco: Path, out: Path) -> int:
    from globox import AnnotationSet

    count = 0
    for split in SPLITS:
        annotations = AnnotationSet.from_coco(coco / "annotations" / f"instances_{split}.json")
        names = sorted({box.label for box in annotations.all_boxes})
        labels = out / split / "labels"
        labels.mkdir(parents=True)
        annotations.save_yolo_v5(labels, label_to_id={name: i for i, name in enumerate(names)})
        count += annotations.nb_boxes()
    return count


def _supervision(source: Path, coco: Path, out: Path) -> int:
    import warnings

    warnings.filterwarnings("ignore")  # "OpenCV not installed, using the NumPy fallback"
    import supervision as sv

    count = 0
    for split in SPLITS:
        dataset = sv.DetectionDataset.from_coco(
            images_directory_path=str(coco / "images" / split),
            annotations_path=str(coco / "annotations" / f"instances_{split}.json"),
        )
        dataset.as_yolo(
            annotations_directory_path=str(out / split / "labels"),
            data_yaml_path=str(out / f"{split}.yaml"),
        )
        # counted from the index: iterating the dataset would decode every image again
        count += sum(len(dataset.annotations[path]) for path in dataset.image_paths)
    return count


WORKERS: dict[str, Any] = {
    "ours-yolo-link": _ours("yolo", link=True),
    "ours-yolo-copy": _ours("yolo", link=False),
    "ours-coco-link": _ours("coco", link=True),
    "globox-coco-to-yolo": _globox,
    "supervision-coco-to-yolo": _supervision,
}


def _worker(name: str, source: Path, coco: Path, out: Path, trace: bool) -> None:
    function = WORKERS[name]
    if name.startswith("ours"):
        import synapse_steps.datasets  # noqa: F401  (imports are not part of the measurement)
    elif name.startswith("globox"):
        import globox  # noqa: F401
    else:
        import warnings

        warnings.filterwarnings("ignore")
        import supervision  # noqa: F401
    baseline = _reset_peak_rss()
    if trace:
        tracemalloc.start()
    start = time.perf_counter()
    annotations = function(source, coco, out)
    seconds = time.perf_counter() - start
    heap = tracemalloc.get_traced_memory()[1] if trace else 0
    rss = _peak_rss_kb() - baseline
    print(
        json.dumps(
            {"seconds": seconds, "annotations": annotations, "rss_kb": rss, "heap_kb": heap // 1024}
        )
    )


def _status_kb(field: str) -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise LookupError(field)


def _reset_peak_rss() -> int:
    """Reset the peak RSS (Linux >= 4.0) so imports do not hide the conversion's own peak.

    Returns the baseline to subtract: the current RSS, or the import-time peak where the reset
    is not available (then small conversions under that peak read as +0).
    """
    try:
        with open("/proc/self/clear_refs", "w") as clear_refs:
            clear_refs.write("5")
        return _status_kb("VmRSS")
    except OSError:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def _peak_rss_kb() -> int:
    try:
        return _status_kb("VmHWM")
    except (OSError, LookupError):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


# --------------------------------------------------------------------------- driver


def _measure(name: str, source: Path, coco: Path, work: Path, trace: bool) -> dict[str, Any]:
    out = work / f"out-{name}"
    shutil.rmtree(out, ignore_errors=True)
    command = [
        sys.executable,
        __file__,
        "--worker",
        name,
        "--source",
        str(source),
        "--coco",
        str(coco),
        "--out",
        str(out),
    ] + (["--trace"] if trace else [])
    completed = subprocess.run(command, capture_output=True, text=True, check=False)
    shutil.rmtree(out, ignore_errors=True)
    if completed.returncode != 0:
        raise RuntimeError(f"{name} failed:\n{completed.stderr[-3000:]}")
    measured: dict[str, Any] = json.loads(completed.stdout.strip().splitlines()[-1])
    return measured


def _prepare(work: Path, images: int, boxes: int, distinct: int) -> tuple[Path, Path]:
    from synapse_steps.datasets import convert, make_detection_dataset

    source = work / f"dm-{images}"
    coco = work / f"coco-{images}"
    if not source.exists():
        make_detection_dataset(
            source,
            n_images=images,
            boxes_per_image=boxes,
            polygons=False,
            keypoints=False,
            distinct_images=distinct,
        )
    if not coco.exists():
        convert(source, "dm_v2", "coco", coco)
    return source, coco


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=5000)
    parser.add_argument("--small", type=int, default=1000, help="second size, for memory")
    parser.add_argument("--boxes", type=int, default=10)
    parser.add_argument("--distinct", type=int, default=50)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--work", type=Path, default=None)
    parser.add_argument("--worker", choices=sorted(WORKERS))
    parser.add_argument("--source", type=Path)
    parser.add_argument("--coco", type=Path)
    parser.add_argument("--out", type=Path)
    parser.add_argument("--trace", action="store_true")
    args = parser.parse_args()
    if args.worker:
        _worker(args.worker, args.source, args.coco, args.out, args.trace)
        return

    work = args.work or Path(tempfile.mkdtemp(prefix="convert-bench-"))
    print(
        f"# machine: {platform.machine()}, {os.cpu_count()} cores, Python "
        f"{platform.python_version()}; load average {os.getloadavg()[0]:.2f}; work dir {work}"
    )
    rows: dict[tuple[str, int], dict[str, Any]] = {}
    for images in sorted({args.small, args.images}):
        source, coco = _prepare(work, images, args.boxes, args.distinct)
        names = [n for n in WORKERS if images == args.images or not n.startswith("supervision")]
        # Interleave the contenders so a busy neighbour slows them all alike; keep the best run.
        runs: dict[str, list[dict[str, Any]]] = {name: [] for name in names}
        for _ in range(args.repeat):
            for name in names:
                runs[name].append(_measure(name, source, coco, work, trace=False))
        for name in names:
            best = min(runs[name], key=lambda run: run["seconds"])
            heap = _measure(name, source, coco, work, trace=True)["heap_kb"]
            rss = max(r["rss_kb"] for r in runs[name])
            rows[(name, images)] = {**best, "rss_kb": rss, "heap_kb": heap}
            print(
                f"{name:26} {images:6} images  {best['annotations']:7} ann  "
                f"{best['seconds']:7.3f} s  {best['annotations'] / best['seconds']:10,.0f} ann/s  "
                f"rss +{rss / 1024:6.1f} MiB  heap {heap / 1024:6.1f} MiB  "
                f"(median {sorted(r['seconds'] for r in runs[name])[len(runs[name]) // 2]:.3f} s)",
                flush=True,
            )

    def rate(name: str) -> float:
        row = rows[(name, args.images)]
        return float(row["annotations"] / row["seconds"])

    print()
    print(
        f"| converter | ann/s ({args.images} images) | peak heap {args.small} -> {args.images} "
        f"images (MiB) | peak RSS growth {args.small} -> {args.images} (MiB) |"
    )
    print("|---|---:|---:|---:|")
    for name in WORKERS:
        big = rows[(name, args.images)]
        small = rows.get((name, args.small))
        heap = f"{small['heap_kb'] / 1024:.1f} -> " if small else ""
        rss = f"{small['rss_kb'] / 1024:.1f} -> " if small else ""
        print(
            f"| {name} | {rate(name):,.0f} | {heap}{big['heap_kb'] / 1024:.1f} | "
            f"{rss}{big['rss_kb'] / 1024:.1f} |"
        )
    print()
    for ours in ("ours-yolo-link", "ours-yolo-copy"):
        print(
            f"{ours} / globox: {rate(ours) / rate('globox-coco-to-yolo'):.1f}x;  "
            f"{ours} / supervision: {rate(ours) / rate('supervision-coco-to-yolo'):.1f}x"
        )
    if args.work is None:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
