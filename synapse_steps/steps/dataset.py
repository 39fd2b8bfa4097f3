"""Dataset steps: take a dataset out of the backend, convert it for a trainer.

Both read what they need from the context, write into ``params['output_dir']`` (a fresh
temporary folder when it is not given), report progress per item, and remove what they wrote
when the run rolls back.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from synapse_steps.client import BackendClient
from synapse_steps.steps.base import BaseStep, StepResult
from synapse_steps.steps.context import BaseStepContext


@dataclass
class DatasetContext(BaseStepContext):
    """What the dataset steps read and write; ``TrainContext`` extends it.

    ``client`` is the runtime's backend client when not given (resolved without touching the
    disk: the embedded store opens itself on first use).
    """

    params: dict[str, Any] = field(default_factory=dict)
    #: Set by ``ExportDatasetStep`` / ``ConvertDatasetStep`` (a dict), or by your own steps.
    dataset: Any = None
    # Never None after construction (see __post_init__), so steps call it without a check.
    client: BackendClient = None  # type: ignore[assignment]

    def __post_init__(self) -> None:
        if self.client is None:
            self.client = self.runtime_ctx.client


def _work_dir(context: DatasetContext) -> tuple[Path, bool]:
    """The run's output folder and whether this call created it (so rollback may remove it)."""
    # getattr: a context that is not a DatasetContext still gets the steps' own error messages.
    params: dict[str, Any] = getattr(context, "params", None) or {}
    output_dir = params.get("output_dir")
    if output_dir:
        return Path(output_dir).expanduser().absolute(), False
    return Path(tempfile.mkdtemp(prefix="synapse_steps_")), True


def remove_temporary_work_dirs(results: Iterable[StepResult]) -> None:
    """Remove the temporary folders these steps created for themselves (none the user gave).

    A train action calls this when its run ends: without ``params['output_dir']`` the exported
    and converted data are scratch, needed only while the run lasts (upload copies the model
    into the backend's store before that).
    """
    for result in results:
        _remove(result.rollback_data.get("work_dir"))


class ExportDatasetStep(BaseStep[DatasetContext]):
    """Exports ``params['dataset']`` (optionally ``params['splits']``) from ``context.client``.

    Sets ``context.dataset = {'path', 'format': 'dm_v2', 'is_categorized', 'count'}``.
    Weight 0.1: exporting copies files, it is quick next to training.
    """

    @property
    def name(self) -> str:
        return "export_dataset"

    @property
    def progress_weight(self) -> float:
        return 0.1

    def execute(self, context: DatasetContext) -> StepResult:
        params: dict[str, Any] = getattr(context, "params", None) or {}
        dataset_id = params.get("dataset")
        if dataset_id is None:
            return StepResult(
                success=False,
                error=(
                    "ExportDatasetStep needs params['dataset'], the id of a dataset in the "
                    f"backend; got params keys {sorted(params)}. Pass dataset=<id> in the "
                    "action's params (see client.list_datasets())."
                ),
            )
        client = getattr(context, "client", None) or context.runtime_ctx.client
        work_dir, created = _work_dir(context)
        target = work_dir / "dm_v2"
        try:
            exported = client.export_dataset(
                dataset_id, target, params.get("splits"), progress=context.set_progress
            )
        except BaseException:
            # The backend leaves nothing half-written; the folder we made is ours to remove.
            if created:
                _remove(str(work_dir))
            raise
        context.dataset = {
            "path": exported["path"],
            "format": "dm_v2",
            "is_categorized": exported["is_categorized"],
            "count": exported["count"],
        }
        return StepResult(
            data=dict(context.dataset),
            rollback_data={
                "path": exported["path"],
                "work_dir": str(work_dir) if created else None,
            },
        )

    def rollback(self, context: DatasetContext, result: StepResult) -> None:
        _remove(result.rollback_data.get("path"))
        _remove(result.rollback_data.get("work_dir"))
        context.dataset = None


class ConvertDatasetStep(BaseStep[DatasetContext]):
    """Converts ``context.dataset['path']`` to ``target_format`` next to it.

    Sets ``context.dataset = {'path', 'config_path', 'format', 'is_categorized',
    'source_path'}``. Weight 0.1.
    """

    def __init__(self, target_format: str = "yolo", source_format: str = "dm_v2") -> None:
        self.target_format = target_format
        self.source_format = source_format

    @property
    def name(self) -> str:
        return "convert_dataset"

    @property
    def progress_weight(self) -> float:
        return 0.1

    def execute(self, context: DatasetContext) -> StepResult:
        from synapse_steps.datasets import convert

        previous = getattr(context, "dataset", None)
        if not isinstance(previous, dict) or not previous.get("path"):
            return StepResult(
                success=False,
                error=(
                    "ConvertDatasetStep needs context.dataset['path'] from a previous step such "
                    f"as ExportDatasetStep; context.dataset is {previous!r}. Register "
                    "ExportDatasetStep() before it, or set context.dataset = {'path': ...}."
                ),
            )
        source = Path(previous["path"])
        output = source.parent / self.target_format
        converted = convert(
            source, self.source_format, self.target_format, output, progress=context.set_progress
        )
        context.dataset = {
            "path": str(converted.path),
            "config_path": str(converted.config_path),
            "format": converted.format,
            "is_categorized": converted.is_categorized,
            "source_path": str(source),
        }
        return StepResult(
            data={**context.dataset, "conversion": converted.to_dict()},
            rollback_data={"path": str(converted.path), "previous": previous},
        )

    def rollback(self, context: DatasetContext, result: StepResult) -> None:
        _remove(result.rollback_data.get("path"))
        if "previous" in result.rollback_data:
            context.dataset = result.rollback_data["previous"]


def _remove(path: str | None) -> None:
    # Idempotent: a second rollback, or one after a half-done step, finds nothing to remove.
    if path:
        shutil.rmtree(path, ignore_errors=True)
