"""Storage backends: where steps read datasets from and upload models to."""

from synapse_steps.backends._errors import InvalidModelError, MissingFileError, OutputExistsError
from synapse_steps.backends._paths import default_root
from synapse_steps.backends.collection import DataCollection, DataUnit
from synapse_steps.backends.local import LocalBackend
from synapse_steps.backends.temporary import TemporaryStore, temporary_store

__all__ = [
    "DataCollection",
    "DataUnit",
    "InvalidModelError",
    "LocalBackend",
    "MissingFileError",
    "OutputExistsError",
    "TemporaryStore",
    "default_root",
    "temporary_store",
]
