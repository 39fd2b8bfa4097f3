"""DM v2 -> YOLO follows Ultralytics' rules; YOLO -> DM v2 reads what Ultralytics reads."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import yaml
from dataset_helpers import box, check_ultralytics_rules, write_item, write_png
from hypothesis import given, settings
from hypothesis import strategies as st

from synapse_steps.datasets import Tally, convert, open_dm_v2
from synapse_steps.errors import DatasetError


def test_sample_dataset_to_yolo_detect(sample_dataset: Path, tmp_path: Path) -> None:
    result = convert(sample_dataset, "dm_v2", "yolo", tmp_path / "yolo")
    rows = check_ultralytics_rules(tmp_path / "yolo")
    assert result.config_path == tmp_path / "yolo" / "dataset.yaml"
    assert result.is_categorized
    assert result.format == "yolo"
    assert rows == {
        "train/images": rows["train/images"],
        "valid/images": rows["valid/images"],
        "test/images": rows["test/images"],
    }
    boxes = sum(
        len(i.annotations.get("bounding_box", [])) for i in open_dm_v2(sample_dataset, Tally())
    )
    assert sum(rows.values()) == result.annotations_written == boxes
    assert result.items_written == 40
    config = yaml.safe_load((tmp_path / "yolo" / "dataset.yaml").read_text())
    assert config["names"] == ["circle", "square", "triangle"]
    assert (config["train"], config["val"], config["test"]) == (
        "train/images",
        "valid/images",
        "test/images",
    )
    # keypoints and polygons have no place in a detect dataset: reported, not dropped silently
    assert set(result.skipped_reasons) == {
        "keypoint not converted to YOLO detect",
        "polygon not converted to YOLO detect",
    }


def test_sample_dataset_to_yolo_segment(sample_dataset: Path, tmp_path: Path) -> None:
    result = convert(sample_dataset, "dm_v2", "yolo", tmp_path / "seg", task="segment")
    rows = check_ultralytics_rules(tmp_path / "seg")
    polygons = sum(
        len(i.annotations.get("polygon", [])) for i in open_dm_v2(sample_dataset, Tally())
    )
    assert sum(rows.values()) == result.annotations_written == polygons > 0
    row = next(
        line
        for p in (tmp_path / "seg").glob("*/labels/*.txt")
        for line in p.read_text().splitlines()
    )
    assert row.startswith("2 ")
    assert len(row.split()) == 7


def test_rows_are_normalised_centre_boxes_with_six_decimals(tmp_path: Path) -> None:
    write_item(
        tmp_path / "dm",
        None,
        "a",
        {"bounding_box": [box("b", 10, 20, 30, 40)]},
        size=(200, 100),
        catalogue={"bounding_box": ["a", "b"]},
    )
    write_item(tmp_path / "dm", None, "empty", {}, catalogue={"bounding_box": ["a"]})
    result = convert(tmp_path / "dm", "dm_v2", "yolo", tmp_path / "yolo")
    assert not result.is_categorized
    assert (
        tmp_path / "yolo" / "labels" / "a.txt"
    ).read_text() == "1 0.125000 0.400000 0.150000 0.400000\n"
    assert (tmp_path / "yolo" / "labels" / "empty.txt").read_text() == ""  # a valid negative
    config = yaml.safe_load((tmp_path / "yolo" / "dataset.yaml").read_text())
    assert (config["train"], config["val"], config["nc"]) == ("images", "images", 2)
    check_ultralytics_rules(tmp_path / "yolo")


def test_clipping_and_reported_rejections(tmp_path: Path) -> None:
    boxes = [
        box("a", -10, -10, 30, 30),  # clipped to (0, 0, 20, 20)
        box("a", 90, 70, 50, 50),  # clipped to (90, 70, 100, 80)
        box("a", 200, 10, 5, 5),  # entirely outside: degenerate after clipping
        box("a", 10, 10, 0, 5),  # zero width
        box("a", 10, float("nan"), 5, 5),  # non-finite
        box("a", 10, float("inf"), 5, 5),
        {"id": "x", "classification": "a", "attrs": [], "data": [1, 2, 3]},
        {"id": "y", "classification": "", "attrs": [], "data": [1, 2, 3, 4]},
        {
            "id": "z",
            "classification": "a",
            "attrs": [{"name": "rotation", "value": 0.5}],
            "data": [1, 2, 3, 4],
        },
    ]
    write_item(tmp_path / "dm", "train", "img", {"bounding_box": boxes}, size=(100, 80))
    result = convert(tmp_path / "dm", "dm_v2", "yolo", tmp_path / "yolo")
    rows = (tmp_path / "yolo" / "train" / "labels" / "img.txt").read_text().splitlines()
    assert rows == [
        "0 0.100000 0.125000 0.200000 0.250000",
        "0 0.950000 0.937500 0.100000 0.125000",
    ]
    assert result.annotations_written == 2
    assert result.annotations_skipped == 7
    assert result.skipped_reasons == {
        "degenerate box": 2,
        "non-finite coordinates": 2,
        "malformed annotation data": 1,
        "missing or invalid class name": 1,
        "rotated box (axis-aligned formats cannot hold it)": 1,
    }
    assert result.skipped_examples["non-finite coordinates"] == (
        "train/json/img.json (id b1)",
        "train/json/img.json (id b1)",
    )
    assert result.skipped_examples["malformed annotation data"] == ("train/json/img.json (id x)",)
    check_ultralytics_rules(tmp_path / "yolo")


def test_non_finite_json_literals_are_reported_with_the_file(tmp_path: Path) -> None:
    raw = (
        '{"images": [{"bounding_box": '
        '[{"id": "a", "classification": "c", "data": [NaN, 1, 2, Infinity]}]}]}'
    )
    write_item(tmp_path / "dm", None, "nan_file", {}, raw_json=raw)
    result = convert(tmp_path / "dm", "dm_v2", "yolo", tmp_path / "yolo")
    assert result.skipped_reasons == {"non-finite coordinates": 1}
    assert result.skipped_examples["non-finite coordinates"] == ("json/nan_file.json (id a)",)


def test_fixed_classes_report_unknown_class_with_the_file(tmp_path: Path) -> None:
    write_item(
        tmp_path / "dm",
        None,
        "a",
        {"bounding_box": [box("dog", 1, 1, 5, 5), box("cat", 1, 1, 5, 5)]},
    )
    result = convert(tmp_path / "dm", "dm_v2", "yolo", tmp_path / "yolo", classes=["dog"])
    assert result.skipped_reasons == {"unknown class": 1}
    assert result.skipped_examples["unknown class"] == ("json/a.json (id b1): 'cat'",)
    assert yaml.safe_load((tmp_path / "yolo" / "dataset.yaml").read_text())["names"] == ["dog"]


def test_ids_follow_sorted_names_even_when_a_late_file_adds_a_class(tmp_path: Path) -> None:
    """Provisional ids from the first catalogue are rewritten when a new class sorts earlier."""
    write_item(
        tmp_path / "dm",
        "train",
        "a",
        {"bounding_box": [box("zebra", 1, 1, 5, 5)]},
        catalogue={"bounding_box": ["zebra"]},
    )
    write_item(
        tmp_path / "dm",
        "valid",
        "b",
        {"bounding_box": [box("ant", 1, 1, 5, 5), box("zebra", 1, 1, 5, 5)]},
        catalogue={},
    )
    convert(tmp_path / "dm", "dm_v2", "yolo", tmp_path / "yolo")
    assert (tmp_path / "yolo" / "classes.txt").read_text() == "ant\nzebra\n"
    assert (tmp_path / "yolo" / "train" / "labels" / "a.txt").read_text().startswith("1 ")
    rows = (tmp_path / "yolo" / "valid" / "labels" / "b.txt").read_text().splitlines()
    assert [r.split()[0] for r in rows] == ["0", "1"]


def test_polygon_partly_outside_is_clipped_not_clamped(tmp_path: Path) -> None:
    square = [[-50, 0], [50, 0], [50, 50], [-50, 50]]
    write_item(
        tmp_path / "dm",
        None,
        "p",
        {"polygon": [{"id": "p", "classification": "s", "attrs": [], "data": square}]},
        size=(100, 100),
        catalogue={"polygon": ["s"]},
    )
    convert(tmp_path / "dm", "dm_v2", "yolo", tmp_path / "yolo", task="segment")
    values = [float(v) for v in (tmp_path / "yolo" / "labels" / "p.txt").read_text().split()[1:]]
    points = sorted(zip(values[0::2], values[1::2], strict=True))
    assert points == [(0.0, 0.0), (0.0, 0.5), (0.5, 0.0), (0.5, 0.5)]


def test_bad_task_and_option_are_refused_before_writing(
    sample_dataset: Path, tmp_path: Path
) -> None:
    with pytest.raises(DatasetError, match="task must be 'detect' or 'segment'"):
        convert(sample_dataset, "dm_v2", "yolo", tmp_path / "out", task="pose")
    with pytest.raises(DatasetError, match=r"Unknown option\(s\) \['tsak'\].*accepted: \['task'"):
        convert(sample_dataset, "dm_v2", "yolo", tmp_path / "out", tsak="detect")
    assert not (tmp_path / "out").exists()


# --------------------------------------------------------------------------- YOLO -> DM v2


def _yolo(
    root: Path,
    config: dict[str, object],
    labels: dict[str, str],
    size: tuple[int, int] = (200, 100),
) -> Path:
    root.mkdir(parents=True)
    (root / "data.yaml").write_text(yaml.safe_dump(config))
    for relative, text in labels.items():
        image = root / relative
        write_png(image, size)
        label = Path(str(image).replace("/images/", "/labels/")).with_suffix(".txt")
        label.parent.mkdir(parents=True, exist_ok=True)
        if text is not None:
            label.write_text(text)
    return root


def test_yolo_to_dm_reads_dict_names_boxes_and_polygons(tmp_path: Path) -> None:
    source = _yolo(
        tmp_path / "y",
        {
            "path": "/somewhere/else",
            "train": "train/images",
            "val": "val/images",
            "names": {0: "cat", 1: "dog"},
        },
        {
            "train/images/a.png": "1 0.5 0.5 0.2 0.4\n0 0.1 0.1 0.2 0.1 0.2 0.2\n",
            "val/images/b.png": "",
        },
    )
    result = convert(source, "yolo", "dm_v2", tmp_path / "dm")
    assert result.is_categorized
    assert result.config_path == tmp_path / "dm"
    items = {i.stem: i for i in open_dm_v2(tmp_path / "dm", Tally())}
    assert items["a"].split == "train"
    assert items["b"].split == "valid"
    (dog,) = items["a"].annotations["bounding_box"]
    assert dog["classification"] == "dog"
    assert all(
        math.isclose(a, b) for a, b in zip(dog["data"], [80.0, 30.0, 40.0, 40.0], strict=True)
    )
    (cat,) = items["a"].annotations["polygon"]
    assert cat["classification"] == "cat"
    assert len(cat["data"]) == 3
    assert items["b"].catalogue["bounding_box"] == ["cat", "dog"]
    assert result.annotations_written == 2


def test_yolo_to_dm_reports_bad_rows_with_file_and_line(tmp_path: Path) -> None:
    source = _yolo(
        tmp_path / "y",
        {"train": "images", "val": "images", "names": ["a"]},
        {
            "images/x.png": (
                "0 0.5 0.5 0.1 0.1\n3 0.5 0.5 0.1 0.1\n0 nan 0.5 0.1 0.1\n0 0.5 0.5\n0 a b c d\n"
            )
        },
    )
    (source / "labels" / "ghost.txt").write_text("0 0.5 0.5 0.1 0.1\n")
    result = convert(source, "yolo", "dm_v2", tmp_path / "dm")
    assert not result.is_categorized
    assert result.annotations_written == 1
    assert result.skipped_examples == {
        "unknown class id": ("labels/x.txt:2",),
        "non-finite coordinates": ("labels/x.txt:3",),
        "malformed label row": ("labels/x.txt:4", "labels/x.txt:5"),
        "label without image": ("labels/ghost.txt",),
    }


def test_yolo_config_escaping_the_root_is_refused(tmp_path: Path) -> None:
    source = _yolo(
        tmp_path / "y",
        {"train": "../outside/images", "val": "images", "names": ["a"]},
        {"images/x.png": ""},
    )
    (tmp_path / "outside" / "images").mkdir(parents=True)
    with pytest.raises(DatasetError, match=r"data\.yaml names the file '\.\./outside/images'"):
        convert(source, "yolo", "dm_v2", tmp_path / "dm")
    assert not (tmp_path / "dm").exists()


def test_yolo_names_must_match_nc(tmp_path: Path) -> None:
    source = _yolo(
        tmp_path / "y",
        {"train": "images", "val": "images", "nc": 3, "names": ["a"]},
        {"images/x.png": ""},
    )
    with pytest.raises(DatasetError, match="nc is 3 but 'names' lists 1"):
        convert(source, "yolo", "dm_v2", tmp_path / "dm")


_VALUES = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True, width=32),
    st.integers(-50, 300),
    st.booleans(),
    st.none(),
    st.just("1"),
    st.sampled_from([10**400, -(10**400), 1e308, -1e308, 2.0**53, 2**53 + 1, -(2**52)]),
)


@settings(max_examples=300, deadline=None)
@given(
    name=st.sampled_from(["a", "b", "", None, 3, "x\ny"]),
    data=st.one_of(st.lists(_VALUES, min_size=3, max_size=5), st.none(), st.just("abcd")),
    attrs=st.sampled_from([[], [{"name": "rotation", "value": 0.3}], [{"name": "c", "value": 1}]]),
)
def test_fast_and_checked_box_paths_agree(name: object, data: object, attrs: object) -> None:
    """The fast path only ever accepts what the checked path accepts, with the same row."""
    from synapse_steps.datasets.classes import ClassMap
    from synapse_steps.datasets.dm_v2 import DMItem
    from synapse_steps.datasets.job import ConversionJob
    from synapse_steps.datasets.report import Tally
    from synapse_steps.datasets.yolo import _checked_box, _plain_box

    annotation = {"id": "i", "classification": name, "attrs": attrs, "data": data}
    class_map = ClassMap(["a", "b"])
    item = DMItem(None, "s", "s.json", "s.png", "s.png", {}, {}, "json/s.json")
    job = ConversionJob(Path(), Path(), Path(), Tally())
    fast = _plain_box(annotation, class_map.known, 200, 100)
    checked = _checked_box(item, annotation, 200, 100, class_map, job)
    if fast is not None:
        assert fast == checked
