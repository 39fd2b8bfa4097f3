"""The converters' output-folder policy (the shared implementation is ``storage.output``).

Converters write into a hidden sibling folder (``.<name>.tmp-<pid>-<start>-<token>`` next to the
output), renamed into place only when the conversion finished and only if the output is still
missing or empty (or ``overwrite`` was given). Any error or interrupt removes it; a kill leaves it,
and the next conversion into the same output removes it once its owner process is gone.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

from synapse_steps.errors import DatasetError
from synapse_steps.storage.errors import DatasetIOError
from synapse_steps.storage.output import check_target, staged_publish


def check_output_dir(output_dir: Path, *, source: Path, overwrite: bool) -> Path:
    """Raise ``DatasetError`` when ``output_dir`` may not receive a conversion of ``source``."""
    return check_target(output_dir, source=source, overwrite=overwrite, refused=DatasetError)


@contextlib.contextmanager
def staged_output(
    output_dir: Path, *, source: Path, overwrite: bool, allow_store: bool = False
) -> Iterator[Path]:
    """Yield a fresh staging folder; on success it replaces ``output_dir``, on error it vanishes.

    ``allow_store``: the local store converting into its own tmp/ (never for users' outputs).
    """
    target = check_target(
        output_dir,
        source=source,
        overwrite=overwrite,
        refused=DatasetError,
        allow_store=allow_store,
    )
    with staged_publish(
        output_dir,
        target,
        overwrite=overwrite,
        kind="tmp",
        what=f"Converting {source} to {output_dir}",
        refused=DatasetError,
        io_error=DatasetIOError,
    ) as staging:
        yield staging
