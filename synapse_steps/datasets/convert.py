"""One entry point for every dataset conversion, and the registry behind it.

``convert`` checks the request (formats, options, output folder) before anything is written, runs
the converter registered for ``(source_format, target_format)`` inside a staging folder, and
moves the result into place only when it completed (see ``output``).
"""

from __future__ import annotations

import inspect
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from synapse_steps.datasets.coco import dm_to_coco
from synapse_steps.datasets.coco_to_dm import coco_to_dm
from synapse_steps.datasets.job import ConversionJob, ProgressCallback, Written
from synapse_steps.datasets.output import staged_output
from synapse_steps.datasets.report import ConversionResult, Tally
from synapse_steps.datasets.yolo import dm_to_yolo
from synapse_steps.datasets.yolo_to_dm import yolo_to_dm
from synapse_steps.errors import DatasetError

_FORMAT_ALIASES = {"dm_v2": "dm_v2", "dmv2": "dm_v2", "dm": "dm_v2", "yolo": "yolo", "coco": "coco"}


# A converter reads ``job.source`` and writes into ``job.staging``; its options are keyword-only
# parameters (``convert`` checks the caller's options against them before anything is written).
Converter = Callable[..., Written]


CONVERTERS: dict[tuple[str, str], Converter] = {
    ("dm_v2", "yolo"): dm_to_yolo,
    ("dm_v2", "coco"): dm_to_coco,
    ("yolo", "dm_v2"): yolo_to_dm,
    ("coco", "dm_v2"): coco_to_dm,
}


def register_converter(source_format: str, target_format: str, converter: Converter) -> None:
    """Add (or replace) the converter for a format pair."""
    CONVERTERS[(source_format.lower(), target_format.lower())] = converter


def supported_conversions() -> list[tuple[str, str]]:
    """The ``(source_format, target_format)`` pairs ``convert`` accepts."""
    return sorted(CONVERTERS)


def normalize_format(name: str) -> str:
    """'DM v2', 'dm-v2', 'DMv2' -> 'dm_v2'; unknown names are returned lower-cased."""
    key = name.strip().lower().replace(" ", "_").replace("-", "_")
    return _FORMAT_ALIASES.get(key, key)


def convert(
    source_path: str | os.PathLike[str],
    source_format: str,
    target_format: str,
    output_dir: str | os.PathLike[str],
    *,
    progress: ProgressCallback | None = None,
    overwrite: bool = False,
    **options: Any,
) -> ConversionResult:
    """Convert the dataset at ``source_path`` into ``output_dir``.

    ``progress(done, total)`` is called once per item. ``output_dir`` may be missing or empty; a
    non-empty one is refused unless ``overwrite=True``, which replaces it once the new dataset is
    complete. Options by pair: DM v2 -> YOLO ``task`` ('detect' | 'segment'), ``classes``,
    ``link_images``; DM v2 -> COCO ``classes``, ``link_images``; YOLO / COCO -> DM v2
    ``link_images``.

    The output may not overlap the source, nor be inside (or contain) a synapse_steps local
    store. A symlinked output is followed: the dataset is published into the linked folder.
    Disk errors (full disk, read-only folder) raise ``DatasetError`` naming the output.
    """
    return run_conversion(
        source_path, source_format, target_format, output_dir, progress, overwrite, options
    )


def run_conversion(
    source_path: str | os.PathLike[str],
    source_format: str,
    target_format: str,
    output_dir: str | os.PathLike[str],
    progress: ProgressCallback | None,
    overwrite: bool,
    options: dict[str, Any],
    *,
    allow_store: bool = False,
) -> ConversionResult:
    """``convert``; ``allow_store`` lets the local store convert into its own tmp/ folder."""
    pair = (normalize_format(source_format), normalize_format(target_format))
    converter = CONVERTERS.get(pair)
    if converter is None:
        supported = ", ".join(f"{s} -> {t}" for s, t in supported_conversions())
        raise DatasetError(
            f"No converter from {source_format!r} to {target_format!r}. Supported: {supported}."
        )
    _check_options(converter, pair, options)
    source = Path(source_path)
    if not source.exists():
        raise DatasetError(f"Source dataset {source} does not exist.")
    output = Path(os.path.abspath(output_dir))
    tally = Tally()
    with staged_output(
        output, source=source, overwrite=overwrite, allow_store=allow_store
    ) as staging:
        job = ConversionJob(
            source=source, staging=staging, final=output, tally=tally, progress=progress
        )
        written = converter(job, **options)
    return ConversionResult.from_tally(
        tally,
        path=output,
        config_path=output / written.config if written.config != "." else output,
        format=pair[1],
        is_categorized=written.is_categorized,
    )


def _check_options(converter: Converter, pair: tuple[str, str], options: dict[str, Any]) -> None:
    parameters = inspect.signature(converter).parameters
    accepted = [name for name, p in parameters.items() if p.kind is p.KEYWORD_ONLY]
    unknown = sorted(set(options) - set(accepted))
    if unknown:
        raise DatasetError(
            f"Unknown option(s) {unknown} for {pair[0]} -> {pair[1]}; accepted: "
            f"{accepted or 'none'}."
        )
