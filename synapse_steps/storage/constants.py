"""DM v2 names used by the store and the converters alike (one definition each)."""

from __future__ import annotations

import os

# Canonical split order: records, exports, collections and conversions list splits in this order.
SPLITS: tuple[str, ...] = ("train", "valid", "test")
# Accepted input spellings (any case) -> canonical split.
SPLIT_ALIASES: dict[str, str] = {
    "train": "train",
    "val": "valid",
    "valid": "valid",
    "validation": "valid",
    "test": "test",
}

# The DM v2 spec pairs a JSON with an image of one of these extensions, in any case.
IMAGE_EXTENSIONS: frozenset[str] = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".webp"})

JSON_DIR = "json"
IMAGE_DIR = "original_files"


def canonical_split(name: str) -> str | None:
    """'train' / 'valid' / 'test' for a split folder name or alias (any case), else None."""
    return SPLIT_ALIASES.get(name.strip().lower())


def is_image_name(name: str) -> bool:
    """True for the image extensions DM v2 pairs with JSON (any case)."""
    return os.path.splitext(name)[1].lower() in IMAGE_EXTENSIONS
