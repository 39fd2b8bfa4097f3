"""``convert``: the registry, the result, and the output-folder policy (never half-written)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from dataset_helpers import leftovers, write_item

from synapse_steps.datasets import ConversionResult, convert, supported_conversions
from synapse_steps.errors import DatasetError


def test_supported_pairs_and_unknown_pair_lists_them(tmp_path: Path) -> None:
    assert supported_conversions() == [
        ("coco", "dm_v2"),
        ("dm_v2", "coco"),
        ("dm_v2", "yolo"),
        ("yolo", "dm_v2"),
    ]
    with pytest.raises(DatasetError, match=r"No converter from 'dm_v2' to 'voc'.*dm_v2 -> yolo"):
        convert(tmp_path, "dm_v2", "voc", tmp_path / "out")


def test_format_names_are_forgiving(sample_dataset: Path, tmp_path: Path) -> None:
    result = convert(sample_dataset, "DM v2", "YOLO", tmp_path / "out")
    assert result.format == "yolo"


def test_result_to_dict_is_plain_json(sample_dataset: Path, tmp_path: Path) -> None:
    result = convert(sample_dataset, "dm_v2", "coco", tmp_path / "out")
    data = json.loads(json.dumps(result.to_dict()))
    assert data["path"] == str(tmp_path / "out")
    assert data["config_path"].endswith("annotations/instances_train.json")
    assert data["items_written"] == 40
    assert data["is_categorized"] is True
    with pytest.raises(AttributeError):
        result.items_written = 3  # type: ignore[misc]
    assert isinstance(result, ConversionResult)


def test_progress_is_called_once_per_item_up_to_the_total(
    sample_dataset: Path, tmp_path: Path
) -> None:
    calls: list[tuple[int, int]] = []
    convert(
        sample_dataset,
        "dm_v2",
        "yolo",
        tmp_path / "out",
        progress=lambda d, t: calls.append((d, t)),
    )
    assert calls == [(done, 40) for done in range(41)]


def test_missing_and_empty_output_folders_are_used(sample_dataset: Path, tmp_path: Path) -> None:
    convert(sample_dataset, "dm_v2", "yolo", tmp_path / "deep" / "new" / "out")
    assert (tmp_path / "deep" / "new" / "out" / "dataset.yaml").is_file()
    (tmp_path / "empty").mkdir()
    convert(sample_dataset, "dm_v2", "yolo", tmp_path / "empty")
    assert (tmp_path / "empty" / "dataset.yaml").is_file()
    assert leftovers(tmp_path / "empty") == []


def test_non_empty_output_is_refused_and_untouched(sample_dataset: Path, tmp_path: Path) -> None:
    output = tmp_path / "out"
    output.mkdir()
    (output / "keep.txt").write_text("precious")
    with pytest.raises(
        DatasetError, match=r"not empty\. Pass an empty or new folder, or overwrite=True"
    ):
        convert(sample_dataset, "dm_v2", "yolo", output)
    assert [p.name for p in output.iterdir()] == ["keep.txt"]
    assert leftovers(output) == []


def test_overwrite_replaces_the_output(sample_dataset: Path, tmp_path: Path) -> None:
    output = tmp_path / "out"
    output.mkdir()
    (output / "stale.txt").write_text("old")
    result = convert(sample_dataset, "dm_v2", "yolo", output, overwrite=True)
    assert not (output / "stale.txt").exists()
    assert result.config_path.is_file()
    assert leftovers(output) == []


def test_output_overlapping_the_source_is_refused(sample_dataset: Path, tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="overlap"):
        convert(sample_dataset, "dm_v2", "yolo", sample_dataset / "yolo")
    with pytest.raises(DatasetError, match="overlap"):
        convert(sample_dataset, "dm_v2", "yolo", sample_dataset.parent, overwrite=True)
    assert not (sample_dataset / "yolo").exists()


@pytest.mark.parametrize("target", ["yolo", "coco"])
@pytest.mark.parametrize("interrupt", [KeyboardInterrupt, RuntimeError])
def test_interrupted_conversion_leaves_nothing_behind(
    sample_dataset: Path, tmp_path: Path, target: str, interrupt: type[BaseException]
) -> None:
    def stop_midway(done: int, total: int) -> None:
        if done == total // 2:
            raise interrupt("stop")

    output = tmp_path / "out"
    with pytest.raises(interrupt):
        convert(sample_dataset, "dm_v2", target, output, progress=stop_midway)
    assert not output.exists()
    assert leftovers(output) == []
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_interrupted_overwrite_keeps_the_old_output(sample_dataset: Path, tmp_path: Path) -> None:
    output = tmp_path / "out"
    output.mkdir()
    (output / "old.txt").write_text("still here")

    def stop(done: int, total: int) -> None:
        if done == 5:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        convert(sample_dataset, "dm_v2", "yolo", output, progress=stop, overwrite=True)
    assert [p.name for p in output.iterdir()] == ["old.txt"]
    assert leftovers(output) == []


def test_error_mid_conversion_leaves_nothing_behind(tmp_path: Path) -> None:
    write_item(tmp_path / "dm", None, "a_fine", {})
    write_item(tmp_path / "dm", None, "b_broken", {}, raw_json='{"images": [}')
    with pytest.raises(DatasetError, match=r"b_broken\.json is not valid JSON"):
        convert(tmp_path / "dm", "dm_v2", "coco", tmp_path / "out")
    assert not (tmp_path / "out").exists()
    assert leftovers(tmp_path / "out") == []


def test_missing_image_is_reported_and_the_rest_converted(tmp_path: Path) -> None:
    write_item(tmp_path / "dm", "train", "kept", {})
    write_item(tmp_path / "dm", "train", "orphan", {})
    (tmp_path / "dm" / "train" / "original_files" / "orphan.png").unlink()
    for target in ("yolo", "coco"):
        result = convert(tmp_path / "dm", "dm_v2", target, tmp_path / target)
        assert (result.items_written, result.items_skipped) == (1, 1)
        assert result.skipped_examples == {"json without image": ("train/json/orphan.json",)}


def test_unreadable_image_header_is_skipped_with_the_file_named(tmp_path: Path) -> None:
    # One corrupt image is one bad item (issue 8): reported by name, the rest still converts.
    _, image = write_item(tmp_path / "dm", None, "bad", {})
    image.write_bytes(b"not an image at all")
    result = convert(tmp_path / "dm", "dm_v2", "yolo", tmp_path / "out")
    assert (result.items_written, result.items_skipped) == (0, 1)
    (example,) = result.skipped_examples["unreadable image"]
    assert example.startswith("original_files/bad.png: unknown header")
    assert not (tmp_path / "out" / "images" / "bad.png").exists()


def test_symlink_escape_stops_before_writing(tmp_path: Path) -> None:
    write_item(tmp_path / "dm", None, "a", {})
    (tmp_path / "outside.png").write_bytes(
        (tmp_path / "dm" / "original_files" / "a.png").read_bytes()
    )
    (tmp_path / "dm" / "original_files" / "a.png").unlink()
    (tmp_path / "dm" / "original_files" / "a.png").symlink_to(tmp_path / "outside.png")
    with pytest.raises(DatasetError, match=r"original_files/a\.png.*outside the dataset folder"):
        convert(tmp_path / "dm", "dm_v2", "yolo", tmp_path / "out")
    assert not (tmp_path / "out").exists()
    assert leftovers(tmp_path / "out") == []


def test_link_images_shares_the_file(sample_dataset: Path, tmp_path: Path) -> None:
    convert(sample_dataset, "dm_v2", "yolo", tmp_path / "out", link_images=True)
    image = next((tmp_path / "out" / "train" / "images").iterdir())
    source = sample_dataset / "train" / "original_files" / image.name
    assert image.stat().st_ino == source.stat().st_ino
