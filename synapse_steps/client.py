"""``BackendClient``: what the dataset steps and train actions ask of a backend.

``LocalBackend`` (the embedded store) satisfies it, and so can a client of your own (a Synapse
platform client, a mock in tests): define these methods and pass it as
``RuntimeContext(client=...)``. Only the methods a workflow uses need to work.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol, runtime_checkable


@runtime_checkable
class BackendClient(Protocol):
    def get_data_collection(self, dataset_id: int | str, splits: Any = None) -> Sequence[Any]:
        """The items of a dataset (``len()`` and iteration are what steps use)."""
        ...

    def export_dataset(
        self,
        dataset_id: int | str,
        output_dir: str | os.PathLike[str],
        splits: Any = None,
        *,
        overwrite: bool = False,
        progress: Callable[[int, int], None] | None = None,
    ) -> dict[str, Any]:
        """Write a dataset as DM v2 into ``output_dir``.

        Returns at least ``path``, ``is_categorized`` and ``count``.
        """
        ...

    def create_model(self, data: Mapping[str, Any]) -> dict[str, Any]:
        """Store a model (``data['file']``, ``data['name']``); returns a record with ``id``."""
        ...

    def delete_model(self, model_id: int | str) -> None:
        """Remove a model (used to roll an upload back)."""
        ...
