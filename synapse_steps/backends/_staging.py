"""Temporary folders and atomic placement.

Everything is written into a staging folder first and moved into place with one rename, so an
interrupted import or export never leaves a half-written dataset where a reader could find it.
A staging folder's name carries its owner's pid: a later process can tell an abandoned folder
(owner gone) from one a live import is still filling.
"""

from __future__ import annotations

import errno
import os
import secrets
import shutil
import sys
import time
from pathlib import Path

# Only used where pid liveness cannot be checked (Windows): abandoned after this long.
_STALE_AFTER_S = 24 * 3600


def new_staging(parent: Path, kind: str) -> Path:
    """Create and return an empty ``parent/.<kind>-<pid>-<random>`` folder."""
    parent.mkdir(parents=True, exist_ok=True)
    path = parent / f".{kind}-{os.getpid()}-{secrets.token_hex(6)}"
    path.mkdir()
    return path


def _owner_pid(name: str) -> int | None:
    parts = name.rsplit("-", 2)
    if len(parts) != 3 or not parts[1].isdigit():
        return None
    return int(parts[1])


def _pid_alive(pid: int) -> bool | None:
    """True/False when known; None where it cannot be checked safely."""
    if sys.platform == "win32":
        return None  # os.kill(pid, 0) would terminate the process on Windows
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, owned by someone else
    return True


def is_abandoned(path: Path) -> bool:
    pid = _owner_pid(path.name)
    if pid == os.getpid():
        return False  # maybe another LocalBackend of this very process, still working
    alive = _pid_alive(pid) if pid is not None else None
    if alive is not None:
        return not alive
    try:
        return time.time() - path.lstat().st_mtime > _STALE_AFTER_S
    except FileNotFoundError:
        return False


def remove_tree(path: Path) -> None:
    """Delete a file or folder if it exists; never raises (used on cleanup paths)."""
    if path.is_symlink() or path.is_file():
        path.unlink(missing_ok=True)
    elif path.exists():
        shutil.rmtree(path, ignore_errors=True)


def sweep_abandoned(tmp_dir: Path) -> list[Path]:
    """Remove the staging folders under ``tmp_dir`` whose owner process is gone."""
    removed = []
    if tmp_dir.is_dir():
        for entry in tmp_dir.iterdir():
            if is_abandoned(entry):
                remove_tree(entry)
                removed.append(entry)
    return removed


def discard(path: Path, tmp_dir: Path) -> None:
    """Make ``path`` disappear at once (a rename), then delete it at leisure."""
    trash = tmp_dir / f".trash-{os.getpid()}-{secrets.token_hex(6)}"
    try:
        os.replace(path, trash)
    except FileNotFoundError:
        return  # already gone (another process cleaned it up)
    remove_tree(trash)


def is_empty_dir(path: Path) -> bool:
    with os.scandir(path) as entries:
        return next(entries, None) is None


def place_directory(staging: Path, target: Path, *, overwrite: bool) -> None:
    """Move the finished ``staging`` folder to ``target`` (same filesystem) in one rename.

    A missing or empty ``target`` is replaced; a non-empty one only with ``overwrite``, and then
    the old content is moved aside first and restored if the final rename fails.
    """
    if target.exists() and not target.is_dir():
        raise FileExistsError(f"{target} exists and is a file, not a folder")
    aside: Path | None = None
    if target.is_dir():
        if not is_empty_dir(target):
            if not overwrite:
                raise FileExistsError(f"{target} is not empty")
            aside = target.with_name(f".{target.name}.old-{os.getpid()}-{secrets.token_hex(6)}")
            os.replace(target, aside)
        else:
            target.rmdir()  # os.replace onto an empty folder fails on Windows
    try:
        os.replace(staging, target)
    except BaseException as exc:
        if aside is not None:
            os.replace(aside, target)
        if isinstance(exc, OSError) and exc.errno in (errno.ENOTEMPTY, errno.EEXIST):
            # Someone filled the target between our check and the rename.
            raise FileExistsError(f"{target} is not empty") from exc
        raise
    if aside is not None:
        remove_tree(aside)
