"""``BackgroundWriter``'s twin that writes from a child process instead of a thread.

Why a process: the writer thread and the parsing thread share the GIL, and every system call
either makes hands it to the other (a convoy): on tmpfs the thread saved nothing over writing
inline. A child process has its own GIL, so label files and image copies really overlap with
parsing on a second core. Starting it costs a few milliseconds (more with "spawn"), so
converters only use it for large datasets (see ``use_writer_process``).

Same contract as ``BackgroundWriter``: work goes over in batches, at most ``max_pending`` batches
wait (bounded memory), write errors come back to the caller, and on any error (KeyboardInterrupt
included) the child is terminated and reaped before the caller cleans up, so no process is left
behind and nothing writes into a folder being deleted. Submitted functions must be picklable
(module-level), their arguments too.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
from collections.abc import Callable
from multiprocessing.connection import Connection
from typing import Any

from synapse_steps.datasets.files import run_batch

# Below this many items the start-up (a few ms with "fork", more with "spawn") is not repaid: at
# 1,000 items on 2 cores the thread and the process tied in our runs.
PROCESS_MIN_ITEMS = 2000


def use_writer_process(choice: bool | None, items: int) -> bool:
    """``choice`` if given, else auto: large datasets on a machine with a second core."""
    if choice is not None:
        return choice
    return items >= PROCESS_MIN_ITEMS and (os.cpu_count() or 1) >= 2


class WriterProcess:
    """Runs submitted file writes in one child process (context manager, like BackgroundWriter)."""

    def __init__(self, batch_size: int = 64, max_pending: int = 4) -> None:
        self._batch_size = batch_size
        self._max_pending = max_pending
        self._batch: list[tuple[Callable[..., None], tuple[Any, ...]]] = []
        self._pending = 0
        context = multiprocessing.get_context()  # the platform's / the user's start method
        self._connection, child_end = context.Pipe()
        # The child gets our end too, to close it: with "fork" it inherits a copy, and while
        # that copy is open the child would never see EOF once we are gone.
        self._process = context.Process(
            target=_serve,
            args=(child_end, self._connection, os.getpid()),
            name="synapse-steps-dataset-writer",
            daemon=True,
        )
        self._process.start()
        child_end.close()

    def submit(self, function: Callable[..., None], *args: Any) -> None:
        self._batch.append((function, args))
        if len(self._batch) >= self._batch_size:
            self._flush()

    def _flush(self) -> None:
        if self._batch:
            self._connection.send(self._batch)
            self._pending += 1
            self._batch = []
        while self._pending > self._max_pending:
            self._receive()

    def _receive(self) -> None:
        try:
            error = self._connection.recv()
        except EOFError:
            raise OSError("The dataset writer process exited unexpectedly.") from None
        self._pending -= 1
        if error is not None:
            raise error

    def __enter__(self) -> WriterProcess:
        return self

    def __exit__(self, error_type: type[BaseException] | None, *_: object) -> None:
        try:
            if error_type is None:
                self._max_pending = 0
                self._flush()
                self._connection.send(None)  # done: let the child exit on its own
                self._process.join()
        finally:
            if self._process.is_alive():
                self._process.terminate()  # error path: stop mid-batch, the output is discarded
            self._process.join()
            self._connection.close()


# How often an idle child checks that its parent still exists.
PARENT_CHECK_S = 0.5


def _next_batch(connection: Connection, parent_pid: int) -> Any:
    """The next message; exits the process when the parent is gone (killed, even by SIGKILL)."""
    while not connection.poll(PARENT_CHECK_S):
        if os.getppid() != parent_pid:
            os._exit(1)  # reparented: nobody will read our results; the staging is swept later
    try:
        return connection.recv()
    except EOFError:
        os._exit(1)  # the parent closed its end without saying it was done


def _serve(connection: Connection, parent_end: Connection, parent_pid: int) -> None:
    parent_end.close()
    # Ctrl-C reaches the whole process group; the parent decides and terminates us.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    while (batch := _next_batch(connection, parent_pid)) is not None:
        try:
            run_batch(batch)
        except Exception as error:  # handed to the parent, which raises it
            try:
                connection.send(error)
            except Exception:  # an exception that does not pickle
                connection.send(OSError(f"{type(error).__name__}: {error}"))
            # Keep reading (and dropping) until the parent, which raises at its next receive,
            # terminates us: exiting now would turn its next send into a BrokenPipeError.
            while _next_batch(connection, parent_pid) is not None:
                pass
            return
        connection.send(None)
