"""BaseTrainAction in step mode and automatic mode, against the real local backend."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from synapse_steps import BaseTrainAction as TopLevelBaseTrainAction
from synapse_steps.actions.train import BaseTrainAction, BaseTrainParams, TrainContext
from synapse_steps.backends.local import LocalBackend
from synapse_steps.context import RuntimeContext
from synapse_steps.demo import ShapesTrainAction
from synapse_steps.errors import InvalidParamsError
from synapse_steps.recorder import Recorder
from synapse_steps.steps import BaseStep, LoggingStep, StepRegistry, StepResult


class MyTrainParams(BaseTrainParams):
    dataset: int
    epochs: int = 100
    batch_size: int = 32


# -- the documentation's multi-step training example, as written ------------------------------

MODEL_PATH = "/tmp/model.pt"


class LoadDatasetStep(BaseStep[TrainContext]):
    @property
    def name(self) -> str:
        return "load_dataset"

    @property
    def progress_weight(self) -> float:
        return 0.1

    def execute(self, context: TrainContext) -> StepResult:
        dataset = context.params.get("dataset")
        context.log("dataset_load_start", {"dataset": dataset})
        context.dataset = context.client.get_data_collection(dataset)
        context.log("dataset_load_complete", {"count": len(context.dataset)})
        return StepResult(success=True, data={"dataset_size": len(context.dataset)})


class TrainModelStep(BaseStep[TrainContext]):
    @property
    def name(self) -> str:
        return "train"

    @property
    def progress_weight(self) -> float:
        return 0.7

    def execute(self, context: TrainContext) -> StepResult:
        epochs = context.params.get("epochs", 100)
        for epoch in range(epochs):
            loss = 1.0 / (epoch + 1)
            context.set_progress(epoch + 1, epochs)
            context.set_metrics({"loss": loss, "epoch": epoch})
        context.model_path = MODEL_PATH
        return StepResult(
            success=True,
            data={"final_loss": loss},
            rollback_data={"model_path": context.model_path},
        )

    def rollback(self, context: TrainContext, result: StepResult) -> None:
        model_path = result.rollback_data.get("model_path")
        if model_path:
            Path(model_path).unlink(missing_ok=True)


class UploadModelStep(BaseStep[TrainContext]):
    @property
    def name(self) -> str:
        return "upload_model"

    @property
    def progress_weight(self) -> float:
        return 0.2

    def execute(self, context: TrainContext) -> StepResult:
        context.set_progress(0, 100)
        model = context.client.create_model({"file": context.model_path, "name": "trained-model"})
        context.model = model
        context.set_progress(100, 100)
        return StepResult(success=True, data={"model_id": model["id"]})


class MyTrainAction(BaseTrainAction[MyTrainParams]):
    def setup_steps(self, registry: StepRegistry[TrainContext]) -> None:
        registry.register(LoggingStep(LoadDatasetStep()))
        registry.register(LoggingStep(TrainModelStep()))
        registry.register(LoggingStep(UploadModelStep()))


@pytest.fixture
def model_file() -> Any:
    # The example's training placeholder does not write the model; a real one would.
    Path(MODEL_PATH).write_bytes(b"weights")
    yield Path(MODEL_PATH)
    Path(MODEL_PATH).unlink(missing_ok=True)


def test_documented_multi_step_example_runs_against_the_local_backend(
    runtime: RuntimeContext, backend: LocalBackend, dataset_id: int, model_file: Path
) -> None:
    result = MyTrainAction.dispatch({"dataset": dataset_id, "epochs": 5}, runtime)

    assert result == {"success": True, "steps_executed": 3, "steps_total": 3, "model_id": 1}
    stored = backend.get_model(1)
    assert stored["name"] == "trained-model"
    assert Path(stored["file"]).read_bytes() == b"weights"
    assert Path(stored["file"]) != model_file  # the backend keeps its own copy
    recorder = runtime.recorder
    events = [(e.event, e.data) for e in recorder.events]
    assert ("dataset_load_complete", {"count": 60}) in events
    assert [e for e, _ in events].count("step_start") == 3
    metrics = recorder.metrics_frame()
    assert list(metrics["category"].unique()) == ["logged_train"]
    assert metrics["value"].tolist() == [1.0, 0.5, 1 / 3, 0.25, 0.2]


def test_params_are_validated_with_pydantic_errors(runtime: RuntimeContext) -> None:
    with pytest.raises(ValidationError) as caught:
        MyTrainAction.dispatch({"epochs": "many"}, runtime)
    text = str(caught.value)
    assert "dataset" in text
    assert "Field required" in text
    assert "epochs" in text
    assert "valid integer" in text


def test_params_allow_extra_fields_and_keep_defaults() -> None:
    params = MyTrainParams.model_validate({"dataset": 3, "augment": True})
    assert params.model_dump() == {
        "dataset": 3,
        "splits": None,
        "output_dir": None,
        "checkpoint": None,
        "epochs": 100,
        "batch_size": 32,
        "augment": True,
    }
    assert MyTrainAction.params_model() is MyTrainParams


def test_action_rejects_unvalidated_params(runtime: RuntimeContext) -> None:
    with pytest.raises(InvalidParamsError, match=r"dispatch\(dict_params\)") as raised:
        MyTrainAction({"dataset": 1}, runtime)  # type: ignore[arg-type]
    assert isinstance(raised.value, TypeError)


def test_base_train_action_is_importable_from_the_package_root() -> None:
    assert TopLevelBaseTrainAction is BaseTrainAction


def test_train_context_uses_the_runtime_client(backend: LocalBackend) -> None:
    runtime = RuntimeContext(logger=Recorder(), client=backend)
    assert TrainContext(runtime_ctx=runtime).client is backend


# -- automatic mode ------------------------------------------------------------------------------


def test_automatic_mode_exports_converts_trains_and_uploads(
    runtime: RuntimeContext, backend: LocalBackend, dataset_id: int, tmp_path: Path
) -> None:
    out = tmp_path / "run"
    result = ShapesTrainAction.dispatch(
        {"dataset": dataset_id, "epochs": 8, "output_dir": str(out)}, runtime
    )

    assert result["success"] is True
    assert result["steps_executed"] == result["steps_total"] == 4
    assert result["model_id"] == 1
    trained = result["result"]
    assert trained["classes"] == ["circle", "square", "triangle"]
    assert trained["val_accuracy"] > 0.5  # it learns: chance is 1/3
    run = runtime.recorder.run
    assert [s.name for s in run.steps] == [
        "export_dataset",
        "convert_dataset",
        "train",
        "upload_model",
    ]
    assert [s.status for s in run.steps] == ["done"] * 4
    assert (out / "dm_v2" / "train" / "json").is_dir()
    assert (out / "yolo" / "dataset.yaml").is_file()
    losses = runtime.recorder.metrics_frame().query("metric == 'loss'")["value"].tolist()
    assert len(losses) == 8
    assert losses[-1] < losses[0]
    assert Path(backend.get_model(1)["file"]).suffix == ".npz"


class NoDatasetAction(BaseTrainAction[BaseTrainParams]):
    def execute(self, context: TrainContext) -> dict[str, Any]:
        context.set_progress(1, 1)
        return {"trained": True}


def test_automatic_mode_without_dataset_or_format_only_trains(runtime: RuntimeContext) -> None:
    action = NoDatasetAction(BaseTrainParams(), runtime)
    result = action.run()
    assert result == {
        "success": True,
        "steps_executed": 1,
        "steps_total": 2,
        "result": {"trained": True},
    }
    assert action.context is not None
    assert [r.skipped for r in action.context.step_results] == [False, True]


class EmptyAction(BaseTrainAction[BaseTrainParams]):
    pass


def test_action_without_steps_or_execute_fails_with_guidance(runtime: RuntimeContext) -> None:
    with pytest.raises(RuntimeError, match=r"implement one of them"):
        EmptyAction(BaseTrainParams(), runtime).run()


class BrokenTraining(BaseTrainAction[BaseTrainParams]):
    target_format = "coco"

    def execute(self, context: TrainContext) -> dict[str, Any]:
        raise MemoryError("out of memory in epoch 3")


def test_failure_in_training_rolls_back_exported_and_converted_data(
    runtime: RuntimeContext, backend: LocalBackend, dataset_id: int, tmp_path: Path
) -> None:
    out = tmp_path / "run"
    with pytest.raises(RuntimeError, match=r"Step 'train' failed: out of memory in epoch 3"):
        BrokenTraining.dispatch({"dataset": dataset_id, "output_dir": str(out)}, runtime)
    assert sorted(p.name for p in out.iterdir()) == []
    assert backend.list_models() == []
    run = runtime.recorder.run
    assert [s.label for s in run.steps] == [
        "rolled back",
        "rolled back",
        "failed, rolled back",
        "not run",
    ]
    assert [s.status for s in run.steps] == ["done", "done", "failed", "not run"]
    assert [s.rolled_back for s in run.steps] == [True, True, True, False]
    assert run.phase == "failed"


class WrongReturn(BaseTrainAction[BaseTrainParams]):
    def execute(self, context: TrainContext) -> dict[str, Any]:
        return ["not", "a", "dict"]  # type: ignore[return-value]


def test_execute_must_return_a_dict(runtime: RuntimeContext) -> None:
    with pytest.raises(RuntimeError, match=r"returned list; it must return a dict"):
        WrongReturn(BaseTrainParams(), runtime).run()


# -- temporary work folders -------------------------------------------------------------------


@pytest.fixture
def temp_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private temp folder, so the test sees exactly what the run leaves in it."""
    import tempfile

    root = tmp_path / "tmp"
    root.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(root))
    return root


