"""Backend errors live in ``synapse_steps.errors`` (one tree); re-exported here for old imports."""

from synapse_steps.errors import InvalidModelError, MissingFileError, OutputExistsError

__all__ = ["InvalidModelError", "MissingFileError", "OutputExistsError"]
