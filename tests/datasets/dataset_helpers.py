"""Helpers for the dataset tests: hand-built DM v2 datasets and output checks."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from PIL import Image


def write_png(path: Path, size: tuple[int, int]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("L", size, 128).save(path, format="PNG", compress_level=1)
    return path


def box(name: str, x: float, y: float, w: float, h: float, ann_id: str = "b1") -> dict[str, Any]:
    return {"id": ann_id, "classification": name, "attrs": [], "data": [x, y, w, h]}


def write_item(
    root: Path,
    split: str | None,
    stem: str,
    annotations: Mapping[str, Sequence[Any]],
    *,
    size: tuple[int, int] = (100, 80),
    catalogue: Mapping[str, Sequence[str]] | None = None,
    image_ext: str = ".png",
    raw_json: str | None = None,
) -> tuple[Path, Path]:
    """Write one DM v2 data unit; returns (json path, image path)."""
    folder = root / split if split else root
    json_path = folder / "json" / f"{stem}.json"
    json_path.parent.mkdir(parents=True, exist_ok=True)
    if catalogue is None:
        names = sorted({a["classification"] for tool in annotations.values() for a in tool})
        catalogue = {"bounding_box": names}
    document = {"classification": dict(catalogue), "images": [dict(annotations)]}
    json_path.write_text(raw_json if raw_json is not None else json.dumps(document))
    image_path = write_png(folder / "original_files" / f"{stem}{image_ext}", size)
    return json_path, image_path


def leftovers(output: Path) -> list[str]:
    """Hidden staging / backup siblings a conversion may have left next to ``output``."""
    return sorted(p.name for p in output.parent.iterdir() if p.name.startswith(f".{output.name}."))


IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp"}


def check_ultralytics_rules(root: Path) -> dict[str, int]:
    """Assert what Ultralytics' ``check_det_dataset`` / ``verify_image_label`` require.

    Returns the number of label rows per split folder. Rules: dataset.yaml has path / train / val
    (/ test) / nc / names, names match classes.txt and nc; every listed images folder exists and
    has a labels sibling; every image has a label file; each row is ``cls`` + 4 numbers or
    ``cls`` + 2k numbers (k >= 3); class ids are integers < nc; coordinates lie in [0, 1].
    """
    import yaml

    config = yaml.safe_load((root / "dataset.yaml").read_text())
    assert Path(config["path"]) == root.resolve() or Path(config["path"]) == root
    assert {"path", "train", "val", "nc", "names"} <= set(config)
    names = config["names"]
    assert isinstance(names, list)
    assert config["nc"] == len(names)
    assert (root / "classes.txt").read_text().splitlines() == names
    rows_per_folder: dict[str, int] = {}
    for key in ("train", "val", "test"):
        if key not in config:
            continue
        images = root / config[key]
        assert images.is_dir(), f"{key}: {images} missing"
        assert images.name == "images"
        labels = images.parent / "labels"
        assert labels.is_dir()
        label_files = {p.stem for p in labels.glob("*.txt")}
        image_files = {p.stem for p in images.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES}
        assert label_files == image_files
        count = 0
        for label in labels.glob("*.txt"):
            text = label.read_text()
            assert text == "" or text.endswith("\n")
            for row in text.splitlines():
                tokens = row.split()
                assert len(tokens) == 5 or (len(tokens) >= 7 and len(tokens) % 2 == 1), row
                assert tokens[0].isdigit(), row
                assert int(tokens[0]) < config["nc"], row
                values = [float(t) for t in tokens[1:]]
                assert all(0.0 <= v <= 1.0 for v in values), row
                assert all(len(t.split(".")[1]) == 6 for t in tokens[1:]), row
                if len(tokens) == 5:
                    assert min(values[2], values[3]) > 0, row
                count += 1
        rows_per_folder[config[key]] = count
    return rows_per_folder
