"""ExportDatasetStep and ConvertDatasetStep on the local backend."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from synapse_steps.actions.train import TrainContext
from synapse_steps.backends.local import LocalBackend
from synapse_steps.context import RuntimeContext
from synapse_steps.steps import (
    BaseStep,
    ConvertDatasetStep,
    ExportDatasetStep,
    Orchestrator,
    StepRegistry,
    StepResult,
)


class ProgressLog:
    """A minimal logger: keeps every set_progress call."""

    def __init__(self) -> None:
        self.progress: list[tuple[int, int, str | None]] = []

    def log(self, event: str, data: dict[str, Any], file: str | None = None) -> None:
        pass

    def set_progress(self, current: int, total: int, category: str | None = None) -> None:
        self.progress.append((current, total, category))

    def set_metrics(self, value: dict[str, Any], category: str | None = None) -> None:
        pass


class Explode(BaseStep[TrainContext]):
    @property
    def name(self) -> str:
        return "explode"

    @property
    def progress_weight(self) -> float:
        return 0.1

    def execute(self, context: TrainContext) -> StepResult:
        return StepResult(success=False, error="boom")


def make_context(backend: LocalBackend, **params: Any) -> tuple[TrainContext, ProgressLog]:
    log = ProgressLog()
    runtime = RuntimeContext(logger=log, client=backend)
    return TrainContext(runtime_ctx=runtime, params=params), log


def run(context: TrainContext, *steps: BaseStep[TrainContext]) -> dict[str, Any]:
    registry = StepRegistry[TrainContext]()
    for step in steps:
        registry.register(step)
    return Orchestrator(registry, context).execute()


def test_export_sets_the_documented_keys_and_reports_progress_per_item(
    backend: LocalBackend, dataset_id: int, tmp_path: Path
) -> None:
    context, log = make_context(backend, dataset=dataset_id, output_dir=str(tmp_path / "out"))
    run(context, ExportDatasetStep())
    assert context.dataset == {
        "path": str(tmp_path / "out" / "dm_v2"),
        "format": "dm_v2",
        "is_categorized": True,
        "count": 60,
    }
    export_calls = [c for c in log.progress if c[2] == "export_dataset"]
    assert export_calls == [(i, 60, "export_dataset") for i in range(1, 61)]


def test_export_of_some_splits(backend: LocalBackend, dataset_id: int, tmp_path: Path) -> None:
    splits = backend.get_dataset(dataset_id)["splits"]
    context, _ = make_context(
        backend, dataset=dataset_id, splits=["valid"], output_dir=str(tmp_path / "o")
    )
    run(context, ExportDatasetStep())
    assert context.dataset["count"] == splits["valid"]
    assert sorted(p.name for p in Path(context.dataset["path"]).iterdir()) == ["valid"]


def test_export_without_dataset_param_fails_clearly(backend: LocalBackend) -> None:
    context, _ = make_context(backend)
    with pytest.raises(RuntimeError) as caught:
        run(context, ExportDatasetStep())
    message = str(caught.value)
    assert message.startswith("Step 'export_dataset' failed: ExportDatasetStep needs params")
    assert "dataset=<id>" in message


def test_convert_without_a_previous_step_fails_clearly(backend: LocalBackend) -> None:
    context, _ = make_context(backend)
    with pytest.raises(RuntimeError, match=r"needs context.dataset\['path'\].*is None"):
        run(context, ConvertDatasetStep())


@pytest.mark.parametrize(
    ("target", "config"),
    [("yolo", "dataset.yaml"), ("coco", "annotations/instances_train.json")],
)
def test_convert_after_export(
    backend: LocalBackend, dataset_id: int, tmp_path: Path, target: str, config: str
) -> None:
    out = tmp_path / "out"
    context, log = make_context(backend, dataset=dataset_id, output_dir=str(out))
    run(context, ExportDatasetStep(), ConvertDatasetStep(target_format=target))
    assert context.dataset == {
        "path": str(out / target),
        "config_path": str(out / target / config),
        "format": target,
        "is_categorized": True,
        "source_path": str(out / "dm_v2"),
    }
    assert Path(context.dataset["config_path"]).is_file()
    convert_calls = [c for c in log.progress if c[2] == "convert_dataset"]
    assert convert_calls[-1][:2] == (60, 60)
    assert [c[0] for c in convert_calls] == sorted(c[0] for c in convert_calls)


def test_rollback_removes_what_both_steps_wrote(
    backend: LocalBackend, dataset_id: int, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    context, _ = make_context(backend, dataset=dataset_id, output_dir=str(out))
    with pytest.raises(RuntimeError, match="Step 'explode' failed: boom"):
        run(context, ExportDatasetStep(), ConvertDatasetStep(target_format="yolo"), Explode())
    assert list(out.iterdir()) == []
    assert context.dataset is None
    assert context.errors == ["Step 'explode' failed: boom"]


def test_export_into_a_temporary_folder_is_removed_on_rollback(
    backend: LocalBackend, dataset_id: int
) -> None:
    context, _ = make_context(backend, dataset=dataset_id)
    with pytest.raises(RuntimeError):
        run(context, ExportDatasetStep(), Explode())
    exported = Path(context.step_results[0].data["path"])
    assert not exported.exists()
    assert not exported.parent.exists()


def test_export_into_a_non_empty_folder_fails_and_keeps_its_content(
    backend: LocalBackend, dataset_id: int, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    (out / "dm_v2").mkdir(parents=True)
    (out / "dm_v2" / "mine.txt").write_text("keep me")
    context, _ = make_context(backend, dataset=dataset_id, output_dir=str(out))
    with pytest.raises(RuntimeError, match=r"not empty"):
        run(context, ExportDatasetStep())
    assert (out / "dm_v2" / "mine.txt").read_text() == "keep me"
