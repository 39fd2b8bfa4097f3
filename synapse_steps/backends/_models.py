"""Checking what ``create_model`` is given and turning a stored row into the public record."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from synapse_steps.backends._errors import InvalidModelError, MissingFileError

RESERVED = ("file", "name")


def check_model_input(data: object) -> tuple[Path, str, str]:
    """Return (source file, name, metadata as JSON) or raise a message saying what to fix."""
    if not isinstance(data, Mapping) or not data.get("file"):
        raise InvalidModelError(
            "create_model needs a mapping with a 'file' path, e.g. "
            f"{{'file': 'model.pt', 'name': 'my-model'}}; got {data!r}."
        )
    source = Path(data["file"]).expanduser().absolute()
    if not source.exists():
        raise MissingFileError(f"Model file {source} does not exist; check 'file'.")
    if not source.is_file():
        raise InvalidModelError(
            f"Model 'file' must be a file; {source} is a folder. Archive it (zip/tar) or pass "
            "its main weights file."
        )
    name = data.get("name") or source.stem
    if not isinstance(name, str):
        raise InvalidModelError(f"Model 'name' must be a string; got {name!r}.")
    metadata = {k: v for k, v in data.items() if k not in RESERVED}
    try:
        metadata_json = json.dumps(metadata)
    except (TypeError, ValueError) as exc:
        raise InvalidModelError(
            f"Model metadata must be JSON-serialisable ({exc}); got keys {sorted(metadata)}. "
            "Convert values to str/int/float/list/dict first."
        ) from exc
    return source, name, metadata_json


def model_record(row: sqlite3.Row, folder: Path) -> dict[str, Any]:
    """``folder`` is the model's own folder in the store."""
    return {
        "id": row["id"],
        "name": row["name"],
        "file": str(folder / row["file_name"]),
        "size": row["size"],
        "sha256": row["sha256"],
        "created_at": row["created_at"],
        "metadata": json.loads(row["metadata"]),
        "original_file": row["original_file"],
    }
