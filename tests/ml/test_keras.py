"""``integrations.keras.StepCallback`` on real Keras 3 trainings (PyTorch backend, CPU)."""

from __future__ import annotations

import math
import signal
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from conftest import Progress, series
from synapse_steps.context import RuntimeContext
from synapse_steps.display.panels import category_panels
from synapse_steps.errors import StepFailedError, UsageError
from synapse_steps.steps import BaseStep, BaseStepContext, Orchestrator, StepRegistry, StepResult

keras = pytest.importorskip("keras")
from synapse_steps.integrations.keras import StepCallback  # noqa: E402

EPOCHS = 3
SAMPLES, BATCH = 64, 16  # 48 train + 16 validation samples: 3 batches per epoch


def data(nan: bool = False) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(SAMPLES, 4)).astype("float32")
    y = (x.sum(axis=1) > 0).astype("int64")
    if nan:
        x[:, 0] = np.nan
    return x, y


def tiny_model() -> Any:
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [keras.layers.Input((4,)), keras.layers.Dense(2, activation="softmax")]
    )
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


@dataclass
class KerasCtx(BaseStepContext):
    folder: str = ""
    nan: bool = False
    every_n_batches: int | None = None
    callbacks: list[Any] = field(default_factory=list)
    history: dict[str, list[float]] = field(default_factory=dict)
    callback: Any = None
    rolled_back: list[str] = field(default_factory=list)


class Fit(BaseStep[KerasCtx]):
    name = "train"
    progress_weight = 0.8

    def execute(self, context: KerasCtx) -> StepResult:
        model = tiny_model()
        context.callback = StepCallback(context, every_n_batches=context.every_n_batches)
        x, y = data(context.nan)
        history = model.fit(
            x, y, validation_split=0.25, epochs=EPOCHS, batch_size=BATCH, verbose=0,
            callbacks=[context.callback, *context.callbacks],
        )  # fmt: skip
        context.history = history.history
        path = Path(context.folder) / "model.keras"
        model.save(path)
        return StepResult(data={"path": str(path)}, rollback_data={"path": str(path)})

    def rollback(self, context: KerasCtx, result: StepResult) -> None:
        context.rolled_back.append(self.name)
        if "path" in result.rollback_data:
            Path(result.rollback_data["path"]).unlink()


class Evaluate(BaseStep[KerasCtx]):
    name = "evaluate"
    progress_weight = 0.2

    def execute(self, context: KerasCtx) -> StepResult:
        return StepResult(success=False, error="accuracy below the bar")


def run(context: KerasCtx, *steps: BaseStep[KerasCtx]) -> dict[str, Any]:
    registry = StepRegistry[KerasCtx]()
    for step in steps or (Fit(),):
        registry.register(step)
    return Orchestrator(registry, context, journal=False).execute()


def test_fit_streams_batch_progress_and_the_epoch_logs_keras_reports(
    tmp_path: Path, progress: Progress
) -> None:
    runtime = RuntimeContext(logger=[progress])
    context = KerasCtx(runtime_ctx=runtime, folder=str(tmp_path))

    assert run(context)["success"]

    train = progress.of("train")
    assert {total for _, total in train} == {EPOCHS * 3}
    assert train[-1] == (EPOCHS * 3, EPOCHS * 3)
    recorded = series(runtime.recorder.run.metrics, "train")
    assert set(recorded) == set(context.history) == {"loss", "accuracy", "val_loss", "val_accuracy"}
    for name, values in context.history.items():
        assert recorded[name] == ([1.0, 2.0, 3.0], [float(v) for v in values]), name
    panels = {p.name: [line.label for line in p.lines]
              for p in category_panels(runtime.recorder.run.metrics, "train")}  # fmt: skip
    assert panels == {"loss": ["train", "validation"], "accuracy": ["train", "validation"]}


def test_every_n_batches_adds_the_running_values_at_fractional_epochs(tmp_path: Path) -> None:
    seen: list[tuple[int, int, dict[str, float]]] = []

    class Batches(keras.callbacks.Callback):  # type: ignore[misc]
        epoch = 0

        def on_epoch_begin(self, epoch: int, logs: Any = None) -> None:
            self.epoch = epoch

        def on_train_batch_end(self, batch: int, logs: Any = None) -> None:
            seen.append((self.epoch, batch, {k: float(v) for k, v in logs.items()}))

    runtime = RuntimeContext(display="off")
    context = KerasCtx(runtime_ctx=runtime, folder=str(tmp_path), every_n_batches=1,
                       callbacks=[Batches()])  # fmt: skip
    assert run(context)["success"]

    xs, ys = series(runtime.recorder.run.metrics, "train")["loss"]
    # Batches 1 and 2 of each epoch (batch 3 ends it: the epoch's own point follows).
    assert xs == pytest.approx([1 / 3, 2 / 3, 1.0, 4 / 3, 5 / 3, 2.0, 7 / 3, 8 / 3, 3.0])
    batch_values = [logs["loss"] for epoch, batch, logs in seen if batch < 2]
    assert ys[0::3] + ys[1::3] == batch_values[0::2] + batch_values[1::2]
    assert ys[2::3] == context.history["loss"]


def test_a_nan_loss_is_recorded_and_the_run_goes_on(tmp_path: Path) -> None:
    runtime = RuntimeContext(display="off")
    context = KerasCtx(runtime_ctx=runtime, folder=str(tmp_path), nan=True)
    assert run(context)["success"]
    # Kept as given, not plotted (a value that is no finite float is kept like text).
    metrics = runtime.recorder.run.metrics
    assert "loss" not in series(metrics, "train")
    losses = [value for _, value in metrics.others["train"]["loss"]]
    assert len(losses) == EPOCHS
    assert all(math.isnan(v) for v in losses)


def test_a_failing_later_step_rolls_the_training_back(tmp_path: Path) -> None:
    runtime = RuntimeContext(display="off")
    context = KerasCtx(runtime_ctx=runtime, folder=str(tmp_path))
    with pytest.raises(StepFailedError, match="accuracy below the bar"):
        run(context, Fit(), Evaluate())
    assert context.rolled_back == ["train"]
    assert list(tmp_path.iterdir()) == []
    assert runtime.recorder.run.steps[0].fraction == 1.0  # it did finish before the rollback


def test_an_interrupt_mid_fit_stops_it_and_rolls_back(tmp_path: Path, progress: Progress) -> None:
    class StopButton(keras.callbacks.Callback):  # type: ignore[misc]
        batches = 0

        def on_train_batch_end(self, batch: int, logs: Any = None) -> None:
            self.batches += 1
            if self.batches == 5:
                signal.raise_signal(signal.SIGINT)

    runtime = RuntimeContext(logger=[progress])
    context = KerasCtx(runtime_ctx=runtime, folder=str(tmp_path), callbacks=[StopButton()])
    with pytest.raises(KeyboardInterrupt):
        run(context)
    assert runtime.recorder.run.phase == "interrupted"
    assert context.rolled_back == ["train"]
    assert progress.of("train")[-1] == (5, EPOCHS * 3)
    assert len(context.callback.epochs) == 1
    assert list(tmp_path.iterdir()) == []


def test_the_callback_refuses_what_it_cannot_use() -> None:
    with pytest.raises(UsageError, match="needs the step's context"):
        StepCallback(object())  # type: ignore[arg-type]
    with pytest.raises(UsageError, match="positive int or None"):
        StepCallback(
            BaseStepContext(runtime_ctx=RuntimeContext(display="off")), every_n_batches=1.5
        )  # type: ignore[arg-type]
