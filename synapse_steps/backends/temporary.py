"""``temporary_store()``: a throw-away local store for a tutorial, a demo or an experiment.

It points ``SYNAPSE_STEPS_HOME`` (the local store, and the run journal kept in it) at a new
temporary folder for the rest of this process, so nothing lands in your own store; ``remove()``
deletes that folder and puts ``SYNAPSE_STEPS_HOME`` back as it was. Only the folder it made is
ever deleted.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from synapse_steps.backends._paths import HOME_ENV


class TemporaryStore:
    """A temporary ``SYNAPSE_STEPS_HOME`` for this process; see ``temporary_store``."""

    def __init__(self, prefix: str = "synapse_steps_store_") -> None:
        self.path = Path(tempfile.mkdtemp(prefix=prefix))
        self._previous = os.environ.get(HOME_ENV)
        self._removed = False
        os.environ[HOME_ENV] = str(self.path)

    def remove(self) -> None:
        """Delete the folder (everything stored in it) and restore ``SYNAPSE_STEPS_HOME``."""
        if self._removed:
            return
        self._removed = True
        if os.environ.get(HOME_ENV) == str(self.path):
            if self._previous is None:
                del os.environ[HOME_ENV]
            else:
                os.environ[HOME_ENV] = self._previous
        shutil.rmtree(self.path, ignore_errors=True)

    def __enter__(self) -> TemporaryStore:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.remove()

    def __repr__(self) -> str:
        state = "removed" if self._removed else "in use"
        return f"<TemporaryStore ({state})>"


def temporary_store() -> TemporaryStore:
    """Keep this process's datasets, models and run journal in a new temporary folder (it
    becomes ``SYNAPSE_STEPS_HOME``) instead of your own store; call ``remove()`` when done (or
    use it as a context manager). Stores already open (a ``LocalBackend`` made before) keep
    their folder."""
    return TemporaryStore()
