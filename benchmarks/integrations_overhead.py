"""What the training callbacks cost: the same training with and without them, in one run.

For each framework (Keras 3 on PyTorch, Lightning, Ultralytics YOLO) the same seeded training
runs inside a step, alternately without and with the callback (``without, with, without, ...``
so that a slower minute of the shared machine hits both), and the seconds per epoch are
compared: best against best and median against median. The reporting front end is the console
(writing to a discarded stream): the recorder's full path, progress records every 0.1 s.

Next to it, the callbacks' own work is timed directly (the batch hook and the epoch hooks called
in loops with the frameworks' numbers, the recorder and console behind them), since a fraction
of a percent is below the noise of whole trainings on two shared cores: (batches per epoch x
batch hook + epoch hooks) / seconds per epoch is the overhead without that noise.

    .venv/bin/python benchmarks/integrations_overhead.py            # all three, 5 pairs each
    .venv/bin/python benchmarks/integrations_overhead.py --repeats 3 --only keras

Needs the ``ml`` extra (``make test-ml`` installs it).
"""

from __future__ import annotations

import argparse
import io
import math
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

os.environ.setdefault("KERAS_BACKEND", "torch")
os.environ.setdefault("YOLO_OFFLINE", "1")

from synapse_steps.context import RuntimeContext
from synapse_steps.display.console import ConsoleLogger
from synapse_steps.steps import (
    BaseStep,
    BaseStepContext,
    Orchestrator,
    StepRegistry,
    StepResult,
)

Training = Callable[[BaseStepContext, bool], float]  # (context, with callback) -> s per epoch


def in_a_step(train: Training, with_callback: bool) -> float:
    """Run ``train`` inside a step of a real run; return its seconds per epoch."""
    seconds: list[float] = []

    class Train(BaseStep[BaseStepContext]):
        name = "train"
        progress_weight = 1.0

        def execute(self, context: BaseStepContext) -> StepResult:
            seconds.append(train(context, with_callback))
            return StepResult()

    registry = StepRegistry[BaseStepContext]()
    registry.register(Train())
    runtime = RuntimeContext(logger=[ConsoleLogger(io.StringIO())])
    Orchestrator(registry, BaseStepContext(runtime_ctx=runtime), journal=False).execute()
    return seconds[0]


# -- the trainings ---------------------------------------------------------------------------

KERAS_EPOCHS, KERAS_SAMPLES, KERAS_BATCH = 2, 1280, 32


def keras_training(context: BaseStepContext, with_callback: bool) -> float:
    import keras
    import numpy as np

    from synapse_steps.integrations.keras import StepCallback

    keras.utils.set_random_seed(0)
    x = np.random.default_rng(0).normal(size=(KERAS_SAMPLES, 32)).astype("float32")
    y = (x.sum(axis=1) > 0).astype("int64")
    model = keras.Sequential(
        [
            keras.layers.Input((32,)),
            keras.layers.Dense(64, activation="relu"),
            keras.layers.Dense(2, activation="softmax"),
        ]
    )
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    callbacks = [StepCallback(context)] if with_callback else []
    started = time.perf_counter()
    model.fit(x, y, validation_split=0.2, epochs=KERAS_EPOCHS, batch_size=KERAS_BATCH,
              verbose=0, callbacks=callbacks)  # fmt: skip
    return (time.perf_counter() - started) / KERAS_EPOCHS


LIGHTNING_EPOCHS, LIGHTNING_SAMPLES, LIGHTNING_BATCH = 2, 1280, 32


def lightning_training(context: BaseStepContext, with_callback: bool) -> float:
    import logging
    import warnings

    import lightning.pytorch as pl
    import torch
    from torch.utils.data import DataLoader, TensorDataset

    from synapse_steps.integrations.lightning import StepCallback

    logging.getLogger("lightning.pytorch").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore")

    class Net(pl.LightningModule):  # type: ignore[misc]
        def __init__(self) -> None:
            super().__init__()
            self.net = torch.nn.Sequential(
                torch.nn.Linear(32, 64), torch.nn.ReLU(), torch.nn.Linear(64, 2)
            )

        def training_step(self, batch: Any, index: int) -> Any:
            x, y = batch
            loss = torch.nn.functional.cross_entropy(self.net(x), y)
            self.log("train_loss", loss, on_step=False, on_epoch=True)
            return loss

        def validation_step(self, batch: Any, index: int) -> None:
            x, y = batch
            self.log("val_loss", torch.nn.functional.cross_entropy(self.net(x), y))

        def configure_optimizers(self) -> Any:
            return torch.optim.Adam(self.parameters())

    torch.manual_seed(0)
    x = torch.randn(LIGHTNING_SAMPLES, 32, generator=torch.Generator().manual_seed(0))
    data = TensorDataset(x, (x.sum(1) > 0).long())
    train, val = torch.utils.data.random_split(data, [0.8, 0.2])
    trainer = pl.Trainer(
        max_epochs=LIGHTNING_EPOCHS, accelerator="cpu", logger=False,
        enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
        callbacks=[StepCallback(context)] if with_callback else [],
    )  # fmt: skip
    started = time.perf_counter()
    trainer.fit(Net(), DataLoader(train, batch_size=LIGHTNING_BATCH),
                DataLoader(val, batch_size=LIGHTNING_BATCH))  # fmt: skip
    return (time.perf_counter() - started) / LIGHTNING_EPOCHS


