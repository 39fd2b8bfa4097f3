"""Ultralytics YOLO: ``attach(model, context)`` streams ``model.train(...)`` into the step's view.

::

    from ultralytics import YOLO
    from synapse_steps.integrations.ultralytics import attach

    class TrainDetector(BaseStep[TrainContext]):
        def execute(self, context):
            model = YOLO("yolov8n.yaml")
            attach(model, context)
            model.train(data=context.dataset["config_path"], epochs=10, imgsz=640)
            ...

What the step reports while the model trains:

- progress per training batch, over all epochs of the call (a resumed training counts from where
  it resumed); 100 % when the training ends, also when Ultralytics stops it early (``patience``);
- after each epoch, one ``set_metrics`` with ``epoch`` (1 after the first) and Ultralytics' own
  numbers: the train losses ``train/box_loss``, ``train/cls_loss``, ``train/dfl_loss``, the
  validation losses ``val/...`` (each pair shares a plot), ``precision``, ``recall``, ``mAP50``,
  ``mAP50-95`` and ``lr``. Names are Ultralytics' with ``metrics/`` and the box suffix ``(B)``
  dropped (a segmentation model's mask metrics keep ``(M)``); ``lr`` is ``lr/pg0``, the rate of
  the weights (the bias group ``pg2`` differs only during warm-up).

After the last epoch Ultralytics validates ``best.pt`` once more; those numbers are the model's
final metrics: ``attachment.final_metrics``, not a plot point.

``verbose=False`` (the default): while the model trains, Ultralytics prints nothing (its
arguments, the model summary, progress bars, the per-class table), since the live view shows the
training; its warnings and errors reach the step as ``context.log("ultralytics", {...})``.
``verbose=True`` leaves its console output as it is.

Needs the ``yolo`` extra: ``pip install 'synapse-steps[yolo]'``.
"""

from __future__ import annotations

import functools
import logging
import os
import re
import sys
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType
from typing import Any

from synapse_steps.errors import UsageError
from synapse_steps.integrations._reporting import (
    BatchProgress,
    StepReporter,
    check_context,
    check_every,
    guarded,
    numeric,
    require,
)

#: Where ``attach`` keeps the attachment on the model, so a second ``attach`` replaces it.
_ATTRIBUTE = "_synapse_steps_attachment"
_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def metric_name(key: str) -> str | None:
    """The name a metric of Ultralytics is reported under (None: not reported)."""
    if key.startswith("lr/"):
        return "lr" if key == "lr/pg0" else None
    if key.startswith("metrics/"):
        key = key[len("metrics/") :]
        if key.endswith("(B)"):
            key = key[: -len("(B)")]
    return key


def attach(
    model: Any,
    context: StepReporter,
    *,
    verbose: bool = False,
    every_n_batches: int | None = None,
) -> Attachment:
    """Report ``model.train(...)`` to ``context``: progress per batch, metrics per epoch.

    ``model`` is an Ultralytics model (``YOLO(...)``); ``context`` the running step's context.
    ``every_n_batches=N`` also reports the running train losses and the learning rate every
    ``N`` batches (at fractional epochs, on the epoch lines). Attaching again replaces the
    earlier attachment; ``attachment.detach()`` removes it.
    """
    callbacks = getattr(model, "callbacks", None)
    if not callable(getattr(model, "add_callback", None)) or not isinstance(callbacks, dict):
        raise UsageError(
            f"attach() needs an Ultralytics model such as YOLO('yolov8n.yaml'); got "
            f"{type(model).__name__}, which has no add_callback()/callbacks"
        )
    check_context(context, "attach()")
    every = check_every(every_n_batches, "attach()")
    previous = getattr(model, _ATTRIBUTE, None)
    if isinstance(previous, Attachment):
        previous.detach()
    attachment = Attachment(model, context, verbose=verbose, every_n_batches=every)
    attachment._install()
    return attachment


