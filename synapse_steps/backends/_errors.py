"""Backend errors that are also the builtin a caller would catch for the same problem."""

from __future__ import annotations

from synapse_steps.errors import BackendError, SynapseStepsError


class MissingFileError(BackendError, FileNotFoundError):
    """A file or folder given to the backend does not exist."""


class OutputExistsError(BackendError, FileExistsError):
    """An export target exists and is not empty (and ``overwrite`` was not set)."""


class InvalidModelError(SynapseStepsError, ValueError):
    """``create_model`` was given data it cannot store (no file, bad name, bad metadata)."""
