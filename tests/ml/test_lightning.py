"""``integrations.lightning.StepCallback`` on real Lightning trainings (CPU, a tiny module)."""

from __future__ import annotations

import signal
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from conftest import Progress, series
from synapse_steps.context import RuntimeContext
from synapse_steps.display.panels import category_panels
from synapse_steps.errors import StepFailedError
from synapse_steps.steps import BaseStep, BaseStepContext, Orchestrator, StepRegistry, StepResult

pl = pytest.importorskip("lightning.pytorch")
import torch  # noqa: E402
from torch.utils.data import DataLoader, TensorDataset  # noqa: E402

from synapse_steps.integrations.lightning import StepCallback  # noqa: E402

EPOCHS = 3
BATCHES = 4  # 64 samples, batch 16


class Tiny(pl.LightningModule):  # type: ignore[misc]
    def __init__(self, log_steps: bool = False) -> None:
        super().__init__()
        self.layer = torch.nn.Linear(4, 2)
        self.log_steps = log_steps

    def training_step(self, batch: Any, index: int) -> Any:
        x, y = batch
        loss = torch.nn.functional.cross_entropy(self.layer(x), y)
        self.log("train_loss", loss, on_step=self.log_steps, on_epoch=True)
        return loss

    def validation_step(self, batch: Any, index: int) -> None:
        x, y = batch
        logits = self.layer(x)
        self.log("val_loss", torch.nn.functional.cross_entropy(logits, y))
        self.log("val_acc", (logits.argmax(1) == y).float().mean())

    def configure_optimizers(self) -> Any:
        return torch.optim.SGD(self.parameters(), lr=0.1)


def loader() -> DataLoader[Any]:
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(64, 4, generator=generator)
    return DataLoader(TensorDataset(x, (x.sum(1) > 0).long()), batch_size=16)


class Witness(pl.Callback):  # type: ignore[misc]
    """What Lightning holds after each epoch (``callback_metrics``), as floats."""

    def __init__(self) -> None:
        self.epochs: list[dict[str, float]] = []

    def on_train_epoch_end(self, trainer: Any, pl_module: Any) -> None:
        self.epochs.append({k: float(v) for k, v in trainer.callback_metrics.items()})


@dataclass
class LitCtx(BaseStepContext):
    folder: str = ""
    log_steps: bool = False
    val_every: int = 1
    callbacks: list[Any] = field(default_factory=list)
    callback: Any = None
    rolled_back: list[str] = field(default_factory=list)


class Fit(BaseStep[LitCtx]):
    name = "train"
    progress_weight = 1.0

    def execute(self, context: LitCtx) -> StepResult:
        torch.manual_seed(0)
        context.callback = StepCallback(context)
        trainer = pl.Trainer(
            max_epochs=EPOCHS, accelerator="cpu", logger=False, enable_checkpointing=False,
            enable_progress_bar=False, enable_model_summary=False,
            check_val_every_n_epoch=context.val_every,
            callbacks=[context.callback, *context.callbacks],
        )  # fmt: skip
        trainer.fit(Tiny(context.log_steps), loader(), loader())
        path = Path(context.folder) / "model.ckpt"
        trainer.save_checkpoint(path)
        return StepResult(rollback_data={"path": str(path)})

    def rollback(self, context: LitCtx, result: StepResult) -> None:
        context.rolled_back.append(self.name)
        if "path" in result.rollback_data:
            Path(result.rollback_data["path"]).unlink()


class Evaluate(BaseStep[LitCtx]):
    name = "evaluate"
    progress_weight = 0.1

    def execute(self, context: LitCtx) -> StepResult:
        return StepResult(success=False, error="val_acc below the bar")


def run(context: LitCtx, *steps: BaseStep[LitCtx]) -> dict[str, Any]:
    registry = StepRegistry[LitCtx]()
    for step in steps or (Fit(),):
        registry.register(step)
    return Orchestrator(registry, context, journal=False).execute()