YOLO_EPOCHS, YOLO_IMAGES, YOLO_IMGSZ, YOLO_BATCH = 2, 40, 64, 8
_yolo_data: dict[str, str] = {}


def yolo_training(context: BaseStepContext, with_callback: bool) -> float:
    from synapse_steps.integrations.ultralytics import attach, load_ultralytics, quiet_ultralytics

    scratch = Path(_yolo_data["scratch"])
    ultralytics = load_ultralytics(scratch / "settings")
    model = ultralytics.YOLO("yolov8n.yaml")
    if with_callback:
        attach(model, context)
    arguments = {"data": _yolo_data["yaml"], "epochs": YOLO_EPOCHS, "imgsz": YOLO_IMGSZ,
                 "batch": YOLO_BATCH, "workers": 0, "amp": False, "plots": False, "device": "cpu",
                 "seed": 0, "project": str(scratch / "runs"), "name": "run"}  # fmt: skip
    started = time.perf_counter()
    if with_callback:
        model.train(**arguments)  # attach() made it quiet
    else:
        with quiet_ultralytics(context):  # the same silence, without the callbacks
            model.train(**arguments)
    return (time.perf_counter() - started) / YOLO_EPOCHS


def prepare_yolo(scratch: Path) -> None:
    from synapse_steps.datasets import convert
    from synapse_steps.datasets.samples import make_detection_dataset

    source = make_detection_dataset(scratch / "shapes", n_images=YOLO_IMAGES)
    converted = convert(source, "dm_v2", "yolo", scratch / "yolo")
    _yolo_data.update(yaml=str(converted.config_path), scratch=str(scratch))


# -- the callbacks' own cost per batch and per epoch ------------------------------------------

#: The metrics an epoch hook gets (names and count as the frameworks report them).
KERAS_LOGS = {"loss": 0.5, "accuracy": 0.8, "val_loss": 0.6, "val_accuracy": 0.75}
YOLO_LOSSES = {"box": 1.2, "cls": 0.9, "dfl": 1.1}
YOLO_METRICS = {"metrics/precision(B)": 0.5, "metrics/recall(B)": 0.4, "metrics/mAP50(B)": 0.3,
                "metrics/mAP50-95(B)": 0.2, "val/box_loss": 1.3, "val/cls_loss": 1.0,
                "val/dfl_loss": 1.2}  # fmt: skip


def _timed(calls: int, call: Callable[[int], None]) -> float:
    started = time.perf_counter()
    for i in range(calls):
        call(i)
    return (time.perf_counter() - started) / calls


