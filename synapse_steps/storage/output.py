"""Writing a dataset to a user's folder: checks up front, a staging folder, one atomic publish.

``staged_publish`` is used by ``convert`` and by ``LocalBackend.export_dataset``. The output
must be missing or empty (or ``overwrite`` given) and that rule is enforced again, atomically, at
publish time. It must not overlap the source, nor be in or contain a local store. A symlinked
output is resolved: the dataset is published into the folder the link points to.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

from synapse_steps.errors import SynapseStepsError
from synapse_steps.storage.errors import named_io_error
from synapse_steps.storage.paths import overlap, real, store_around, store_below
from synapse_steps.storage.publish import (
    PublishConflict,
    is_empty_dir,
    make_staging,
    publish,
    remove_tree,
    sweep,
)


def check_target(
    output: Path,
    *,
    source: Path | None,
    overwrite: bool,
    refused: type[SynapseStepsError],
    allow_store: bool = False,
) -> Path:
    """Check ``output`` before anything is written; return the real folder to publish to.

    First sweeps what killed runs left next to it (``publish.sweep``): their staging folders,
    and an old output that one moved aside, which is put back.
    """
    if output.is_symlink() and not output.is_dir():
        raise refused(
            f"Output {output} is a symlink to {os.readlink(output)}, which is not an existing "
            "folder. Point it at a folder, or give the real path."
        )
    target = real(output)
    sweep(target.parent, target.name)
    if source is not None and overlap(target, source):
        raise refused(
            f"Output folder {output} and source {source} overlap (one contains the other). "
            "Choose an output folder outside the source (and not one that contains it)."
        )
    store = store_around(target)
    if store is not None and not allow_store:
        raise refused(
            f"Output folder {output} is inside the synapse_steps local store {store}; writing "
            "there would corrupt it. Choose a folder outside the store."
        )
    if os.path.lexists(target):
        if not target.is_dir():
            raise refused(
                f"Output path {output} exists and is a file, not a folder; give a folder path."
            )
        if not is_empty_dir(target):
            if not overwrite:
                raise refused(
                    f"Output folder {output} already exists and is not empty. Pass an empty or "
                    "new folder, or overwrite=True to replace its contents."
                )
            inner = store_below(target)
            if inner is not None:
                raise refused(
                    f"Output folder {output} contains the synapse_steps local store {inner}; "
                    "overwrite=True would delete it. Choose another folder."
                )
    return target


@contextlib.contextmanager
def staged_publish(
    output: Path,
    target: Path,
    *,
    overwrite: bool,
    kind: str,
    what: str,
    refused: type[SynapseStepsError],
    io_error: type[SynapseStepsError],
) -> Iterator[Path]:
    """Yield a staging folder next to ``target``; publish it there on success, drop it on error.

    ``output`` is the user's spelling (named in errors), ``target`` what ``check_target``
    returned. ``what`` names the operation in errors (``"Converting /src to /out"``).
    """
    try:
        staging = make_staging(target.parent, target.name, kind)
    except OSError as exc:
        raise named_io_error(io_error, exc, what, output, target) from exc
    try:
        yield staging
        publish(staging, target, overwrite=overwrite)
    except PublishConflict as exc:
        raise refused(
            f"Output folder {output} is not empty any more: another process wrote there while "
            "this one was running. Nothing of it was changed and this result was discarded; "
            "choose a new folder, or pass overwrite=True to replace it."
        ) from exc
    except OSError as exc:
        if isinstance(exc, SynapseStepsError):
            raise
        raise named_io_error(io_error, exc, what, output, target) from exc
    finally:
        remove_tree(staging)  # KeyboardInterrupt too: a half-written dataset is worse than none
