"""The store never loses data: exports into itself, a lost or damaged index, full disks."""

from __future__ import annotations

import errno
import logging
import os
import shutil
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from synapse_steps.backends import LocalBackend, OutputExistsError
from synapse_steps.errors import BackendError, NotFoundError

MakeDataset = Callable[..., Path]


def tree(folder: Path) -> list[str]:
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*"))


@pytest.fixture
def two_datasets(backend: LocalBackend, make_dataset: MakeDataset) -> tuple[int, int]:
    first = backend.import_dataset(make_dataset({"train": 3, "valid": 1}))
    second = backend.import_dataset(make_dataset(2))
    backend.create_model({"file": str(make_dataset(1) / "json" / "img000.json")})
    return first, second


@pytest.mark.parametrize(
    "where", ["root", "datasets", "other dataset", "models", "parent of root", "link to root"]
)
def test_export_into_or_over_the_store_is_refused(
    backend: LocalBackend, two_datasets: tuple[int, int], tmp_path: Path, where: str
) -> None:
    first, second = two_datasets
    link = tmp_path / "link"
    link.symlink_to(backend.root)
    target = {
        "root": backend.root,
        "datasets": backend.root / "datasets",
        "other dataset": backend.root / "datasets" / str(second),
        "models": backend.root / "models" / "new",
        "parent of root": tmp_path,
        "link to root": link,
    }[where]
    before = tree(backend.root)
    with pytest.raises(BackendError) as info:
        backend.export_dataset(first, target, overwrite=True)
    assert str(target) in str(info.value)
    assert str(backend.root) in str(info.value)
    assert tree(backend.root) == before
    assert [d["id"] for d in backend.list_datasets()] == [first, second]
    assert len(backend.get_data_collection(second)) == 2


def move_index_aside(backend: LocalBackend) -> Path:
    aside = backend.root.parent / "index-aside.sqlite3"
    for suffix in ("", "-wal", "-shm"):
        source = Path(f"{backend.index_path}{suffix}")
        if source.exists():
            source.rename(f"{aside}{suffix}")
    return aside


def test_a_missing_index_deletes_nothing_and_reports_the_folders(
    backend: LocalBackend,
    two_datasets: tuple[int, int],
    caplog: pytest.LogCaptureFixture,
) -> None:
    first, second = two_datasets
    before = tree(backend.root / "datasets") + tree(backend.root / "models")
    move_index_aside(backend)

    with caplog.at_level(logging.WARNING):
        reopened = LocalBackend(backend.root)
        assert reopened.list_datasets() == []
    assert tree(backend.root / "datasets") + tree(backend.root / "models") == before
    unindexed = reopened.unindexed()
    assert unindexed == [
        backend.root / "datasets" / str(first),
        backend.root / "datasets" / str(second),
        backend.root / "models" / "1",
    ]
    assert "reindex" in caplog.text
    assert str(backend.root / "datasets" / str(first)) in caplog.text

    # A new import never takes the id of a kept folder.
    new_id = reopened.reindex(unindexed[0], name="back")
    assert new_id > second
    record = reopened.get_dataset(new_id)
    assert (record["name"], record["count"], record["splits"]) == (
        "back",
        4,
        {"train": 3, "valid": 1},
    )
    model_id = reopened.reindex(backend.root / "models" / "1")
    assert reopened.get_model(model_id)["name"] == "img000"
    assert reopened.unindexed() == [backend.root / "datasets" / str(second)]

    reopened.remove_unindexed(backend.root / "datasets" / str(second))
    assert reopened.unindexed() == []
    with pytest.raises(NotFoundError, match="not an unindexed folder"):
        reopened.remove_unindexed(Path(record["path"]))  # an indexed dataset is refused
    assert Path(record["path"]).is_dir()


def test_an_older_index_copy_keeps_newer_folders(
    backend: LocalBackend, make_dataset: MakeDataset, tmp_path: Path
) -> None:
    first = backend.import_dataset(make_dataset(1))
    backup = tmp_path / "backup.sqlite3"
    shutil.copy(backend.index_path, backup)  # WAL checkpointed at close: the file is complete
    second = backend.import_dataset(make_dataset(2))
    move_index_aside(backend)
    shutil.copy(backup, backend.index_path)

    reopened = LocalBackend(backend.root)
    assert [d["id"] for d in reopened.list_datasets()] == [first]
    assert reopened.unindexed() == [backend.root / "datasets" / str(second)]
    third = reopened.import_dataset(make_dataset(3))
    assert third > second  # the kept folder's id is not reused (nor its folder replaced)
    assert len(list((backend.root / "datasets" / str(second) / "json").iterdir())) == 2