class Attachment:
    """The callbacks ``attach`` added to a model, and what they reported.

    ``epochs``: the metrics reported after each epoch, in order (what ``set_metrics`` got).
    ``final_metrics``: Ultralytics' validation of ``best.pt`` after the last epoch.
    """

    def __init__(
        self, model: Any, context: StepReporter, *, verbose: bool, every_n_batches: int | None
    ) -> None:
        self.model = model
        self.context = context
        self.verbose = verbose
        self.every_n_batches = every_n_batches
        self.epochs: list[dict[str, float]] = []
        self.final_metrics: dict[str, float] = {}
        self.reporting_failed = False
        self._progress = BatchProgress(context.set_progress)
        self._batch = 0
        # Set when an epoch's training part ended: the next on_fit_epoch_end is that epoch's.
        # Without it, on_fit_epoch_end comes from the final validation of best.pt.
        self._epoch_trained = False
        self._callbacks: dict[str, Callable[[Any], None]] = {
            "on_train_epoch_start": self._on_train_epoch_start,
            "on_train_batch_end": self._on_train_batch_end,
            "on_train_epoch_end": self._on_train_epoch_end,
            "on_fit_epoch_end": self._on_fit_epoch_end,
            "on_train_end": self._on_train_end,
        }
        self._train: Callable[..., Any] | None = None

    def _install(self) -> None:
        for event, callback in self._callbacks.items():
            self.model.add_callback(event, callback)
        if not self.verbose:
            train = self.model.train

            @functools.wraps(train)
            def quiet_train(*args: Any, **kwargs: Any) -> Any:
                with quiet_ultralytics(self.context):
                    return train(*args, **kwargs)

            # An instance attribute shadows Model.train for this model only.
            self.model.train = quiet_train
            self._train = quiet_train
        setattr(self.model, _ATTRIBUTE, self)

    def detach(self) -> None:
        """Remove the callbacks (and the quiet ``train``) from the model; idempotent."""
        callbacks: dict[str, list[Any]] = self.model.callbacks
        for event, callback in self._callbacks.items():
            listed = callbacks.get(event, [])
            if callback in listed:
                listed.remove(callback)
        if self._train is not None and self.model.__dict__.get("train") is self._train:
            del self.model.train
        self._train = None
        if self.model.__dict__.get(_ATTRIBUTE) is self:
            delattr(self.model, _ATTRIBUTE)

    # -- Ultralytics' callbacks (each gets the trainer) ------------------------------------------

    @guarded
    def _on_train_epoch_start(self, trainer: Any) -> None:
        self._batch = 0
        start = int(getattr(trainer, "start_epoch", 0))
        self._progress.start_epoch(
            int(trainer.epoch) - start, len(trainer.train_loader), int(trainer.epochs) - start
        )

    @guarded
    def _on_train_batch_end(self, trainer: Any) -> None:
        batch = self._batch
        self._progress.batch_done(batch)
        self._batch = batch + 1
        every = self.every_n_batches
        if every is not None and self._batch % every == 0:
            per_epoch = self._progress.per_epoch
            if per_epoch and self._batch < per_epoch:  # the epoch's own report comes next
                values = self._train_losses(trainer)
                groups = getattr(trainer.optimizer, "param_groups", None) or [{}]
                values.update(numeric({"lr": groups[0].get("lr")}))
                values["epoch"] = int(trainer.epoch) + self._batch / per_epoch
                self.context.set_metrics(values)

    @guarded
    def _on_train_epoch_end(self, trainer: Any) -> None:
        self._epoch_trained = True

    @guarded
    def _on_fit_epoch_end(self, trainer: Any) -> None:
        if not self._epoch_trained:
            self.final_metrics = numeric(trainer.metrics or {}, metric_name)
            return
        self._epoch_trained = False
        values = self._train_losses(trainer)
        values.update(numeric(trainer.metrics or {}, metric_name))
        values.update(numeric(getattr(trainer, "lr", None) or {}, metric_name))
        values["epoch"] = int(trainer.epoch) + 1
        self.epochs.append(values)
        self.context.set_metrics(values)

    @guarded
    def _on_train_end(self, trainer: Any) -> None:
        self._progress.finish()

    @staticmethod
    def _train_losses(trainer: Any) -> dict[str, float]:
        if getattr(trainer, "tloss", None) is None:
            return {}
        losses: Mapping[str, Any] = trainer.label_loss_items(trainer.tloss, prefix="train")
        return numeric(losses, metric_name)


