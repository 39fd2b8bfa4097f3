"""``integrations.ultralytics.attach`` on real YOLO trainings (CPU, tiny images)."""

from __future__ import annotations

import logging
import signal
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from conftest import IMGSZ, Progress, series
from synapse_steps.context import RuntimeContext
from synapse_steps.display.panels import category_panels
from synapse_steps.errors import UsageError
from synapse_steps.integrations.ultralytics import attach, metric_name
from synapse_steps.steps import BaseStep, BaseStepContext, Orchestrator, StepRegistry, StepResult

ultralytics = pytest.importorskip("ultralytics")
from ultralytics.utils import LOGGER  # noqa: E402

EPOCHS = 2
TRAIN = {"epochs": EPOCHS, "imgsz": IMGSZ, "batch": 5, "workers": 0, "amp": False,
         "plots": False, "device": "cpu", "seed": 0}  # fmt: skip


@dataclass
class YoloCtx(BaseStepContext):
    data: str = ""
    project: str = ""
    verbose: bool = False
    #: Called by each batch's end after ours (a test's witness or interrupter).
    extra_callbacks: dict[str, Any] = field(default_factory=dict)
    attachment: Any = None
    rolled_back: list[str] = field(default_factory=list)


class TrainYolo(BaseStep[YoloCtx]):
    name = "train"
    progress_weight = 1.0

    def execute(self, context: YoloCtx) -> StepResult:
        model = ultralytics.YOLO("yolov8n.yaml")
        context.attachment = attach(model, context, verbose=context.verbose)
        for event, callback in context.extra_callbacks.items():
            model.add_callback(event, callback)
        model.train(data=context.data, project=context.project, name="run", **TRAIN)
        return StepResult(data={"best": str(model.trainer.best)})

    def rollback(self, context: YoloCtx, result: StepResult) -> None:
        context.rolled_back.append(self.name)


