"""LocalBackend models: a stored copy with its checksum and metadata."""

from __future__ import annotations

import hashlib
import threading
from pathlib import Path

import pytest

from synapse_steps.backends import InvalidModelError, LocalBackend, MissingFileError
from synapse_steps.errors import NotFoundError

MODEL_KEYS = {"id", "name", "file", "size", "sha256", "created_at", "metadata"}


@pytest.fixture
def weights(tmp_path: Path) -> Path:
    path = tmp_path / "work" / "model.pt"
    path.parent.mkdir()
    path.write_bytes(b"\x00weights\x01" * 1000)
    return path


def test_create_get_list_delete(backend: LocalBackend, weights: Path) -> None:
    original = weights.read_bytes()
    model = backend.create_model(
        {"file": str(weights), "name": "trained-model", "epochs": 3, "metrics": {"map": 0.5}}
    )
    assert model.keys() >= MODEL_KEYS
    assert model["name"] == "trained-model"
    assert model["metadata"] == {"epochs": 3, "metrics": {"map": 0.5}}
    assert model["size"] == len(original)
    assert model["sha256"] == hashlib.sha256(original).hexdigest()
    assert model["original_file"] == str(weights)
    stored = Path(model["file"])
    assert stored.is_relative_to(backend.root)
    assert stored.name == "model.pt"
    assert stored != weights

    assert backend.get_model(model["id"]) == model
    assert backend.list_models() == [model]

    # The store keeps its own copy: the training folder can be cleaned up or overwritten.
    weights.write_bytes(b"changed")
    assert stored.read_bytes() == original
    weights.unlink()
    assert stored.read_bytes() == original

    backend.delete_model(model["id"])
    assert not stored.exists()
    assert not stored.parent.exists()
    assert backend.list_models() == []
    with pytest.raises(NotFoundError, match=rf"No model with id {model['id']}.*no models yet"):
        backend.get_model(model["id"])


def test_name_defaults_to_file_stem(backend: LocalBackend, weights: Path) -> None:
    assert backend.create_model({"file": weights})["name"] == "model"


def test_unknown_model_id_lists_existing(backend: LocalBackend, weights: Path) -> None:
    first = backend.create_model({"file": weights})["id"]
    with pytest.raises(NotFoundError, match=rf"id 999.*existing model ids: {first}"):
        backend.delete_model(999)


def test_missing_file_names_the_path(backend: LocalBackend, tmp_path: Path) -> None:
    missing = tmp_path / "gone" / "best.pt"
    with pytest.raises(MissingFileError, match=r"gone/best\.pt does not exist") as info:
        backend.create_model({"file": str(missing), "name": "x"})
    assert isinstance(info.value, FileNotFoundError)
    assert backend.list_models() == []
    assert list((backend.root / "tmp").iterdir()) == []


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"name": "no-file"}, "needs a mapping with a 'file' path"),
        ("model.pt", "needs a mapping"),
        ({"file": "WEIGHTS", "name": 5}, "'name' must be a string; got 5"),
        ({"file": "WEIGHTS", "when": object()}, "JSON-serialisable.*'when'"),
        ({"file": "FOLDER"}, "must be a file.*is a folder"),
    ],
)
def test_bad_input_says_what_to_fix(
    backend: LocalBackend, weights: Path, data: object, message: str
) -> None:
    if isinstance(data, dict) and data.get("file") == "WEIGHTS":
        data["file"] = weights
    if isinstance(data, dict) and data.get("file") == "FOLDER":
        data["file"] = weights.parent
    with pytest.raises(InvalidModelError, match=message) as info:
        backend.create_model(data)  # type: ignore[arg-type]
    assert isinstance(info.value, ValueError)


def test_threads_share_one_backend(backend: LocalBackend, weights: Path) -> None:
    ids: list[int] = []
    errors: list[BaseException] = []

    def work() -> None:
        try:
            for _ in range(5):
                ids.append(backend.create_model({"file": weights})["id"])
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len(ids) == len(set(ids)) == 20
    assert sorted(m["id"] for m in backend.list_models()) == sorted(ids)
