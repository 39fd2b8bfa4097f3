"""Fixtures for the dataset tests (helpers live in ``dataset_helpers``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from synapse_steps.datasets import make_detection_dataset


@pytest.fixture(scope="session")
def sample_dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 40-image synthetic DM v2 dataset (read-only: tests must not modify it)."""
    return make_detection_dataset(tmp_path_factory.mktemp("samples") / "dm", n_images=40, seed=3)
