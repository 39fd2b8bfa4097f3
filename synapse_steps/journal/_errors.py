"""The journal's error class, in the package's exception tree."""

from __future__ import annotations

from synapse_steps.errors import SynapseStepsError


class JournalError(SynapseStepsError, RuntimeError):
    """The run journal could not be read or written, or a recovery request cannot be honoured.

    Raised for: an unknown run id, a run that is already recovered/abandoned/finished, a run
    still owned by a live process, and SQLite failures on the journal file.
    """
