"""The same YOLO training through ``RayExecutor``: batches and epochs stream to the driver."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import IMGSZ, Progress, series
from synapse_steps.actions.yolo import YoloTrainAction, YoloTrainParams
from synapse_steps.backends.local import LocalBackend
from synapse_steps.context import RuntimeContext
from synapse_steps.events import MetricsReported

ray = pytest.importorskip("ray")
pytest.importorskip("ultralytics")
from synapse_steps.executors.ray import RayExecutor  # noqa: E402

EPOCHS = 2


class Metrics:
    def __init__(self) -> None:
        self.records: list[MetricsReported] = []

    def on_metrics(self, record: MetricsReported) -> None:
        self.records.append(record)


@pytest.fixture
def executor() -> Iterator[RayExecutor]:
    os.environ.setdefault("RAY_DISABLE_USAGE_STATS", "1")
    ray.init(num_cpus=1, include_dashboard=False, log_to_driver=False,
             logging_level=logging.ERROR, _node_ip_address="127.0.0.1")  # fmt: skip
    ex = RayExecutor()
    try:
        yield ex
    finally:
        ex.shutdown()
        ray.shutdown()


def test_a_yolo_training_on_ray_streams_batch_progress_and_epoch_metrics_to_the_driver(
    executor: RayExecutor, backend: LocalBackend, dataset_id: int, progress: Progress
) -> None:
    metrics = Metrics()
    runtime = RuntimeContext(logger=[progress, metrics], client=backend)
    params = YoloTrainParams(dataset=dataset_id, epochs=EPOCHS, imgsz=IMGSZ, batch=5, device="cpu")

    result = YoloTrainAction(params, runtime, executor=executor).run()

    assert result["success"]
    assert result["steps_executed"] == 4
    # Batch progress of the worker's training reached the driver's store, up to 100 %.
    train = progress.of("train")
    assert len(train) >= 2
    assert train[-1] == (EPOCHS * 3, EPOCHS * 3)
    # One metrics record per epoch, streamed, with Ultralytics' numbers.
    epochs = [r for r in metrics.records if r.category == "train"]
    assert [r.values["epoch"] for r in epochs] == [1, 2]
    recorded = series(runtime.recorder.run.metrics, "train")
    assert recorded["train/box_loss"][0] == [1.0, 2.0]
    assert recorded["val/box_loss"][0] == [1.0, 2.0]
    # The model the worker trained is in the backend and its file loads.
    model = backend.get_model(result["model_id"])
    assert Path(model["file"]).is_file()
    assert model["metadata"]["metrics"].keys() >= {"mAP50", "mAP50-95"}
