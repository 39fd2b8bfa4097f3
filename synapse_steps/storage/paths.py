"""The one "stays inside the root" check, and recognising a local store on disk.

Every comparison resolves symlinks first: ``out -> store/datasets`` is inside the store even
though its spelling is not.
"""

from __future__ import annotations

import os
from pathlib import Path

from synapse_steps.errors import DatasetError

# Files that mark a folder as a LocalBackend root. The marker file survives a lost index.
INDEX_NAME = "index.sqlite3"
STORE_MARKER = ".synapse_steps_store"
_MARKERS = (STORE_MARKER, INDEX_NAME)


def real(path: str | os.PathLike[str]) -> Path:
    """``path`` absolute, with every symlink resolved (missing tail components kept)."""
    return Path(os.path.realpath(path))


def real_root(root: Path) -> Path:
    """The dataset root with symlinks resolved: the boundary every file must stay inside."""
    return real(root)


def is_inside(path: str | os.PathLike[str], folder: str | os.PathLike[str]) -> bool:
    """True when ``path`` is ``folder`` or below it; both are compared as given (resolve first)."""
    path_text, folder_text = os.fspath(path), os.fspath(folder).rstrip(os.sep)
    return path_text == folder_text or path_text.startswith(folder_text + os.sep)


def overlap(a: Path, b: Path) -> bool:
    """True when one of the two (symlinks resolved) contains the other."""
    real_a, real_b = real(a), real(b)
    return is_inside(real_a, real_b) or is_inside(real_b, real_a)


def ensure_inside(path: Path, root: Path, *, named_by: str | Path | None = None) -> Path:
    """Return ``path`` if it (after following symlinks) lies inside ``root``; raise otherwise.

    ``root`` must already be resolved (see ``real_root``). ``named_by`` is the file that referred
    to ``path`` (a manifest or annotation file), mentioned in the error.
    """
    resolved = os.path.realpath(path)
    if not is_inside(resolved, root):
        where = f" (named by {named_by})" if named_by is not None else ""
        raise DatasetError(
            f"{path}{where} resolves to {resolved}, outside the dataset folder {root}. "
            "Datasets may only refer to files inside their own folder: remove the symlink or "
            "'..' component, or copy the file into the dataset."
        )
    return path


def is_store(folder: Path) -> bool:
    return any(os.path.lexists(folder / name) for name in _MARKERS)


def store_around(path: Path) -> Path | None:
    """The local store that ``path`` (resolved) is in or is, if any."""
    for folder in (path, *path.parents):
        if is_store(folder):
            return folder
    return None


def store_below(folder: Path) -> Path | None:
    """A local store inside ``folder`` (which would be deleted by replacing it), if any."""
    if not folder.is_dir():
        return None
    for current, dirs, _ in os.walk(folder):
        if is_store(Path(current)):
            return Path(current)
        dirs[:] = [d for d in dirs if not os.path.islink(os.path.join(current, d))]
    return None
