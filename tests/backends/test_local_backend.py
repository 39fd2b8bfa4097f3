"""LocalBackend datasets: import, records, data collections, export."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from synapse_steps.backends import (
    DataCollection,
    LocalBackend,
    MissingFileError,
    OutputExistsError,
)
from synapse_steps.errors import BackendError, DatasetError, NotFoundError

MakeDataset = Callable[..., Path]
AddItem = Callable[..., None]

RECORD_KEYS = {"id", "name", "format", "splits", "count", "is_categorized", "path", "created_at"}


def files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []


# -- import -----------------------------------------------------------------------------------


def test_import_categorized_keeps_splits_counts_and_maps_val_alias(
    backend: LocalBackend, make_dataset: MakeDataset
) -> None:
    source = make_dataset({"train": 3, "val": 2, "test": 1}, name="cars")
    dataset_id = backend.import_dataset(source)

    record = backend.get_dataset(dataset_id)
    assert record.keys() >= RECORD_KEYS
    assert record["id"] == dataset_id
    assert record["name"] == "cars"
    assert record["format"] == "dm_v2"
    assert record["is_categorized"] is True
    assert record["splits"] == {"train": 3, "valid": 2, "test": 1}
    assert list(record["splits"]) == ["train", "valid", "test"]
    assert record["count"] == 6
    stored = Path(record["path"])
    assert stored.is_relative_to(backend.root)
    assert files(stored) == ["test", "train", "valid"]
    assert files(stored / "valid" / "json") == ["val000.json", "val001.json"]
    assert files(stored / "valid" / "original_files") == ["val000.png", "val001.jpg"]


def test_import_uncategorized(backend: LocalBackend, make_dataset: MakeDataset) -> None:
    dataset_id = backend.import_dataset(make_dataset(4), name="flat")
    record = backend.get_dataset(dataset_id)
    assert record["is_categorized"] is False
    assert record["splits"] == {}
    assert record["count"] == 4
    assert files(Path(record["path"])) == ["json", "original_files"]
    assert len(files(Path(record["path"]) / "original_files")) == 4


def test_import_is_a_copy_independent_of_the_source(
    backend: LocalBackend, make_dataset: MakeDataset
) -> None:
    source = make_dataset({"train": 2})
    dataset_id = backend.import_dataset(source)
    shutil.rmtree(source)
    units = list(backend.get_data_collection(dataset_id))
    assert [u.stem for u in units] == ["train000", "train001"]
    assert all(u.image_path.is_file() for u in units)


def test_import_reports_unpaired_files_and_ignores_strays(
    backend: LocalBackend,
    make_dataset: MakeDataset,
    add_item: AddItem,
    caplog: pytest.LogCaptureFixture,
) -> None:
    source = make_dataset({"train": 2})
    (source / "train" / "json" / "lonely.json").write_text("{}")
    add_item(source / "train", "noann")
    (source / "train" / "json" / "noann.json").unlink()
    (source / "train" / "original_files" / "notes.txt").write_text("not an item")
    (source / "train" / "original_files" / ".DS_Store").write_bytes(b"\0")

    dataset_id = backend.import_dataset(source)

    record = backend.get_dataset(dataset_id)
    assert record["count"] == 2
    # Same rule and wording as a conversion's report (storage.layout): "<reason>: <path>".
    assert record["skipped"] == [
        "json without image: train/json/lonely.json",
        "image without json: train/original_files/noann.png",
    ]
    assert "2 file(s) not stored" in caplog.text
    assert "lonely.json" in caplog.text


def test_import_matches_image_extensions_case_insensitively(
    backend: LocalBackend, make_dataset: MakeDataset, add_item: AddItem
) -> None:
    source = make_dataset(1)
    add_item(source, "upper", ".PNG")
    assert backend.get_dataset(backend.import_dataset(source))["count"] == 2


def test_import_missing_folder_names_it(backend: LocalBackend, tmp_path: Path) -> None:
    missing = tmp_path / "nope"
    with pytest.raises(MissingFileError, match="nope") as info:
        backend.import_dataset(missing)
    assert isinstance(info.value, FileNotFoundError)
    assert isinstance(info.value, BackendError)


def test_import_bad_layout_explains_the_expected_one(backend: LocalBackend, tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetError, match=r"No json/ folder.*expected DM v2"):
        backend.import_dataset(tmp_path / "empty")
    assert backend.list_datasets() == []
    assert files(backend.root / "tmp") == []


def test_import_unknown_split_folder_is_not_silently_dropped(
    backend: LocalBackend, make_dataset: MakeDataset
) -> None:
    source = make_dataset({"train": 1, "holdout": 1})
    with pytest.raises(DatasetError, match=r"'holdout' is not a split name"):
        backend.import_dataset(source)


def test_import_ambiguous_split_aliases(backend: LocalBackend, make_dataset: MakeDataset) -> None:
    source = make_dataset({"val": 1, "valid": 1})
    with pytest.raises(DatasetError, match="both mean split 'valid'"):
        backend.import_dataset(source)


def test_import_rejects_symlink_escaping_the_dataset(
    backend: LocalBackend, make_dataset: MakeDataset, tmp_path: Path
) -> None:
    source = make_dataset({"train": 1})
    outside = tmp_path / "outside.png"
    shutil.copy(source / "train" / "original_files" / "train000.png", outside)
    link = source / "train" / "original_files" / "train000.png"
    link.unlink()
    os.symlink(outside, link)
    with pytest.raises(DatasetError, match=r"train000\.png.*outside the dataset folder"):
        backend.import_dataset(source)
    assert backend.list_datasets() == []


def test_import_unknown_format(backend: LocalBackend, make_dataset: MakeDataset) -> None:
    with pytest.raises(DatasetError, match=r"'pascal'.*dm_v2, yolo, coco"):
        backend.import_dataset(make_dataset(1), format="pascal")


# -- records ----------------------------------------------------------------------------------


def test_list_get_delete(backend: LocalBackend, make_dataset: MakeDataset) -> None:
    first = backend.import_dataset(make_dataset(1), name="a")
    second = backend.import_dataset(make_dataset({"train": 1}), name="b")
    assert [d["id"] for d in backend.list_datasets()] == [first, second]
    assert [d["name"] for d in backend.list_datasets()] == ["a", "b"]
    assert backend.get_dataset(str(second))["id"] == second  # ids from params may be strings

    stored = Path(backend.get_dataset(first)["path"])
    backend.delete_dataset(first)
    assert not stored.exists()
    assert [d["id"] for d in backend.list_datasets()] == [second]
    with pytest.raises(NotFoundError, match=rf"No dataset with id {first}.*ids: {second}"):
        backend.get_dataset(first)
    with pytest.raises(NotFoundError, match=rf"id {first}"):
        backend.delete_dataset(first)
    assert files(backend.root / "tmp") == []


def test_ids_are_never_reused(backend: LocalBackend, make_dataset: MakeDataset) -> None:
    first = backend.import_dataset(make_dataset(1))
    backend.delete_dataset(first)
    assert backend.import_dataset(make_dataset(1)) != first


def test_unknown_id_in_empty_store_hints_how_to_add(backend: LocalBackend) -> None:
    with pytest.raises(NotFoundError, match=r"id 42.*no datasets yet.*import_dataset"):
        backend.get_data_collection(42)
    with pytest.raises(LookupError, match="id is an int; got True"):
        backend.get_dataset(True)


def test_repr_shows_root_and_counts(backend: LocalBackend, make_dataset: MakeDataset) -> None:
    backend.import_dataset(make_dataset(1))
    assert repr(backend) == f"LocalBackend(root={str(backend.root)!r}, datasets=1, models=0)"


def test_default_root_from_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("SYNAPSE_STEPS_HOME", str(tmp_path / "home"))
    store = LocalBackend()
    assert store.root == tmp_path / "home"
    assert store.index_path == tmp_path / "home" / "index.sqlite3"
    assert store.list_datasets() == []  # the first operation opens (creates) the store
    assert store.index_path.is_file()


@pytest.mark.skipif(os.name != "posix" or os.uname().sysname == "Darwin", reason="XDG: Linux")
def test_default_root_follows_xdg(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from synapse_steps.backends import default_root

    monkeypatch.delenv("SYNAPSE_STEPS_HOME", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    assert default_root() == tmp_path / "xdg" / "synapse_steps"
    monkeypatch.setenv("XDG_DATA_HOME", "relative/ignored")  # invalid per the XDG spec
    monkeypatch.setenv("HOME", str(tmp_path / "user"))
    assert default_root() == tmp_path / "user" / ".local" / "share" / "synapse_steps"


# -- data collections -------------------------------------------------------------------------


def test_data_collection_len_iteration_and_lazy_annotations(
    backend: LocalBackend, make_dataset: MakeDataset
) -> None:
    dataset_id = backend.import_dataset(make_dataset({"train": 3, "valid": 2}))
    collection = backend.get_data_collection(dataset_id)
    assert isinstance(collection, DataCollection)
    assert len(collection) == 5
    assert collection.splits == {"train": 3, "valid": 2}
    units = list(collection)
    assert [(u.split, u.stem) for u in units] == [
        ("train", "train000"),
        ("train", "train001"),
        ("train", "train002"),
        ("valid", "valid000"),
        ("valid", "valid001"),
    ]
    unit = collection[3]
    assert unit.json_path.name == "valid000.json"
    assert unit.image_path.name == "valid000.png"
    assert "annotations" not in vars(unit)  # nothing parsed until asked
    box = unit.annotations["images"][0]["bounding_box"][0]
    assert box["data"] == [1.0, 2.0, 3.0, 4.0]
    assert unit.as_dict() == {
        "split": "valid",
        "stem": "valid000",
        "json": str(unit.json_path),
        "image": str(unit.image_path),
    }
    assert [u.stem for u in collection[-2:]] == ["valid000", "valid001"]
    assert repr(collection) == f"DataCollection(dataset={dataset_id}, items=5, train=3, valid=2)"


def test_data_collection_of_some_splits_and_uncategorized(
    backend: LocalBackend, make_dataset: MakeDataset
) -> None:
    categorized = backend.import_dataset(make_dataset({"train": 3, "valid": 2}))
    only_val = backend.get_data_collection(categorized, splits=["val"])
    assert len(only_val) == 2
    assert {u.split for u in only_val} == {"valid"}

    flat = backend.get_data_collection(backend.import_dataset(make_dataset(2)))
    assert len(flat) == 2
    assert [u.split for u in flat] == [None, None]


def test_data_collection_when_files_were_removed_behind_our_back(
    backend: LocalBackend, make_dataset: MakeDataset
) -> None:
    dataset_id = backend.import_dataset(make_dataset(1))
    shutil.rmtree(backend.get_dataset(dataset_id)["path"])
    with pytest.raises(BackendError, match=rf"files of dataset {dataset_id} are missing"):
        backend.get_data_collection(dataset_id)


# -- export -----------------------------------------------------------------------------------


@pytest.fixture
def stored(backend: LocalBackend, make_dataset: MakeDataset) -> int:
    return backend.import_dataset(make_dataset({"train": 3, "valid": 2, "test": 1}))


def test_export_all(backend: LocalBackend, stored: int, tmp_path: Path) -> None:
    out = tmp_path / "out" / "all"
    result = backend.export_dataset(stored, out)
    assert result == {
        "path": str(out),
        "format": "dm_v2",
        "is_categorized": True,
        "count": 6,
        "splits": {"train": 3, "valid": 2, "test": 1},
        "id": stored,
    }
    assert files(out) == ["test", "train", "valid"]
    assert len(files(out / "train" / "json")) == 3
    assert len(files(out / "train" / "original_files")) == 3
    assert files(tmp_path / "out") == ["all"]  # no staging folder left next to it
    exported = json.loads((out / "train" / "json" / "train000.json").read_text())
    assert exported["images"][0]["bounding_box"][0]["classification"] == "car"


def test_export_some_splits_with_alias(backend: LocalBackend, stored: int, tmp_path: Path) -> None:
    result = backend.export_dataset(stored, tmp_path / "sub", splits=["val", "train"])
    assert result["splits"] == {"train": 3, "valid": 2}
    assert result["count"] == 5
    assert files(tmp_path / "sub") == ["train", "valid"]
    single = backend.export_dataset(stored, tmp_path / "one", splits="validation")
    assert single["splits"] == {"valid": 2}


def test_export_then_reimport_round_trips(
    backend: LocalBackend, stored: int, tmp_path: Path
) -> None:
    backend.export_dataset(stored, tmp_path / "rt")
    again = backend.get_dataset(backend.import_dataset(tmp_path / "rt"))
    assert again["splits"] == backend.get_dataset(stored)["splits"]


def test_export_uncategorized(
    backend: LocalBackend, make_dataset: MakeDataset, tmp_path: Path
) -> None:
    dataset_id = backend.import_dataset(make_dataset(3))
    result = backend.export_dataset(dataset_id, tmp_path / "flat")
    assert (result["is_categorized"], result["count"], result["splits"]) == (False, 3, {})
    assert files(tmp_path / "flat") == ["json", "original_files"]
    with pytest.raises(DatasetError, match=r"uncategorized.*splits=None"):
        backend.export_dataset(dataset_id, tmp_path / "flat2", splits=["train"])


def test_export_bad_split_lists_available(
    backend: LocalBackend, stored: int, tmp_path: Path
) -> None:
    with pytest.raises(
        DatasetError, match=r"Unknown split 'dev' for dataset \d+; available splits: train, valid"
    ):
        backend.export_dataset(stored, tmp_path / "x", splits=["train", "dev"])
    with pytest.raises(DatasetError, match="splits is empty"):
        backend.export_dataset(stored, tmp_path / "x", splits=[])
    assert not (tmp_path / "x").exists()


def test_export_split_missing_from_this_dataset(
    backend: LocalBackend, make_dataset: MakeDataset, tmp_path: Path
) -> None:
    dataset_id = backend.import_dataset(make_dataset({"train": 1}))
    with pytest.raises(DatasetError, match=r"Unknown split 'test'.*available splits: train"):
        backend.export_dataset(dataset_id, tmp_path / "x", splits="test")


def test_export_output_dir_policy(backend: LocalBackend, stored: int, tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    assert backend.export_dataset(stored, empty)["count"] == 6

    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "keep.txt").write_text("mine")
    with pytest.raises(
        OutputExistsError, match=r"busy already exists and is not empty.*overwrite"
    ) as info:
        backend.export_dataset(stored, busy)
    assert isinstance(info.value, FileExistsError)
    assert files(busy) == ["keep.txt"]
    assert files(tmp_path) == ["busy", "empty", "source1", "store"]

    backend.export_dataset(stored, busy, splits=["test"], overwrite=True)
    assert files(busy) == ["test"]
    assert files(tmp_path) == ["busy", "empty", "source1", "store"]

    a_file = tmp_path / "file.txt"
    a_file.write_text("x")
    with pytest.raises(OutputExistsError, match="is a file"):
        backend.export_dataset(stored, a_file)


def test_export_unknown_id(backend: LocalBackend, tmp_path: Path) -> None:
    with pytest.raises(NotFoundError, match="id 7"):
        backend.export_dataset(7, tmp_path / "x")
