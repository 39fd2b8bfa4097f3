"""Conversions never delete what they did not write, and a killed one leaves nothing running.

Real processes: conversions are killed with SIGKILL / SIGTERM, and two race for one output.
"""

from __future__ import annotations

import errno
import os
import secrets
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from dataset_helpers import box, write_item
from PIL import Image

from synapse_steps.backends import LocalBackend
from synapse_steps.datasets import convert, make_detection_dataset
from synapse_steps.errors import DatasetError
from synapse_steps.storage.owner import start_time

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="uses /proc, signals and mounts")


@pytest.fixture(scope="module")
def big_dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """2,000 items: the size at which converters hand writes to a child process."""
    root = tmp_path_factory.mktemp("big") / "dm"
    return make_detection_dataset(
        root, n_images=2000, seed=1, image_size=(32, 24), distinct_images=10
    )


def hidden(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


def dead_pid() -> int:
    done = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    return int(done.stdout)


def children_of(pid: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            if int(stat[stat.rindex(")") + 2 :].split()[1]) == pid:
                found.append(int(entry))
    return found


def running(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rindex(")") + 2] not in "ZX"  # a zombie is dead, merely not reaped


KILLED_CONVERSION = textwrap.dedent(
    """
    import os, sys, time
    from synapse_steps.datasets import convert

    def children_of(pid):
        found = []
        for entry in os.listdir("/proc"):
            try:
                stat = open(f"/proc/{entry}/stat").read() if entry.isdigit() else ""
            except OSError:
                continue
            if stat and int(stat[stat.rindex(")") + 2 :].split()[1]) == pid:
                found.append(int(entry))
        return found

    source, output, pid_file = sys.argv[1:4]

    def progress(done, total):
        if done == 500:
            with open(pid_file, "w") as f:
                f.write(" ".join(map(str, children_of(os.getpid()))))
            print("ready", flush=True)
            time.sleep(120)  # killed here, mid-conversion, with the writer child working

    convert(source, "dm_v2", "yolo", output, progress=progress, writer_process=True)
    """
)


def start_and_kill(source: Path, output: Path, tmp_path: Path, sig: int) -> list[int]:
    pid_file = tmp_path / f"children-{sig}"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-c",
            KILLED_CONVERSION,
            str(source),
            str(output),
            str(pid_file),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    assert line == "ready\n", proc.stderr.read() if proc.stderr else ""
    children = [int(p) for p in pid_file.read_text().split()]
    assert children, "the conversion did not start a writer process"
    proc.send_signal(sig)
    proc.wait(timeout=30)
    proc.stdout.close()
    if proc.stderr:
        proc.stderr.close()
    return children


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM], ids=["SIGKILL", "SIGTERM"])
def test_killed_conversion_leaves_no_writer_process(
    big_dataset: Path, tmp_path: Path, sig: int
) -> None:
    children = start_and_kill(big_dataset, tmp_path / "out", tmp_path, sig)
    deadline = time.monotonic() + 15
    while any(running(pid) for pid in children) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert [pid for pid in children if running(pid)] == []


def test_killed_conversion_temp_folder_is_swept_by_the_next_run(
    big_dataset: Path, tmp_path: Path
) -> None:
    output = tmp_path / "out"
    children = start_and_kill(big_dataset, output, tmp_path, signal.SIGKILL)
    deadline = time.monotonic() + 15
    while any(running(pid) for pid in children) and time.monotonic() < deadline:
        time.sleep(0.1)
    left = hidden(tmp_path)
    assert len(left) == 1
    assert left[0].startswith(".out.tmp-")

    # Folders that are not ours to remove: a live owner's, another output's, not our pattern.
    parent = os.getppid()
    live = tmp_path / f".out.tmp-{parent}-{start_time(parent)}-{secrets.token_hex(6)}"
    other = tmp_path / f".other.tmp-{dead_pid()}-0-{secrets.token_hex(6)}"
    foreign = tmp_path / ".out.tmp-notours"
    for folder in (live, other, foreign):
        folder.mkdir()

    result = convert(big_dataset, "dm_v2", "yolo", output)
    assert result.items_written == 2000
    assert hidden(tmp_path) == sorted([live.name, other.name, foreign.name])


