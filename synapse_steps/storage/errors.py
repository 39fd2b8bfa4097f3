"""Disk errors re-raised with the user's paths: still OSErrors (``errno`` kept), and ours."""

from __future__ import annotations

import errno
from pathlib import Path

from synapse_steps.errors import BackendError, DatasetError, SynapseStepsError
from synapse_steps.storage.publish import describe


class DatasetIOError(DatasetError, OSError):
    """A conversion failed on a disk error (full disk, read-only folder...); ``errno`` is kept."""


class BackendIOError(BackendError, OSError):
    """A store operation failed on a disk error; ``errno`` is kept."""


_HINTS = {
    errno.ENOSPC: "free some space on that disk or choose a folder on another one",
    errno.EDQUOT: "free some space (disk quota exceeded) or choose a folder on another disk",
    errno.EACCES: "choose a folder you may write to, or fix its permissions",
    errno.EPERM: "choose a folder you may write to, or fix its permissions",
    errno.EROFS: "that filesystem is read-only; choose a folder on a writable one",
}


def named_io_error(
    kind: type[SynapseStepsError], error: OSError, what: str, output: Path
) -> SynapseStepsError:
    """``kind`` (an OSError subclass of ours) saying ``what`` failed, on ``output``, and why.

    ``what`` reads like ``"Converting /data/dm to /out"``; the caller chains ``error``.
    """
    hint = _HINTS.get(error.errno or 0, "check the folder and retry")
    where = f" ({error.filename})" if error.filename and str(error.filename) != str(output) else ""
    wrapped = kind(
        f"{what} failed: {describe(error)}{where}. Nothing was written to {output}; {hint}."
    )
    if isinstance(wrapped, OSError):
        wrapped.errno = error.errno  # kept for callers that test errno; str() stays our message
    return wrapped