@pytest.mark.parametrize("damage", ["garbage", "truncated"])
def test_a_damaged_index_names_the_file_and_deletes_nothing(
    backend: LocalBackend, two_datasets: tuple[int, int], damage: str
) -> None:
    before = tree(backend.root / "datasets")
    index = backend.index_path
    if damage == "garbage":
        index.write_bytes(b"this is not sqlite" * 100)
    else:
        with index.open("r+b") as handle:
            handle.truncate(4096 + 100)  # header page kept, the rest cut mid-page
    for suffix in ("-wal", "-shm"):
        Path(f"{index}{suffix}").unlink(missing_ok=True)

    reopened = LocalBackend(backend.root)
    with pytest.raises(BackendError) as info:
        reopened.list_datasets()
    message = str(info.value)
    assert str(index) in message
    assert "aside" in message
    assert "kept" in message
    assert tree(backend.root / "datasets") == before


def test_construction_touches_no_disk(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = tmp_path / "not" / "yet"
    backend = LocalBackend(root)
    repr(backend)
    assert not (tmp_path / "not").exists()

    monkeypatch.setenv("SYNAPSE_STEPS_HOME", str(tmp_path / "home"))
    from synapse_steps.actions.train import TrainContext
    from synapse_steps.context import RuntimeContext

    runtime = RuntimeContext()
    client = runtime.client
    TrainContext(runtime_ctx=runtime)
    assert not (tmp_path / "home").exists()
    assert client.list_datasets() == []  # the first operation creates the store
    assert (tmp_path / "home" / "index.sqlite3").is_file()


def test_concurrent_first_operations_open_the_store_once(tmp_path: Path) -> None:
    backend = LocalBackend(tmp_path / "fresh")
    errors: list[BaseException] = []
    barrier = threading.Barrier(8)

    def first_use() -> None:
        barrier.wait()
        try:
            backend.list_models()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=first_use) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert backend._opened is not None


def mount_tmpfs(mount_point: Path, options: str) -> bool:
    """Mount a tmpfs (tests run as root); False where mounting is not permitted."""
    try:
        done = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(mount_point)],
            capture_output=True,
            check=False,
        )
    except OSError:
        return False
    return done.returncode == 0


def no_space(*_: object) -> None:
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


@pytest.fixture
def small_disk(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A real 2 MiB tmpfs; where mounting is not permitted, writes fail with ENOSPC instead."""
    mount_point = tmp_path / "small"
    mount_point.mkdir()
    if not mount_tmpfs(mount_point, "size=2m"):
        from synapse_steps.backends import local

        monkeypatch.setattr(local, "copy_hashing", no_space)
        yield mount_point
        return
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], check=False)


@pytest.mark.skipif(sys.platform != "linux", reason="mounts a tmpfs")
def test_full_disk_in_create_model_names_the_file(small_disk: Path, tmp_path: Path) -> None:
    backend = LocalBackend(small_disk / "store")
    weights = tmp_path / "big.pt"
    weights.write_bytes(os.urandom(3 * 1024 * 1024))
    with pytest.raises(BackendError) as info:
        backend.create_model({"file": str(weights)})
    assert isinstance(info.value, OSError)
    assert info.value.errno == errno.ENOSPC
    message = str(info.value)
    assert str(weights) in message
    assert str(backend.root) in message
    assert "No space left on device" in message
    assert isinstance(info.value.__cause__, OSError)
    assert backend.list_models() == []
    assert list((backend.root / "tmp").iterdir()) == []


def test_export_into_a_store_folder_of_another_store_is_refused(
    backend: LocalBackend, two_datasets: tuple[int, int], tmp_path: Path
) -> None:
    other = LocalBackend(tmp_path / "other")
    other.list_datasets()
    with pytest.raises(OutputExistsError, match="inside the synapse_steps local store"):
        backend.export_dataset(two_datasets[0], other.root / "datasets" / "5")
    assert not (other.root / "datasets" / "5").exists()


def test_export_target_filled_during_the_copy_is_never_replaced(
    backend: LocalBackend, two_datasets: tuple[int, int], tmp_path: Path
) -> None:
    out = tmp_path / "out"

    def other_process_publishes(done: int, total: int) -> None:
        if done == 1:
            out.mkdir(exist_ok=True)
            (out / "theirs.txt").write_text("winner")

    with pytest.raises(OutputExistsError, match="not empty any more"):
        backend.export_dataset(two_datasets[0], out, progress=other_process_publishes)
    assert sorted(p.name for p in out.iterdir()) == ["theirs.txt"]
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []


def test_a_backend_travels_to_another_process_by_its_root(tmp_path: Path) -> None:
    import pickle

    backend = LocalBackend(tmp_path / "store")
    backend.list_datasets()  # opened here
    copy = pickle.loads(pickle.dumps(backend))
    assert copy.root == backend.root
    assert copy.list_datasets() == []  # opens itself on first use
