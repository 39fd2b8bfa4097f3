"""PyTorch Lightning: ``StepCallback(context)`` streams ``trainer.fit(...)`` into the step's view.

::

    import lightning.pytorch as pl
    from synapse_steps.integrations.lightning import StepCallback

    def execute(self, context):
        trainer = pl.Trainer(max_epochs=10, callbacks=[StepCallback(context)],
                             enable_progress_bar=False)   # the live view shows the progress
        trainer.fit(model, train_loader, val_loader)

What the step reports:

- progress per training batch over ``max_epochs`` epochs (``num_training_batches`` each), or
  over ``max_steps`` optimizer steps when only that bounds the training; 100 % when ``fit``
  ends, also when it stops early on purpose (``EarlyStopping``);
- after each training epoch (Lightning runs that epoch's validation before), one
  ``set_metrics`` with ``epoch`` (1 after the first) and ``trainer.callback_metrics``: what the
  module logged with ``self.log(...)``. Name them ``train_loss`` / ``val_loss`` (or ``loss`` /
  ``val_loss``, ``train/acc`` / ``val/acc``) and each pair shares a plot. A metric logged with
  both ``on_step`` and ``on_epoch`` is reported once, by its epoch value under its own name
  (``train_loss``, not ``train_loss_epoch``). Validation metrics are left out of epochs without a
  validation run (``check_val_every_n_epoch``), rather than repeated.

``every_n_batches=N`` adds the logged step values every ``N`` batches, at fractional epochs.

Note: Lightning turns a ``KeyboardInterrupt`` (the notebook's stop button) into a graceful
shutdown that ends in ``SystemExit(1)``; the step's run is then interrupted and rolled back all
the same.

Needs the ``lightning`` extra: ``pip install 'synapse-steps[lightning]'``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
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
    from lightning.pytorch import Callback
except ImportError as exc:
    raise missing(
        "lightning", extra="lightning", feature="synapse_steps.integrations.lightning", cause=exc
    ) from exc


def paired_names(keys: Iterable[str], *, keep: str) -> Callable[[str], str | None]:
    """Names for a metric logged with both ``on_step`` and ``on_epoch`` (``x_step``, ``x_epoch``):
    the ``keep`` one (``"epoch"`` or ``"step"``) is reported as ``x``, the other is left out.
    Other names stay as they are."""
    present = set(keys)
    other = "step" if keep == "epoch" else "epoch"

    def name(key: str) -> str | None:
        for suffix, kept in ((f"_{keep}", True), (f"_{other}", False)):
            base = key[: -len(suffix)]
            twin = base + (f"_{other}" if kept else f"_{keep}")
            if key.endswith(suffix) and twin in present:
                return base if kept else None
        return key

    return name


class StepCallback(Callback):  # type: ignore[misc]
    """A Lightning callback reporting batch progress and per-epoch metrics to a step's context.

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
        self._by_steps = False  # progress counted in optimizer steps (max_steps) instead
        self._validation_keys: set[str] = set()
        self._before_validation: dict[str, float] = {}
        self._validated = False

    # -- progress --------------------------------------------------------------------------------

    @guarded
    def on_train_epoch_start(self, trainer: Any, pl_module: Any) -> None:
        self._validated = False
        per_epoch = trainer.num_training_batches
        epochs = trainer.max_epochs
        finite = isinstance(per_epoch, int) or (
            isinstance(per_epoch, float) and math.isfinite(per_epoch)
        )
        if finite and isinstance(epochs, int) and epochs > 0:
            self._by_steps = False
            self._progress.start_epoch(int(trainer.current_epoch), int(per_epoch), epochs)
        elif isinstance(trainer.max_steps, int) and trainer.max_steps > 0:
            self._by_steps = True
            self._progress.start_epoch(0, 1, trainer.max_steps)
        else:  # neither bound is known: no bar rather than a wrong one
            self._progress.start_epoch(0, 0, 0)

    @guarded
    def on_train_batch_end(
        self, trainer: Any, pl_module: Any, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        if self._by_steps:
            self._progress.batch_done(int(trainer.global_step) - 1)
        else:
            self._progress.batch_done(batch_idx)
        every = self.every_n_batches
        if every is not None and (batch_idx + 1) % every == 0:
            per_epoch = self._progress.per_epoch if not self._by_steps else 0
            if per_epoch and batch_idx + 1 < per_epoch:  # the epoch's own report comes next
                metrics = trainer.callback_metrics
                values = numeric(metrics, paired_names(metrics, keep="step"))
                values = {k: v for k, v in values.items() if k not in self._validation_keys}
                values["epoch"] = int(trainer.current_epoch) + (batch_idx + 1) / per_epoch
                self.context.set_metrics(values)

    @guarded
    def on_train_end(self, trainer: Any, pl_module: Any) -> None:
        self._progress.finish()

    # -- metrics ---------------------------------------------------------------------------------

    @guarded
    def on_validation_epoch_start(self, trainer: Any, pl_module: Any) -> None:
        self._before_validation = numeric(trainer.callback_metrics)

    @guarded
    def on_validation_epoch_end(self, trainer: Any, pl_module: Any) -> None:
        if trainer.sanity_checking:
            return
        before = self._before_validation
        # What validation logged: the values it added or changed (train values stay as they
        # were; a key is known as a validation key from its first validation on).
        for key, value in numeric(trainer.callback_metrics).items():
            if key not in before or before[key] != value:
                self._validation_keys.add(key)
        self._validated = True

    @guarded
    def on_train_epoch_end(self, trainer: Any, pl_module: Any) -> None:
        metrics = dict(trainer.callback_metrics)
        if not self._validated:
            metrics = {k: v for k, v in metrics.items() if k not in self._validation_keys}
        values = numeric(metrics, paired_names(metrics, keep="epoch"))
        values["epoch"] = int(trainer.current_epoch) + 1
        self.epochs.append(values)
        self.context.set_metrics(values)


__all__ = ["StepCallback", "paired_names"]
