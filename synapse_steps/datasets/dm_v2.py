"""DM v2 on disk: a streaming reader and a writer.

Layout (see ``docs/datasets.md``)::

    <root>/json/<stem>.json + <root>/original_files/<stem>.<ext>          uncategorized
    <root>/<split>/json/... + <root>/<split>/original_files/...          categorized

The reader lists file *names* once (that is how JSONs are paired with images and how orphans are
found) and then parses one JSON at a time, so memory does not grow with the annotations.
"""

from __future__ import annotations

import codecs
import json
import os
import re
from collections.abc import Iterator, Mapping, Sequence
from collections.abc import Set as AbstractSet
from pathlib import Path
from typing import Any, NamedTuple

import orjson

from synapse_steps.datasets.files import copy_image, read_bytes, write_bytes
from synapse_steps.datasets.report import Tally
from synapse_steps.datasets.strict_json import json_bytes
from synapse_steps.errors import DatasetError

# Re-exported: the converters and users import these names from here.
from synapse_steps.storage.constants import IMAGE_DIR as IMAGE_DIR
from synapse_steps.storage.constants import IMAGE_EXTENSIONS as IMAGE_EXTENSIONS
from synapse_steps.storage.constants import JSON_DIR as JSON_DIR
from synapse_steps.storage.constants import SPLIT_ALIASES as SPLIT_ALIASES
from synapse_steps.storage.constants import SPLITS as SPLITS
from synapse_steps.storage.constants import canonical_split as canonical_split
from synapse_steps.storage.layout import find_splits, pair_split
from synapse_steps.storage.paths import real_root

ANNOTATION_ID = re.compile(r"[A-Za-z0-9_-]+")


class DMItem(NamedTuple):
    """One data unit: its split (None when uncategorized), files and parsed annotations.

    ``catalogue`` is the top-level ``classification`` map (tool -> class names) and
    ``annotations`` the first ``images`` entry (tool -> list of annotations). Paths are plain
    strings: converters build thousands of them, and ``Path`` objects cost more to make than a
    small JSON costs to parse.
    """

    split: str | None
    stem: str
    json_path: str
    image_path: str
    image_name: str
    catalogue: Mapping[str, Any]
    annotations: Mapping[str, Any]
    label: str  # the JSON path relative to the dataset root, for skip reports


def tool_annotations(item: DMItem, tool: str, tally: Tally) -> list[Any]:
    """The item's annotations of one tool (a tool that is not a list is reported, not read)."""
    found = item.annotations.get(tool)
    if found is None:
        return []
    if not isinstance(found, list):
        tally.skip_annotation("malformed annotation", f"{item.label}: {tool} is not a list")
        return []
    return found


def where(item: DMItem, annotation: Any) -> str:
    """Name an annotation in a skip report: its file, and its id when it has one."""
    annotation_id = annotation.get("id") if isinstance(annotation, dict) else None
    return f"{item.label} (id {annotation_id})" if isinstance(annotation_id, str) else item.label


def count_unconverted(item: DMItem, converted: AbstractSet[str], target: str, tally: Tally) -> None:
    """Report the annotations of tools the target format has no place for."""
    if len(item.annotations) == 1 and not converted.isdisjoint(item.annotations):
        return  # the usual case: nothing but the converted tool
    for tool, found in item.annotations.items():
        if tool not in converted and isinstance(found, list) and found:
            tally.skip_annotation(f"{tool} not converted to {target}", item.label, len(found))


class DMv2Dataset:
    """A DM v2 dataset whose files were listed and paired; iterate it to parse item by item."""

    def __init__(self, root: Path, splits: dict[str | None, Path], tally: Tally) -> None:
        self.root = root
        self.is_categorized = None not in splits
        self._split_dirs = splits
        self._real_root = real_root(root)
        self._pairs: dict[str | None, list[tuple[str, str]]] = {}
        for split, folder in splits.items():
            found = pair_split(folder, root, self._real_root)
            self._pairs[split] = found.pairs
            for reason, where in found.skipped:
                tally.skip_item(reason, where)

    @property
    def splits(self) -> tuple[str | None, ...]:
        """Split names in train / valid / test order; ``(None,)`` when uncategorized."""
        return tuple(self._split_dirs)

    def __len__(self) -> int:
        return sum(len(pairs) for pairs in self._pairs.values())

    def __iter__(self) -> Iterator[DMItem]:
        for split, pairs in self._pairs.items():
            folder = self._split_dirs[split]
            json_dir = os.path.join(folder, JSON_DIR, "")
            image_dir = os.path.join(folder, IMAGE_DIR, "")
            prefix = f"{folder.relative_to(self.root)}/".removeprefix("./") + f"{JSON_DIR}/"
            for json_name, image_name in pairs:
                json_path = json_dir + json_name
                catalogue, annotations = load_dm_json(json_path)
                yield DMItem(
                    split,
                    json_name[:-5],
                    json_path,
                    image_dir + image_name,
                    image_name,
                    catalogue,
                    annotations,
                    prefix + json_name,
                )


def open_dm_v2(root: str | os.PathLike[str], tally: Tally) -> DMv2Dataset:
    """Detect the layout of a DM v2 dataset and pair its files; orphans go to ``tally``.

    The layout rule is ``storage.layout``'s, the same one ``LocalBackend.import_dataset`` uses.
    """
    root = Path(root)
    return DMv2Dataset(root, find_splits(root), tally)