def hook_costs(framework: str, batches: int = 200_000, epochs: int = 2_000) -> tuple[float, float]:
    """Seconds per call of the callback's batch hook and of its epoch hooks, reporting to a real
    runtime (recorder and console) inside a step."""
    costs: list[float] = []

    class Hooks(BaseStep[BaseStepContext]):
        name = "train"
        progress_weight = 1.0

        def execute(self, context: BaseStepContext) -> StepResult:
            from types import SimpleNamespace

            per_epoch = 1000
            if framework == "keras":
                from synapse_steps.integrations.keras import StepCallback

                keras_cb = StepCallback(context)
                keras_cb.params = {"epochs": batches // per_epoch, "steps": per_epoch}
                keras_cb.on_train_begin()
                keras_cb.on_epoch_begin(0)
                costs.append(_timed(batches, lambda i: keras_cb.on_train_batch_end(i % per_epoch)))
                costs.append(_timed(epochs, lambda i: keras_cb.on_epoch_end(i, KERAS_LOGS)))
            elif framework == "lightning":
                import torch

                from synapse_steps.integrations.lightning import StepCallback

                metrics = {k: torch.tensor(v) for k, v in KERAS_LOGS.items()}
                trainer = SimpleNamespace(
                    num_training_batches=per_epoch, max_epochs=batches // per_epoch,
                    max_steps=-1, current_epoch=0, global_step=0, sanity_checking=False,
                    callback_metrics=metrics,
                )  # fmt: skip
                lit_cb = StepCallback(context)
                lit_cb.on_train_epoch_start(trainer, None)

                def lightning_batch(i: int) -> None:
                    lit_cb.on_train_batch_end(trainer, None, None, None, i % per_epoch)

                costs.append(_timed(batches, lightning_batch))

                def lightning_epoch(i: int) -> None:
                    trainer.current_epoch = i
                    lit_cb.on_validation_epoch_start(trainer, None)
                    lit_cb.on_validation_epoch_end(trainer, None)
                    lit_cb.on_train_epoch_end(trainer, None)

                costs.append(_timed(epochs, lightning_epoch))
            else:
                import torch

                from synapse_steps.integrations.ultralytics import Attachment

                model = SimpleNamespace(callbacks={}, add_callback=lambda *a: None)
                trainer = SimpleNamespace(
                    epoch=0, start_epoch=0, epochs=batches // per_epoch,
                    train_loader=range(per_epoch), metrics=YOLO_METRICS,
                    tloss={k: torch.tensor(v) for k, v in YOLO_LOSSES.items()},
                    lr={"lr/pg0": 0.01, "lr/pg1": 0.01, "lr/pg2": 0.01},
                    label_loss_items=lambda losses, prefix: {
                        f"{prefix}/{k}_loss": round(float(v), 5) for k, v in losses.items()},
                )  # fmt: skip
                attachment = Attachment(model, context, verbose=True, every_n_batches=None)
                attachment._on_train_epoch_start(trainer)

                def yolo_batch(i: int) -> None:
                    if i % per_epoch == 0:
                        attachment._batch = 0
                    attachment._on_train_batch_end(trainer)

                costs.append(_timed(batches, yolo_batch))

                def yolo_epoch(i: int) -> None:
                    trainer.epoch = i
                    attachment._on_train_epoch_end(trainer)
                    attachment._on_fit_epoch_end(trainer)

                costs.append(_timed(epochs, yolo_epoch))
            return StepResult()

    registry = StepRegistry[BaseStepContext]()
    registry.register(Hooks())
    runtime = RuntimeContext(logger=[ConsoleLogger(io.StringIO())])
    Orchestrator(registry, BaseStepContext(runtime_ctx=runtime), journal=False).execute()
    return costs[0], costs[1]


BATCHES_PER_EPOCH = {
    "keras": math.ceil(KERAS_SAMPLES * 0.8 / KERAS_BATCH),
    "lightning": math.ceil(LIGHTNING_SAMPLES * 0.8 / LIGHTNING_BATCH),
    "yolo": 4,  # 28 train images of 40, batch 8
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=5, help="pairs of runs per framework")
    parser.add_argument("--only", choices=["keras", "lightning", "yolo"], action="append")
    args = parser.parse_args()
    trainings: dict[str, Training] = {
        "keras": keras_training, "lightning": lightning_training, "yolo": yolo_training
    }  # fmt: skip
    chosen = args.only or list(trainings)
    with tempfile.TemporaryDirectory(prefix="synapse_steps_bench_") as scratch:
        if "yolo" in chosen:
            prepare_yolo(Path(scratch))
        for name in chosen:
            train = trainings[name]
            in_a_step(train, False)  # warm-up: imports, first-call costs
            without: list[float] = []
            with_: list[float] = []
            for _ in range(args.repeats):
                without.append(in_a_step(train, False))
                with_.append(in_a_step(train, True))
            batch_hook, epoch_hook = hook_costs(name)
            best = min(with_) / min(without) - 1
            median = statistics.median(with_) / statistics.median(without) - 1
            # The callbacks' own work in one epoch, against the fastest epoch measured.
            own = BATCHES_PER_EPOCH[name] * batch_hook + epoch_hook
            print(
                f"{name:9s} s/epoch without {min(without):.4f} best, "
                f"{statistics.median(without):.4f} median | with {min(with_):.4f} best, "
                f"{statistics.median(with_):.4f} median | overhead {100 * best:+.2f} % best, "
                f"{100 * median:+.2f} % median | hooks {1e6 * batch_hook:.2f} us/batch, "
                f"{1e6 * epoch_hook:.1f} us/epoch = {100 * own / min(without):.4f} % of the "
                f"fastest epoch",
                flush=True,
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