class Console(logging.Handler):
    """Stands for Ultralytics' console: what its logger would print."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())

    def __enter__(self) -> Console:
        LOGGER.addHandler(self)
        return self

    def __exit__(self, *exc: object) -> None:
        LOGGER.removeHandler(self)


def run(context: YoloCtx) -> dict[str, Any]:
    registry = StepRegistry[YoloCtx]()
    registry.register(TrainYolo())
    return Orchestrator(registry, context, journal=False).execute()


class Witness:
    """What Ultralytics itself reports after each epoch (the numbers its results.csv gets)."""

    def __init__(self) -> None:
        self.epochs: list[dict[str, float]] = []

    def on_fit_epoch_end(self, trainer: Any) -> None:
        if trainer.epoch >= trainer.epochs:  # the final validation of best.pt
            return
        losses = trainer.label_loss_items(trainer.tloss, prefix="train")
        self.epochs.append({**losses, **trainer.metrics, **trainer.lr})


def test_a_training_streams_batch_progress_and_epoch_metrics_as_ultralytics_reports_them(
    yolo_yaml: Path, tmp_path: Path, progress: Progress, capfd: pytest.CaptureFixture[str]
) -> None:
    witness = Witness()
    handlers = list(LOGGER.handlers)
    runtime = RuntimeContext(logger=[progress])
    context = YoloCtx(
        runtime_ctx=runtime,
        data=str(yolo_yaml),
        project=str(tmp_path / "runs"),
        extra_callbacks={"on_fit_epoch_end": witness.on_fit_epoch_end},
    )

    with Console() as console:
        assert run(context)["success"]

    # Ultralytics printed nothing: no arguments, model summary, progress bars or tables.
    assert console.lines == []
    out, err = capfd.readouterr()
    assert out == ""
    assert "Epoch" not in err, err
    assert "box_loss" not in err, err
    # Progress in batches over both epochs, ending at 100 %.
    train = progress.of("train")
    totals = {total for _, total in train}
    assert len(totals) == 1
    (total,) = totals
    assert total == EPOCHS * 3  # 14 train images, batch 5
    assert train[-1] == (total, total)
    assert [current for current, _ in train] == sorted(current for current, _ in train)
    assert runtime.recorder.run.steps[0].fraction == 1.0
    # Every epoch's metrics, under our names, equal to what Ultralytics reported.
    assert len(witness.epochs) == EPOCHS
    recorded = series(runtime.recorder.run.metrics, "train")
    expected_names = {metric_name(k) for k in witness.epochs[0]} - {None}
    assert set(recorded) == expected_names
    assert {
        "train/box_loss",
        "val/box_loss",
        "precision",
        "recall",
        "mAP50",
        "mAP50-95",
        "lr",
    } <= set(recorded)
    for key in witness.epochs[0]:
        name = metric_name(key)
        if name is None:
            continue
        xs, ys = recorded[name]
        assert xs == [1.0, 2.0]
        assert ys == [float(epoch[key]) for epoch in witness.epochs], name
    assert runtime.recorder.run.metrics.x_labels["train"] == "epoch"
    assert context.attachment.epochs == [
        {**{metric_name(k): float(v) for k, v in e.items() if metric_name(k)}, "epoch": i + 1}
        for i, e in enumerate(witness.epochs)
    ]
    # The final validation of best.pt is the model's final metrics, not a third point.
    assert set(context.attachment.final_metrics) >= {"precision", "recall", "mAP50", "mAP50-95"}
    # Train and validation losses share a plot.
    panels = {p.name: [line.label for line in p.lines] for p in category_panels(
        runtime.recorder.run.metrics, "train")}  # fmt: skip
    for loss in ("box_loss", "cls_loss", "dfl_loss"):
        assert panels[loss] == ["train", "validation"]
    # Ultralytics' logger is as it was.
    assert LOGGER.level == logging.INFO
    assert LOGGER.handlers == handlers


def test_verbose_keeps_ultralytics_console_output(yolo_yaml: Path, tmp_path: Path) -> None:
    context = YoloCtx(
        runtime_ctx=RuntimeContext(display="off"),
        data=str(yolo_yaml),
        project=str(tmp_path / "runs"),
        verbose=True,
    )
    with Console() as console:
        assert run(context)["success"]
    printed = "\n".join(console.lines)
    assert "Starting training for 2 epochs" in printed
    assert "box_loss" in printed


def test_an_interrupt_mid_epoch_stops_ultralytics_and_rolls_the_run_back(
    yolo_yaml: Path, tmp_path: Path, progress: Progress
) -> None:
    batches: list[int] = []

    def stop_button(trainer: Any) -> None:
        batches.append(1)
        if len(batches) == 4:  # the first batch of the second epoch
            signal.raise_signal(signal.SIGINT)  # what the notebook's stop button sends

    handlers = list(LOGGER.handlers)
    runtime = RuntimeContext(logger=[progress])
    context = YoloCtx(
        runtime_ctx=runtime,
        data=str(yolo_yaml),
        project=str(tmp_path / "runs"),
        extra_callbacks={"on_train_batch_end": stop_button},
    )
    with pytest.raises(KeyboardInterrupt):
        run(context)

    state = runtime.recorder.run
    assert state.phase == "interrupted"
    assert context.rolled_back == ["train"]
    assert len(batches) == 4
    current, total = progress.of("train")[-1]
    assert current == 4
    assert total == 6
    # One epoch's metrics were reported; Ultralytics' logger is back to normal.
    assert len(context.attachment.epochs) == 1
    assert LOGGER.level == logging.INFO
    assert LOGGER.handlers == handlers, LOGGER.handlers


def test_attach_again_replaces_the_callbacks_and_detach_removes_them() -> None:
    model = ultralytics.YOLO("yolov8n.yaml")
    before = {event: len(callbacks) for event, callbacks in model.callbacks.items()}
    context = BaseStepContext(runtime_ctx=RuntimeContext(display="off"))

    first = attach(model, context)
    second = attach(model, context)

    after = {event: len(callbacks) for event, callbacks in model.callbacks.items()}
    added = {
        event: after[event] - before[event] for event in after if after[event] != before[event]
    }
    assert added == {"on_train_epoch_start": 1, "on_train_batch_end": 1,
                     "on_train_epoch_end": 1, "on_fit_epoch_end": 1, "on_train_end": 1}  # fmt: skip
    assert first._train is None
    assert second._train is not None
    second.detach()
    second.detach()  # idempotent
    assert {event: len(callbacks) for event, callbacks in model.callbacks.items()} == before
    assert "train" not in model.__dict__  # Model.train again


def test_attach_refuses_what_it_cannot_use() -> None:
    context = BaseStepContext(runtime_ctx=RuntimeContext(display="off"))
    with pytest.raises(UsageError, match="needs an Ultralytics model"):
        attach(object(), context)
    with pytest.raises(UsageError, match="needs the step's context"):
        attach(ultralytics.YOLO("yolov8n.yaml"), object())  # type: ignore[arg-type]
    with pytest.raises(UsageError, match="every_n_batches must be at least 1"):
        attach(ultralytics.YOLO("yolov8n.yaml"), context, every_n_batches=0)
