"""The small crop classifier and the terminal demo built on it."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from synapse_steps.datasets import convert
from synapse_steps.demo import main as demo_main
from synapse_steps.errors import DatasetError
from synapse_steps.training import CropClassifier, load_yolo_crops, train_crop_classifier


@pytest.fixture(scope="module")
def yolo_root(sample_dataset: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("yolo") / "yolo"
    return convert(sample_dataset, "dm_v2", "yolo", out).path


def test_classifier_learns_shapes(yolo_root: Path) -> None:
    seen: list[int] = []
    model, history = train_crop_classifier(
        yolo_root, 12, on_epoch=lambda metrics: seen.append(metrics.epoch)
    )
    assert seen == list(range(12))
    assert history[-1].loss < history[0].loss
    assert history[-1].val_accuracy is not None
    assert history[-1].val_accuracy > 0.5
    assert model.names == ["circle", "square", "triangle"]
    assert set(history[-1].as_dict()) == {"epoch", "loss", "accuracy", "val_loss", "val_accuracy"}


def test_saved_model_predicts_the_same(yolo_root: Path, tmp_path: Path) -> None:
    model, _ = train_crop_classifier(yolo_root, 3)
    x, _, _ = load_yolo_crops(yolo_root, "valid")
    loaded = CropClassifier.load(model.save(tmp_path / "model.npz"))
    assert loaded.names == model.names
    assert loaded.predict(x) == model.predict(x)
    np.testing.assert_allclose(loaded.probabilities(x), model.probabilities(x))


def test_crops_need_a_dataset_yaml(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match=r"dataset\.yaml.*'names' list"):
        load_yolo_crops(tmp_path, "train")


def test_demo_runs_the_main_job_end_to_end(capsys: pytest.CaptureFixture[str]) -> None:
    assert demo_main(["--images", "40", "--epochs", "3"]) == 0
    out = capsys.readouterr().out
    assert "imported sample dataset #1: 40 images" in out
    assert (
        "Run: 4 steps [export_dataset 0.1, convert_dataset 0.1, train 0.7, upload_model 0.1]" in out
    )
    assert "run succeeded - 4 of 4 steps executed" in out
    assert "classes:        circle, square, triangle" in out
    assert "model #1:" in out


def test_the_demo_leaves_the_users_store_as_it_was(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    home = tmp_path / "home"
    monkeypatch.setenv("SYNAPSE_STEPS_HOME", str(home))
    assert demo_main(["--images", "40", "--epochs", "2"]) == 0
    out = capsys.readouterr().out
    assert not home.exists()  # no dataset, model or run journal added to the user's store
    store = Path(out.split("store:", 1)[1].split()[0])
    assert "(temporary, removed now; --real-store keeps" in out
    assert not store.exists()
    assert os.environ["SYNAPSE_STEPS_HOME"] == str(home)


def test_the_demo_keeps_its_work_in_the_users_store_when_asked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from synapse_steps.backends.local import LocalBackend
    from synapse_steps.journal import runs

    home = tmp_path / "home"
    monkeypatch.setenv("SYNAPSE_STEPS_HOME", str(home))
    assert demo_main(["--images", "40", "--epochs", "2", "--real-store"]) == 0
    assert "store:" not in capsys.readouterr().out
    backend = LocalBackend(home)
    assert [model["id"] for model in backend.list_models()] == [1]
    assert len(backend.list_datasets()) == 1
    assert [run.status for run in runs(path=home)] == ["succeeded"]
