from __future__ import annotations

from pathlib import Path

import pytest

from synapse_steps.backends.local import LocalBackend
from synapse_steps.context import RuntimeContext
from synapse_steps.datasets.samples import make_detection_dataset
from synapse_steps.recorder import Recorder


@pytest.fixture(scope="session")
def sample_dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The shapes sample (60 images) in DM v2; read-only for the tests."""
    return make_detection_dataset(tmp_path_factory.mktemp("samples") / "shapes", n_images=60)


@pytest.fixture
def backend(tmp_path: Path) -> LocalBackend:
    return LocalBackend(tmp_path / "home")


@pytest.fixture
def dataset_id(backend: LocalBackend, sample_dataset: Path) -> int:
    return backend.import_dataset(sample_dataset, format="dm_v2", name="shapes")


@pytest.fixture
def runtime(backend: LocalBackend) -> RuntimeContext:
    return RuntimeContext(logger=Recorder(), client=backend)