def test_a_run_without_output_dir_leaves_no_temporary_folder(
    runtime: RuntimeContext, backend: LocalBackend, dataset_id: int, temp_root: Path
) -> None:
    result = ShapesTrainAction.dispatch({"dataset": dataset_id, "epochs": 2}, runtime)

    assert result["success"] is True
    assert list(temp_root.iterdir()) == []
    # The model was copied into the store before the work folder went away.
    assert Path(backend.get_model(result["model_id"])["file"]).is_file()


class StepModeExport(BaseTrainAction[BaseTrainParams]):
    def setup_steps(self, registry: StepRegistry[TrainContext]) -> None:
        from synapse_steps.steps import ExportDatasetStep

        registry.register(ExportDatasetStep())


def test_step_mode_export_without_output_dir_leaves_no_temporary_folder(
    runtime: RuntimeContext, dataset_id: int, temp_root: Path
) -> None:
    StepModeExport.dispatch({"dataset": dataset_id}, runtime)
    assert list(temp_root.iterdir()) == []


def test_a_failed_run_without_output_dir_leaves_no_temporary_folder(
    runtime: RuntimeContext, dataset_id: int, temp_root: Path
) -> None:
    with pytest.raises(RuntimeError, match=r"out of memory"):
        BrokenTraining.dispatch({"dataset": dataset_id}, runtime)
    assert list(temp_root.iterdir()) == []


def test_the_given_output_dir_is_kept(
    runtime: RuntimeContext, dataset_id: int, tmp_path: Path, temp_root: Path
) -> None:
    out = tmp_path / "mine"
    StepModeExport.dispatch({"dataset": dataset_id, "output_dir": str(out)}, runtime)
    assert (out / "dm_v2" / "train" / "json").is_dir()
    assert list(temp_root.iterdir()) == []
