"""``YoloTrainAction``: export -> convert -> train with Ultralytics -> upload, for real (CPU)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from conftest import IMGSZ, SAMPLE_IMAGES, Progress, series
from synapse_steps.actions.train import TrainContext, UploadModelStep
from synapse_steps.actions.yolo import YoloTrainAction, YoloTrainParams, YoloTrainStep
from synapse_steps.backends.local import LocalBackend
from synapse_steps.context import RuntimeContext
from synapse_steps.errors import StepFailedError
from synapse_steps.steps import BaseStep, StepRegistry, StepResult
from synapse_steps.steps.dataset import ConvertDatasetStep, ExportDatasetStep

ultralytics = pytest.importorskip("ultralytics")

EPOCHS = 2


def params(dataset_id: int, **more: Any) -> YoloTrainParams:
    return YoloTrainParams(
        dataset=dataset_id, epochs=EPOCHS, imgsz=IMGSZ, batch=5, device="cpu", **more
    )


def scratch_folders() -> set[str]:
    """The train actions' temporary work folders now in the temp folder."""
    return {p.name for p in Path(tempfile.gettempdir()).glob("synapse_steps_*") if p.is_dir()}


def test_automatic_mode_trains_and_uploads_a_model_ultralytics_loads_and_predicts_with(
    backend: LocalBackend, dataset_id: int, shapes: Path, progress: Progress
) -> None:
    runtime = RuntimeContext(logger=[progress], client=backend)
    before = scratch_folders()
    action = YoloTrainAction(params(dataset_id), runtime)

    result = action.run()

    assert result["success"]
    assert result["steps_executed"] == 4
    model = backend.get_model(result["model_id"])
    assert model["name"] == "yolov8n"
    assert Path(model["file"]).name == "best.pt"
    metadata = model["metadata"]
    assert metadata["framework"] == "ultralytics"
    assert metadata["epochs"] == EPOCHS
    assert metadata["classes"] == ["circle", "square", "triangle"]
    assert set(metadata["metrics"]) == {"precision", "recall", "mAP50", "mAP50-95"}
    assert result["result"] == {"metrics": metadata["metrics"], "epochs": EPOCHS}
    # The stored weights load and predict.
    loaded = ultralytics.YOLO(model["file"])
    image = next((shapes / "test" / "original_files").iterdir())
    predictions = loaded.predict(str(image), imgsz=IMGSZ, device="cpu", verbose=False)
    assert len(predictions) == 1
    assert predictions[0].boxes is not None
    assert loaded.names == {0: "circle", 1: "square", 2: "triangle"}
    # Live: batch progress reached 100 %, two epochs of metrics, train/val overlaid.
    assert progress.of("train")[-1] == (EPOCHS * 3, EPOCHS * 3)
    recorded = series(runtime.recorder.run.metrics, "train")
    assert recorded["val/box_loss"][0] == [1.0, 2.0]
    assert recorded["mAP50-95"][0] == [1.0, 2.0]
    assert [s.status for s in runtime.recorder.run.steps] == ["done"] * 4
    # The scratch folder (export, conversion, Ultralytics' run) is gone after the run.
    assert scratch_folders() <= before


class Refuse(BaseStep[TrainContext]):
    name = "evaluate"
    progress_weight = 0.1

    def execute(self, context: TrainContext) -> StepResult:
        assert context.model is not None
        return StepResult(success=False, error="mAP below the bar")


class StepModeYolo(YoloTrainAction):
    def setup_steps(self, registry: StepRegistry[TrainContext]) -> None:
        registry.register(ExportDatasetStep())
        registry.register(ConvertDatasetStep(target_format="yolo"))
        registry.register(YoloTrainStep())
        registry.register(UploadModelStep())
        registry.register(Refuse())


def test_step_mode_rolls_the_upload_back_when_a_later_step_fails(
    backend: LocalBackend, dataset_id: int, tmp_path: Path
) -> None:
    runtime = RuntimeContext(display="off", client=backend)
    output = tmp_path / "work"
    action = StepModeYolo(params(dataset_id, output_dir=str(output)), runtime)

    with pytest.raises(StepFailedError, match="mAP below the bar"):
        action.run()

    assert backend.list_models() == []
    state = runtime.recorder.run
    assert [s.name for s in state.steps] == [
        "export_dataset", "convert_dataset", "train", "upload_model", "evaluate"]  # fmt: skip
    assert [s.rollback for s in state.steps[:4]] == ["rolled back"] * 4
    # Nothing of the run is left in the output folder the user gave (it stays, empty).
    assert list(output.iterdir()) == []
    assert action.context is not None
    assert action.context.model_path is None


