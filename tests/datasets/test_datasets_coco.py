"""DM v2 -> COCO loads in pycocotools with the counts we wrote; COCO -> DM v2 reads it back."""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

import pytest
from dataset_helpers import box, leftovers, write_item, write_png
from pycocotools.coco import COCO

from synapse_steps.datasets import Tally, convert, open_dm_v2
from synapse_steps.errors import DatasetError


def _load(path: Path) -> COCO:
    with contextlib.redirect_stdout(io.StringIO()):  # pycocotools prints progress
        return COCO(str(path))


# pycocotools' own numpy-2 deprecation, not ours
@pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")
def test_sample_dataset_to_coco_loads_in_pycocotools(sample_dataset: Path, tmp_path: Path) -> None:
    result = convert(sample_dataset, "dm_v2", "coco", tmp_path / "coco")
    assert result.config_path == tmp_path / "coco" / "annotations" / "instances_train.json"
    items = list(open_dm_v2(sample_dataset, Tally()))
    total_annotations = 0
    for split in ("train", "valid", "test"):
        path = tmp_path / "coco" / "annotations" / f"instances_{split}.json"
        coco = _load(path)
        split_items = [i for i in items if i.split == split]
        boxes = sum(len(i.annotations.get("bounding_box", [])) for i in split_items)
        polygons = sum(len(i.annotations.get("polygon", [])) for i in split_items)
        assert len(coco.getImgIds()) == len(split_items)
        assert len(coco.getAnnIds()) == boxes + polygons
        assert [c["name"] for c in coco.loadCats(coco.getCatIds())] == [
            "circle",
            "square",
            "triangle",
        ]
        assert coco.getCatIds() == [1, 2, 3]
        assert sorted(coco.getImgIds()) == list(range(1, len(split_items) + 1))
        for image in coco.loadImgs(coco.getImgIds()):
            assert (tmp_path / "coco" / "images" / split / image["file_name"]).is_file()
            assert (image["width"], image["height"]) == (160, 120)
        for annotation in coco.loadAnns(coco.getAnnIds()):
            x, y, w, h = annotation["bbox"]
            assert annotation["iscrowd"] == 0
            assert w > 0
            assert h > 0
            assert x >= 0
            assert x + w <= 160
            assert y >= 0
            assert y + h <= 120
            if annotation["segmentation"]:
                assert (
                    coco.annToMask(annotation).sum() > 0
                )  # a real polygon pycocotools can rasterise
        total_annotations += len(coco.getAnnIds())
    keypoints = sum(len(i.annotations.get("keypoint", [])) for i in items)
    assert result.annotations_written == total_annotations + keypoints
    assert result.annotations_skipped == 0


def test_keypoint_groups_become_coco_keypoints(sample_dataset: Path, tmp_path: Path) -> None:
    convert(sample_dataset, "dm_v2", "coco", tmp_path / "coco")
    coco = _load(tmp_path / "coco" / "annotations" / "instances_train.json")
    (square,) = coco.loadCats(coco.getCatIds(catNms=["square"]))
    assert square["keypoints"] == ["top_left", "top_right", "bottom_right", "bottom_left"]
    squares = coco.loadAnns(coco.getAnnIds(catIds=[square["id"]]))
    assert squares
    for annotation in squares:
        x, y, w, h = annotation["bbox"]
        assert annotation["num_keypoints"] == 4
        assert annotation["keypoints"] == [x, y, 2, x + w, y, 2, x + w, y + h, 2, x, y + h, 2]


def test_keypoints_attach_by_id_then_by_containment_else_are_reported(tmp_path: Path) -> None:
    def point(name: str, x: float, y: float, group: str | None) -> dict[str, object]:
        extra = {"group_id": group} if group else {}
        return {
            "id": f"k{name}{x}",
            "classification": name,
            "attrs": [],
            "data": [x, y],
            "visibility": 2,
            **extra,
        }

    annotations = {
        "bounding_box": [
            box("person", 0, 0, 50, 50, "big"),
            box("person", 10, 10, 10, 10, "small"),
        ],
        "keypoint": [
            point("nose", 40, 40, "big"),  # by id, although "small" would not contain it
            point("nose", 12, 12, "someone"),  # by containment: the smallest box around it
            point("eye", 13, 13, "someone"),
            point("nose", 90, 70, "nobody"),  # outside every box: reported
        ],
    }
    write_item(
        tmp_path / "dm",
        None,
        "a",
        annotations,
        size=(100, 80),
        catalogue={"bounding_box": ["person"], "keypoint": ["nose", "eye"]},
    )
    result = convert(tmp_path / "dm", "dm_v2", "coco", tmp_path / "coco")
    document = json.loads(
        (tmp_path / "coco" / "annotations" / "instances_default.json").read_text()
    )
    assert document["categories"][0]["keypoints"] == ["nose", "eye"]
    big, small = document["annotations"]
    assert big["keypoints"] == [40, 40, 2, 0.0, 0.0, 0]
    assert big["num_keypoints"] == 1
    assert small["keypoints"] == [12, 12, 2, 13, 13, 2]
    assert small["num_keypoints"] == 2
    assert result.skipped_reasons == {"keypoint group without an owning box or polygon": 1}
    assert result.skipped_examples["keypoint group without an owning box or polygon"] == (
        "json/a.json: group 'nobody'",
    )


