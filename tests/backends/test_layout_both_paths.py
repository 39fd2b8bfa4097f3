"""One DM v2 layout rule: ``convert`` and ``import_dataset`` agree on every tricky folder.

Each layout is run through both paths; both must pair the same items and skip the same files for
the same reasons, or both must refuse the folder.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

import pytest
from PIL import Image

from synapse_steps.backends import LocalBackend
from synapse_steps.datasets import convert
from synapse_steps.errors import DatasetError

Outcome = tuple[dict[str, list[str]], set[tuple[str, str]]]  # stems by split, (reason, path)


def item(folder: Path, stem: str, *image_names: str, json_file: bool = True) -> None:
    (folder / "json").mkdir(parents=True, exist_ok=True)
    (folder / "original_files").mkdir(parents=True, exist_ok=True)
    if json_file:
        document = {
            "classification": {"bounding_box": ["car"]},
            "images": [
                {
                    "bounding_box": [
                        {"id": "b1", "classification": "car", "attrs": [], "data": [1, 1, 2, 2]}
                    ]
                }
            ],
        }
        (folder / "json" / f"{stem}.json").write_text(json.dumps(document))
    for name in image_names:
        kind = {".jpg": "JPEG", ".jpeg": "JPEG"}.get(Path(name).suffix.lower(), "PNG")
        Image.new("RGB", (8, 6)).save(folder / "original_files" / name, format=kind)


def shared_stem(root: Path) -> None:
    item(root / "train", "a", "a.png", "a.jpg")
    item(root / "train", "b", "b.png")


def orphans(root: Path) -> None:
    item(root / "train", "ok", "ok.png")
    item(root / "train", "lonely", json_file=True)
    item(root / "train", "noann", "noann.webp", json_file=False)
    item(root / "valid", "tiff", "tiff.png")
    (root / "valid" / "original_files" / "tiff.png").rename(
        root / "valid" / "original_files" / "tiff.tif"
    )
    item(root / "valid", "v", "v.png")


def cases_and_strays(root: Path) -> None:
    item(root, "upper", "upper.PNG")
    item(root, "jpeg", "jpeg.JpEg")
    (root / "original_files" / ".DS_Store").write_bytes(b"\0")
    (root / "json" / "._upper.json").write_bytes(b"\0\1")
    (root / "original_files" / "notes.txt").write_text("not an item")
    (root / "json" / "README.md").write_text("not an item")


def alias_folders(root: Path) -> None:
    item(root / "Train", "t", "t.png")
    item(root / "Val", "v", "v.jpg")


def two_folders_one_split(root: Path) -> None:
    item(root / "val", "a", "a.png")
    item(root / "valid", "b", "b.png")


def mixed_layouts(root: Path) -> None:
    item(root, "a", "a.png")
    item(root / "train", "b", "b.png")


def unknown_split_folder(root: Path) -> None:
    item(root / "train", "a", "a.png")
    item(root / "holdout", "b", "b.png")


def not_a_dataset(root: Path) -> None:
    (root / "pictures").mkdir(parents=True)


def symlink_outside(root: Path) -> None:
    item(root, "a", "a.png")
    item(root.parent / "elsewhere", "b", "b.png")
    os.symlink(
        root.parent / "elsewhere" / "original_files" / "b.png", root / "original_files" / "b.png"
    )
    (root / "json" / "b.json").write_text((root / "json" / "a.json").read_text())


CASES: list[tuple[Callable[[Path], None], Outcome | None]] = [
    (
        shared_stem,
        (
            {"train": ["b"]},
            {("several images share one stem", "train/original_files/a.jpg and a.png")},
        ),
    ),
    (
        orphans,
        (
            {"train": ["ok"], "valid": ["v"]},
            {
                ("json without image", "train/json/lonely.json"),
                ("image without json", "train/original_files/noann.webp"),
                ("unsupported image type", "valid/original_files/tiff.tif (not jpg/png/bmp/webp)"),
            },
        ),
    ),
    (cases_and_strays, ({"": ["jpeg", "upper"]}, set())),
    (alias_folders, ({"train": ["t"], "valid": ["v"]}, set())),
    (two_folders_one_split, None),
    (mixed_layouts, None),
    (unknown_split_folder, None),
    (not_a_dataset, None),
    (symlink_outside, None),
]


def through_convert(source: Path, output: Path) -> Outcome:
    result = convert(source, "dm_v2", "yolo", output)
    stems: dict[str, list[str]] = {}
    for labels in sorted(output.rglob("labels")):
        split = labels.parent.relative_to(output).as_posix().removeprefix(".")
        stems[split] = sorted(p.stem for p in labels.iterdir())
    skipped = {
        (reason, example)
        for reason, examples in result.skipped_examples.items()
        for example in examples
    }
    return stems, skipped


def through_import(source: Path, backend: LocalBackend) -> Outcome:
    record = backend.get_dataset(backend.import_dataset(source))
    stems: dict[str, list[str]] = {}
    for unit in backend.get_data_collection(record["id"]):
        stems.setdefault(unit.split or "", []).append(unit.stem)
    skipped = {tuple(entry.split(": ", 1)) for entry in record["skipped"]}
    return {k: sorted(v) for k, v in stems.items()}, skipped  # type: ignore[return-value]


@pytest.mark.parametrize(("build", "expected"), CASES, ids=[c[0].__name__ for c in CASES])
def test_convert_and_import_apply_the_same_layout_rule(
    tmp_path: Path, build: Callable[[Path], None], expected: Outcome | None
) -> None:
    source = tmp_path / "dm"
    source.mkdir()
    build(source)
    backend = LocalBackend(tmp_path / "store")
    if expected is None:
        with pytest.raises(DatasetError) as by_convert:
            convert(source, "dm_v2", "yolo", tmp_path / "out")
        with pytest.raises(DatasetError) as by_import:
            backend.import_dataset(source)
        assert str(by_convert.value) == str(by_import.value)
        return
    converted = through_convert(source, tmp_path / "out")
    imported = through_import(source, backend)
    assert converted == imported
    assert converted == expected
