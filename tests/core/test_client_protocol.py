"""``BackendClient``: the local store satisfies it, and a user's own client works with the steps."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from synapse_steps import RuntimeContext
from synapse_steps.backends import LocalBackend
from synapse_steps.client import BackendClient
from synapse_steps.steps import (
    DatasetContext,
    ExportDatasetStep,
    Orchestrator,
    StepRegistry,
)


class MyClient:
    """A client of the user's own (e.g. a mock of the platform)."""

    def __init__(self) -> None:
        self.exported: list[tuple[Any, Path]] = []

    def get_data_collection(self, dataset_id: int | str, splits: Any = None) -> Sequence[Any]:
        return ["a", "b"]

    def export_dataset(
        self,
        dataset_id: int | str,
        output_dir: Any,
        splits: Any = None,
        *,
        overwrite: bool = False,
        progress: Callable[[int, int], None] | None = None,
    ) -> dict[str, Any]:
        self.exported.append((dataset_id, Path(output_dir)))
        if progress is not None:
            progress(1, 1)
        return {"path": str(output_dir), "is_categorized": False, "count": 1}

    def create_model(self, data: Mapping[str, Any]) -> dict[str, Any]:
        return {"id": 1, **data}

    def delete_model(self, model_id: int | str) -> None:
        return None


def test_the_local_store_and_a_users_client_are_backend_clients(tmp_path: Path) -> None:
    assert isinstance(LocalBackend(tmp_path / "store"), BackendClient)
    assert isinstance(MyClient(), BackendClient)
    assert not (tmp_path / "store").exists()  # checking it opened nothing


def test_the_export_step_uses_a_users_client(tmp_path: Path) -> None:
    client = MyClient()
    context = DatasetContext(
        runtime_ctx=RuntimeContext(display="off", client=client),
        params={"dataset": 7, "output_dir": str(tmp_path / "run")},
    )
    assert context.client is client
    registry = StepRegistry[DatasetContext]()
    registry.register(ExportDatasetStep())
    Orchestrator(registry, context, journal=False).execute()
    assert client.exported == [(7, tmp_path / "run" / "dm_v2")]
    assert context.dataset["count"] == 1
