"""Keep every file a dataset names inside the dataset's root.

A dataset is user input: a ``file_name`` of ``../../etc/passwd``, an absolute path or a symlink
pointing elsewhere must never make a converter read (or copy) a file outside the folder it was
given.
"""

from __future__ import annotations

import os
from pathlib import Path, PurePosixPath, PureWindowsPath

from synapse_steps.errors import DatasetError

IMAGE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".webp"})


def is_image_name(name: str) -> bool:
    """True for the image extensions DM v2 pairs with JSON (any case)."""
    return os.path.splitext(name)[1].lower() in IMAGE_EXTENSIONS


def real_root(root: Path) -> Path:
    """The dataset root with symlinks resolved: the boundary every file must stay inside."""
    return Path(os.path.realpath(root))


def ensure_inside(path: Path, root: Path, *, named_by: str | Path | None = None) -> Path:
    """Return ``path`` if it (after following symlinks) lies inside ``root``; raise otherwise.

    ``root`` must already be resolved (see ``real_root``). ``named_by`` is the file that referred
    to ``path`` (a manifest or annotation file), mentioned in the error so the user knows where to
    look.
    """
    resolved = os.path.realpath(path)
    root_text = str(root)
    if resolved != root_text and not resolved.startswith(root_text.rstrip(os.sep) + os.sep):
        where = f" (named by {named_by})" if named_by is not None else ""
        raise DatasetError(
            f"{path}{where} resolves to {resolved}, outside the dataset folder {root}. "
            "Datasets may only refer to files inside their own folder: remove the symlink or "
            "'..' component, or copy the file into the dataset."
        )
    return path


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