@contextmanager
def quiet_ultralytics(context: StepReporter) -> Iterator[None]:
    """Ultralytics prints nothing meanwhile; its warnings and errors go to ``context.log``.

    Its progress bars switch themselves off when its logger is above INFO.
    """
    from ultralytics.utils import LOGGER

    saved = (list(LOGGER.handlers), LOGGER.level, LOGGER.propagate)
    LOGGER.handlers = [_ToStepLog(context)]
    LOGGER.setLevel(logging.WARNING)
    LOGGER.propagate = False
    try:
        yield
    finally:
        LOGGER.handlers, level, LOGGER.propagate = saved
        LOGGER.setLevel(level)


class _ToStepLog(logging.Handler):
    """Hands Ultralytics' warnings to the step's log (never to the console)."""

    def __init__(self, context: StepReporter) -> None:
        super().__init__(logging.WARNING)
        self.context = context

    def emit(self, record: logging.LogRecord) -> None:
        try:
            message = _ANSI.sub("", record.getMessage()).strip()
            self.context.log("ultralytics", {"level": record.levelname.lower(), "message": message})
        except Exception:  # a message that cannot be logged must not stop the training
            pass


def load_ultralytics(settings_dir: str | os.PathLike[str] | None = None) -> ModuleType:
    """Import Ultralytics offline and quietly, its settings kept out of the user's home.

    On the first import in a process (later calls return the module as it is):

    - ``YOLO_OFFLINE=1``: no network checks (update checks, usage events, connectivity probes);
    - ``YOLO_AUTOINSTALL=False``: Ultralytics installs no packages at run time;
    - the settings file goes to ``settings_dir`` when the user has no Ultralytics settings yet
      (no ``YOLO_CONFIG_DIR`` and no settings folder in the usual place), instead of creating
      one in their home;
    - the import prints nothing (its first-run settings notice), and leaves Ultralytics as
      talkative as a plain import would.

    Each variable the user set wins; the environment is restored after the import, so child
    processes see the user's own.
    """
    loaded = sys.modules.get("ultralytics")
    if loaded is not None:
        return loaded
    wanted = {"YOLO_OFFLINE": "1", "YOLO_AUTOINSTALL": "False", "YOLO_VERBOSE": "False"}
    if settings_dir is not None and not _user_settings_exist():
        wanted["YOLO_CONFIG_DIR"] = str(Path(settings_dir).absolute())
    chosen = {name: value for name, value in wanted.items() if name not in os.environ}
    os.environ.update(chosen)
    try:
        module = require("ultralytics", extra="yolo", feature="Ultralytics training")
    finally:
        for name in chosen:
            os.environ.pop(name, None)
    if "YOLO_VERBOSE" in chosen:
        # Quiet for the import only: from here on, as a plain import would have left it.
        utils = sys.modules["ultralytics.utils"]
        setattr(utils, "VERBOSE", True)  # noqa: B010 (a module constant, not typed here)
        utils.set_logging(utils.LOGGING_NAME, verbose=True)
    return module


def _user_settings_exist() -> bool:
    """Whether Ultralytics would find a settings folder of the user's (its own lookup)."""
    if os.environ.get("YOLO_CONFIG_DIR"):
        return True
    home = Path.home()
    if sys.platform == "win32":
        folder = home / "AppData" / "Roaming"
    elif sys.platform == "darwin":
        folder = home / "Library" / "Application Support"
    else:
        folder = Path(os.environ.get("XDG_CONFIG_HOME") or home / ".config")
    return (folder / "Ultralytics").is_dir()


__all__ = ["Attachment", "attach", "load_ultralytics", "metric_name", "quiet_ultralytics"]
