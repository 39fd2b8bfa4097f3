"""Converters under hostile or damaged input (issue 8): every problem is either a reported skip in
the ``ConversionResult`` or a ``DatasetError`` naming the file, never a bare builtin exception,
never a silent change, and every JSON written is strict (no NaN / Infinity)."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest
import yaml
from dataset_helpers import box, write_item, write_png
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from synapse_steps.datasets import Tally, convert, open_dm_v2
from synapse_steps.datasets.classes import valid_class_name
from synapse_steps.datasets.report import ConversionResult
from synapse_steps.errors import DatasetError

HUGE = 10**400  # a 401-digit integer: beyond float range, so math.isfinite(HUGE) overflows


def _strict_json(path: Path) -> Any:
    """Parse a file we wrote, refusing NaN / Infinity as strict JSON readers do."""

    def refuse(constant: str) -> None:
        raise AssertionError(f"{path} holds the non-JSON constant {constant}")

    return json.loads(path.read_bytes().decode("utf-8"), parse_constant=refuse)


def _all_output_json(root: Path) -> list[Any]:
    return [_strict_json(path) for path in sorted(root.rglob("*.json"))]


def _coco(root: Path, document: Any, images: dict[str, bytes | None] | None = None) -> Path:
    """A COCO folder: ``images/train/<name>`` (PNG 50x40 when the value is None) + one file."""
    for name, data in (images or {}).items():
        path = root / "images" / "train" / name
        if data is None:
            write_png(path, (50, 40))
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
    (root / "annotations").mkdir(parents=True, exist_ok=True)
    text = document if isinstance(document, str) else json.dumps(document)
    (root / "annotations" / "instances_train.json").write_text(text)
    return root


def _yolo(root: Path, config: Any, files: dict[str, str | bytes | None]) -> Path:
    """A YOLO folder: ``data.yaml`` + files (``.png`` with None: a real 200x100 PNG)."""
    root.mkdir(parents=True, exist_ok=True)
    text = config if isinstance(config, str) else yaml.safe_dump(config, allow_unicode=True)
    (root / "data.yaml").write_text(text, encoding="utf-8")
    for relative, content in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        if content is None:
            write_png(path, (200, 100))
        elif isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
    return root


# --- 6. COCO -> DM: duplicate image ids and annotations of no image are reported ---


def test_coco_duplicate_image_id_and_orphan_annotations_are_reported(tmp_path: Path) -> None:
    document = {
        "images": [
            {"id": 1, "file_name": "a.png", "width": 50, "height": 40},
            {"id": 1, "file_name": "b.png", "width": 50, "height": 40},
        ],
        "annotations": [
            {"id": 10, "image_id": 1, "category_id": 1, "bbox": [1, 2, 3, 4]},
            {"id": 11, "image_id": 7, "category_id": 1, "bbox": [1, 2, 3, 4]},
        ],
        "categories": [{"id": 1, "name": "cat"}],
    }
    root = _coco(tmp_path / "coco", document, {"a.png": None, "b.png": None})
    result = convert(root, "coco", "dm_v2", tmp_path / "dm")
    assert (result.items_written, result.items_skipped) == (1, 1)
    assert (result.annotations_written, result.annotations_skipped) == (1, 1)
    assert result.skipped_examples == {
        "duplicate image id": ("annotations/instances_train.json: image id 1 (b.png)",),
        "annotation of an unknown image id": (
            "annotations/instances_train.json: annotation 11 (image_id 7)",
        ),
    }
    (item,) = open_dm_v2(tmp_path / "dm", Tally())
    assert item.stem == "a"
    assert [a["data"] for a in item.annotations["bounding_box"]] == [[1, 2, 3, 4]]


def test_coco_annotations_of_a_skipped_image_are_counted(tmp_path: Path) -> None:
    document = {
        "images": [{"id": 1, "file_name": "gone.png", "width": 50, "height": 40}],
        "annotations": [
            {"id": 10, "image_id": 1, "category_id": 1, "bbox": [1, 2, 3, 4]},
            {"id": 11, "image_id": 1, "category_id": 1, "bbox": [1, 2, 3, 4]},
        ],
        "categories": [{"id": 1, "name": "cat"}],
    }
    result = convert(_coco(tmp_path / "coco", document), "coco", "dm_v2", tmp_path / "dm")
    assert result.skipped_reasons == {"image file missing": 1, "annotation of a skipped image": 2}
    assert result.annotations_skipped == 2


# --- 7. DM -> COCO: strict JSON, overflowing areas reported ---


def test_dm_to_coco_huge_box_is_reported_and_json_stays_strict(tmp_path: Path) -> None:
    write_item(
        tmp_path / "dm",
        None,
        "a",
        {"bounding_box": [box("cat", 1e308, 1e308, 1e308, 1e308), box("cat", 1, 2, 3, 4, "b2")]},
    )
    result = convert(tmp_path / "dm", "dm_v2", "coco", tmp_path / "coco")
    assert result.skipped_examples == {"coordinate out of range": ("json/a.json (id b1)",)}
    assert result.annotations_written == 1
    (document,) = _all_output_json(tmp_path / "coco")
    assert [a["area"] for a in document["annotations"]] == [12]


def test_huge_polygon_is_reported_not_written_as_infinity(tmp_path: Path) -> None:
    polygon = {
        "id": "p1",
        "classification": "road",
        "attrs": [],
        "data": [[0, 0], [1e300, 0], [1e300, 1e300]],
    }
    write_item(tmp_path / "dm", None, "a", {"polygon": [polygon]}, catalogue={"polygon": ["road"]})
    coco = convert(tmp_path / "dm", "dm_v2", "coco", tmp_path / "coco")
    yolo = convert(tmp_path / "dm", "dm_v2", "yolo", tmp_path / "yolo", task="segment")
    for result in (coco, yolo):
        assert result.skipped_examples == {"coordinate out of range": ("json/a.json (id p1)",)}
    _all_output_json(tmp_path / "coco")
    assert (tmp_path / "yolo" / "labels" / "a.txt").read_text() == ""


# --- 8. YOLO -> DM: rows outside the image, unreadable images ---


def test_yolo_rows_outside_the_image_are_reported_and_partial_ones_clipped(tmp_path: Path) -> None:
    rows = "0 5 5 0.5 0.5\n0 0.9 0.5 0.4 0.2\n0 -3 0.5 0.4 0.2 0.2\n0 0.5 0.5 0.2 0.2\n"
    polygon_outside = "0 2 2 3 2 3 3\n0 -0.5 0.5 0.5 0.5 0.5 0.9\n"
    source = _yolo(
        tmp_path / "y",
        {"train": "images", "val": "images", "names": ["a"]},
        {"images/x.png": None, "labels/x.txt": rows + polygon_outside},
    )
    result = convert(source, "yolo", "dm_v2", tmp_path / "dm")
    assert result.skipped_examples == {
        "box outside the image": ("labels/x.txt:1",),
        "malformed label row": ("labels/x.txt:3",),
        "polygon outside the image": ("labels/x.txt:5",),
    }
    (item,) = open_dm_v2(tmp_path / "dm", Tally())
    boxes = [a["data"] for a in item.annotations["bounding_box"]]
    # 0.9 +- 0.2 of 200 px is clipped at the right edge: x from 140 to 200.
    assert [[round(v, 6) for v in b] for b in boxes] == [[140, 40, 60, 20], [80, 40, 40, 20]]
    (polygon,) = item.annotations["polygon"]
    assert all(0 <= x <= 200 and 0 <= y <= 100 for x, y in polygon["data"])
    _all_output_json(tmp_path / "dm")


@pytest.mark.parametrize("with_label", [False, True])
def test_yolo_zero_byte_image_is_skipped_and_named(tmp_path: Path, with_label: bool) -> None:
    files: dict[str, str | bytes | None] = {"images/good.png": None, "images/empty.png": b""}
    if with_label:
        files["labels/empty.txt"] = "0 0.5 0.5 0.1 0.1\n"
    source = _yolo(tmp_path / "y", {"train": "images", "val": "images", "names": ["a"]}, files)
    result = convert(source, "yolo", "dm_v2", tmp_path / "dm")
    assert (result.items_written, result.items_skipped) == (1, 1)
    assert result.skipped_reasons == {"unreadable image": 1}
    (example,) = result.skipped_examples["unreadable image"]
    assert example.startswith("images/empty.png: ")
    assert sorted(p.name for p in (tmp_path / "dm" / "original_files").iterdir()) == ["good.png"]


def test_coco_zero_byte_image_is_skipped_and_named(tmp_path: Path) -> None:
    document = {
        "images": [{"id": 1, "file_name": "a.png", "width": 50, "height": 40}],
        "annotations": [],
        "categories": [],
    }
    root = _coco(tmp_path / "coco", document, {"a.png": b""})
    result = convert(root, "coco", "dm_v2", tmp_path / "dm")
    assert result.skipped_reasons == {"unreadable image": 1}
    assert result.skipped_examples["unreadable image"][0].startswith(
        "annotations/instances_train.json: a.png: "
    )
    assert not list((tmp_path / "dm").rglob("*.png"))


@pytest.mark.parametrize("target", ["yolo", "coco"])
def test_dm_unreadable_image_is_skipped_and_named(tmp_path: Path, target: str) -> None:
    write_item(tmp_path / "dm", None, "good", {"bounding_box": [box("cat", 1, 2, 3, 4)]})
    _, image = write_item(tmp_path / "dm", None, "bad", {"bounding_box": [box("cat", 1, 2, 3, 4)]})
    image.write_bytes(b"")
    result = convert(tmp_path / "dm", "dm_v2", target, tmp_path / "out")
    assert (result.items_written, result.items_skipped) == (1, 1)
    (example,) = result.skipped_examples["unreadable image"]
    assert example.startswith("original_files/bad.png: ")
    assert not any(p.name.startswith("bad.") for p in (tmp_path / "out").rglob("*"))


# --- 9. class names that would not survive a line-based file ---

LINE_BREAKS = ["\n", "\r", "\x0b", "\x0c", "\x1c", "\x1d", "\x1e", "\x85", "\u2028", "\u2029"]


@pytest.mark.parametrize("brk", LINE_BREAKS)
def test_class_names_with_any_line_break_are_refused(brk: str) -> None:
    assert not valid_class_name(f"a{brk}b")


def test_nel_class_name_is_reported_not_changed_by_a_round_trip(tmp_path: Path) -> None:
    write_item(
        tmp_path / "dm",
        None,
        "a",
        {"bounding_box": [box("ok", 1, 2, 3, 4), box("a\x85b", 1, 2, 3, 4, "b2")]},
        catalogue={"bounding_box": ["ok"]},
    )
    result = convert(tmp_path / "dm", "dm_v2", "yolo", tmp_path / "yolo")
    assert result.skipped_examples == {"missing or invalid class name": ("json/a.json (id b2)",)}
    assert (tmp_path / "yolo" / "classes.txt").read_text() == "ok\n"


def test_nel_in_a_catalogue_or_yaml_names_is_an_error_naming_the_file(tmp_path: Path) -> None:
    write_item(tmp_path / "dm", None, "a", {}, catalogue={"bounding_box": ["a\x85b"]})
    with pytest.raises(DatasetError, match=r"json/a\.json.*line breaks"):
        convert(tmp_path / "dm", "dm_v2", "yolo", tmp_path / "yolo")
    source = _yolo(
        tmp_path / "y",
        {"train": "images", "val": "images", "names": ["a\u2028b"]},
        {"images/x.png": None},
    )
    with pytest.raises(DatasetError, match=r"data\.yaml: 'names'.*'a\\u2028b'"):
        convert(source, "yolo", "dm_v2", tmp_path / "back")


def test_label_rows_split_only_on_newlines(tmp_path: Path) -> None:
    # \x0c is whitespace to str.split but a line break to str.splitlines: one row, not two.
    source = _yolo(
        tmp_path / "y",
        {"train": "images", "val": "images", "names": ["a"]},
        {"images/x.png": None, "labels/x.txt": "0 0.5 0.5\x0c0.2 0.2\r\n0 0.5 0.5 0.1 0.1"},
    )
    result = convert(source, "yolo", "dm_v2", tmp_path / "dm")
    assert result.annotations_written == 2
    assert result.skipped_reasons == {}


def _round_trips(name: str) -> bool:
    """Does ``name`` come back unchanged from every file a class name is written to?"""
    try:
        encoded = name.encode("utf-8")
    except UnicodeEncodeError:
        return False
    classes_txt = f"{name}\n".encode()
    config = yaml.safe_dump({"names": [name]}, allow_unicode=True).encode("utf-8")
    return (
        bool(name)
        and classes_txt.decode("utf-8").splitlines() == [name]
        and classes_txt.decode("utf-8").split("\n")[:-1] == [name]
        and yaml.safe_load(config)["names"] == [name]
        and json.loads(json.dumps(name, ensure_ascii=False).encode("utf-8")) == name
        and encoded.decode("utf-8") == name
    )


@settings(max_examples=1000, deadline=None)
@given(st.text(alphabet=st.characters(codec=None), max_size=8))
def test_valid_class_name_is_exactly_what_round_trips(name: str) -> None:
    assert valid_class_name(name) == _round_trips(name)


@pytest.mark.parametrize(
    "name", ["a\x85b", "a\u2028b", "\ud800", "x\x0cy", "", " ", "a\tb", "null", "1", "é 猫 🐈"]
)
def test_valid_class_name_examples_match_the_round_trip(name: str) -> None:
    assert valid_class_name(name) == _round_trips(name)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    names=st.lists(
        st.text(min_size=1, max_size=6).filter(valid_class_name),
        min_size=1,
        max_size=3,
        unique=True,
    )
)
def test_every_valid_class_name_survives_yolo_and_coco_round_trips(
    tmp_path_factory: pytest.TempPathFactory, names: list[str]
) -> None:
    base = tmp_path_factory.mktemp("names")
    boxes = [box(n, 10 * i, 5, 8, 8, f"b{i}") for i, n in enumerate(names)]
    write_item(base / "dm", None, "a", {"bounding_box": boxes}, catalogue={"bounding_box": names})
    convert(base / "dm", "dm_v2", "yolo", base / "yolo")
    convert(base / "yolo", "yolo", "dm_v2", base / "back")
    convert(base / "dm", "dm_v2", "coco", base / "coco")
    convert(base / "coco", "coco", "dm_v2", base / "back_coco")
    for back in ("back", "back_coco"):
        (item,) = open_dm_v2(base / back, Tally())
        found = sorted(a["classification"] for a in item.annotations["bounding_box"])
        assert found == sorted(names)
    assert (base / "yolo" / "classes.txt").read_text(encoding="utf-8").split("\n")[:-1] == sorted(
        names
    )


# --- 10. integers beyond float range ---


@pytest.mark.parametrize("target", ["yolo", "coco"])
def test_400_digit_coordinates_are_reported(tmp_path: Path, target: str) -> None:
    huge = str(HUGE)
    raw = (
        '{"classification": {"bounding_box": ["cat"], "polygon": ["cat"], "keypoint": ["nose"]},'
        ' "images": [{"bounding_box": [{"id": "b1", "classification": "cat", "attrs": [],'
        f' "data": [{huge}, 1, 2, 3]}}],'
        ' "polygon": [{"id": "p1", "classification": "cat", "attrs": [],'
        f' "data": [[0, 0], [{huge}, 0], [5, 5]]}}],'
        ' "keypoint": [{"id": "k1", "classification": "nose", "attrs": [],'
        f' "data": [1, {huge}]}}]}}]}}'
    )
    write_item(tmp_path / "dm", None, "a", {}, raw_json=raw)
    result = convert(tmp_path / "dm", "dm_v2", target, tmp_path / "out")
    assert result.skipped_reasons["coordinate out of range"] == (1 if target == "yolo" else 3)
    assert "json/a.json (id b1)" in result.skipped_examples["coordinate out of range"]
    _all_output_json(tmp_path / "out")


def test_400_digit_coco_bbox_is_reported(tmp_path: Path) -> None:
    raw = (
        '{"images": [{"id": 1, "file_name": "a.png"}], "categories": [{"id": 1, "name": "c"}],'
        f' "annotations": [{{"id": 5, "image_id": 1, "category_id": 1, "bbox": [1, 2, {HUGE}, 4]}},'
        f' {{"id": 6, "image_id": 1, "category_id": 1, "bbox": [1, 2, 3, 4],'
        f' "keypoints": [{HUGE}, 1, 2]}}]}}'
    )
    root = _coco(tmp_path / "coco", raw, {"a.png": None})
    result = convert(root, "coco", "dm_v2", tmp_path / "dm")
    assert result.skipped_examples == {
        "coordinate out of range": (
            "annotations/instances_train.json: annotation 5",
            "annotations/instances_train.json: annotation 6",
        )
    }
    assert result.annotations_written == 1


def test_huge_but_finite_yolo_values_are_reported(tmp_path: Path) -> None:
    source = _yolo(
        tmp_path / "y",
        {"train": "images", "val": "images", "names": ["a"]},
        {"images/x.png": None, "labels/x.txt": "0 0.5 0.5 1e307 1e307\n0 1e300 0 1e300 1 0 1\n"},
    )
    result = convert(source, "yolo", "dm_v2", tmp_path / "dm")
    assert result.skipped_reasons == {"coordinate out of range": 2}
    _all_output_json(tmp_path / "dm")


# --- 11. encodings, lone surrogates, deep nesting ---


def test_lone_surrogate_class_name_is_reported(tmp_path: Path) -> None:
    raw = (
        '{"classification": {"bounding_box": ["cat"]}, "images": [{"bounding_box": ['
        '{"id": "b1", "classification": "\\ud800", "attrs": [], "data": [1, 2, 3, 4]},'
        '{"id": "b2", "classification": "cat", "attrs": [], "data": [1, 2, 3, 4]}]}]}'
    )
    write_item(tmp_path / "dm", None, "a", {}, raw_json=raw)
    for target in ("yolo", "coco"):
        result = convert(tmp_path / "dm", "dm_v2", target, tmp_path / target)
        assert result.skipped_examples == {
            "missing or invalid class name": ("json/a.json (id b1)",)
        }


def test_lone_surrogate_in_a_catalogue_is_an_error_naming_the_file(tmp_path: Path) -> None:
    raw = '{"classification": {"bounding_box": ["\\udc80x"]}, "images": [{}]}'
    write_item(tmp_path / "dm", None, "a", {}, raw_json=raw)
    with pytest.raises(DatasetError, match=r"json/a\.json"):
        convert(tmp_path / "dm", "dm_v2", "coco", tmp_path / "coco")
    for classes in (["\ud800"], "cat", 5, [["cat"]]):
        with pytest.raises(DatasetError, match="classes must be"):
            convert(tmp_path / "dm", "dm_v2", "yolo", tmp_path / "yolo", classes=classes)


def test_lone_surrogate_coco_category_is_an_error_naming_the_file(tmp_path: Path) -> None:
    raw = (
        '{"images": [{"id": 1, "file_name": "a.png"}], "annotations": [],'
        ' "categories": [{"id": 1, "name": "\\ud800", "keypoints": []}]}'
    )
    root = _coco(tmp_path / "coco", raw, {"a.png": None})
    with pytest.raises(DatasetError, match=r"instances_train\.json: category"):
        convert(root, "coco", "dm_v2", tmp_path / "dm")
    raw = raw.replace('"\\ud800", "keypoints": []', '"cat", "keypoints": ["\\ud800"]')
    root = _coco(tmp_path / "coco", raw)
    with pytest.raises(DatasetError, match=r"instances_train\.json: category"):
        convert(root, "coco", "dm_v2", tmp_path / "dm")


def test_lone_surrogate_coco_file_name_is_reported(tmp_path: Path) -> None:
    raw = (
        '{"images": [{"id": 1, "file_name": "\\ud800.png"}, {"id": 2, "file_name": "a.png"}],'
        ' "annotations": [], "categories": []}'
    )
    result = convert(
        _coco(tmp_path / "coco", raw, {"a.png": None}), "coco", "dm_v2", tmp_path / "dm"
    )
    assert result.items_written == 1
    assert result.skipped_examples == {
        "malformed image entry": ("annotations/instances_train.json: images[0]",)
    }


def test_non_utf8_yolo_label_is_an_error_naming_the_file(tmp_path: Path) -> None:
    source = _yolo(
        tmp_path / "y",
        {"train": "images", "val": "images", "names": ["a"]},
        {"images/x.png": None, "labels/x.txt": b"0 0.5 0.5 0.1 0.1\n\xff\xfe\n"},
    )
    with pytest.raises(DatasetError, match=r"labels/x\.txt is not UTF-8"):
        convert(source, "yolo", "dm_v2", tmp_path / "dm")
    assert not (tmp_path / "dm").exists()


def test_non_utf8_yaml_is_an_error_naming_the_file(tmp_path: Path) -> None:
    source = _yolo(
        tmp_path / "y", "train: images\nval: images\nnames: [a]\n", {"images/x.png": None}
    )
    (source / "data.yaml").write_bytes(b"train: images\nval: images\nnames: [\xff]\n")
    with pytest.raises(DatasetError, match=r"data\.yaml"):
        convert(source, "yolo", "dm_v2", tmp_path / "dm")


def test_non_utf8_coco_json_is_an_error_naming_the_file(tmp_path: Path) -> None:
    root = _coco(tmp_path / "coco", "{}")
    (root / "annotations" / "instances_train.json").write_bytes(
        b'{"images": [], "annotations": [], "categories": [{"id": 1, "name": "\xff"}]}'
    )
    with pytest.raises(DatasetError, match=r"instances_train\.json is not UTF-8"):
        convert(root, "coco", "dm_v2", tmp_path / "dm")


@pytest.mark.parametrize("target", ["yolo", "coco"])
def test_deeply_nested_dm_json_is_an_error_naming_the_file(tmp_path: Path, target: str) -> None:
    deep = "[" * 100_000 + "]" * 100_000
    raw = '{"classification": {}, "images": [{"bounding_box": ' + deep + "}]}"
    write_item(tmp_path / "dm", None, "a", {}, raw_json=raw)
    with pytest.raises(DatasetError, match=r"json/a\.json .*nested too deeply"):
        convert(tmp_path / "dm", "dm_v2", target, tmp_path / "out")


def test_deeply_nested_coco_json_and_yaml_are_errors_naming_the_file(tmp_path: Path) -> None:
    root = _coco(tmp_path / "coco", '{"images": ' + "[" * 100_000 + "]" * 100_000 + "}")
    with pytest.raises(DatasetError, match=r"instances_train\.json .*nested too deeply"):
        convert(root, "coco", "dm_v2", tmp_path / "dm")
    source = _yolo(tmp_path / "y", "names: " + "[" * 1_500 + "]" * 1_500 + "\n", {})
    with pytest.raises(DatasetError, match=r"data\.yaml"):
        convert(source, "yolo", "dm_v2", tmp_path / "dm")


def test_json_integer_beyond_the_digit_limit_is_an_error_naming_the_file(tmp_path: Path) -> None:
    raw = '{"classification": {}, "images": [{"bounding_box": [{"data": [' + "9" * 5000 + "]}]}]}"
    write_item(tmp_path / "dm", None, "a", {}, raw_json=raw)
    with pytest.raises(DatasetError, match=r"json/a\.json"):
        convert(tmp_path / "dm", "dm_v2", "coco", tmp_path / "out")


# --- 12. unhashable and other wrongly typed COCO ids ---


@pytest.mark.parametrize("bad", [[1], {"a": 1}, None, True, 1.5])
def test_wrongly_typed_coco_ids_are_reported(tmp_path: Path, bad: Any) -> None:
    document = {
        "images": [
            {"id": bad, "file_name": "a.png"},
            {"id": 2, "file_name": "b.png"},
        ],
        "annotations": [
            {"id": 10, "image_id": bad, "category_id": 1, "bbox": [1, 2, 3, 4]},
            {"id": 11, "image_id": 2, "category_id": bad, "bbox": [1, 2, 3, 4]},
            {"id": 12, "image_id": 2, "category_id": 1, "bbox": [1, 2, 3, 4]},
            "not an annotation",
        ],
        "categories": [{"id": 1, "name": "cat"}],
    }
    root = _coco(tmp_path / "coco", document, {"a.png": None, "b.png": None})
    result = convert(root, "coco", "dm_v2", tmp_path / "dm")
    where = "annotations/instances_train.json"
    assert result.skipped_examples == {
        "invalid image id": (f"{where}: image id {bad!r} (a.png)",),
        "annotation of an unknown image id": (f"{where}: annotation 10 (image_id {bad!r})",),
        "unknown category id": (f"{where}: annotation 11",),
        "malformed annotation": (f"{where}: annotations[3]",),
    }
    assert result.annotations_written == 1


@pytest.mark.parametrize("bad", [[1], {"a": 1}, None, True, "x\ny"])
def test_wrongly_typed_coco_category_is_an_error_naming_the_entry(tmp_path: Path, bad: Any) -> None:
    category = {"id": bad, "name": "cat"} if bad != "x\ny" else {"id": 1, "name": bad}
    document = {"images": [], "annotations": [], "categories": [category]}
    root = _coco(tmp_path / "coco", document)
    with pytest.raises(DatasetError, match=r"instances_train\.json: category"):
        convert(root, "coco", "dm_v2", tmp_path / "dm")


@pytest.mark.parametrize("keypoints", [5, "nose", [1, 2], {"a": 1}])
def test_malformed_coco_keypoint_names_are_an_error_naming_the_entry(
    tmp_path: Path, keypoints: Any
) -> None:
    document = {
        "images": [],
        "annotations": [],
        "categories": [{"id": 1, "name": "person", "keypoints": keypoints}],
    }
    with pytest.raises(DatasetError, match=r"instances_train\.json: category"):
        convert(_coco(tmp_path / "coco", document), "coco", "dm_v2", tmp_path / "dm")


@pytest.mark.parametrize(
    "entry",
    [5, "a.png", None, {"id": 1}, {"id": 1, "file_name": 7}, {"id": 1, "file_name": "a\x00"}],
)
def test_malformed_coco_image_entries_are_reported(tmp_path: Path, entry: Any) -> None:
    document = {"images": [entry], "annotations": [], "categories": []}
    result = convert(
        _coco(tmp_path / "coco", document, {"a.png": None}), "coco", "dm_v2", tmp_path / "dm"
    )
    assert result.skipped_reasons == {"malformed image entry": 1}
    assert result.skipped_examples["malformed image entry"] == (
        "annotations/instances_train.json: images[0]",
    )


# --- more of the same: wrong types where the code expected something else ---


@pytest.mark.parametrize(
    "config",
    [
        {"train": "images", "val": "images", "names": {float("inf"): "a"}},
        {"train": 5, "val": "images", "names": ["a"]},
        {"train": "images", "val": "images", "names": [1]},
        {"train": "images", "val": "images", "names": ["a"], "nc": [1]},
        {"train": "images", "val": "images", "names": {0: "a", 1.5: "b"}},
        {"train": "images", "val": "images", "names": {0: "a", True: "b"}},
        {"train": "a\x00b", "val": "images", "names": ["a"]},
        {"train": "\ud800", "val": "images", "names": ["a"]},
    ],
)
def test_wrongly_typed_yaml_fields_are_errors_naming_the_file(
    tmp_path: Path, config: dict[str, Any]
) -> None:
    source = _yolo(tmp_path / "y", config, {"images/x.png": None})
    with pytest.raises(DatasetError, match=r"data\.yaml"):
        convert(source, "yolo", "dm_v2", tmp_path / "dm")


@pytest.mark.parametrize("attrs", [5, "rotation", {"name": "rotation"}, [None, 3]])
@pytest.mark.parametrize("target", ["yolo", "coco"])
def test_malformed_attrs_never_escape_as_type_errors(
    tmp_path: Path, attrs: Any, target: str
) -> None:
    annotation = {"id": "b1", "classification": "cat", "attrs": attrs, "data": [1, 2, 3, 4]}
    write_item(tmp_path / "dm", None, "a", {"bounding_box": [annotation]})
    result = convert(tmp_path / "dm", "dm_v2", target, tmp_path / "out")
    if isinstance(attrs, list):
        assert result.annotations_written == 1
    else:
        assert result.skipped_examples == {"malformed annotation": ("json/a.json (id b1)",)}


# --- fuzz: random JSON-ish documents through every converter ---

_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.sampled_from([HUGE, -HUGE, 0, 1, 2, 1e308, -1e308, 1e-320]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=4),
    st.sampled_from(["cat", "dog", "a\x85b", "\ud800", "", "rotation", "a.png", "b.png"]),
)
_JSONISH = st.recursive(
    _SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=5),
        st.dictionaries(
            st.sampled_from(
                [
                    "id",
                    "classification",
                    "attrs",
                    "data",
                    "name",
                    "value",
                    "visibility",
                    "group_id",
                    "bounding_box",
                    "polygon",
                    "keypoint",
                    "image_id",
                    "category_id",
                    "bbox",
                    "segmentation",
                    "keypoints",
                    "iscrowd",
                    "file_name",
                    "images",
                ]
            ),
            inner,
            max_size=6,
        ),
    ),
    max_leaves=25,
)
_NUMBER = st.one_of(
    st.integers(-5, 120),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([HUGE, 1e308]),
)
_DM_ANNOTATION = st.one_of(
    _JSONISH,
    st.fixed_dictionaries(
        {
            "id": st.one_of(st.just("x1"), _SCALARS),
            "classification": st.one_of(st.sampled_from(["cat", "dog"]), _SCALARS),
            "attrs": st.one_of(st.just([]), _JSONISH),
            "data": st.one_of(
                st.lists(_NUMBER, min_size=2, max_size=4),
                st.lists(st.lists(_NUMBER, min_size=2, max_size=2), min_size=3, max_size=5),
                _JSONISH,
            ),
            "group_id": st.one_of(st.just("x1"), _SCALARS),
            "visibility": st.one_of(st.sampled_from([0, 1, 2]), _SCALARS),
        }
    ),
)
_DM_DOCUMENT = st.one_of(
    _JSONISH,
    st.fixed_dictionaries(
        {
            "classification": st.one_of(
                st.fixed_dictionaries(
                    {
                        "bounding_box": st.lists(
                            st.sampled_from(["cat", "dog", "a\x85b"]), max_size=3
                        )
                    }
                ),
                _JSONISH,
            ),
            "images": st.lists(
                st.dictionaries(
                    st.sampled_from(["bounding_box", "polygon", "keypoint", "relation"]),
                    st.one_of(st.lists(_DM_ANNOTATION, max_size=4), _JSONISH),
                    max_size=3,
                ),
                max_size=2,
            ),
        }
    ),
)


def _dump(document: Any) -> str:
    # Lone surrogates and non-finite numbers are part of the fuzz: write them as Python would.
    return json.dumps(document, ensure_ascii=True)


def _check(call: Any, output: Path) -> None:
    try:
        result = call()
    except DatasetError:
        assert not output.exists()
        return
    assert isinstance(result, ConversionResult)
    _all_output_json(output)
    for path in output.rglob("*.txt"):
        for row in path.read_text(encoding="utf-8").split("\n")[:-1]:
            assert all(math.isfinite(float(v)) for v in row.split()[1:]), row


_FUZZ = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@_FUZZ
@given(document=_DM_DOCUMENT, target=st.sampled_from(["yolo", "coco", "yolo-segment"]))
def test_fuzz_dm_documents(
    tmp_path_factory: pytest.TempPathFactory, document: Any, target: str
) -> None:
    base = tmp_path_factory.mktemp("fuzz")
    write_item(base / "dm", None, "a", {}, raw_json=_dump(document))
    options = {"task": "segment"} if target == "yolo-segment" else {}
    fmt = target.split("-")[0]
    _check(lambda: convert(base / "dm", "dm_v2", fmt, base / "out", **options), base / "out")


_COCO_DOCUMENT = st.one_of(
    _JSONISH,
    st.fixed_dictionaries(
        {
            "images": st.lists(
                st.one_of(
                    st.fixed_dictionaries(
                        {
                            "id": st.one_of(st.sampled_from([1, 2]), _SCALARS),
                            "file_name": st.sampled_from(["a.png", "b.png"]),
                        }
                    ),
                    _JSONISH,
                ),
                max_size=3,
            ),
            "annotations": st.lists(
                st.one_of(
                    st.fixed_dictionaries(
                        {
                            "id": _SCALARS,
                            "image_id": st.one_of(st.sampled_from([1, 2]), _JSONISH),
                            "category_id": st.one_of(st.just(1), _JSONISH),
                            "bbox": st.one_of(st.lists(_NUMBER, min_size=4, max_size=4), _JSONISH),
                            "segmentation": st.one_of(
                                st.just([]),
                                st.lists(st.lists(_NUMBER, min_size=6, max_size=8), max_size=2),
                                _JSONISH,
                            ),
                            "keypoints": st.one_of(
                                st.lists(_NUMBER, min_size=3, max_size=6), _JSONISH
                            ),
                            "iscrowd": st.one_of(st.just(0), _SCALARS),
                        }
                    ),
                    _JSONISH,
                ),
                max_size=4,
            ),
            "categories": st.lists(
                st.one_of(
                    st.fixed_dictionaries(
                        {
                            "id": st.one_of(st.just(1), _SCALARS),
                            "name": st.one_of(st.just("cat"), _SCALARS),
                            "keypoints": st.one_of(st.just(["nose"]), _JSONISH),
                        }
                    ),
                    _JSONISH,
                ),
                max_size=2,
            ),
        }
    ),
)


@_FUZZ
@given(document=_COCO_DOCUMENT)
def test_fuzz_coco_documents(tmp_path_factory: pytest.TempPathFactory, document: Any) -> None:
    base = tmp_path_factory.mktemp("fuzz")
    root = _coco(base / "coco", _dump(document), {"a.png": None, "b.png": b""})
    _check(lambda: convert(root, "coco", "dm_v2", base / "out"), base / "out")


_ROW_TOKEN = st.one_of(
    st.sampled_from(
        ["0", "1", "0.5", "-1", "5", "nan", "inf", "1e308", "1e-320", str(HUGE), "x", "٣", "1_0"]
    ),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
)


@_FUZZ
@given(
    rows=st.lists(st.lists(_ROW_TOKEN, min_size=0, max_size=9).map(" ".join), max_size=5),
    separator=st.sampled_from(["\n", "\r\n", "\x85", "\u2028"]),
    names=st.one_of(st.just(["a", "b"]), _JSONISH),
)
def test_fuzz_yolo_labels(
    tmp_path_factory: pytest.TempPathFactory, rows: list[str], separator: str, names: Any
) -> None:
    base = tmp_path_factory.mktemp("fuzz")
    config = json.dumps({"train": "images", "val": "images", "names": names})  # JSON is YAML
    source = _yolo(base / "y", config, {"images/x.png": None, "labels/x.txt": separator.join(rows)})
    _check(lambda: convert(source, "yolo", "dm_v2", base / "out"), base / "out")
