"""Small file operations shared by the readers and writers, tuned for thousands of tiny files.

They talk to ``os`` directly: for files of a few kilobytes, ``open()``'s buffered-text machinery
costs more than the read or write itself.
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

_CHUNK = 1 << 16
_CREATE = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_BINARY", 0)
_READ = os.O_RDONLY | getattr(os, "O_BINARY", 0)


def read_bytes(path: str | os.PathLike[str]) -> bytes:
    """Read a whole file."""
    descriptor = os.open(path, _READ)
    try:
        chunks = []
        while chunk := os.read(descriptor, _CHUNK):
            chunks.append(chunk)
        return b"".join(chunks)
    finally:
        os.close(descriptor)


def write_bytes(path: str | os.PathLike[str], data: bytes) -> None:
    """Create or truncate ``path`` and write ``data`` to it."""
    descriptor = os.open(path, _CREATE, 0o666)
    try:
        _write_all(descriptor, data)
    finally:
        os.close(descriptor)


def _write_all(descriptor: int, data: bytes) -> None:
    written = os.write(descriptor, data)
    while written < len(data):  # short writes are legal; finish the job
        written += os.write(descriptor, data[written:])


def write_text(path: str | os.PathLike[str], text: str) -> None:
    """Write UTF-8 text."""
    write_bytes(path, text.encode("utf-8"))


def copy_image(
    source: str | os.PathLike[str], target: str | os.PathLike[str], link: bool = False
) -> None:
    """Copy ``source`` to ``target``; with ``link`` hard-link instead when the filesystem allows.

    A hard link costs no space or time, but the two names then share one file: editing the
    output image edits the source. That is why copying is the default.
    """
    if link:
        try:
            os.link(source, target)
            return
        except OSError:
            pass  # other device, or a filesystem without hard links: fall back to a copy
    source_fd = os.open(source, _READ)
    try:
        target_fd = os.open(target, _CREATE, 0o666)
        try:
            _copy_descriptor(source_fd, target_fd)
        finally:
            os.close(target_fd)
    finally:
        os.close(source_fd)


def _copy_descriptor(source_fd: int, target_fd: int) -> None:
    # In-kernel copies first (copy_file_range can even share blocks on btrfs / XFS), then a plain
    # read/write loop where the platform has neither.
    copy_range = getattr(os, "copy_file_range", None)
    if copy_range is not None:
        try:
            while copy_range(source_fd, target_fd, 1 << 30):
                pass
            return
        except OSError:
            pass
    while chunk := os.read(source_fd, 1 << 20):
        _write_all(target_fd, chunk)


class BackgroundWriter:
    """Runs file writes on one helper thread while the caller parses the next item.

    Creating a file and copying an image are system calls that release the GIL, so on two cores
    they overlap with JSON parsing almost for free. Work is handed over in batches (one hand-over
    per item would cost as much as the write) and at most ``max_pending`` batches wait, which
    bounds memory. Use it as a context manager: on success it waits for every write and re-raises
    the first write error; on error (KeyboardInterrupt included) it drops queued batches and
    waits for the running one, so nobody deletes a folder the thread is still writing into.
    """

    def __init__(self, batch_size: int = 64, max_pending: int = 4) -> None:
        self._batch_size = batch_size
        self._max_pending = max_pending
        self._batch: list[tuple[Callable[..., None], tuple[Any, ...]]] = []
        self._pending: deque[Future[None]] = deque()
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="synapse-steps-dataset-writer")

    def submit(self, function: Callable[..., None], *args: Any) -> None:
        self._batch.append((function, args))
        if len(self._batch) >= self._batch_size:
            self._flush()

    def _flush(self) -> None:
        if self._batch:
            self._pending.append(self._executor.submit(run_batch, self._batch))
            self._batch = []
        while len(self._pending) > self._max_pending:
            self._pending.popleft().result()  # waits, and surfaces a write error early

    def __enter__(self) -> BackgroundWriter:
        return self

    def __exit__(self, error_type: type[BaseException] | None, *_: object) -> None:
        try:
            if error_type is None:
                self._max_pending = 0
                self._flush()
        finally:
            for future in self._pending:
                future.cancel()
            self._executor.shutdown(wait=True)


def run_batch(batch: list[tuple[Callable[..., None], tuple[Any, ...]]]) -> None:
    for function, args in batch:
        function(*args)
