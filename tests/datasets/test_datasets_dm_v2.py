"""The DM v2 reader: layouts, pairing, reported orphans, safety, and the writer's ids."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from dataset_helpers import box, write_item, write_png

from synapse_steps.datasets import DMv2Writer, Tally, open_dm_v2
from synapse_steps.datasets.dm_v2 import ANNOTATION_ID, AnnotationIds, dm_annotation, dm_document
from synapse_steps.errors import DatasetError


def test_uncategorized_layout_pairs_by_stem_with_any_extension_case(tmp_path: Path) -> None:
    write_item(tmp_path, None, "a", {"bounding_box": [box("car", 1, 2, 3, 4)]})
    write_item(tmp_path, None, "b", {}, image_ext=".JPG")
    (tmp_path / "original_files" / "b.JPG").write_bytes(
        (tmp_path / "original_files" / "b.JPG").read_bytes()
    )
    tally = Tally()
    dataset = open_dm_v2(tmp_path, tally)
    items = list(dataset)
    assert not dataset.is_categorized
    assert dataset.splits == (None,)
    assert [(i.split, i.stem, i.image_name) for i in items] == [
        (None, "a", "a.png"),
        (None, "b", "b.JPG"),
    ]
    assert items[0].annotations["bounding_box"][0]["data"] == [1, 2, 3, 4]
    assert items[0].label == "json/a.json"
    assert tally.items_skipped == 0


def test_split_aliases_map_to_valid(tmp_path: Path) -> None:
    write_item(tmp_path, "train", "t", {})
    write_item(tmp_path, "val", "v", {})
    write_item(tmp_path, "test", "x", {})
    dataset = open_dm_v2(tmp_path, Tally())
    assert dataset.is_categorized
    assert dataset.splits == ("train", "valid", "test")
    assert [(i.split, i.label) for i in dataset] == [
        ("train", "train/json/t.json"),
        ("valid", "val/json/v.json"),
        ("test", "test/json/x.json"),
    ]


def test_two_folders_for_one_split_is_an_error(tmp_path: Path) -> None:
    write_item(tmp_path, "val", "a", {})
    write_item(tmp_path, "validation", "b", {})
    with pytest.raises(DatasetError, match="two folders for the 'valid' split"):
        open_dm_v2(tmp_path, Tally())


def test_not_a_dataset_says_what_was_expected(tmp_path: Path) -> None:
    (tmp_path / "pictures").mkdir()
    with pytest.raises(DatasetError, match=r"not a DM v2 dataset.*\['pictures'\]"):
        open_dm_v2(tmp_path, Tally())


def test_orphans_are_counted_and_named(tmp_path: Path) -> None:
    write_item(tmp_path, "train", "ok", {})
    write_item(tmp_path, "train", "lonely_json", {})
    (tmp_path / "train" / "original_files" / "lonely_json.png").unlink()
    write_png(tmp_path / "train" / "original_files" / "lonely_image.webp", (10, 10))
    write_item(tmp_path, "train", "twice", {})
    write_png(tmp_path / "train" / "original_files" / "twice.jpg", (10, 10))
    write_item(tmp_path, "train", "tiff", {})
    os.replace(
        tmp_path / "train" / "original_files" / "tiff.png",
        tmp_path / "train" / "original_files" / "tiff.tif",
    )
    tally = Tally()
    dataset = open_dm_v2(tmp_path, tally)
    assert [i.stem for i in dataset] == ["ok"]
    assert tally.items_skipped == 4
    assert tally.examples == {
        "json without image": ["train/json/lonely_json.json"],
        "image without json": ["train/original_files/lonely_image.webp"],
        "several images share one stem": ["train/original_files/twice.jpg and twice.png"],
        "unsupported image type": ["train/original_files/tiff.tif (not jpg/png/bmp/webp)"],
    }


def test_malformed_json_names_the_file_and_position(tmp_path: Path) -> None:
    write_item(tmp_path, None, "broken", {}, raw_json='{"images": [\n  {"bounding_box": [}\n]}')
    with pytest.raises(DatasetError, match=r"broken\.json is not valid JSON.*line 2 column 21"):
        list(open_dm_v2(tmp_path, Tally()))


@pytest.mark.parametrize("raw", ["[1, 2]", '{"images": {}}', '{"images": [3]}'])
def test_wrong_json_structure_names_the_file(tmp_path: Path, raw: str) -> None:
    write_item(tmp_path, None, "odd", {}, raw_json=raw)
    with pytest.raises(DatasetError, match=r"odd\.json"):
        list(open_dm_v2(tmp_path, Tally()))


def test_symlinked_image_outside_the_root_is_rejected(tmp_path: Path) -> None:
    root = tmp_path / "dm"
    write_item(root, None, "a", {})
    outside = write_png(tmp_path / "secret.png", (10, 10))
    (root / "original_files" / "a.png").unlink()
    (root / "original_files" / "a.png").symlink_to(outside)
    with pytest.raises(DatasetError, match=r"a\.png.*outside the dataset folder"):
        open_dm_v2(root, Tally())


def test_symlinked_json_folder_outside_the_root_is_rejected(tmp_path: Path) -> None:
    root = tmp_path / "dm"
    write_item(root, None, "a", {})
    elsewhere = tmp_path / "elsewhere"
    os.replace(root / "json", elsewhere)
    (root / "json").symlink_to(elsewhere, target_is_directory=True)
    with pytest.raises(DatasetError, match="outside the dataset folder"):
        open_dm_v2(root, Tally())


def test_symlink_inside_the_root_is_fine(tmp_path: Path) -> None:
    write_item(tmp_path, None, "a", {})
    (tmp_path / "original_files" / "a.png").rename(tmp_path / "real.png")
    (tmp_path / "original_files" / "a.png").symlink_to(tmp_path / "real.png")
    assert [i.stem for i in open_dm_v2(tmp_path, Tally())] == ["a"]


def test_items_are_parsed_lazily(tmp_path: Path) -> None:
    """Iteration parses one JSON at a time: a broken later file only fails when reached."""
    write_item(tmp_path, None, "a_good", {})
    write_item(tmp_path, None, "b_bad", {}, raw_json="{")
    iterator = iter(open_dm_v2(tmp_path, Tally()))
    assert next(iterator).stem == "a_good"
    with pytest.raises(DatasetError, match="b_bad"):
        next(iterator)


def test_writer_writes_a_readable_dataset_with_valid_ids(tmp_path: Path) -> None:
    image = write_png(tmp_path / "src" / "pic.png", (20, 10))
    ids = AnnotationIds()
    annotations = {
        "bounding_box": [dm_annotation(ids.new("bounding_box"), "cat", [1.0, 1.0, 5.0, 5.0])],
        "keypoint": [dm_annotation(ids.new("keypoint"), "eye", [2.0, 2.0], visibility=2)],
    }
    writer = DMv2Writer(tmp_path / "out", categorized=True)
    writer.start_split("valid")
    writer.write("valid", image, dm_document({"bounding_box": ["cat"]}, annotations))
    written = json.loads((tmp_path / "out" / "valid" / "json" / "pic.json").read_text())
    all_ids = [a["id"] for tool in written["images"][0].values() for a in tool]
    assert all_ids == ["bb00000001", "kp00000002"]
    assert all(ANNOTATION_ID.fullmatch(i) for i in all_ids)
    (item,) = open_dm_v2(tmp_path / "out", Tally())
    assert (item.split, item.stem, dict(item.catalogue)) == (
        "valid",
        "pic",
        {"bounding_box": ["cat"]},
    )


def test_utf8_bom_is_accepted_and_other_encodings_name_the_file(tmp_path: Path) -> None:
    json_path, _ = write_item(tmp_path, None, "bom", {"bounding_box": [box("café", 1, 1, 2, 2)]})
    json_path.write_bytes(b"\xef\xbb\xbf" + json_path.read_bytes())
    (item,) = open_dm_v2(tmp_path, Tally())
    assert item.annotations["bounding_box"][0]["classification"] == "café"
    json_path.write_bytes(b'{"classification": {"bounding_box": ["caf\xe9"]}}')  # Latin-1
    with pytest.raises(DatasetError, match=r"bom\.json is not UTF-8 encoded"):
        list(open_dm_v2(tmp_path, Tally()))
