"""Keep every file a dataset names inside the dataset's root (the check is ``storage.paths``).

A dataset is user input: a ``file_name`` of ``../../etc/passwd``, an absolute path or a symlink
pointing elsewhere must never make a converter read (or copy) a file outside the folder it was
given.
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath, PureWindowsPath

from synapse_steps.errors import DatasetError
from synapse_steps.storage.constants import IMAGE_EXTENSIONS, is_image_name
from synapse_steps.storage.paths import ensure_inside, real_root

__all__ = ["IMAGE_EXTENSIONS", "ensure_inside", "is_image_name", "real_root", "safe_join"]


def safe_join(base: Path, relative: str, *, root: Path, named_by: str | Path) -> Path:
    """Join a file name read from a manifest onto ``base`` without letting it leave ``root``.

    Rejects absolute paths (POSIX or Windows style), any ``..`` component, and symlinks that
    resolve outside ``root`` (which must be resolved, see ``real_root``). ``named_by`` is the
    manifest, named in the error.
    """
    if not isinstance(relative, str) or not relative:
        raise DatasetError(
            f"{named_by}: expected a non-empty relative file name, got {relative!r}."
        )
    posix = PurePosixPath(relative.replace("\\", "/"))
    if posix.is_absolute() or PureWindowsPath(relative).is_absolute() or ".." in posix.parts:
        raise DatasetError(
            f"{named_by} names the file {relative!r}, which points outside the dataset folder "
            f"{root}. Use a path relative to the dataset folder without '..'."
        )
    return ensure_inside(base.joinpath(*posix.parts), root, named_by=named_by)
