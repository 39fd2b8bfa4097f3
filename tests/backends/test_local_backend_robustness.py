"""LocalBackend under interruption, crashes and concurrent processes."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from synapse_steps.backends import LocalBackend
from synapse_steps.errors import BackendError

MakeDataset = Callable[..., Path]


def interrupt_copy_after(monkeypatch: pytest.MonkeyPatch, k: int) -> list[Path]:
    """Make the (k+1)-th ``shutil.copy2`` raise KeyboardInterrupt, like Ctrl-C mid-copy."""
    real_copy2 = shutil.copy2
    copied: list[Path] = []

    def flaky_copy2(src: Any, dst: Any, *args: Any, **kwargs: Any) -> Any:
        if len(copied) >= k:
            raise KeyboardInterrupt
        copied.append(Path(dst))
        return real_copy2(src, dst, *args, **kwargs)

    monkeypatch.setattr(shutil, "copy2", flaky_copy2)
    return copied


def entries(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def test_interrupted_import_leaves_nothing(
    backend: LocalBackend, make_dataset: MakeDataset, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = make_dataset({"train": 4, "valid": 2})
    copied = interrupt_copy_after(monkeypatch, 5)
    with pytest.raises(KeyboardInterrupt):
        backend.import_dataset(source)
    assert len(copied) == 5  # it really stopped half-way
    assert backend.list_datasets() == []
    assert entries(backend.root / "datasets") == []
    assert entries(backend.root / "tmp") == []

    monkeypatch.undo()
    assert backend.get_dataset(backend.import_dataset(source))["count"] == 6


def test_interrupted_export_leaves_nothing(
    backend: LocalBackend,
    make_dataset: MakeDataset,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    dataset_id = backend.import_dataset(make_dataset({"train": 4}))
    (tmp_path / "exports").mkdir()
    interrupt_copy_after(monkeypatch, 3)
    with pytest.raises(KeyboardInterrupt):
        backend.export_dataset(dataset_id, tmp_path / "exports" / "out")
    assert entries(tmp_path / "exports") == []


def test_interrupted_overwrite_keeps_the_old_content(
    backend: LocalBackend,
    make_dataset: MakeDataset,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    dataset_id = backend.import_dataset(make_dataset({"train": 4}))
    out = tmp_path / "out"
    out.mkdir()
    (out / "previous.txt").write_text("still here")
    interrupt_copy_after(monkeypatch, 2)
    with pytest.raises(KeyboardInterrupt):
        backend.export_dataset(dataset_id, out, overwrite=True)
    assert entries(out) == ["previous.txt"]
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []


def test_failed_move_rolls_back_the_row(
    backend: LocalBackend, make_dataset: MakeDataset, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_replace = os.replace
    refused: list[Path] = []

    def refuse_final_move(src: Any, dst: Any) -> None:
        if Path(dst).parent == backend.root / "datasets" and Path(src).name == "data":
            refused.append(Path(dst))
            raise OSError("disk on fire")
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", refuse_final_move)
    with pytest.raises(OSError, match="disk on fire"):
        backend.import_dataset(make_dataset(2))
    monkeypatch.undo()
    assert len(refused) == 1  # it failed at the move into place, inside the transaction
    assert backend.list_datasets() == []
    assert entries(backend.root / "datasets") == []
    assert entries(backend.root / "tmp") == []


def dead_pid() -> int:
    finished = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    return int(finished.stdout)


@pytest.mark.skipif(sys.platform == "win32", reason="pid liveness is checked on POSIX only")
def test_opening_removes_what_a_crashed_process_left(
    backend: LocalBackend, make_dataset: MakeDataset
) -> None:
    # Changed with the journal: only folders the store marked as in progress are removed; a
    # folder without a row and without a journal entry is kept (see test_store_safety.py).
    kept = backend.import_dataset(make_dataset(1))
    root = backend.root
    abandoned = root / "tmp" / f".import-{dead_pid()}-abc123"
    (abandoned / "data" / "json").mkdir(parents=True)
    live = root / "tmp" / f".import-{os.getppid()}-def456"  # owner alive: must be kept
    live.mkdir()
    orphan = root / "datasets" / "999"  # renamed into place, but the commit never happened
    (orphan / "json").mkdir(parents=True)
    (root / "journal" / "dataset-999").touch()  # ... which the journal entry says

    reopened = LocalBackend(root)

    assert [d["id"] for d in reopened.list_datasets()] == [kept]
    assert entries(root / "tmp") == [live.name]
    assert entries(root / "datasets") == [str(kept)]
    assert entries(root / "journal") == []


WORKER = textwrap.dedent(
    """
    import sys
    from synapse_steps.backends import LocalBackend

    root, source, weights, n = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    sys.stdin.readline()  # start line: both processes begin together, opening included
    backend = LocalBackend(root)
    for i in range(n):
        print("dataset", backend.import_dataset(source, name=f"d{i}"), flush=True)
        print("model", backend.create_model({"file": weights, "i": i})["id"], flush=True)
    """
)


def test_two_processes_share_one_store(make_dataset: MakeDataset, tmp_path: Path) -> None:
    n = int(os.environ.get("SYNAPSE_STEPS_STRESS_N", "20"))
    root = tmp_path / "shared-store"
    source = make_dataset({"train": 3, "valid": 2})
    weights = tmp_path / "w.bin"
    weights.write_bytes(os.urandom(4096))
    # Both open a store that does not exist yet: schema creation races too.
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER, str(root), str(source), str(weights), str(n)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    for proc in procs:
        assert proc.stdin is not None
        proc.stdin.write("go\n")
        proc.stdin.flush()
    outputs = [proc.communicate(timeout=300) for proc in procs]
    for proc, (_, err) in zip(procs, outputs, strict=True):
        assert proc.returncode == 0, err

    lines = [line.split() for out, _ in outputs for line in out.splitlines()]
    dataset_ids = [int(i) for kind, i in lines if kind == "dataset"]
    model_ids = [int(i) for kind, i in lines if kind == "model"]
    assert len(dataset_ids) == len(set(dataset_ids)) == 2 * n
    assert len(model_ids) == len(set(model_ids)) == 2 * n

    with sqlite3.connect(root / "index.sqlite3") as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert conn.execute("SELECT COUNT(*) FROM datasets").fetchone()[0] == 2 * n
        assert conn.execute("SELECT COUNT(*) FROM models").fetchone()[0] == 2 * n
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    conn.close()

    backend = LocalBackend(root)
    assert sorted(d["id"] for d in backend.list_datasets()) == sorted(dataset_ids)
    assert entries(root / "datasets") == sorted(str(i) for i in dataset_ids)
    assert entries(root / "models") == sorted(str(i) for i in model_ids)
    assert entries(root / "tmp") == []
    assert all(len(backend.get_data_collection(i)) == 5 for i in dataset_ids)
    digests = {m["sha256"] for m in backend.list_models()}
    assert len(digests) == 1


def test_newer_schema_is_refused(tmp_path: Path) -> None:
    LocalBackend(tmp_path / "s").list_datasets()
    with sqlite3.connect(tmp_path / "s" / "index.sqlite3") as conn:
        conn.execute("PRAGMA user_version = 99")
    conn.close()
    with pytest.raises(BackendError, match="schema version 99, newer"):
        LocalBackend(tmp_path / "s").list_datasets()