def test_coco_round_trip_restores_keypoint_groups(sample_dataset: Path, tmp_path: Path) -> None:
    convert(sample_dataset, "dm_v2", "coco", tmp_path / "coco")
    result = convert(tmp_path / "coco", "coco", "dm_v2", tmp_path / "back")
    assert result.is_categorized
    assert result.annotations_skipped == 0
    original = {(i.split, i.stem): i for i in open_dm_v2(sample_dataset, Tally())}
    for item in open_dm_v2(tmp_path / "back", Tally()):
        before = original[(item.split, item.stem)]
        assert item.catalogue == before.catalogue
        for tool in ("bounding_box", "polygon"):
            assert [(a["classification"], a["data"]) for a in item.annotations.get(tool, [])] == [
                (a["classification"], a["data"]) for a in before.annotations.get(tool, [])
            ]
        boxes_by_id = {a["id"]: a["data"] for a in item.annotations.get("bounding_box", [])}
        groups_before = _groups(
            before.annotations.get("keypoint", []),
            {a["id"]: a["data"] for a in before.annotations.get("bounding_box", [])},
        )
        assert _groups(item.annotations.get("keypoint", []), boxes_by_id) == groups_before


def _groups(points: list[dict], boxes: dict[str, list[float]]) -> set[tuple]:
    """Keypoint groups keyed by their owner box's coordinates (ids change in a round trip)."""
    grouped: dict[str, set] = {}
    for p in points:
        grouped.setdefault(p["group_id"], set()).add(
            (p["classification"], *p["data"], p["visibility"])
        )
    return {(tuple(boxes[g]), frozenset(v)) for g, v in grouped.items()}


def test_coco_to_dm_reports_missing_images_crowds_and_unknown_categories(tmp_path: Path) -> None:
    root = tmp_path / "coco"
    write_png(root / "images" / "train" / "a.png", (50, 40))
    document = {
        "images": [
            {"id": 1, "file_name": "a.png", "width": 50, "height": 40},
            {"id": 2, "file_name": "gone.png", "width": 50, "height": 40},
        ],
        "annotations": [
            {"id": 1, "image_id": 1, "category_id": 1, "bbox": [1, 2, 3, 4], "iscrowd": 0},
            {"id": 2, "image_id": 1, "category_id": 9, "bbox": [1, 2, 3, 4], "iscrowd": 0},
            {"id": 3, "image_id": 1, "category_id": 1, "bbox": [1, 2, 3, 4], "iscrowd": 1},
            {"id": 4, "image_id": 1, "category_id": 1, "bbox": [1, 2, float("nan"), 4]},
        ],
        "categories": [{"id": 1, "name": "cat"}],
    }
    (root / "annotations").mkdir(parents=True)
    (root / "annotations" / "instances_train.json").write_text(json.dumps(document))
    result = convert(root, "coco", "dm_v2", tmp_path / "dm")
    assert (result.items_written, result.items_skipped, result.annotations_written) == (1, 1, 1)
    assert result.skipped_examples == {
        "image file missing": ("annotations/instances_train.json: gone.png",),
        "unknown category id": ("annotations/instances_train.json: annotation 2",),
        "crowd region (iscrowd=1)": ("annotations/instances_train.json: annotation 3",),
        "non-finite coordinates": ("annotations/instances_train.json: annotation 4",),
    }


@pytest.mark.parametrize(
    "file_name", ["../../secret.png", "/etc/hostname", "C:\\secret.png", "sub/../../x.png"]
)
def test_coco_file_names_escaping_the_root_are_refused(tmp_path: Path, file_name: str) -> None:
    root = tmp_path / "coco"
    write_png(tmp_path / "secret.png", (10, 10))
    document = {
        "images": [{"id": 1, "file_name": file_name, "width": 1, "height": 1}],
        "annotations": [],
        "categories": [],
    }
    (root / "annotations").mkdir(parents=True)
    (root / "annotations" / "instances_default.json").write_text(json.dumps(document))
    with pytest.raises(
        DatasetError, match=r"instances_default\.json names the file .*outside the dataset"
    ):
        convert(root, "coco", "dm_v2", tmp_path / "dm")
    assert not (tmp_path / "dm").exists()
    assert leftovers(tmp_path / "dm") == []


def test_coco_symlinked_image_escaping_the_root_is_refused(tmp_path: Path) -> None:
    root = tmp_path / "coco"
    (root / "images" / "default").mkdir(parents=True)
    (root / "images" / "default" / "a.png").symlink_to(write_png(tmp_path / "secret.png", (10, 10)))
    document = {
        "images": [{"id": 1, "file_name": "a.png", "width": 1, "height": 1}],
        "annotations": [],
        "categories": [],
    }
    (root / "annotations").mkdir()
    (root / "annotations" / "instances_default.json").write_text(json.dumps(document))
    with pytest.raises(
        DatasetError, match=r"a\.png \(named by .*instances_default\.json\).*outside"
    ):
        convert(root, "coco", "dm_v2", tmp_path / "dm")
    assert not (tmp_path / "dm").exists()
    assert leftovers(tmp_path / "dm") == []


def test_malformed_coco_json_names_the_file(tmp_path: Path) -> None:
    (tmp_path / "coco" / "annotations").mkdir(parents=True)
    (tmp_path / "coco" / "annotations" / "instances_train.json").write_text('{"images": [}')
    with pytest.raises(
        DatasetError, match=r"instances_train\.json is not valid JSON.*line 1 column 13"
    ):
        convert(tmp_path / "coco", "coco", "dm_v2", tmp_path / "dm")
