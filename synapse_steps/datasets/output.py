"""The output-folder policy: never leave a half-written dataset behind.

Converters write into a hidden sibling folder (``.<name>.tmp-<random>`` next to the output), which
is renamed into place only when the conversion finished. Any error or interrupt removes it, so the
output folder either holds a complete dataset or is exactly as it was before.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
from collections.abc import Iterator
from pathlib import Path

from synapse_steps.errors import DatasetError


def _inside(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents


def check_output_dir(output_dir: Path, *, source: Path, overwrite: bool) -> None:
    """Raise ``DatasetError`` when ``output_dir`` may not receive a conversion of ``source``."""
    real_output, real_source = Path(os.path.realpath(output_dir)), Path(os.path.realpath(source))
    if _inside(real_source, real_output) or _inside(real_output, real_source):
        raise DatasetError(
            f"Output folder {output_dir} and source dataset {source} overlap. Choose an output "
            "folder outside the source dataset (and not one that contains it)."
        )
    if output_dir.exists() or output_dir.is_symlink():
        if not output_dir.is_dir():
            raise DatasetError(f"Output path {output_dir} exists and is not a folder.")
        with os.scandir(output_dir) as entries:
            not_empty = any(True for _ in entries)
        if not_empty and not overwrite:
            raise DatasetError(
                f"Output folder {output_dir} already exists and is not empty. Pass an empty or "
                "new folder, or overwrite=True to replace its contents."
            )


@contextlib.contextmanager
def staged_output(output_dir: Path, *, source: Path, overwrite: bool) -> Iterator[Path]:
    """Yield a fresh staging folder; on success it replaces ``output_dir``, on error it vanishes."""
    check_output_dir(output_dir, source=source, overwrite=overwrite)
    output_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = _make_sibling(output_dir, "tmp")
    try:
        yield staging
        _publish(staging, output_dir)
    except BaseException:  # KeyboardInterrupt too: a half-written dataset is worse than none
        shutil.rmtree(staging, ignore_errors=True)
        raise


def _make_sibling(output_dir: Path, kind: str) -> Path:
    while True:
        candidate = output_dir.with_name(f".{output_dir.name}.{kind}-{secrets.token_hex(4)}")
        try:
            candidate.mkdir()  # unlike mkdtemp, keeps the umask's permissions for the output
            return candidate
        except FileExistsError:
            continue


def _publish(staging: Path, output_dir: Path) -> None:
    """Move ``staging`` to ``output_dir``, replacing what is there (checked by the caller)."""
    if not output_dir.exists():
        os.replace(staging, output_dir)
        return
    with os.scandir(output_dir) as entries:
        empty = not any(True for _ in entries)
    if empty:
        os.rmdir(output_dir)
        os.replace(staging, output_dir)
        return
    # Two renames: the old contents stay intact until the new ones are in place.
    old = output_dir.with_name(f".{output_dir.name}.old-{secrets.token_hex(4)}")
    os.replace(output_dir, old)
    try:
        os.replace(staging, output_dir)
    except BaseException:
        os.replace(old, output_dir)
        raise
    shutil.rmtree(old, ignore_errors=True)
