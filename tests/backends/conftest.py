"""Tiny DM v2 datasets built on the spot, and a backend rooted in tmp_path."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from pathlib import Path

import pytest
from PIL import Image

from synapse_steps.backends import LocalBackend

MakeDataset = Callable[..., Path]


def annotation(stem: str) -> dict[str, object]:
    return {
        "classification": {"bounding_box": ["car", "person"]},
        "images": [
            {
                "bounding_box": [
                    {
                        "id": f"bx{stem}",
                        "classification": "car",
                        "attrs": [],
                        "data": [1.0, 2.0, 3.0, 4.0],
                    }
                ]
            }
        ],
    }


def write_item(folder: Path, stem: str, ext: str = ".png") -> None:
    (folder / "json").mkdir(parents=True, exist_ok=True)
    (folder / "original_files").mkdir(parents=True, exist_ok=True)
    (folder / "json" / f"{stem}.json").write_text(json.dumps(annotation(stem)), encoding="utf-8")
    Image.new("RGB", (8, 6), (200, 10, 10)).save(folder / "original_files" / f"{stem}{ext}")


@pytest.fixture
def make_dataset(tmp_path: Path) -> MakeDataset:
    """``make_dataset({'train': 3, 'val': 2})`` (categorized) or ``make_dataset(4)``."""
    made = 0

    def make(layout: Mapping[str, int] | int, name: str | None = None) -> Path:
        nonlocal made
        made += 1
        root = tmp_path / (name or f"source{made}")
        if isinstance(layout, int):
            for i in range(layout):
                write_item(root, f"img{i:03d}")
        else:
            for split, count in layout.items():
                for i in range(count):
                    write_item(root / split, f"{split}{i:03d}", ".jpg" if i % 2 else ".png")
        return root

    return make


@pytest.fixture
def add_item() -> Callable[..., None]:
    """``add_item(folder, stem, ext='.png')``: one JSON + image pair under ``folder``."""
    return write_item


@pytest.fixture
def backend(tmp_path: Path) -> LocalBackend:
    return LocalBackend(tmp_path / "store")
