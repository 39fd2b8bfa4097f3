"""Importing YOLO and COCO datasets: converted to DM v2 by synapse_steps.datasets.convert."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from PIL import Image

from synapse_steps.backends import LocalBackend
from synapse_steps.errors import BackendError


def make_yolo(root: Path) -> Path:
    for split, count in (("train", 3), ("valid", 1)):
        (root / split / "images").mkdir(parents=True)
        (root / split / "labels").mkdir(parents=True)
        for i in range(count):
            Image.new("RGB", (20, 10)).save(root / split / "images" / f"{split}{i}.png")
            (root / split / "labels" / f"{split}{i}.txt").write_text("0 0.5 0.5 0.2 0.4\n")
    (root / "dataset.yaml").write_text(
        f"path: {root}\ntrain: train/images\nval: valid/images\nnc: 1\nnames: [car]\n"
    )
    return root


def make_coco(root: Path) -> Path:
    (root / "annotations").mkdir(parents=True)
    (root / "images" / "train").mkdir(parents=True)
    images, annotations = [], []
    for i in range(2):
        Image.new("RGB", (20, 10)).save(root / "images" / "train" / f"c{i}.png")
        images.append({"id": i + 1, "file_name": f"c{i}.png", "width": 20, "height": 10})
        annotations.append(
            {
                "id": i + 1,
                "image_id": i + 1,
                "category_id": 1,
                "bbox": [1, 1, 5, 5],
                "area": 25,
                "iscrowd": 0,
                "segmentation": [],
            }
        )
    images.append({"id": 99, "file_name": "gone.png", "width": 20, "height": 10})
    coco = {
        "images": images,
        "annotations": annotations,
        "categories": [{"id": 1, "name": "car", "supercategory": "thing"}],
    }
    (root / "annotations" / "instances_train.json").write_text(json.dumps(coco))
    return root


def test_import_yolo_converts_to_dm_v2(backend: LocalBackend, tmp_path: Path) -> None:
    dataset_id = backend.import_dataset(make_yolo(tmp_path / "yolo"), format="yolo")
    record = backend.get_dataset(dataset_id)
    assert (record["format"], record["source_format"]) == ("dm_v2", "yolo")
    assert record["splits"] == {"train": 3, "valid": 1}
    unit = backend.get_data_collection(dataset_id)[0]
    boxes = unit.annotations["images"][0]["bounding_box"]
    assert [box["classification"] for box in boxes] == ["car"]
    assert list((backend.root / "tmp").iterdir()) == []


def test_import_coco_converts_to_dm_v2(backend: LocalBackend, tmp_path: Path) -> None:
    dataset_id = backend.import_dataset(make_coco(tmp_path / "coco"), format="COCO")
    record = backend.get_dataset(dataset_id)
    assert record["splits"] == {"train": 2}
    assert record["count"] == 2
    assert len(record["skipped"]) == 1
    assert "gone.png" in record["skipped"][0]  # what the converter skipped is kept, named
    assert len(backend.get_data_collection(dataset_id)) == 2


def test_missing_converter_says_how_to_proceed(
    backend: LocalBackend, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # None in sys.modules makes the next import of that name raise ImportError.
    monkeypatch.setitem(sys.modules, "synapse_steps.datasets", None)
    with pytest.raises(BackendError, match=r"'yolo'.*format='dm_v2'"):
        backend.import_dataset(make_yolo(tmp_path / "yolo"), format="yolo")
    assert backend.list_datasets() == []
    assert list((backend.root / "tmp").iterdir()) == []
