"""A small, deterministic, learnable DM v2 detection dataset for demos, tests and benchmarks.

Each image is grey noise with a few coloured shapes: red-ish circles, green-ish squares and
blue-ish triangles (colour and outline both tell the classes apart, so a tiny classifier trained
on box crops learns them). Shapes sit in separate cells of a grid, so they never overlap and
every box is exactly the extent of the pixels drawn for its shape. Triangles also get a polygon
(its three corners; its bounds equal the box); squares get four corner keypoints grouped under
the square's box id.

Every image has its own random generator seeded with ``(seed, index)``: the same arguments give
byte-identical files.
"""

from __future__ import annotations

import json
import math
import os
import shutil
from io import BytesIO
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw

from synapse_steps.datasets.dm_v2 import IMAGE_DIR, JSON_DIR, AnnotationIds, dm_annotation
from synapse_steps.datasets.files import write_text
from synapse_steps.errors import DatasetError

CLASSES = ("circle", "square", "triangle")
COLORS = {"circle": (215, 55, 50), "square": (55, 175, 70), "triangle": (50, 85, 215)}
CORNERS = ("top_left", "top_right", "bottom_right", "bottom_left")
SPLITS = ("train", "valid", "test")


def make_detection_dataset(
    path: str | os.PathLike[str],
    n_images: int = 200,
    seed: int = 0,
    *,
    image_size: tuple[int, int] = (160, 120),
    boxes_per_image: int | None = None,
    split_fractions: tuple[float, float, float] = (0.7, 0.2, 0.1),
    polygons: bool = True,
    keypoints: bool = True,
    distinct_images: int | None = None,
    overwrite: bool = False,
) -> Path:
    """Write a categorized DM v2 dataset (train / valid / test) to ``path`` and return it.

    ``boxes_per_image`` fixes the number of shapes (default: 1 to 4 at random). With
    ``distinct_images=k`` only ``k`` images are drawn and the rest repeat them (image and
    annotations copied under new names): a fast way to build a large benchmark dataset.
    """
    root = Path(path)
    if root.exists() and any(root.iterdir()):
        if not overwrite:
            raise DatasetError(
                f"{root} already exists and is not empty; pass a new folder or overwrite=True."
            )
        shutil.rmtree(root)
    width, height = image_size
    if n_images < 1 or width < 16 or height < 16:
        raise DatasetError(
            f"need n_images >= 1 and images of at least 16x16, got {n_images}, {image_size}."
        )
    splits = _assign_splits(n_images, seed, split_fractions)
    for split in SPLITS:
        (root / split / JSON_DIR).mkdir(parents=True, exist_ok=True)
        (root / split / IMAGE_DIR).mkdir(parents=True, exist_ok=True)
    catalogue: dict[str, list[str]] = {"bounding_box": list(CLASSES)}
    if polygons:
        catalogue["polygon"] = ["triangle"]
    if keypoints:
        catalogue["keypoint"] = list(CORNERS)
    cache: dict[int, tuple[bytes, str]] = {}
    for index in range(n_images):
        template = index if distinct_images is None else index % max(1, distinct_images)
        if template not in cache:
            image, annotations = _draw(
                seed, template, width, height, boxes_per_image, polygons, keypoints
            )
            document = {"classification": catalogue, "images": [annotations]}
            cache[template] = (image, json.dumps(document))
        image_bytes, text = cache[template]
        if distinct_images is None:
            del cache[template]  # nothing repeats: keep memory flat
        folder = root / splits[index]
        stem = f"img_{index:05d}"
        (folder / IMAGE_DIR / f"{stem}.png").write_bytes(image_bytes)
        write_text(folder / JSON_DIR / f"{stem}.json", text)
    return root


