"""Real trainings on the CPU: Ultralytics YOLO, Lightning, Keras 3 (``make test-ml``).

Every test here is marked ``ml``; ``make test`` does not collect this folder. Ultralytics keeps
its settings in a session folder (never the home folder) and runs offline; Keras uses PyTorch.
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

# Before any framework is imported (collection imports the test modules).
os.environ.setdefault("KERAS_BACKEND", "torch")
os.environ.setdefault("YOLO_OFFLINE", "1")
if "YOLO_CONFIG_DIR" not in os.environ:
    _settings = tempfile.mkdtemp(prefix="synapse_steps_yolo_settings_")
    os.environ["YOLO_CONFIG_DIR"] = _settings
    atexit.register(shutil.rmtree, _settings, ignore_errors=True)

from synapse_steps.backends.local import LocalBackend
from synapse_steps.datasets import convert
from synapse_steps.datasets.samples import make_detection_dataset
from synapse_steps.events import ProgressReported

#: Tiny on purpose: two cores are shared; these are checks of the wiring, not of learning.
SAMPLE_IMAGES = 20  # 14 train, 4 valid, 2 test
IMGSZ = 64


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.ml)


@pytest.fixture(scope="session")
def shapes(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The sample detection dataset (DM v2), small: train, valid and test splits."""
    return make_detection_dataset(
        tmp_path_factory.mktemp("samples") / "shapes", n_images=SAMPLE_IMAGES
    )


@pytest.fixture(scope="session")
def yolo_yaml(shapes: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Its YOLO conversion's ``dataset.yaml``."""
    converted = convert(shapes, "dm_v2", "yolo", tmp_path_factory.mktemp("yolo") / "shapes")
    return Path(converted.config_path)


@pytest.fixture
def backend(tmp_path: Path) -> LocalBackend:
    return LocalBackend(tmp_path / "store")


@pytest.fixture
def dataset_id(backend: LocalBackend, shapes: Path) -> int:
    return backend.import_dataset(shapes, format="dm_v2", name="shapes")


class Progress:
    """A front end keeping every progress record (what the live view and the journal get)."""

    def __init__(self) -> None:
        self.records: list[ProgressReported] = []

    def on_progress(self, record: ProgressReported) -> None:
        self.records.append(record)

    def of(self, category: str) -> list[tuple[float, float]]:
        return [(r.current, r.total) for r in self.records if r.category == category]


@pytest.fixture
def progress() -> Iterator[Progress]:
    return Progress()


def series(store: Any, category: str) -> dict[str, tuple[list[float], list[float]]]:
    """Every metric of a category as (x values, y values)."""
    return {name: (list(s.x), list(s.y)) for name, s in store.series.get(category, {}).items()}


def pytest_configure(config: pytest.Config) -> None:
    # The frameworks' own deprecation notices (Keras on numpy 2, Lightning on torch 2.14): theirs.
    for rule in (
        "ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning",
        "ignore:.*LeafSpec.*is deprecated:FutureWarning",
    ):
        config.addinivalue_line("filterwarnings", rule)
