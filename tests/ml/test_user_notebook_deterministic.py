"""A user's notebook that trains with the callbacks passes strict nbval with no sanitize rules.

Written the way a user would: a Keras, a Lightning and an Ultralytics training, each in a step
with its callback, shown with the default live view and with the console, and the metrics as a
table. Executed once with nbclient (as saving it from JupyterLab would), then checked by nbval
twice, each time in a fresh kernel, with ``SYNAPSE_STEPS_DETERMINISTIC=1`` and nothing masked:
the trainings are seeded, so even the metric values printed must come out the same.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

# Imported here first: Ultralytics' one-time settings notice (with the settings folder's path)
# belongs to the first import ever, not to the user's notebook.
pytest.importorskip("ultralytics")

SETUP = """\
import os
os.environ.setdefault("KERAS_BACKEND", "torch")
import logging, warnings
warnings.filterwarnings("ignore", message=".*LeafSpec.*")

import keras, numpy as np, torch
import lightning.pytorch as pl
logging.getLogger("lightning.pytorch").setLevel(logging.WARNING)  # after its import sets INFO
from torch.utils.data import DataLoader, TensorDataset
from ultralytics import YOLO

from synapse_steps.context import RuntimeContext
from synapse_steps.integrations import keras as keras_steps, lightning as lightning_steps
from synapse_steps.integrations.ultralytics import attach
from synapse_steps.steps import BaseStep, BaseStepContext, Orchestrator, StepRegistry, StepResult


def one_step(train):
    class Train(BaseStep[BaseStepContext]):
        name = "train"
        progress_weight = 1.0

        def execute(self, context):
            return StepResult(data=train(context))

    registry = StepRegistry[BaseStepContext]()
    registry.register(Train())
    return registry


def with_keras(context):
    keras.utils.set_random_seed(0)
    x = np.random.default_rng(0).normal(size=(128, 4)).astype("float32")
    y = (x.sum(axis=1) > 0).astype("int64")
    layers = [keras.layers.Input((4,)), keras.layers.Dense(2, activation="softmax")]
    model = keras.Sequential(layers)
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(x, y, validation_split=0.25, epochs=4, batch_size=16, verbose=0,
              callbacks=[keras_steps.StepCallback(context)])
    return {}


class Tiny(pl.LightningModule):
    def __init__(self):
        super().__init__()
        self.layer = torch.nn.Linear(4, 2)

    def training_step(self, batch, index):
        loss = torch.nn.functional.cross_entropy(self.layer(batch[0]), batch[1])
        self.log("train_loss", loss, on_epoch=True, on_step=False)
        return loss

    def validation_step(self, batch, index):
        self.log("val_loss", torch.nn.functional.cross_entropy(self.layer(batch[0]), batch[1]))

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.5)


def with_lightning(context):
    torch.manual_seed(0)
    x = torch.randn(128, 4, generator=torch.Generator().manual_seed(0))
    data = DataLoader(TensorDataset(x, (x.sum(1) > 0).long()), batch_size=16)
    trainer = pl.Trainer(max_epochs=4, accelerator="cpu", logger=False, enable_checkpointing=False,
                         enable_progress_bar=False, enable_model_summary=False,
                         callbacks=[lightning_steps.StepCallback(context)])
    trainer.fit(Tiny(), data, data)
    return {}


def with_yolo(context):
    model = YOLO("yolov8n.yaml")
    attach(model, context)
    model.train(data=DATA, project=PROJECT, epochs=2, imgsz=64, batch=5, workers=0, amp=False,
                plots=False, device="cpu", seed=0, exist_ok=True)
    return {}
"""

CELLS = [
    "context = BaseStepContext()\n"
    "Orchestrator(one_step(with_keras), context, name='keras').execute()",
    "context.runtime_ctx.recorder.metrics_frame().round(6)",
    "Orchestrator(one_step(with_lightning), BaseStepContext(), name='lightning').execute()",
    "yolo = BaseStepContext()\nOrchestrator(one_step(with_yolo), yolo, name='yolo').execute()",
    "yolo.runtime_ctx.recorder.metrics_frame().round(6)",
    "console = BaseStepContext(runtime_ctx=RuntimeContext(display='console'))\n"
    "Orchestrator(one_step(with_keras), console, name='keras').execute()",
    "console = BaseStepContext(runtime_ctx=RuntimeContext(display='console'))\n"
    "Orchestrator(one_step(with_yolo), console, name='yolo').execute()",
]


def _write_notebook(path: Path, data: Path, project: Path) -> None:
    notebook = nbformat.v4.new_notebook()
    setup = f"DATA, PROJECT = {str(data)!r}, {str(project)!r}\n" + SETUP
    notebook.cells = [nbformat.v4.new_code_cell(source) for source in [setup, *CELLS]]
    notebook.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3 (ipykernel)",
        "language": "python",
    }
    NotebookClient(notebook, timeout=600, kernel_name="python3", record_timing=False).execute(
        cwd=str(path.parent)
    )
    nbformat.write(notebook, path)


@pytest.mark.timeout(900)
def test_a_notebook_training_with_the_callbacks_passes_nbval_without_sanitizing(
    yolo_yaml: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SYNAPSE_STEPS_DETERMINISTIC", "1")
    monkeypatch.delenv("SYNAPSE_STEPS_DISPLAY", raising=False)
    path = tmp_path / "my_training.ipynb"
    _write_notebook(path, yolo_yaml, tmp_path / "runs")
    saved = nbformat.read(path, as_version=4)
    text = "".join(str(output) for cell in saved.cells for output in cell.get("outputs", []))
    # What the notebook shows: finished runs, no times, the metrics, console progress.
    assert "…s" in text
    assert "val/box_loss" in text
    assert "train: 24/24 (100%)" in text  # Keras: 6 batches x 4 epochs, in the console
    assert "train: 6/6 (100%)" in text  # YOLO: 3 batches x 2 epochs
    assert not [o for c in saved.cells for o in c.get("outputs", []) if o.get("name") == "stderr"]

    for attempt in (1, 2):
        done = subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--nbval",
             "--nbval-current-env", f"--rootdir={tmp_path}", path.name],
            cwd=tmp_path, env=dict(os.environ), capture_output=True, text=True, timeout=600,
            check=False,
        )  # fmt: skip
        assert done.returncode == 0, f"nbval run {attempt}:\n{done.stdout[-6000:]}\n{done.stderr}"
        assert f"{len(CELLS) + 1} passed" in done.stdout, done.stdout