def _assign_splits(count: int, seed: int, fractions: tuple[float, float, float]) -> list[str]:
    order = np.random.default_rng(seed).permutation(count)
    sizes = [round(count * fraction) for fraction in fractions[:2]]
    if count >= len(SPLITS):  # every split gets at least one image
        sizes = [max(1, size) for size in sizes]
        sizes[0] = min(sizes[0], count - sizes[1] - 1)
    splits = [""] * count
    for position, image_index in enumerate(order):
        if position < sizes[0]:
            splits[image_index] = "train"
        elif position < sizes[0] + sizes[1]:
            splits[image_index] = "valid"
        else:
            splits[image_index] = "test"
    return splits


def _draw(
    seed: int,
    index: int,
    width: int,
    height: int,
    boxes_per_image: int | None,
    polygons: bool,
    keypoints: bool,
) -> tuple[bytes, dict[str, Any]]:
    """One PNG (as bytes) and its DM v2 annotations."""
    rng = np.random.default_rng([seed, index])
    level = int(rng.integers(80, 150))
    noise = rng.integers(-30, 31, size=(height, width), dtype=np.int16) + level
    image = Image.fromarray(noise.clip(0, 255).astype(np.uint8), "L").convert("RGB")
    count = boxes_per_image if boxes_per_image is not None else int(rng.integers(1, 5))
    columns = max(1, math.ceil(math.sqrt(count * width / height)))
    rows = math.ceil(count / columns)
    cell_width, cell_height = width // columns, height // rows
    largest = min(cell_width, cell_height) - 2
    if largest < 6:
        raise DatasetError(
            f"{count} shapes do not fit in a {width}x{height} image; use a larger image_size."
        )
    ids = AnnotationIds()
    tools: dict[str, list[dict[str, Any]]] = {"bounding_box": [], "polygon": [], "keypoint": []}
    for cell in rng.choice(columns * rows, size=count, replace=False):
        name = CLASSES[int(rng.integers(len(CLASSES)))]
        size = int(rng.integers(max(6, largest // 2), largest + 1))
        x0 = int(cell % columns) * cell_width + int(rng.integers(0, cell_width - size + 1))
        y0 = int(cell // columns) * cell_height + int(rng.integers(0, cell_height - size + 1))
        mask = Image.new("L", (size, size), 0)
        draw = ImageDraw.Draw(mask)
        if name == "circle":
            draw.ellipse((0, 0, size - 1, size - 1), fill=255)
        elif name == "square":
            draw.rectangle((0, 0, size - 1, size - 1), fill=255)
        else:
            draw.polygon([(size // 2, 0), (size - 1, size - 1), (0, size - 1)], fill=255)
        color = tuple(
            int(c) for c in np.clip(np.array(COLORS[name]) + rng.integers(-25, 26, 3), 0, 255)
        )
        image.paste(color, (x0, y0), mask)
        left, top, right, bottom = mask.getbbox() or (0, 0, size, size)
        box_id = ids.new("bounding_box")
        box = [x0 + left, y0 + top, right - left, bottom - top]
        tools["bounding_box"].append(dm_annotation(box_id, name, [float(v) for v in box]))
        x1, y1, x2, y2 = box[0], box[1], box[0] + box[2], box[1] + box[3]
        if name == "triangle" and polygons:
            outline = [[(x1 + x2) / 2, float(y1)], [float(x2), float(y2)], [float(x1), float(y2)]]
            tools["polygon"].append(dm_annotation(ids.new("polygon"), name, outline))
        if name == "square" and keypoints:
            for corner, (x, y) in zip(
                CORNERS, ((x1, y1), (x2, y1), (x2, y2), (x1, y2)), strict=True
            ):
                tools["keypoint"].append(
                    dm_annotation(
                        ids.new("keypoint"),
                        corner,
                        [float(x), float(y)],
                        visibility=2,
                        group_id=box_id,
                    )
                )
    buffer = _png_bytes(image)
    return buffer, {tool: items for tool, items in tools.items() if items}


def _png_bytes(image: Image.Image) -> bytes:
    buffer = BytesIO()
    image.save(buffer, format="PNG", compress_level=1)  # fast; noise barely compresses anyway
    return buffer.getvalue()