def test_fit_streams_batch_progress_and_the_callback_metrics_per_epoch(
    tmp_path: Path, progress: Progress
) -> None:
    witness = Witness()
    runtime = RuntimeContext(logger=[progress])
    context = LitCtx(runtime_ctx=runtime, folder=str(tmp_path), callbacks=[witness])

    assert run(context)["success"]

    train = progress.of("train")
    assert {total for _, total in train} == {EPOCHS * BATCHES}
    assert train[-1] == (EPOCHS * BATCHES, EPOCHS * BATCHES)
    recorded = series(runtime.recorder.run.metrics, "train")
    assert set(recorded) == {"train_loss", "val_loss", "val_acc"}
    for name in recorded:
        assert recorded[name] == ([1.0, 2.0, 3.0], [e[name] for e in witness.epochs]), name
    panels = {p.name: [line.label for line in p.lines]
              for p in category_panels(runtime.recorder.run.metrics, "train")}  # fmt: skip
    assert panels == {"loss": ["train", "validation"], "val_acc": ["val_acc"]}


def test_step_and_epoch_values_are_one_metric_and_stale_validation_is_left_out(
    tmp_path: Path,
) -> None:
    witness = Witness()
    runtime = RuntimeContext(display="off")
    context = LitCtx(runtime_ctx=runtime, folder=str(tmp_path), log_steps=True, val_every=2,
                     callbacks=[witness])  # fmt: skip

    assert run(context)["success"]

    recorded = series(runtime.recorder.run.metrics, "train")
    # train_loss_step / train_loss_epoch -> train_loss, by its epoch value.
    assert set(recorded) == {"train_loss", "val_loss", "val_acc"}
    assert recorded["train_loss"] == (
        [1.0, 2.0, 3.0], [e["train_loss_epoch"] for e in witness.epochs])  # fmt: skip
    # Validation ran after epochs 2 only (and Lightning validates the last one? not at 3).
    assert recorded["val_loss"][0] == [2.0]
    assert recorded["val_loss"][1] == [witness.epochs[1]["val_loss"]]


def test_a_failing_later_step_rolls_the_training_back(tmp_path: Path) -> None:
    context = LitCtx(runtime_ctx=RuntimeContext(display="off"), folder=str(tmp_path))
    with pytest.raises(StepFailedError, match="val_acc below the bar"):
        run(context, Fit(), Evaluate())
    assert context.rolled_back == ["train"]
    assert list(tmp_path.iterdir()) == []


def test_an_interrupt_rolls_back_and_leaves_the_stop_button_working(
    tmp_path: Path, progress: Progress
) -> None:
    class StopButton(pl.Callback):  # type: ignore[misc]
        batches = 0

        def on_train_batch_end(self, trainer: Any, *args: Any) -> None:
            self.batches += 1
            if self.batches == 6:
                signal.raise_signal(signal.SIGINT)

    handler = signal.getsignal(signal.SIGINT)
    runtime = RuntimeContext(logger=[progress])
    context = LitCtx(runtime_ctx=runtime, folder=str(tmp_path), callbacks=[StopButton()])

    # Lightning ends its graceful shutdown with sys.exit(1).
    with pytest.raises(SystemExit):
        run(context)

    assert runtime.recorder.run.phase == "interrupted"
    assert context.rolled_back == ["train"]
    assert progress.of("train")[-1] == (6, EPOCHS * BATCHES)
    assert list(tmp_path.iterdir()) == []
    # Lightning ignores SIGINT while it shuts down; the stop button works again after.
    assert signal.getsignal(signal.SIGINT) is handler


def test_paired_names_merge_only_real_step_epoch_pairs() -> None:
    from synapse_steps.integrations.lightning import paired_names

    keys = ["loss_step", "loss_epoch", "warmup_step", "val_epoch"]
    at_epoch = paired_names(keys, keep="epoch")
    assert [at_epoch(k) for k in keys] == [None, "loss", "warmup_step", "val_epoch"]
    at_step = paired_names(keys, keep="step")
    assert [at_step(k) for k in keys] == ["loss", None, "warmup_step", "val_epoch"]