def test_an_output_moved_aside_by_a_killed_overwrite_is_put_back(
    sample_dataset: Path, tmp_path: Path
) -> None:
    aside = tmp_path / f".out.old-{dead_pid()}-0-{secrets.token_hex(6)}"
    aside.mkdir()
    (aside / "mine.txt").write_text("precious")
    with pytest.raises(DatasetError, match="not empty"):
        convert(sample_dataset, "dm_v2", "yolo", tmp_path / "out")
    assert (tmp_path / "out" / "mine.txt").read_text() == "precious"
    assert hidden(tmp_path) == []


RACER = textwrap.dedent(
    """
    import sys
    from synapse_steps.datasets import convert
    from synapse_steps.errors import DatasetError

    source = sys.argv[1]
    for line in sys.stdin:
        try:
            convert(source, "dm_v2", "yolo", line.strip())
            print("won", flush=True)
        except DatasetError as error:
            print("lost", str(error).replace("\\n", " "), flush=True)
    """
)


def test_two_racing_conversions_one_wins_and_nothing_is_deleted(
    sample_dataset: Path, tmp_path: Path
) -> None:
    trials = 30
    racers = [
        subprocess.Popen(
            [sys.executable, "-c", RACER, str(sample_dataset)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    expected = sorted(
        p.name
        for p in convert(sample_dataset, "dm_v2", "yolo", tmp_path / "reference").path.iterdir()
    )
    try:
        for trial in range(trials):
            output = tmp_path / f"race{trial}"
            for racer in racers:
                assert racer.stdin is not None
                racer.stdin.write(f"{output}\n")
                racer.stdin.flush()
            answers = [racer.stdout.readline().split(" ", 1) for racer in racers]  # type: ignore[union-attr]
            outcomes = sorted(answer[0].strip() for answer in answers)
            assert outcomes == ["lost", "won"], answers
            loser = next(answer[1] for answer in answers if answer[0] == "lost")
            assert str(output) in loser
            assert "not empty" in loser
            assert sorted(p.name for p in output.iterdir()) == expected
            labels = list((output / "train" / "labels").iterdir())
            assert len(labels) == len(list((sample_dataset / "train" / "json").iterdir()))
        assert hidden(tmp_path) == []
    finally:
        for racer in racers:
            assert racer.stdin is not None
            racer.stdin.close()
            racer.wait(timeout=60)
            assert racer.stdout is not None
            racer.stdout.close()


@pytest.mark.parametrize("where", ["root", "dataset folder", "store without index"])
def test_conversion_into_a_store_is_refused(
    sample_dataset: Path, tmp_path: Path, where: str
) -> None:
    backend = LocalBackend(tmp_path / "store")
    backend.list_datasets()
    if where == "store without index":
        backend.index_path.rename(tmp_path / "aside.sqlite3")
    output = {
        "root": backend.root,
        "dataset folder": backend.root / "datasets" / "1",
        "store without index": backend.root / "datasets" / "1",
    }[where]
    with pytest.raises(DatasetError, match="local store"):
        convert(sample_dataset, "dm_v2", "yolo", output, overwrite=True)
    assert not (backend.root / "datasets" / "1").exists()


def test_overwriting_a_folder_that_holds_a_store_is_refused(
    sample_dataset: Path, tmp_path: Path
) -> None:
    backend = LocalBackend(tmp_path / "work" / "store")
    backend.list_datasets()
    with pytest.raises(DatasetError, match="contains the synapse_steps local store"):
        convert(sample_dataset, "dm_v2", "yolo", tmp_path / "work", overwrite=True)
    assert backend.index_path.is_file()


def test_symlinked_output_is_published_into_the_linked_folder(
    sample_dataset: Path, tmp_path: Path
) -> None:
    real = tmp_path / "real"
    real.mkdir()
    link = tmp_path / "link"
    link.symlink_to(real)
    result = convert(sample_dataset, "dm_v2", "yolo", link)
    assert link.is_symlink()
    assert (real / "dataset.yaml").is_file()
    assert result.items_written == 40

    result = convert(sample_dataset, "dm_v2", "coco", link, overwrite=True)
    assert link.is_symlink()
    assert (real / "annotations").is_dir()
    assert not (real / "dataset.yaml").exists()
    assert hidden(tmp_path) == []


def test_dangling_symlink_output_is_refused_up_front(sample_dataset: Path, tmp_path: Path) -> None:
    link = tmp_path / "link"
    link.symlink_to(tmp_path / "nowhere")
    with pytest.raises(DatasetError, match="symlink"):
        convert(sample_dataset, "dm_v2", "yolo", link)
    assert not (tmp_path / "nowhere").exists()
    assert hidden(tmp_path) == []


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
        from synapse_steps.datasets import files

        monkeypatch.setattr(files, "_write_all", no_space)
        monkeypatch.setattr(files, "_copy_descriptor", no_space)
        yield mount_point
        return
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], check=False)


def noisy_dataset(root: Path, n: int) -> Path:
    """Images that do not compress (about 900 KB each): a few fill a small disk."""
    for i in range(n):
        _, image = write_item(root, None, f"img{i}", {"bounding_box": [box("car", 1, 1, 5, 5)]})
        Image.frombytes("RGB", (640, 480), os.urandom(640 * 480 * 3)).save(image)
    return root


@pytest.mark.parametrize("target", ["yolo", "coco"])
def test_full_disk_names_the_output_and_the_source(
    small_disk: Path, tmp_path: Path, target: str
) -> None:
    source = noisy_dataset(tmp_path / "noisy", 4)
    output = small_disk / "out"
    with pytest.raises(DatasetError) as info:
        convert(source, "dm_v2", target, output)
    error = info.value
    assert isinstance(error, OSError)
    assert error.errno == errno.ENOSPC
    assert str(output) in str(error)
    assert str(source) in str(error)
    assert "No space left on device" in str(error)
    assert isinstance(error.__cause__, OSError)
    assert list(small_disk.iterdir()) == []


def test_read_only_parent_names_the_output_not_a_temp_path(
    sample_dataset: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    parent = tmp_path / "ro"
    parent.mkdir()
    if not mount_tmpfs(parent, "ro,size=1m"):
        from synapse_steps.storage import output

        def read_only(parent: Path, name: str, kind: str) -> Path:
            path = parent / f".{name}.{kind}-1-1-000000000000"
            raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(path))

        monkeypatch.setattr(output, "make_staging", read_only)
    try:
        with pytest.raises(DatasetError) as info:
            convert(sample_dataset, "dm_v2", "yolo", parent / "out")
    finally:
        subprocess.run(["umount", "-l", str(parent)], check=False)
    message = str(info.value)
    assert str(parent / "out") in message
    assert "read-only" in message.lower()
    assert ".out.tmp" not in message


def test_a_reused_pid_does_not_keep_a_temp_folder(sample_dataset: Path, tmp_path: Path) -> None:
    # The pid is alive (our parent), but it started at another time: a different process.
    parent = os.getppid()
    reused = tmp_path / f".out.tmp-{parent}-{start_time(parent) + 1}-{secrets.token_hex(6)}"
    reused.mkdir()
    convert(sample_dataset, "dm_v2", "yolo", tmp_path / "out")
    assert hidden(tmp_path) == []


@pytest.mark.parametrize("appeared", ["file in a new folder", "file in the empty folder"])
def test_output_filled_during_the_conversion_is_never_replaced(
    sample_dataset: Path, tmp_path: Path, appeared: str
) -> None:
    output = tmp_path / "out"
    if appeared == "file in the empty folder":
        output.mkdir()

    def other_process_publishes(done: int, total: int) -> None:
        if done == 5:  # after the up-front check, before the final rename
            output.mkdir(exist_ok=True)
            (output / "theirs.txt").write_text("winner")

    with pytest.raises(DatasetError, match="not empty any more") as info:
        convert(sample_dataset, "dm_v2", "yolo", output, progress=other_process_publishes)
    assert str(output) in str(info.value)
    assert sorted(p.name for p in output.iterdir()) == ["theirs.txt"]
    assert hidden(tmp_path) == []