def test_an_interrupt_mid_training_stops_cleanly_and_rolls_back(
    backend: LocalBackend, dataset_id: int, tmp_path: Path, progress: Progress
) -> None:
    batches = 0

    def stop_button(context: TrainContext) -> None:
        # Ultralytics calls this after each batch (a user's own callback would be the same).
        nonlocal batches
        batches += 1
        if batches == 2:
            signal.raise_signal(signal.SIGINT)

    class Interrupted(YoloTrainStep):
        def execute(self, context: TrainContext) -> StepResult:
            from synapse_steps.integrations import ultralytics as integration

            original = integration.attach

            def attach_and_stop(model: Any, ctx: Any, **kw: Any) -> Any:
                attached = original(model, ctx, **kw)
                model.add_callback("on_train_batch_end", lambda trainer: stop_button(ctx))
                return attached

            integration.attach = attach_and_stop
            try:
                return super().execute(context)
            finally:
                integration.attach = original

    class InterruptedYolo(YoloTrainAction):
        def train_step(self) -> BaseStep[TrainContext]:
            return Interrupted()

    runtime = RuntimeContext(logger=[progress], client=backend)
    output = tmp_path / "work"
    with pytest.raises(KeyboardInterrupt):
        InterruptedYolo(params(dataset_id, output_dir=str(output)), runtime).run()

    state = runtime.recorder.run
    assert state.phase == "interrupted"
    assert [s.status for s in state.steps[:3]] == ["done", "done", "interrupted"]
    assert state.steps[3].duration is None  # upload_model never started
    assert [s.rollback for s in state.steps[:3]] == ["rolled back"] * 3
    assert backend.list_models() == []
    assert list(output.iterdir()) == []  # export, conversion and Ultralytics' run removed
    current, total = progress.of("train")[-1]
    assert (current, total) == (2, EPOCHS * 3)


def test_params_say_what_is_wrong() -> None:
    with pytest.raises(ValidationError, match="train_args may not set \\['data'\\]"):
        YoloTrainParams(dataset=1, train_args={"data": "other.yaml"})
    with pytest.raises(ValidationError, match=r"pass them as epochs=\.\.\."):
        YoloTrainParams(dataset=1, train_args={"epochs": 3})
    with pytest.raises(ValidationError, match="greater than or equal to 32"):
        YoloTrainParams(dataset=1, imgsz=16)
    assert YoloTrainParams(dataset=1).model_dump()["model"] == "yolov8n.yaml"


def test_weights_that_are_not_here_are_refused_instead_of_downloaded(
    backend: LocalBackend, dataset_id: int, tmp_path: Path
) -> None:
    runtime = RuntimeContext(display="off", client=backend)
    action = YoloTrainAction(params(dataset_id, model="yolov8n.pt"), runtime)
    with pytest.raises(StepFailedError, match=r"'yolov8n\.pt' is not a file here"):
        action.run()
    assert not Path("yolov8n.pt").exists()


WRITES_NOWHERE_ELSE = """
import os, sys
from pathlib import Path
from synapse_steps.actions.yolo import YoloTrainAction, YoloTrainParams
from synapse_steps.backends.local import LocalBackend
from synapse_steps.context import RuntimeContext
from synapse_steps.datasets.samples import make_detection_dataset

backend = LocalBackend(sys.argv[1])
source = make_detection_dataset(sys.argv[2], n_images={images})
dataset = backend.import_dataset(source, format="dm_v2")
params = YoloTrainParams(dataset=dataset, epochs=1, imgsz={imgsz}, batch=5, device="cpu")
result = YoloTrainAction(params, RuntimeContext(display="off", client=backend)).run()
print("model", result["model_id"], "YOLO_CONFIG_DIR" in os.environ)
"""


def test_training_writes_only_into_its_work_folder_and_the_backend(tmp_path: Path) -> None:
    home, cwd, work_tmp = tmp_path / "home", tmp_path / "cwd", tmp_path / "tmp"
    for folder in (home, cwd, work_tmp):
        folder.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("YOLO_", "XDG_"))}
    env.update(HOME=str(home), TMPDIR=str(work_tmp), MPLCONFIGDIR=str(tmp_path / "mpl"),
               SYNAPSE_STEPS_HOME=str(tmp_path / "synapse_home"))  # fmt: skip
    script = textwrap.dedent(WRITES_NOWHERE_ELSE.format(images=SAMPLE_IMAGES, imgsz=IMGSZ))
    done = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path / "store"), str(tmp_path / "source")],
        cwd=cwd, env=env, capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    # The model is stored; the environment is as it was (the settings folder was temporary).
    assert done.stdout.split() == ["model", "1", "False"]
    assert list(home.iterdir()) == []  # no ~/.config/Ultralytics, no fonts, no weights
    assert list(cwd.iterdir()) == []  # no runs/ folder, no yolov8n.pt
    assert list(work_tmp.iterdir()) == []  # the work folder went with the run
    # Ultralytics printed nothing (not even its first-run settings notice).
    assert done.stdout.count("\n") == 1
    assert "Ultralytics" not in done.stderr, done.stderr
