"""The synthetic dataset: deterministic, well-formed, and boxes that hug the drawn shapes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from synapse_steps.datasets import Tally, make_detection_dataset, open_dm_v2
from synapse_steps.datasets.samples import COLORS
from synapse_steps.errors import DatasetError


def _files(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }


def test_same_seed_same_bytes_other_seed_other_bytes(tmp_path: Path) -> None:
    first = _files(make_detection_dataset(tmp_path / "a", n_images=30, seed=7))
    second = _files(make_detection_dataset(tmp_path / "b", n_images=30, seed=7))
    other = _files(make_detection_dataset(tmp_path / "c", n_images=30, seed=8))
    assert first == second
    assert first != other
    assert len(first) == 60


def test_splits_counts_and_boxes_inside_images(tmp_path: Path) -> None:
    root = make_detection_dataset(tmp_path / "dm", n_images=200)
    tally = Tally()
    items = list(open_dm_v2(root, tally))
    assert tally.items_skipped == 0
    counts = {split: sum(i.split == split for i in items) for split in ("train", "valid", "test")}
    assert counts == {"train": 140, "valid": 40, "test": 20}
    for item in items:
        with Image.open(item.image_path) as image:
            assert image.size == (160, 120)
        boxes = item.annotations["bounding_box"]
        assert 1 <= len(boxes) <= 4
        for annotation in boxes:
            x, y, w, h = annotation["data"]
            assert x >= 0
            assert y >= 0
            assert w > 0
            assert h > 0
            assert x + w <= 160
            assert y + h <= 120
            assert annotation["classification"] in COLORS


def test_boxes_are_the_exact_extent_of_the_drawn_shape(tmp_path: Path) -> None:
    root = make_detection_dataset(tmp_path / "dm", n_images=12, seed=1)
    for item in open_dm_v2(root, Tally()):
        with Image.open(item.image_path) as image:
            pixels = np.pad(np.asarray(image.convert("RGB")), ((1, 1), (1, 1), (0, 0)))
        for annotation in item.annotations["bounding_box"]:
            x, y, w, h = (int(v) for v in annotation["data"])
            # a shape is one flat colour (the background is grey noise); look one pixel around
            window = pixels[y : y + h + 2, x : x + w + 2]
            colour = window[1 + h // 2, 1 + w // 2]
            assert len(set(colour.tolist())) > 1, "box centre should be on the coloured shape"
            rows, cols = np.nonzero((window == colour).all(axis=2))
            assert (rows.min(), cols.min(), rows.max(), cols.max()) == (1, 1, h, w)


def test_polygons_and_keypoints_match_their_boxes(tmp_path: Path) -> None:
    root = make_detection_dataset(tmp_path / "dm", n_images=30, seed=2)
    polygons = keypoints = 0
    for item in open_dm_v2(root, Tally()):
        boxes = {a["id"]: a for a in item.annotations["bounding_box"]}
        for polygon in item.annotations.get("polygon", []):
            xs = [p[0] for p in polygon["data"]]
            ys = [p[1] for p in polygon["data"]]
            assert polygon["classification"] == "triangle"
            assert [min(xs), min(ys), max(xs) - min(xs), max(ys) - min(ys)] in [
                b["data"] for b in boxes.values() if b["classification"] == "triangle"
            ]
            polygons += 1
        for point in item.annotations.get("keypoint", []):
            owner = boxes[point["group_id"]]
            x, y, w, h = owner["data"]
            assert owner["classification"] == "square"
            assert tuple(point["data"]) in {(x, y), (x + w, y), (x + w, y + h), (x, y + h)}
            keypoints += 1
    assert polygons > 0
    assert keypoints > 0
    assert keypoints % 4 == 0


def test_benchmark_options(tmp_path: Path) -> None:
    root = make_detection_dataset(
        tmp_path / "dm",
        n_images=50,
        boxes_per_image=10,
        image_size=(320, 240),
        polygons=False,
        keypoints=False,
        distinct_images=5,
    )
    items = list(open_dm_v2(root, Tally()))
    assert len(items) == 50
    assert all(set(i.annotations) == {"bounding_box"} for i in items)
    assert all(len(i.annotations["bounding_box"]) == 10 for i in items)


def test_refuses_a_non_empty_folder_unless_overwrite(tmp_path: Path) -> None:
    (tmp_path / "dm").mkdir()
    (tmp_path / "dm" / "x").write_text("x")
    with pytest.raises(DatasetError, match="not empty"):
        make_detection_dataset(tmp_path / "dm", n_images=3)
    make_detection_dataset(tmp_path / "dm", n_images=3, overwrite=True)
    assert not (tmp_path / "dm" / "x").exists()
