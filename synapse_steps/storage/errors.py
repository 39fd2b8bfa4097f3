"""Disk errors re-raised with the user's paths: still OSErrors (``errno`` kept), and ours."""

from __future__ import annotations

import errno
from pathlib import Path

from synapse_steps.errors import BackendIOError, DatasetIOError, SynapseStepsError
from synapse_steps.storage.publish import describe

__all__ = ["BackendIOError", "DatasetIOError", "named_io_error"]


_HINTS = {
    errno.ENOSPC: "free some space on that disk or choose a folder on another one",
    errno.EDQUOT: "free some space (disk quota exceeded) or choose a folder on another disk",
    errno.EACCES: "choose a folder you may write to, or fix its permissions",
    errno.EPERM: "choose a folder you may write to, or fix its permissions",
    errno.EROFS: "that filesystem is read-only; choose a folder on a writable one",
}


def _user_path(filename: object, output: Path, target: Path | None) -> str | None:
    """The file an OSError names, with our hidden staging folder replaced by the output."""
    if not filename:
        return None
    text = str(filename)
    if target is not None:
        prefix = str(target.parent / f".{target.name}.")
        if text.startswith(prefix):  # .<name>.<kind>-<owner>-<token>[/inner/path]
            _, slash, inner = text[len(prefix) :].partition("/")
            text = str(output / inner) if slash else str(output)
    return None if text == str(output) else text


def named_io_error(
    kind: type[SynapseStepsError],
    error: OSError,
    what: str,
    output: Path,
    target: Path | None = None,
) -> SynapseStepsError:
    """``kind`` (an OSError subclass of ours) saying ``what`` failed, on ``output``, and why.

    ``what`` reads like ``"Converting /data/dm to /out"``; the caller chains ``error``.
    ``target`` is the real folder published to: paths inside its hidden staging folders are
    shown as the output paths they were going to be.
    """
    hint = _HINTS.get(error.errno or 0, "check the folder and retry")
    shown = _user_path(error.filename, output, target)
    where = f" ({shown})" if shown else ""
    wrapped = kind(
        f"{what} failed: {describe(error)}{where}. Nothing was written to {output}; {hint}."
    )
    if isinstance(wrapped, OSError):
        wrapped.errno = error.errno  # kept for callers that test errno; str() stays our message
    return wrapped
