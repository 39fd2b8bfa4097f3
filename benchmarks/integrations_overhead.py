"""What the training callbacks cost: the same training with and without them, in one run.

For each framework (Keras 3 on PyTorch, Lightning, Ultralytics YOLO) the same seeded training
runs inside a step, alternately without and with the callback (``without, with, without, ...``
so that a slower minute of the shared machine hits both), and the seconds per epoch are
compared: best against best and median against median. The reporting front end is the console
(writing to a discarded stream): the recorder's full path, progress records every 0.1 s.

Next to it, the callback's own per-batch cost is timed directly (its batch hook called in a
loop, the recorder behind it), since a fraction of a percent is below the noise of whole
trainings on two shared cores: per-batch cost / seconds per batch is the overhead with no noise.

    .venv/bin/python benchmarks/integrations_overhead.py            # all three, 5 pairs each
    .venv/bin/python benchmarks/integrations_overhead.py --repeats 3 --only keras

Needs the ``ml`` extra (``make test-ml`` installs it).
"""

from __future__ import annotations

import argparse
import io
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

KERAS_EPOCHS, KERAS_SAMPLES, KERAS_BATCH = 3, 4096, 32


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


LIGHTNING_EPOCHS, LIGHTNING_SAMPLES, LIGHTNING_BATCH = 3, 4096, 32


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


# -- the callback's own per-batch cost ---------------------------------------------------------


def batch_hook_cost(framework: str, calls: int = 200_000) -> float:
    """Seconds per call of the callback's batch hook, reporting to a real runtime in a step."""
    seconds: list[float] = []

    class Hook(BaseStep[BaseStepContext]):
        name = "train"
        progress_weight = 1.0

        def execute(self, context: BaseStepContext) -> StepResult:
            per_epoch = 1000
            if framework == "keras":
                from synapse_steps.integrations.keras import StepCallback

                callback = StepCallback(context)
                callback.params = {"epochs": calls // per_epoch, "steps": per_epoch}
                callback.on_train_begin()
                callback.on_epoch_begin(0)
                hook = callback.on_train_batch_end
                started = time.perf_counter()
                for i in range(calls):
                    hook(i % per_epoch, None)
            elif framework == "lightning":
                from types import SimpleNamespace

                from synapse_steps.integrations.lightning import StepCallback

                trainer = SimpleNamespace(
                    num_training_batches=per_epoch, max_epochs=calls // per_epoch,
                    max_steps=-1, current_epoch=0, global_step=0,
                )  # fmt: skip
                callback = StepCallback(context)
                callback.on_train_epoch_start(trainer, None)
                hook = callback.on_train_batch_end
                started = time.perf_counter()
                for i in range(calls):
                    hook(trainer, None, None, None, i % per_epoch)
            else:
                from types import SimpleNamespace

                from synapse_steps.integrations.ultralytics import Attachment

                model = SimpleNamespace(callbacks={}, add_callback=lambda *a: None)
                trainer = SimpleNamespace(
                    epoch=0, start_epoch=0, epochs=calls // per_epoch, train_loader=range(per_epoch)
                )
                attachment = Attachment(model, context, verbose=True, every_n_batches=None)
                attachment._on_train_epoch_start(trainer)
                hook = attachment._on_train_batch_end
                started = time.perf_counter()
                for i in range(calls):
                    if i % per_epoch == 0:
                        attachment._batch = 0
                    hook(trainer)
            seconds.append((time.perf_counter() - started) / calls)
            return StepResult()

    registry = StepRegistry[BaseStepContext]()
    registry.register(Hook())
    runtime = RuntimeContext(logger=[ConsoleLogger(io.StringIO())])
    Orchestrator(registry, BaseStepContext(runtime_ctx=runtime), journal=False).execute()
    return seconds[0]


BATCHES_PER_EPOCH = {
    "keras": KERAS_SAMPLES * 0.8 / KERAS_BATCH,
    "lightning": LIGHTNING_SAMPLES * 0.8 / LIGHTNING_BATCH,
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
            hook = batch_hook_cost(name)
            best = min(with_) / min(without) - 1
            median = statistics.median(with_) / statistics.median(without) - 1
            per_batch = statistics.median(without) / BATCHES_PER_EPOCH[name]
            print(
                f"{name:9s} s/epoch without {min(without):.4f} best, "
                f"{statistics.median(without):.4f} median | with {min(with_):.4f} best, "
                f"{statistics.median(with_):.4f} median | overhead {100 * best:+.2f} % best, "
                f"{100 * median:+.2f} % median | batch hook {1e6 * hook:.2f} us = "
                f"{100 * hook / per_batch:.3f} % of a {1e3 * per_batch:.2f} ms batch",
                flush=True,
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
