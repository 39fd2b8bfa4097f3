"""Keras 3: ``StepCallback(context)`` streams ``model.fit(...)`` into the step's view.

::

    import keras
    from synapse_steps.integrations.keras import StepCallback

    def execute(self, context):
        model.fit(x, y, validation_split=0.2, epochs=10, verbose=0,   # the live view shows it
                  callbacks=[StepCallback(context)])

Any Keras backend (JAX, TensorFlow, PyTorch). What the step reports:

- progress per training batch over the ``epochs`` of the call (from ``initial_epoch``); when
  Keras does not know the steps per epoch (a generator without ``steps_per_epoch``), they are
  counted in the first epoch and the bar moves per epoch until then; 100 % when ``fit`` ends,
  also when it stops early on purpose (``EarlyStopping``);
- after each epoch, one ``set_metrics`` with ``epoch`` (1 after the first) and the epoch's
  ``logs``: ``loss`` / ``val_loss``, ``accuracy`` / ``val_accuracy`` ... (each pair shares a plot).

``every_n_batches=N`` adds the running values of the batch logs every ``N`` batches, at
fractional epochs.

Needs the ``keras`` extra: ``pip install 'synapse-steps[keras]'`` (Keras 3 with PyTorch as its
backend; set ``KERAS_BACKEND`` before importing keras to use another installed backend).
"""

from __future__ import annotations

from typing import Any

from synapse_steps.integrations._reporting import (
    BatchProgress,
    StepReporter,
    check_context,
    check_every,
    guarded,
    missing,
    numeric,
)

try:
    from keras.callbacks import Callback
except ImportError as exc:
    raise missing(
        "keras", extra="keras", feature="synapse_steps.integrations.keras", cause=exc
    ) from exc


class StepCallback(Callback):  # type: ignore[misc]
    """A Keras callback reporting batch progress and per-epoch metrics to a step's context.

    ``epochs``: the metrics reported after each epoch, in order (what ``set_metrics`` got).
    """

    def __init__(self, context: StepReporter, *, every_n_batches: int | None = None) -> None:
        super().__init__()
        check_context(context, "StepCallback")
        self.context = context
        self.every_n_batches = check_every(every_n_batches, "StepCallback")
        self.epochs: list[dict[str, float]] = []
        self.reporting_failed = False
        self._progress = BatchProgress(context.set_progress)
        self._first_epoch: int | None = None
        self._epoch = 0
        self._counted = 0  # batches seen in the current epoch
        self._seen_per_epoch: int | None = None  # counted in the first epoch, if Keras cannot tell

    def _steps(self) -> int | None:
        steps = (self.params or {}).get("steps")
        return int(steps) if isinstance(steps, int) and steps > 0 else None

    def _epochs(self) -> int:
        return int((self.params or {}).get("epochs") or 0)

    @guarded
    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        self._first_epoch = None
        self._seen_per_epoch = None

    @guarded
    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        if self._first_epoch is None:
            self._first_epoch = epoch
        self._epoch = epoch
        self._counted = 0
        done, epochs = epoch - self._first_epoch, self._epochs() - self._first_epoch
        steps = self._steps() or self._seen_per_epoch
        if steps is not None:
            self._progress.start_epoch(done, steps, epochs)
        else:  # batches not known yet: the bar moves per epoch
            self.context.set_progress(done, max(epochs, 1))

    @guarded
    def on_train_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        self._counted = batch + 1
        if self._progress.total:
            self._progress.batch_done(batch)
        every = self.every_n_batches
        if every is not None and (batch + 1) % every == 0 and logs:
            per_epoch = self._progress.per_epoch or self._steps()
            if per_epoch and batch + 1 < per_epoch:  # the epoch's own report comes next
                values = numeric(logs)
                values["epoch"] = self._epoch + (batch + 1) / per_epoch
                self.context.set_metrics(values)

    @guarded
    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        if not self._progress.total and self._first_epoch is not None:
            epochs = self._epochs() - self._first_epoch
            self.context.set_progress(min(epoch + 1 - self._first_epoch, epochs), max(epochs, 1))
            if self._counted:
                # The steps per epoch are known now: batches are counted from the next epoch on.
                self._seen_per_epoch = self._counted
        values = numeric(logs or {})
        values["epoch"] = epoch + 1
        self.epochs.append(values)
        self.context.set_metrics(values)

    @guarded
    def on_train_end(self, logs: dict[str, Any] | None = None) -> None:
        if self._progress.total:
            self._progress.finish()
        else:
            self.context.set_progress(1, 1)


__all__ = ["StepCallback"]
