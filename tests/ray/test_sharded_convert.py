"""A DM v2 -> YOLO / COCO conversion split across Ray workers gives the single-process output."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from synapse_steps.datasets import convert, make_detection_dataset
from synapse_steps.executors.ray import RayExecutor
from synapse_steps.executors.ray_convert import convert_sharded


def tree(root: Path) -> dict[str, bytes]:
    """Every file under ``root`` by relative path, with its bytes."""
    return {
        str(Path(folder, name).relative_to(root)): Path(folder, name).read_bytes()
        for folder, _, names in os.walk(root)
        for name in names
    }


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("dm") / "shapes"
    make_detection_dataset(root, n_images=90, seed=3)
    # A class only this one late item knows: shard ids differ and must be renumbered.
    late = sorted((root / "train" / "json").iterdir())[-1]
    document = json.loads(late.read_text())
    document["classification"]["bounding_box"] = ["aardvark", *document["classification"].get(
        "bounding_box", [])]  # fmt: skip
    boxes = document["images"][0].setdefault("bounding_box", [])
    boxes.append({"id": "late1", "classification": "aardvark", "attrs": [],
                  "data": [2, 3, 20, 10]})  # fmt: skip
    late.write_text(json.dumps(document))
    # An orphan JSON is counted once, as by the single-process converter.
    (root / "valid" / "json" / "orphan.json").write_text(json.dumps(document))
    return root


@pytest.mark.parametrize("options", [{}, {"task": "segment"}])
def test_sharded_yolo_is_byte_identical_to_the_single_process_converter(
    executor: RayExecutor, source: Path, tmp_path: Path, options: dict[str, str]
) -> None:
    single = convert(source, "dm_v2", "yolo", tmp_path / "single" / "out", **options)
    seen: list[tuple[int, int]] = []
    sharded = convert_sharded(
        source, "dm_v2", "yolo", tmp_path / "sharded" / "out", executor=executor, shards=3,
        progress=lambda done, total: seen.append((done, total)), **options,
    )  # fmt: skip
    expected = tree(tmp_path / "single" / "out")
    got = tree(tmp_path / "sharded" / "out")
    # dataset.yaml names its own folder; everything else is the same bytes.
    yaml_single = expected.pop("dataset.yaml").replace(b"/single/", b"/X/")
    assert got.pop("dataset.yaml").replace(b"/sharded/", b"/X/") == yaml_single
    assert got == expected
    assert b"aardvark" in expected["classes.txt"]
    assert single.to_dict() | {"path": "", "config_path": ""} == sharded.to_dict() | {
        "path": "", "config_path": ""}  # fmt: skip
    # One bar: from 0 to all items, never backwards; the temporary shards are gone.
    assert seen[0] == (0, 90)
    assert seen[-1] == (90, 90)
    assert [d for d, _ in seen] == sorted(d for d, _ in seen)
    assert sorted(p.name for p in (tmp_path / "sharded").iterdir()) == ["out"]


def test_sharded_coco_has_the_same_content_as_the_single_process_converter(
    executor: RayExecutor, source: Path, tmp_path: Path
) -> None:
    single = convert(source, "dm_v2", "coco", tmp_path / "single")
    sharded = convert_sharded(source, "dm_v2", "coco", tmp_path / "sharded", executor=executor)
    expected = tree(tmp_path / "single")
    got = tree(tmp_path / "sharded")
    assert got.keys() == expected.keys()
    for name, data in expected.items():
        assert json.loads(got[name]) == json.loads(data) if name.endswith(".json") else True
    assert got == expected  # byte for byte, instances files included
    assert single.skipped_reasons == sharded.skipped_reasons
    assert single.items_written == sharded.items_written == 90
