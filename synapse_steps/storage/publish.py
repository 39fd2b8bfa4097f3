"""Staging folders, sweeping abandoned ones, and atomic no-clobber publishing.

Used by the local store (imports, exports, models) and by the converters alike.

* ``make_staging`` creates ``.<name>.<kind>-<pid>-<start>-<token>`` next to the target (same
  filesystem, so publishing is one rename). The owner pid and start time in the name let a later
  process tell an abandoned folder from one a live process is still filling (see ``owner``).
* ``sweep`` removes abandoned folders of *our* naming pattern only, never anything else. An
  abandoned ``.old`` folder (an overwritten output moved aside by a process killed before it
  finished) is put back when its output is missing, so a kill never loses the old content.
* ``publish`` moves a finished staging folder to the target in one rename that never replaces a
  non-empty folder: of two processes publishing to one new target, exactly one wins.
"""

from __future__ import annotations

import ctypes
import errno
import logging
import os
import re
import secrets
import shutil
import sys
from pathlib import Path

from synapse_steps.storage.owner import is_alive, owner_tag

logger = logging.getLogger(__name__)

_TEMP = re.compile(r"^\.(?P<name>.*)\.(?P<kind>[a-z]+)-(?P<pid>\d+)-(?P<start>\d+)-[0-9a-f]{12}$")
# Written by synapse_steps <= 0.x into the store's own tmp/: pid only.
_LEGACY = re.compile(r"^\.(?P<kind>[a-z]+)-(?P<pid>\d+)-[0-9a-f]+$")


class PublishConflict(FileExistsError):
    """The target appeared or filled up while we were writing; nothing of it was touched."""


def make_staging(parent: Path, name: str, kind: str) -> Path:
    """Create and return an empty staging folder ``parent/.<name>.<kind>-<owner>-<token>``."""
    parent.mkdir(parents=True, exist_ok=True)
    path = parent / f".{name}.{kind}-{owner_tag()}-{secrets.token_hex(6)}"
    path.mkdir()  # unlike mkdtemp, keeps the umask's permissions for the published folder
    return path


def _owner(name: str) -> tuple[str | None, str, int, int | None] | None:
    """(target name, kind, pid, start) of one of our temp names; None for anything else."""
    match = _TEMP.match(name)
    if match:
        return match["name"], match["kind"], int(match["pid"]), int(match["start"])
    legacy = _LEGACY.match(name)
    if legacy:
        return None, legacy["kind"], int(legacy["pid"]), None
    return None


def is_abandoned(path: Path) -> bool:
    """True for one of our temp folders whose owner process is gone (never for other names)."""
    owner = _owner(path.name)
    if owner is None:
        return False
    pid, start = owner[2], owner[3]
    if pid == os.getpid():
        return False  # maybe another operation of this very process, still working
    return is_alive(pid, start) is False


def sweep(parent: Path, name: str | None = None) -> list[Path]:
    """Remove abandoned temp folders in ``parent`` (only those for target ``name`` if given)."""
    removed: list[Path] = []
    try:
        entries = list(os.scandir(parent))
    except OSError:
        return removed  # no parent yet, or one we may not list: nothing of ours to sweep
    for entry in entries:
        owner = _owner(entry.name)
        if owner is None or (name is not None and owner[0] != name):
            continue
        path = Path(entry.path)
        if not is_abandoned(path):
            continue
        target_name, kind = owner[0], owner[1]
        if kind == "old" and target_name and not os.path.lexists(parent / target_name):
            # Killed between moving the old output aside and publishing the new one: put it back.
            try:
                rename_noreplace(path, parent / target_name)
                logger.warning("Restored %s from %s (left by a killed process).", target_name, path)
            except OSError:
                pass  # e.g. restored by another process just now: keep it for the next sweep
            continue
        logger.info("Removing %s: left by a process that is gone.", path)
        remove_tree(path)
        removed.append(path)
    return removed


def remove_tree(path: Path) -> None:
    """Delete a file or folder if it exists; never raises (used on clean-up paths)."""
    try:
        if path.is_symlink() or path.is_file():
            path.unlink(missing_ok=True)
        elif path.exists():
            shutil.rmtree(path, ignore_errors=True)
    except OSError:
        pass


