"""One exception tree for everything synapse_steps raises on purpose.

Every class also subclasses the builtin a caller would naturally catch (``ValueError``,
``TypeError``, ``RuntimeError``, ``LookupError``, ``FileExistsError`` ...), so code written against
the Synapse SDK's documented behaviour keeps working while new code can catch
``SynapseStepsError``. All of them are importable from ``synapse_steps``.
"""

from __future__ import annotations


class SynapseStepsError(Exception):
    """Base class of every error raised on purpose by synapse_steps."""


# -- defining workflows --------------------------------------------------------------------------


class StepDefinitionError(SynapseStepsError, ValueError):
    """A step cannot be registered: bad name, bad weight or a duplicate."""


class NotAStepError(SynapseStepsError, TypeError):
    """Something that is not a ``BaseStep`` was given where a step is required."""


class UnknownStepError(SynapseStepsError, ValueError):
    """A step name was referenced that the registry does not hold."""


class UsageError(SynapseStepsError, TypeError):
    """An API was called with an argument of the wrong kind (the message says what to pass)."""


class ConfigurationError(SynapseStepsError, ValueError):
    """A setting (argument or environment variable) has a value synapse_steps does not know."""


class MissingDependencyError(SynapseStepsError, ImportError):
    """An optional feature was used without its extra installed (the message names the extra)."""


class InvalidParamsError(SynapseStepsError, TypeError):
    """A train action was given a params object of the wrong class."""


# -- running workflows ---------------------------------------------------------------------------


class RunFailedError(SynapseStepsError, RuntimeError):
    """A workflow run stopped before completing; raised after its rollback."""


class StepFailedError(RunFailedError):
    """A workflow stopped because a step failed; raised after rollback.

    ``step`` is the failed step's name, ``error`` its error text and ``rollback_errors`` the
    rollbacks that raised (``"'<step>': <error>"`` each). The original exception, when there was
    one, is chained as ``__cause__``.
    """

    def __init__(self, step: str, error: str, rollback_errors: tuple[str, ...] = ()) -> None:
        message = f"Step '{step}' failed: {error}"
        if rollback_errors:
            message += f" (rollback also failed for {'; '.join(rollback_errors)})"
        super().__init__(message)
        self.step = step
        self.error = error
        self.rollback_errors = rollback_errors

    def __reduce__(self) -> tuple[object, ...]:
        # Exceptions pickle their args; ours has a different signature (needed across processes).
        return (type(self), (self.step, self.error, self.rollback_errors))


class WorkerDiedError(RunFailedError):
    """The process running a workflow remotely (a Ray worker) died; the run ended as failed.

    Steps the dead worker had executed could not be rolled back there.
    """


class RemoteError(SynapseStepsError, RuntimeError):
    """An exception raised on a remote worker that cannot be rebuilt here (its class cannot be
    unpickled from its args, say): its class name, message and the remote traceback."""

    def __init__(self, type_name: str, message: str, remote_traceback: str | None = None) -> None:
        super().__init__(f"{type_name}: {message}" if message else type_name)
        self.type_name = type_name
        self.message = message
        self.remote_traceback = remote_traceback

    def __reduce__(self) -> tuple[object, ...]:
        return (RemoteError, (self.type_name, self.message, self.remote_traceback))


class NestedRunError(SynapseStepsError, RuntimeError):
    """A run was started on a runtime that is already running one (e.g. inside a step)."""


class JournalError(SynapseStepsError, RuntimeError):
    """The run journal could not be read or written, or a recovery request cannot be honoured.

    Raised for: an unknown run id, a run that is already recovered/abandoned/finished, a run
    still owned by a live process, a step to recover that the registry does not hold, and
    SQLite failures on the journal file.
    """


# -- data ------------------------------------------------------------------------------------------


class DatasetError(SynapseStepsError, ValueError):
    """A dataset on disk is malformed, incomplete or unsafe to read."""


class BackendError(SynapseStepsError, RuntimeError):
    """The storage backend could not complete an operation."""


class NotFoundError(SynapseStepsError, LookupError):
    """A dataset, model or other record does not exist in the backend."""


class MissingFileError(BackendError, FileNotFoundError):
    """A file or folder given to the backend does not exist."""


class OutputExistsError(BackendError, FileExistsError):
    """An output folder exists and is not empty (and ``overwrite`` was not set)."""


class DatasetIOError(DatasetError, OSError):
    """A conversion failed on a disk error (full disk, read-only folder...); ``errno`` is kept."""


class BackendIOError(BackendError, OSError):
    """A store operation failed on a disk error; ``errno`` is kept."""


class InvalidModelError(SynapseStepsError, ValueError):
    """``create_model`` was given data it cannot store (no file, bad name, bad metadata)."""


class DisplayOptionError(SynapseStepsError, ValueError):
    """A display option (a plot theme, metric groups...) has a value it cannot take."""
