"""Property tests: DM -> YOLO -> DM and DM -> COCO -> DM keep every box and class name.

What holds, and why:

* COCO stores DM's absolute coordinates unchanged (JSON floats round-trip exactly in Python), so
  DM -> COCO -> DM returns *identical* numbers.
* YOLO stores ``cx cy w h`` divided by the image size and rounded to 6 decimals, i.e. each value
  is off by at most 5e-7 in normalised units. Converting back, ``x = (cx - w/2) * W`` is off by
  at most (5e-7 + 5e-7 / 2) * W = 7.5e-7 * W, and ``width = w * W`` by 5e-7 * W. So every
  coordinate agrees to better than 1e-6 *relative to the image dimension on its axis* (for
  boxes inside the image, which are written unclipped). Relative to the coordinate itself no
  bound exists (a box at x = 0.001 px cannot keep 1e-6 relative precision in 6 decimals), so that
  is not what we test.
"""

from __future__ import annotations

import contextlib
import io
import json
import tempfile
from pathlib import Path
from typing import Any

from dataset_helpers import box, check_ultralytics_rules, write_item
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pycocotools.coco import COCO

from synapse_steps.datasets import DMItem, Tally, convert, image_size, open_dm_v2

NAMES = st.sampled_from(["a", "b", "car", "Person", "zebra crossing", "é", "x-1", "_"])
SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])

TOLERANCE = 1e-6  # relative to the image dimension; see the module docstring
Item = tuple[str | None, str, tuple[int, int], list[dict[str, Any]], list[str]]


@st.composite
def boxes_in(draw: st.DrawFn, size: tuple[int, int]) -> dict[str, Any]:
    width, height = size
    x = draw(st.floats(0, width - 1))
    y = draw(st.floats(0, height - 1))
    w = draw(st.floats(1, width - x))
    h = draw(st.floats(1, height - y))
    return box(draw(NAMES), x, y, w, h, ann_id=f"b{draw(st.integers(0, 10**6))}")


@st.composite
def datasets(draw: st.DrawFn) -> tuple[bool, list[str | None], list[Item]]:
    categorized = draw(st.booleans())
    splits: list[str | None] = (
        draw(
            st.lists(
                st.sampled_from(["train", "valid", "test"]), min_size=1, max_size=3, unique=True
            )
        )
        if categorized
        else [None]
    )
    items: list[Item] = []
    for split in splits:
        for index in range(draw(st.integers(0, 3))):
            size = (draw(st.integers(10, 640)), draw(st.integers(10, 480)))
            boxes = draw(st.lists(boxes_in(size), max_size=5))
            catalogue_only = draw(st.lists(NAMES, max_size=2))
            items.append((split, f"img_{index}", size, boxes, catalogue_only))
    if not items:
        items.append((splits[0], "only", (32, 24), [box("a", 1, 1, 10, 10)], []))
    return categorized, splits, items


def _write(root: Path, splits: list[str | None], items: list[Item]) -> None:
    for split in splits:
        folder = root / split if split else root
        (folder / "json").mkdir(parents=True, exist_ok=True)
        (folder / "original_files").mkdir(parents=True, exist_ok=True)
    for split, stem, size, boxes, catalogue_only in items:
        names = sorted({b["classification"] for b in boxes} | set(catalogue_only))
        write_item(
            root, split, stem, {"bounding_box": boxes}, size=size, catalogue={"bounding_box": names}
        )


def _read(root: Path) -> dict[tuple[str | None, str], DMItem]:
    tally = Tally()
    items = {(i.split, i.stem): i for i in open_dm_v2(root, tally)}
    assert tally.items_skipped == 0
    return items


def _class_names(items: dict[Any, DMItem]) -> set[str]:
    names: set[str] = set()
    for item in items.values():
        for tool in ("bounding_box", "polygon"):
            names.update(item.catalogue.get(tool, []))
            names.update(a["classification"] for a in item.annotations.get(tool, []))
    return names


def _boxes(item: DMItem) -> list[tuple[str, list[float]]]:
    return [(a["classification"], a["data"]) for a in item.annotations.get("bounding_box", [])]


@SETTINGS
@given(datasets())
def test_dm_yolo_dm_keeps_every_box_and_class(
    dataset: tuple[bool, list[str | None], list[Item]],
) -> None:
    categorized, splits, items = dataset
    with tempfile.TemporaryDirectory() as folder:
        tmp = Path(folder)
        _write(tmp / "dm", splits, items)
        there = convert(tmp / "dm", "dm_v2", "yolo", tmp / "yolo")
        rows = check_ultralytics_rules(tmp / "yolo")
        assert sum(rows.values()) == there.annotations_written == sum(len(i[3]) for i in items)
        assert there.annotations_skipped == 0
        back = convert(tmp / "yolo", "yolo", "dm_v2", tmp / "back")
        assert back.is_categorized == there.is_categorized == categorized
        before, after = _read(tmp / "dm"), _read(tmp / "back")
        assert after.keys() == before.keys()
        assert _class_names(after) == _class_names(before)
        if categorized:  # empty splits survive too
            assert sorted(p.name for p in (tmp / "back").iterdir()) == sorted(
                str(s) for s in splits
            )
        for key, original in before.items():
            width, height = image_size(original.image_path)
            scale = (width, height, width, height)
            restored = _boxes(after[key])
            assert [name for name, _ in restored] == [name for name, _ in _boxes(original)]
            for (_, new), (_, old) in zip(restored, _boxes(original), strict=True):
                errors = [abs(n - o) / s for n, o, s in zip(new, old, scale, strict=True)]
                assert max(errors) <= TOLERANCE, (new, old, errors)


@SETTINGS
@given(datasets())
def test_dm_coco_dm_keeps_every_box_and_class_exactly(
    dataset: tuple[bool, list[str | None], list[Item]],
) -> None:
    categorized, splits, items = dataset
    with tempfile.TemporaryDirectory() as folder:
        tmp = Path(folder)
        _write(tmp / "dm", splits, items)
        there = convert(tmp / "dm", "dm_v2", "coco", tmp / "coco")
        written = 0
        for annotation_file in sorted((tmp / "coco" / "annotations").glob("*.json")):
            with contextlib.redirect_stdout(io.StringIO()):
                coco = COCO(str(annotation_file))
            raw = json.loads(annotation_file.read_text())
            assert len(coco.getImgIds()) == len(raw["images"])
            assert len(coco.getAnnIds()) == len(raw["annotations"])
            assert len(coco.getCatIds()) == len(raw["categories"])
            written += len(raw["annotations"])
        assert written == there.annotations_written == sum(len(i[3]) for i in items)
        back = convert(tmp / "coco", "coco", "dm_v2", tmp / "back")
        assert back.is_categorized == categorized
        before, after = _read(tmp / "dm"), _read(tmp / "back")
        assert after.keys() == before.keys()
        assert _class_names(after) == _class_names(before)
        for key, original in before.items():
            assert _boxes(after[key]) == _boxes(original)