def is_empty_dir(path: Path) -> bool:
    with os.scandir(path) as entries:
        return next(entries, None) is None


def _load_renameat2() -> object | None:
    if sys.platform != "linux":
        return None
    try:
        function = ctypes.CDLL(None, use_errno=True).renameat2
    except (AttributeError, OSError):
        return None  # glibc < 2.28 or another libc
    function.argtypes = [
        ctypes.c_int,
        ctypes.c_char_p,
        ctypes.c_int,
        ctypes.c_char_p,
        ctypes.c_uint,
    ]
    function.restype = ctypes.c_int
    return function


_RENAMEAT2 = _load_renameat2()
_AT_FDCWD, _RENAME_NOREPLACE = -100, 1


def rename_noreplace(source: Path, target: Path) -> None:
    """Rename ``source`` to ``target``; fail with EEXIST/ENOTEMPTY if ``target`` has content.

    Linux: renameat2(RENAME_NOREPLACE), which refuses any existing target. Elsewhere (or on a
    filesystem without it): rename(2), which replaces at most an *empty* folder.
    """
    if _RENAMEAT2 is not None:
        result = _RENAMEAT2(  # type: ignore[operator]
            _AT_FDCWD, os.fsencode(source), _AT_FDCWD, os.fsencode(target), _RENAME_NOREPLACE
        )
        if result == 0:
            return
        code = ctypes.get_errno()
        if code not in (errno.EINVAL, errno.ENOSYS, errno.EPERM):
            raise OSError(code, os.strerror(code), str(target))
    if sys.platform == "win32" or not os.path.lexists(target) or os.path.isdir(target):
        os.rename(source, target)  # POSIX: fails on a non-empty folder; Windows: on any
        return
    raise OSError(errno.EEXIST, os.strerror(errno.EEXIST), str(target))


def publish(staging: Path, target: Path, *, overwrite: bool) -> None:
    """Move the finished ``staging`` folder to ``target`` (same filesystem).

    A missing or empty ``target`` is replaced; a non-empty one only with ``overwrite``: its old
    content is moved aside first and put back if publishing fails. Raises ``PublishConflict``
    when the target is (or became) non-empty and may not be replaced.
    """
    aside: Path | None = None
    if os.path.lexists(target):
        if target.is_symlink() or not target.is_dir():
            raise PublishConflict(errno.EEXIST, "exists and is not a folder", str(target))
        if not is_empty_dir(target):
            if not overwrite:
                raise PublishConflict(errno.ENOTEMPTY, "is not empty", str(target))
            aside = target.with_name(f".{target.name}.old-{owner_tag()}-{secrets.token_hex(6)}")
            os.rename(target, aside)
        else:
            try:
                target.rmdir()  # renameat2(NOREPLACE) refuses even an empty folder
            except FileNotFoundError:
                pass  # a concurrent publisher removed it first: the rename below decides
            except OSError as exc:
                if exc.errno in (errno.ENOTEMPTY, errno.EEXIST):
                    raise PublishConflict(errno.ENOTEMPTY, "is not empty", str(target)) from exc
                raise
    try:
        rename_noreplace(staging, target)
    except BaseException as exc:
        if aside is not None:
            try:
                rename_noreplace(aside, target)
            except OSError:
                logger.warning(
                    "Could not put %s back; the old content is kept in %s.", target, aside
                )
        if isinstance(exc, OSError) and exc.errno in (errno.ENOTEMPTY, errno.EEXIST):
            raise PublishConflict(errno.ENOTEMPTY, "appeared while writing", str(target)) from exc
        raise
    if aside is not None:
        remove_tree(aside)


def discard(path: Path, trash_dir: Path) -> None:
    """Make ``path`` disappear at once (a rename into ``trash_dir``), then delete it."""
    trash = trash_dir / f".store.trash-{owner_tag()}-{secrets.token_hex(6)}"
    try:
        os.replace(path, trash)
    except FileNotFoundError:
        return  # already gone (another process cleaned it up)
    remove_tree(trash)


def describe(error: OSError) -> str:
    """``'No space left on device (ENOSPC)'``: the cause of an OSError in words."""
    name = errno.errorcode.get(error.errno or 0)
    text = error.strerror or str(error)
    return f"{text} ({name})" if name else text