# Bytes 0-9 -> "0", all else -> " ": a run of 19 "0"s is a digit run that may be an integer
# orjson cannot hold exactly (it reads integers beyond 64 bits as floats; ours stay ints).
_DIGITS = bytes(48 if 48 <= byte <= 57 else 32 for byte in range(256))
_LONG_DIGITS = b"0" * 19


def parse_json(data: bytes) -> Any:
    """Parse JSON bytes exactly as ``json.loads`` does, with orjson doing the common case.

    orjson parses a DM file about 3x faster than ``json`` (parsing is the largest cost of a
    conversion). It is stricter: it rejects the BOM, NaN / Infinity, lone surrogates, numbers
    beyond float range and very deep nesting, and reads huge integers as floats. Those rare
    documents (and invalid ones) go to ``json``, which keeps its results and error messages.
    """
    if not data.startswith(codecs.BOM_UTF8) and _LONG_DIGITS not in data.translate(_DIGITS):
        try:
            return orjson.loads(data)
        except orjson.JSONDecodeError:
            pass
    # JSON is UTF-8 (RFC 8259); "-sig" also accepts the BOM some Windows tools write.
    return json.loads(data.decode("utf-8-sig"))


def load_dm_json(path: str | os.PathLike[str]) -> tuple[Mapping[str, Any], Mapping[str, Any]]:
    """Parse one DM v2 JSON into ``(catalogue, first image's annotations)``."""
    try:
        document = parse_json(read_bytes(path))
    except json.JSONDecodeError as error:
        raise DatasetError(
            f"{path} is not valid JSON: {error.msg} at line {error.lineno} column {error.colno} "
            f"(character {error.pos}). Fix the file or remove it together with its image."
        ) from None
    except UnicodeDecodeError as error:
        raise DatasetError(
            f"{path} is not UTF-8 encoded ({error.reason} at byte {error.start}); "
            "re-save it as UTF-8 JSON."
        ) from None
    except RecursionError:
        raise DatasetError(
            f"{path} is nested too deeply to read (thousands of levels of [ or {{); a DM v2 JSON "
            "is a few levels deep. Fix the file or remove it together with its image."
        ) from None
    except ValueError as error:  # e.g. an integer of more than 4300 digits
        raise DatasetError(
            f"{path} cannot be read: {error}. Fix the file or remove it together with its image."
        ) from None
    if not isinstance(document, dict):
        raise DatasetError(
            f"{path}: a DM v2 JSON must be an object with 'classification' and 'images', "
            f"got a {type(document).__name__}."
        )
    catalogue = document.get("classification")
    catalogue = {} if catalogue is None else catalogue
    images = document.get("images")
    images = [{}] if images is None or images == [] else images  # no image entry: no objects
    if not isinstance(catalogue, dict) or not isinstance(images, list):
        raise DatasetError(
            f"{path}: 'classification' must be an object (tool -> class names) and 'images' a "
            f"list; got {type(catalogue).__name__} and {type(images).__name__}."
        )
    first = images[0]
    if not isinstance(first, dict):
        raise DatasetError(f"{path}: images[0] must be an object, got {type(first).__name__}.")
    return catalogue, first


class DMv2Writer:
    """Writes DM v2 data units: ``<split>/json/<stem>.json`` + ``<split>/original_files/...``."""

    def __init__(self, root: Path, *, categorized: bool, link_images: bool = False) -> None:
        self.root = root
        self.categorized = categorized
        self.link_images = link_images

    def start_split(self, split: str | None) -> None:
        """Create the split's folders, so an empty split still exists in the output."""
        folder = self._folder(split)
        (folder / JSON_DIR).mkdir(parents=True, exist_ok=True)
        (folder / IMAGE_DIR).mkdir(parents=True, exist_ok=True)

    def write(self, split: str | None, image_source: Path, document: Mapping[str, Any]) -> None:
        """Write one data unit named after ``image_source``'s stem, copying the image."""
        folder = self._folder(split)
        name = f"{image_source.stem}.json"
        data = json_bytes(document, f"the DM v2 JSON of {image_source}")
        write_bytes(folder / JSON_DIR / name, data)
        copy_image(image_source, folder / IMAGE_DIR / image_source.name, link=self.link_images)

    def _folder(self, split: str | None) -> Path:
        if self.categorized != (split is not None):
            raise ValueError(
                f"split {split!r} does not fit a categorized={self.categorized} writer"
            )
        return self.root / split if split is not None else self.root


_ID_PREFIXES = {"bounding_box": "bb", "polygon": "pg", "keypoint": "kp"}


class AnnotationIds:
    """Per-file annotation ids like ``bb00000001``: unique, stable, matching ``[A-Za-z0-9_-]+``."""

    def __init__(self) -> None:
        self._next = 0

    def new(self, tool: str) -> str:
        self._next += 1
        return f"{_ID_PREFIXES.get(tool, 'an')}{self._next:08d}"


def dm_document(
    catalogue: Mapping[str, Sequence[str]], annotations: Mapping[str, list[dict[str, Any]]]
) -> dict[str, Any]:
    """A DM v2 JSON document for one image."""
    return {
        "classification": {tool: list(names) for tool, names in catalogue.items() if names},
        "images": [{tool: items for tool, items in annotations.items() if items}],
    }


def dm_annotation(
    annotation_id: str, classification: str, data: Any, **extra: Any
) -> dict[str, Any]:
    """One DM v2 annotation (``extra``: e.g. ``visibility`` and ``group_id`` of a keypoint)."""
    return {
        "id": annotation_id,
        "classification": classification,
        "attrs": [],
        "data": data,
        **extra,
    }
